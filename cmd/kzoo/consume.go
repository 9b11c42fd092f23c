package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const consumeUsage = `Usage: kzoo [--bootstrap-server HOST:PORT] consume TOPIC [flags]

Prints the records of TOPIC, like kafka-console-consumer: by default only
values, one per line, of records produced from now on.

Where to start: --from-beginning starts at the earliest offset (with
--group, only where the group has no committed offset). --partition P reads
one partition from --offset (earliest, latest or an offset). With --group G
the consumer joins group G and commits what it printed.

When to stop: after --max-messages records, when --timeout-ms passes
without a record (with --group, counted from when the group assigns
partitions, which may take up to 60 s), or on Ctrl-C. It then prints on standard error how
many records it processed.

What to print: --print-key, --print-offset, --print-partition,
--print-timestamp and --print-headers add fields before the value, as
Kafka's default formatter does; or --format gives a template:
  %t topic  %p partition  %o offset  %k key  %v value  %h headers (k=v,...)
  %T timestamp (ms)  %K key length  %V value length  %% percent
  \n newline  \t tab  \\ backslash
e.g. --format '%k\t%v\n'.

Flags:
`

// consumeConfig is a parsed `kzoo consume` command line.
type consumeConfig struct {
	topic         string
	group         string
	fromBeginning bool
	partition     int32 // -1: every partition
	offset        kgo.Offset
	maxMessages   int // 0: no limit
	idleTimeout   time.Duration
	format        recordFormat
}

func parseConsumeArgs(args []string, errOut io.Writer) (consumeConfig, error) {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	fs.SetOutput(errOut)
	group := fs.String("group", "", "consumer group to join; commits the offsets of printed records")
	fromBeginning := fs.Bool("from-beginning", false, "start at the earliest offset when there is no committed one")
	partition := fs.Int("partition", -1, "read only this partition (not with --group)")
	offset := fs.String("offset", "", "with --partition: earliest, latest or an offset (default latest)")
	maxMessages := fs.Int("max-messages", 0, "exit after this many records (0: no limit)")
	timeoutMs := fs.Int("timeout-ms", 0, "exit when no record arrives for this long (0: wait forever)")
	format := fs.String("format", "", `output template, e.g. '%k\t%v\n' (see above)`)
	var p printOptions
	fs.BoolVar(&p.key, "print-key", false, "print each record's key before its value")
	fs.StringVar(&p.keySeparator, "key-separator", "\t", "what --print-key puts between key and value")
	fs.BoolVar(&p.offset, "print-offset", false, "print each record's offset")
	fs.BoolVar(&p.partition, "print-partition", false, "print each record's partition")
	fs.BoolVar(&p.timestamp, "print-timestamp", false, "print each record's timestamp")
	fs.BoolVar(&p.headers, "print-headers", false, "print each record's headers")
	fs.Usage = func() {
		io.WriteString(fs.Output(), consumeUsage)
		fs.PrintDefaults()
	}
	positional, err := parseFlags(fs, args)
	if err != nil {
		return consumeConfig{}, err
	}
	if len(positional) != 1 {
		return consumeConfig{}, fmt.Errorf("consume: want exactly one topic, got %d arguments (kzoo consume --help)", len(positional))
	}
	cfg := consumeConfig{
		topic:         positional[0],
		group:         *group,
		fromBeginning: *fromBeginning,
		partition:     int32(*partition),
		maxMessages:   *maxMessages,
		idleTimeout:   millis(*timeoutMs),
		format:        p,
	}
	switch {
	case *partition < -1:
		return consumeConfig{}, fmt.Errorf("consume: --partition %d is negative", *partition)
	case *group != "" && *partition >= 0:
		return consumeConfig{}, errors.New("consume: --group and --partition cannot be used together")
	case *offset != "" && *partition < 0:
		return consumeConfig{}, errors.New("consume: --offset needs --partition")
	case *offset != "" && *fromBeginning:
		return consumeConfig{}, errors.New("consume: --from-beginning and --offset cannot be used together")
	case *maxMessages < 0 || *timeoutMs < 0:
		return consumeConfig{}, errors.New("consume: --max-messages and --timeout-ms must not be negative")
	}
	cfg.offset = kgo.NewOffset().AtEnd()
	if *fromBeginning {
		cfg.offset = kgo.NewOffset().AtStart()
	}
	if *offset != "" {
		if cfg.offset, err = parseOffset(*offset); err != nil {
			return consumeConfig{}, fmt.Errorf("consume: %w", err)
		}
	}
	if *format != "" {
		fs.Visit(func(f *flag.Flag) {
			if len(f.Name) > 6 && f.Name[:6] == "print-" && err == nil {
				err = fmt.Errorf("consume: --format and --%s cannot be used together", f.Name)
			}
		})
		if err != nil {
			return consumeConfig{}, err
		}
		if cfg.format, err = parseTemplate(*format); err != nil {
			return consumeConfig{}, fmt.Errorf("consume: %w", err)
		}
	}
	return cfg, nil
}

