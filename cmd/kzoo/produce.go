package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

const produceUsage = `Usage: kzoo [--bootstrap-server HOST:PORT] produce TOPIC [flags]

Reads standard input and produces one record per line to TOPIC, like
kafka-console-producer. With --key-separator, the text before the first
separator on a line is the record's key and the rest its value; a line
without the separator stops the producer. Every --header is put on every
record. Records are partitioned by key unless --partition is given.

It exits non-zero if any record was not acknowledged, after printing why.

Flags:
`

// maxPrintedFailures bounds how many failed records are described one by
// one; a dead cluster would otherwise print one line per line of input.
const maxPrintedFailures = 10

// produceConfig is a parsed `kzoo produce` command line.
type produceConfig struct {
	topic        string
	keySeparator string
	partition    int32 // -1: partition by key
	headers      []kgo.RecordHeader
	opts         []kgo.Opt
	maxBlockMs   int
}

func parseProduceArgs(args []string, errOut io.Writer) (produceConfig, error) {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(errOut)
	keySep := fs.String("key-separator", "", "split each line into key and value at the first SEP (default: no key)")
	partition := fs.Int("partition", -1, "produce every record to this partition (default: partition by key)")
	var headers headerFlags
	fs.Var(&headers, "header", "key=value header for every record (repeatable)")
	acks := fs.String("acks", "all", "acknowledgements to wait for: all, 1 or 0")
	compression := fs.String("compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	maxBlockMs := fs.Int("max-block-ms", int(defaultReachTimeout.Milliseconds()), "how long to wait for the cluster to answer at all")
	deliveryMs := fs.Int("delivery-timeout-ms", 120000, "how long a record may wait to be acknowledged, retries included")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), produceUsage)
		fs.PrintDefaults()
	}
	positional, err := parseFlags(fs, args)
	if err != nil {
		return produceConfig{}, err
	}
	if len(positional) != 1 {
		return produceConfig{}, fmt.Errorf("produce: want exactly one topic, got %d arguments (kzoo produce --help)", len(positional))
	}
	if *partition < -1 {
		return produceConfig{}, fmt.Errorf("produce: --partition %d is negative", *partition)
	}
	if *maxBlockMs <= 0 || *deliveryMs <= 0 {
		return produceConfig{}, errors.New("produce: --max-block-ms and --delivery-timeout-ms must be positive")
	}
	opts, err := producerOpts(*acks, *compression)
	if err != nil {
		return produceConfig{}, fmt.Errorf("produce: %w", err)
	}
	opts = append(opts,
		// The console producer asks the broker to create a missing topic,
		// as Kafka's does; the broker decides (auto.create.topics.enable).
		kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(millis(*deliveryMs)),
	)
	if *partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return produceConfig{
		topic:        positional[0],
		keySeparator: *keySep,
		partition:    int32(*partition),
		headers:      headers,
		opts:         opts,
		maxBlockMs:   *maxBlockMs,
	}, nil
}

// produceCommand runs `kzoo produce`.
func produceCommand(bootstrap brokers, args []string, std streams) error {
	cfg, err := parseProduceArgs(args, std.errOut)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx := context.Background()
	cl, err := connect(ctx, bootstrap, millis(cfg.maxBlockMs), cfg.opts...)
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	defer cl.Close()
	return produceLines(ctx, cl, cfg, std)
}

// produceLines produces every line of std.in and waits for every record
// to be acknowledged or to fail.
func produceLines(ctx context.Context, cl *kgo.Client, cfg produceConfig, std streams) error {
	outcome := &produceOutcome{topic: cfg.topic, errOut: std.errOut}
	lines := bufio.NewReader(std.in)
	var readErr error
	for lineNo := 1; ; lineNo++ {
		line, err := lines.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("produce: read standard input: %w", err)
			}
			break
		}
		key, value, ok := splitLine(trimNewline(line), cfg.keySeparator)
		if !ok {
			readErr = fmt.Errorf("produce: no key separator %q on line %d: %q", cfg.keySeparator, lineNo, trimNewline(line))
			break
		}
		rec := &kgo.Record{Topic: cfg.topic, Key: key, Value: value, Headers: cfg.headers, Partition: cfg.partition}
		outcome.begin()
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) { outcome.done(lineNo, r, err) })
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("produce: read standard input: %w", err)
			}
			break
		}
	}
	// Flush waits for every record's callback, failed ones included.
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("produce: flush: %w", err)
	}
	return errors.Join(readErr, outcome.err())
}

// trimNewline drops a line's "\n" or "\r\n", as Java's readLine does.
func trimNewline(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// splitLine splits a line into key and value at the first separator. With
// no separator configured the whole line is the value and the key is nil
// (a null key, partitioned round-robin). ok is false when a separator is
// configured but missing from the line.
// The results share line's memory, which bufio.Reader.ReadBytes never
// reuses.
func splitLine(line []byte, sep string) (key, value []byte, ok bool) {
	if sep == "" {
		return nil, line, true
	}
	k, v, found := bytes.Cut(line, []byte(sep))
	if !found {
		return nil, nil, false
	}
	return k, v, true
}

// produceOutcome counts records in flight and remembers failures; its
// methods are called from franz-go's callback goroutines.
type produceOutcome struct {
	topic  string
	errOut io.Writer

	mu     sync.Mutex
	sent   int
	failed int
	first  error
}

func (o *produceOutcome) begin() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent++
}

func (o *produceOutcome) done(lineNo int, r *kgo.Record, err error) {
	if err == nil {
		return
	}
	err = explainProduceError(o.topic, err)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed++
	if o.first == nil {
		o.first = err
	}
	if o.failed <= maxPrintedFailures {
		fmt.Fprintf(o.errOut, "kzoo: record from line %d (%d bytes) to %s: %s\n", lineNo, len(r.Value), o.topic, formatError(err))
	}
}

// err summarises the failures, nil if every record was acknowledged.
func (o *produceOutcome) err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed == 0 {
		return nil
	}
	return fmt.Errorf("produce: %d of %d records failed, the first: %w", o.failed, o.sent, o.first)
}
