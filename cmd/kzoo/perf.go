package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const perfUsage = `Usage: kzoo [--bootstrap-server HOST:PORT] perf (produce|consume) [flags]

  perf produce --topic T --num-records N --record-size B [--throughput R]
      like kafka-producer-perf-test: prints a line every 5 seconds and a
      summary with throughput and produce-to-acknowledgement latencies
      (average, maximum, 50th, 95th, 99th and 99.9th percentiles).
  perf consume --topic T --messages N [--group G] [--timeout-ms MS]
      like kafka-consumer-perf-test: reads N records from the earliest
      offset and prints start and end time, MB and records consumed, and
      their rates.

kzoo perf produce --help and kzoo perf consume --help list every flag.
`

// perfReportInterval is how often perf produce prints a progress line,
// as Kafka's tool does.
const perfReportInterval = 5 * time.Second

func perfCommand(bootstrap brokers, args []string, std streams) error {
	if len(args) == 0 {
		fmt.Fprint(std.errOut, perfUsage)
		return errors.New("perf: want produce or consume")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "produce":
		err = perfProduce(ctx, bootstrap, args[1:], std)
	case "consume":
		err = perfConsume(ctx, bootstrap, args[1:], std)
	case "help", "--help", "-help", "-h":
		fmt.Fprint(std.out, perfUsage)
		return nil
	default:
		return fmt.Errorf("perf: unknown subcommand %q (want produce or consume)", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// perfProduceConfig is a parsed `kzoo perf produce` command line.
type perfProduceConfig struct {
	topic      string
	records    int64
	recordSize int
	throughput float64 // records per second, ≤ 0 unlimited
	opts       []kgo.Opt
}

func parsePerfProduceArgs(args []string, errOut io.Writer) (perfProduceConfig, error) {
	fs := flag.NewFlagSet("perf produce", flag.ContinueOnError)
	fs.SetOutput(errOut)
	topic := fs.String("topic", "", "topic to produce to (required)")
	records := fs.Int64("num-records", 0, "number of records to produce (required)")
	size := fs.Int("record-size", 0, "bytes per record value (required)")
	throughput := fs.Float64("throughput", -1, "records per second at most (-1: unlimited)")
	acks := fs.String("acks", "all", "acknowledgements to wait for: all, 1 or 0")
	compression := fs.String("compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	deliveryMs := fs.Int("delivery-timeout-ms", 120000, "how long a record may wait to be acknowledged, retries included")
	if err := fs.Parse(args); err != nil {
		return perfProduceConfig{}, err
	}
	switch {
	case fs.NArg() > 0:
		return perfProduceConfig{}, fmt.Errorf("perf produce: unexpected argument %q", fs.Arg(0))
	case *topic == "":
		return perfProduceConfig{}, errors.New("perf produce: --topic is required")
	case *records <= 0:
		return perfProduceConfig{}, errors.New("perf produce: --num-records must be positive")
	case *size < 0:
		return perfProduceConfig{}, errors.New("perf produce: --record-size must not be negative")
	case *throughput == 0:
		return perfProduceConfig{}, errors.New("perf produce: --throughput must be positive, or -1 for unlimited")
	case *deliveryMs <= 0:
		return perfProduceConfig{}, errors.New("perf produce: --delivery-timeout-ms must be positive")
	}
	opts, err := producerOpts(*acks, *compression)
	if err != nil {
		return perfProduceConfig{}, fmt.Errorf("perf produce: %w", err)
	}
	opts = append(opts, kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(millis(*deliveryMs)))
	return perfProduceConfig{topic: *topic, records: *records, recordSize: *size, throughput: *throughput, opts: opts}, nil
}

// perfProduce runs `kzoo perf produce`. Ctrl-C stops sending; the records
// already sent are waited for and summarised.
func perfProduce(ctx context.Context, bootstrap brokers, args []string, std streams) error {
	cfg, err := parsePerfProduceArgs(args, std.errOut)
	if err != nil {
		return err
	}
	cl, err := connect(ctx, bootstrap, defaultReachTimeout, cfg.opts...)
	if err != nil {
		return fmt.Errorf("perf produce: %w", err)
	}
	defer cl.Close()

	// Every record carries the same random payload, as in Kafka's tool:
	// generating bytes must not limit the throughput measured.
	payload := make([]byte, cfg.recordSize)
	for i := range payload {
		payload[i] = byte('A' + rand.IntN(26))
	}
	start := time.Now()
	run := newProducePerf(cfg.records, start, std.out)
	// The context of Produce bounds only the wait for buffer space; it is
	// not the records' lifetime, so Ctrl-C does not fail records in flight.
	for i := int64(0); i < cfg.records && ctx.Err() == nil; i++ {
		if d := throttleDelay(i, time.Since(start), cfg.throughput); d > 0 {
			sleep(ctx, d)
		}
		sent := time.Now()
		cl.Produce(ctx, &kgo.Record{Topic: cfg.topic, Value: payload}, func(r *kgo.Record, err error) {
			run.done(sent, time.Now(), len(r.Value), err)
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		return fmt.Errorf("perf produce: flush: %w", err)
	}
	return run.finish(time.Now(), cfg.topic)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// producePerf collects the acknowledgements of perf produce, which arrive
// on franz-go's goroutines, and prints a progress line per window.
type producePerf struct {
	out io.Writer

	mu          sync.Mutex
	start       time.Time
	total       *latencyStats
	window      *latencyStats
	windowStart time.Time
	failed      int64
	firstErr    error
}

func newProducePerf(records int64, start time.Time, out io.Writer) *producePerf {
	return &producePerf{
		out:         out,
		start:       start,
		total:       newLatencyStats(records),
		window:      &latencyStats{},
		windowStart: start,
	}
}

func (p *producePerf) done(sent, acked time.Time, bytes int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed++
		if p.firstErr == nil {
			p.firstErr = err
		}
		return
	}
	latency := acked.Sub(sent)
	p.total.add(latency, bytes)
	p.window.add(latency, bytes)
	if elapsed := acked.Sub(p.windowStart); elapsed >= perfReportInterval {
		fmt.Fprintln(p.out, windowLine(p.window, elapsed))
		p.window = &latencyStats{}
		p.windowStart = acked
	}
}

// finish prints the summary and says whether every record was acknowledged.
func (p *producePerf) finish(end time.Time, topic string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.out, produceSummaryLine(p.total, end.Sub(p.start)))
	if p.failed > 0 {
		return fmt.Errorf("perf produce: %d of %d records failed, the first: %w",
			p.failed, p.failed+p.total.records, explainProduceError(topic, p.firstErr))
	}
	return nil
}

// perfConsumeConfig is a parsed `kzoo perf consume` command line.
type perfConsumeConfig struct {
	topic       string
	messages    int
	group       string
	fromLatest  bool
	idleTimeout time.Duration
	hideHeader  bool
}

func parsePerfConsumeArgs(args []string, errOut io.Writer) (perfConsumeConfig, error) {
	fs := flag.NewFlagSet("perf consume", flag.ContinueOnError)
	fs.SetOutput(errOut)
	topic := fs.String("topic", "", "topic to consume (required)")
	messages := fs.Int("messages", 0, "number of records to consume (required)")
	group := fs.String("group", "", "consumer group to join (default: read every partition without a group)")
	fromLatest := fs.Bool("from-latest", false, "start at the latest offset instead of the earliest")
	timeoutMs := fs.Int("timeout-ms", 10000, "give up when no record arrives for this long")
	hideHeader := fs.Bool("hide-header", false, "print the numbers without the header line")
	if err := fs.Parse(args); err != nil {
		return perfConsumeConfig{}, err
	}
	switch {
	case fs.NArg() > 0:
		return perfConsumeConfig{}, fmt.Errorf("perf consume: unexpected argument %q", fs.Arg(0))
	case *topic == "":
		return perfConsumeConfig{}, errors.New("perf consume: --topic is required")
	case *messages <= 0:
		return perfConsumeConfig{}, errors.New("perf consume: --messages must be positive")
	case *timeoutMs <= 0:
		return perfConsumeConfig{}, errors.New("perf consume: --timeout-ms must be positive")
	}
	return perfConsumeConfig{
		topic: *topic, messages: *messages, group: *group, fromLatest: *fromLatest,
		idleTimeout: millis(*timeoutMs), hideHeader: *hideHeader,
	}, nil
}

// perfConsume runs `kzoo perf consume`. Like Kafka's tool, running out of
// time before --messages records is a warning, and the numbers are still
// printed.
func perfConsume(ctx context.Context, bootstrap brokers, args []string, std streams) error {
	cfg, err := parsePerfConsumeArgs(args, std.errOut)
	if err != nil {
		return err
	}
	reset := kgo.NewOffset().AtStart()
	if cfg.fromLatest {
		reset = kgo.NewOffset().AtEnd()
	}
	start := time.Now()
	activity := newActivityClock(time.Now, idleGrace(cfg.group, cfg.idleTimeout))
	var rebalanceNanos atomic.Int64 // time to the first assignment
	opts := []kgo.Opt{kgo.ConsumeTopics(cfg.topic), kgo.ConsumeResetOffset(reset)}
	if cfg.group != "" {
		opts = append(opts, kgo.ConsumerGroup(cfg.group),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
				activity.touch()
				rebalanceNanos.CompareAndSwap(0, int64(time.Since(start)))
			}))
	}
	cl, err := connect(ctx, bootstrap, cfg.idleTimeout, opts...)
	if err != nil {
		return fmt.Errorf("perf consume: %w", err)
	}
	var bytes int64
	n, idled, pollErr := pollRecords(ctx, cl, cfg.topic, cfg.messages, cfg.idleTimeout, activity, std.errOut, func(fetches kgo.Fetches) error {
		fetches.EachRecord(func(r *kgo.Record) { bytes += int64(len(r.Key) + len(r.Value)) })
		return nil
	})
	end := time.Now()
	cl.Close()
	if pollErr != nil {
		return pollErr
	}
	if idled {
		fmt.Fprintf(std.errOut, "WARNING: Exiting before consuming the expected number of messages: timeout (%d ms) exceeded.\n", cfg.idleTimeout.Milliseconds())
	}
	if !cfg.hideHeader {
		fmt.Fprintln(std.out, consumeSummaryHeader)
	}
	fmt.Fprintln(std.out, consumeSummary{start: start, end: end, records: int64(n), bytes: bytes, rebalance: time.Duration(rebalanceNanos.Load())}.row())
	return nil
}