// parseOffset reads --offset: earliest, latest or a non-negative offset.
func parseOffset(s string) (kgo.Offset, error) {
	switch s {
	case "earliest":
		return kgo.NewOffset().AtStart(), nil
	case "latest":
		return kgo.NewOffset().AtEnd(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return kgo.Offset{}, fmt.Errorf("--offset %q: want earliest, latest or an offset of 0 or more", s)
	}
	return kgo.NewOffset().At(n), nil
}

// consumeCommand runs `kzoo consume`. Ctrl-C ends it cleanly: the group's
// offsets are committed and the count printed.
func consumeCommand(bootstrap brokers, args []string, std streams) error {
	cfg, err := parseConsumeArgs(args, std.errOut)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	activity := newActivityClock(time.Now, idleGrace(cfg.group, cfg.idleTimeout))
	opts := []kgo.Opt{kgo.ConsumeResetOffset(cfg.offset)}
	switch {
	case cfg.group != "":
		opts = append(opts,
			kgo.ConsumerGroup(cfg.group),
			kgo.ConsumeTopics(cfg.topic),
			// Joining a group takes a while (the coordinator's initial
			// rebalance delay); the idle timeout counts from the assignment.
			// A rebalance later on restarts it too, harmlessly.
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { activity.touch() }),
		)
	case cfg.partition >= 0:
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.topic: {cfg.partition: cfg.offset}}))
	default:
		opts = append(opts, kgo.ConsumeTopics(cfg.topic))
	}
	reach := defaultReachTimeout
	if cfg.idleTimeout > 0 {
		reach = cfg.idleTimeout
	}
	cl, err := connect(ctx, bootstrap, reach, opts...)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer cl.Close() // leaves the group

	out := bufio.NewWriter(std.out)
	n, consumeErr := consumeRecords(ctx, cl, cfg, activity, out, std.errOut)
	if err := out.Flush(); err != nil {
		consumeErr = errors.Join(consumeErr, fmt.Errorf("consume: write output: %w", err))
	}
	if cfg.group != "" {
		commitCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.CommitUncommittedOffsets(commitCtx); err != nil {
			consumeErr = errors.Join(consumeErr, fmt.Errorf("consume: commit offsets of group %s: %w", cfg.group, err))
		}
	}
	fmt.Fprintf(std.errOut, "Processed a total of %d messages\n", n)
	return consumeErr
}

// consumeRecords prints records until cfg.maxMessages were printed, the
// consumer was idle for cfg.idleTimeout, or ctx ends. It returns how many
// records it printed.
func consumeRecords(ctx context.Context, cl *kgo.Client, cfg consumeConfig, activity *activityClock, out *bufio.Writer, warnings io.Writer) (int, error) {
	var buf []byte
	n, _, err := pollRecords(ctx, cl, cfg.topic, cfg.maxMessages, cfg.idleTimeout, activity, warnings, func(fetches kgo.Fetches) error {
		for it := fetches.RecordIter(); !it.Done(); {
			buf = cfg.format.appendRecord(buf[:0], it.Next())
			if _, err := out.Write(buf); err != nil {
				return fmt.Errorf("consume: write output: %w", err)
			}
		}
		// Show records as they come, not when the buffer fills.
		if err := out.Flush(); err != nil {
			return fmt.Errorf("consume: write output: %w", err)
		}
		return nil
	})
	return n, err
}

