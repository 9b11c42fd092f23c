package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/verify"
)

const verifyUsage = `Usage: kzoo [--bootstrap-server HOST:PORT] verify [flags]

Checks that the cluster keeps every acknowledged write. An idempotent
acks=all producer writes numbered records to the topic (created if missing)
and remembers where each acknowledged record landed; then a reader checks
that every acknowledged record is at its offset exactly once, in order.
Break things meanwhile (kill brokers, cut networks) to test failover.

It prints one summary line, then any problems found:
  acknowledged=N lost=0 duplicated=0 reordered=0 divergent=0 failed=F replicas-compared=R
and exits 1 unless lost, duplicated, reordered and divergent are all 0.
Records that failed (failed=F) were never acknowledged: they may or may not
be in the log, and neither counts against the cluster.

Replica comparison: a follower's log cannot be read over the protocol, so
divergent compares the replicas' segment files on disk, and only when each
broker's log directory is given with --data-dir ID=DIR (run it where the
data is, e.g. on a local cluster). Without --data-dir only the leaders' logs
are read, divergent is 0 and replicas-compared is 0.

Flags:
`

// verifyCommand runs `kzoo verify`. It has its own deadline: runs last as
// long as asked, and Ctrl-C ends producing early and still checks.
func verifyCommand(bootstrap brokers, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	topic := fs.String("topic", "kzoo-verify", "topic to write and check")
	partitions := fs.Int("partitions", 3, "partitions of the topic, when it is created")
	rf := fs.Int("replication-factor", 3, "replication factor of the topic, when it is created")
	minISR := fs.Int("min-insync-replicas", 2, "min.insync.replicas of the topic, when it is created")
	records := fs.Int64("records", 0, "stop after this many records (0: run for --duration)")
	duration := fs.Duration("duration", 30*time.Second, "how long to produce when --records is 0")
	rate := fs.Int("rate", 200, "records per second")
	checkTimeout := fs.Duration("check-timeout", 2*time.Minute, "how long reading back may take")
	dataDirs := dataDirFlags{}
	fs.Var(dataDirs, "data-dir", "ID=DIR: log directory of broker ID, for comparing replicas (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), verifyUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("verify: unexpected argument %q", fs.Arg(0))
	}
	if *partitions <= 0 || *rf <= 0 || *minISR <= 0 || *records < 0 || *rate <= 0 {
		return errors.New("verify: --partitions, --replication-factor, --min-insync-replicas and --rate must be positive, --records not negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	setupCtx, cancelSetup := context.WithTimeout(ctx, time.Minute)
	defer cancelSetup()
	security, err := bootstrap.security()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	n, err := ensureTopic(setupCtx, bootstrap, *topic, int32(*partitions), int16(*rf), *minISR)
	if err != nil {
		return err
	}
	p, err := verify.StartProducer(verify.ProducerConfig{
		Bootstrap: bootstrap.servers, Topic: *topic, Partitions: n, Records: *records, Rate: *rate,
		Options: security,
	})
	if err != nil {
		return err
	}
	if *records > 0 {
		select {
		case <-p.Done():
		case <-ctx.Done():
		}
	} else {
		select {
		case <-time.After(*duration):
		case <-ctx.Done():
		}
	}
	stop() // a second Ctrl-C kills
	run := p.Stop()

	checkCtx, cancel := context.WithTimeout(context.Background(), *checkTimeout)
	defer cancel()
	rep, err := verify.Check(checkCtx, verify.CheckConfig{
		Bootstrap: bootstrap.servers, Topic: *topic, Partitions: n, DataDirs: dataDirs,
		Options: security,
	}, run)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, verify.Summary(rep))
	if !rep.OK() {
		return errors.New("verify: the cluster lost, duplicated, reordered or diverged acknowledged records")
	}
	return nil
}

// ensureTopic creates the topic unless it exists and returns its partition
// count.
func ensureTopic(ctx context.Context, bootstrap brokers, topic string, partitions int32, rf int16, minISR int) (int32, error) {
	cl, err := newClient(bootstrap)
	if err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "min.insync.replicas", kmsg.StringPtr(strconv.Itoa(minISR))
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("verify: create topic %s: %w", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("verify: create topic %s: %w", topic, err)
	}
	// Wait until the topic has a leader for every partition.
	for {
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		mreq.Topics = append(mreq.Topics, mt)
		if m, err := mreq.RequestWith(ctx, cl); err == nil && len(m.Topics) == 1 && m.Topics[0].ErrorCode == 0 && len(m.Topics[0].Partitions) > 0 {
			led := true
			for _, p := range m.Topics[0].Partitions {
				led = led && p.Leader >= 0 && p.ErrorCode == 0
			}
			if led {
				return int32(len(m.Topics[0].Partitions)), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("verify: topic %s has no leaders: %w", topic, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dataDirFlags collects repeated --data-dir ID=DIR flags.
type dataDirFlags map[int32]string

func (d dataDirFlags) String() string { return fmt.Sprint(map[int32]string(d)) }
func (d dataDirFlags) Set(v string) error {
	idText, dir, ok := strings.Cut(v, "=")
	id, err := strconv.ParseInt(idText, 10, 32)
	if !ok || err != nil || id < 0 || dir == "" {
		return fmt.Errorf("data dir %q: want BROKER_ID=DIR", v)
	}
	d[int32(id)] = dir
	return nil
}