// pollRecords polls records and hands each non-empty batch to handle until
// max records were handled (0: no limit), the consumer was idle for idle
// (0: wait forever; idled is then true), ctx ends, or a fetch fails. It
// never polls more than max records in all, so with a group, whose
// auto-commit commits what was polled, exactly the handled records are
// committed. It returns how many records were handled.
func pollRecords(ctx context.Context, cl *kgo.Client, topic string, limit int, idle time.Duration, activity *activityClock, warnings io.Writer, handle func(kgo.Fetches) error) (n int, idled bool, err error) {
	for limit == 0 || n < limit {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if idle > 0 {
			deadline := activity.idleDeadline(idle)
			if !activity.now().Before(deadline) {
				return n, true, nil
			}
			pollCtx, cancel = context.WithDeadline(ctx, deadline)
			// A touch (an assignment) moves the deadline: poll again.
			activity.onTouch(cancel)
		}
		want := -1
		if limit > 0 {
			want = limit - n
		}
		fetches := cl.PollRecords(pollCtx, want)
		activity.onTouch(nil)
		cancel()
		if fetches.IsClientClosed() {
			return n, false, nil
		}
		if err := fetchError(topic, fetches, warnings); err != nil {
			return n, false, err
		}
		// Records polled are handled even when ctx has ended, since
		// auto-commit counts them as consumed.
		if !fetches.Empty() {
			activity.touch()
			if err := handle(fetches); err != nil {
				return n, false, err
			}
			n += fetches.NumRecords()
		}
		if ctx.Err() != nil {
			return n, false, nil
		}
	}
	return n, false, nil
}

// fetchError returns the first error of fetches that should stop the
// consumer. Deadlines are the idle timeout at work; data loss (the log
// was truncated below the consumer) is reported and consuming goes on,
// as franz-go resets the offset.
func fetchError(topic string, fetches kgo.Fetches, warnings io.Writer) error {
	for _, fe := range fetches.Errors() {
		switch {
		case errors.Is(fe.Err, context.DeadlineExceeded), errors.Is(fe.Err, context.Canceled):
		case errors.Is(fe.Err, kerr.UnknownTopicOrPartition):
			return explained(fe.Err, "consume: topic %q or its partition %d does not exist", topic, fe.Partition)
		default:
			var dataLoss *kgo.ErrDataLoss
			if errors.As(fe.Err, &dataLoss) {
				fmt.Fprintf(warnings, "kzoo: warning: %s\n", formatError(fe.Err))
				continue
			}
			return fmt.Errorf("consume: fetch %s partition %d: %w", fe.Topic, fe.Partition, fe.Err)
		}
	}
	return nil
}

// activityClock remembers when the consumer last made progress (started,
// was assigned partitions, received records); the idle timeout counts
// from then. touch is called from franz-go's goroutines too, and wakes a
// poll waiting for a deadline that the touch has moved.
type activityClock struct {
	now func() time.Time

	mu   sync.Mutex
	last time.Time
	wake func()
}

// newActivityClock starts the clock grace after now: a consumer that must
// first join a group gets that much longer before its first record.
func newActivityClock(now func() time.Time, grace time.Duration) *activityClock {
	return &activityClock{now: now, last: now().Add(grace)}
}

func (c *activityClock) touch() {
	c.mu.Lock()
	c.last = c.now()
	wake := c.wake
	c.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// idleDeadline is when the consumer has been idle for idle.
func (c *activityClock) idleDeadline(idle time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last.Add(idle)
}

// onTouch makes the next touches call wake, until onTouch(nil).
func (c *activityClock) onTouch(wake func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wake = wake
}

// groupJoinTimeout bounds how long a consumer waits for its group to
// assign it partitions before its idle timeout starts: franz-go's default
// rebalance timeout.
const groupJoinTimeout = 60 * time.Second

// idleGrace is how much later than the start a consumer's idle timeout
// counts from: with a group, from the assignment, which comes within
// groupJoinTimeout.
func idleGrace(group string, idle time.Duration) time.Duration {
	if group == "" {
		return 0
	}
	return max(groupJoinTimeout-idle, 0)
}
