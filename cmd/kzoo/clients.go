package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// This file holds how the CLI builds its clients, and what the console
// clients (produce, consume) and the perf tools share: their I/O streams
// and a client that has proved it can reach the cluster before it is used.

// streams are the standard streams of a client command, passed in so tests
// can feed stdin and read what was printed.
type streams struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer
}

// defaultReachTimeout bounds the first contact with the cluster when a
// command has no timeout of its own; it is Kafka's max.block.ms and
// default.api.timeout.ms.
const defaultReachTimeout = 60 * time.Second

// brokers is how the CLI reaches the cluster: its bootstrap servers, and
// the file of client security settings given by --command-config ("" for
// none), read only when a client is made, so that commands that never talk
// to a broker do not depend on it.
type brokers struct {
	servers       []string
	commandConfig string
}

// security returns the client options of the command config file.
func (b brokers) security() ([]kgo.Opt, error) {
	if b.commandConfig == "" {
		return nil, nil
	}
	return commandConfigOpts(b.commandConfig)
}

// newClient returns a franz-go client of the bootstrap servers, which it
// names "kzoo" to the brokers, with the command config's security options
// and opts. It connects on the first request, and sends each request where
// Kafka's clients would: CreatePartitions, ElectLeaders and the
// reassignment requests to the controller, a broker's config resources to
// that broker.
func newClient(b brokers, opts ...kgo.Opt) (*kgo.Client, error) {
	security, err := b.security()
	if err != nil {
		return nil, err
	}
	base := append([]kgo.Opt{kgo.SeedBrokers(b.servers...), kgo.ClientID("kzoo")}, security...)
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", strings.Join(b.servers, ","), err)
	}
	return cl, nil
}

// connect builds a client with newClient and checks that some bootstrap
// server answers within timeout. Without the check, franz-go retries an
// unreachable address until each record or poll times out, and the user
// learns nothing about why.
func connect(ctx context.Context, bootstrap brokers, timeout time.Duration, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := newClient(bootstrap, opts...)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.Ping(pingCtx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cannot reach bootstrap server %s within %v: %w", strings.Join(bootstrap.servers, ","), timeout, err)
	}
	return cl, nil
}

// producerOpts turns the --acks and --compression flags into franz-go
// producer options. Acks other than all rule out idempotence, as in Kafka.
func producerOpts(acks, compression string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("--acks %q: want all, 1 or 0", acks)
	}
	codec, err := compressionCodec(compression)
	if err != nil {
		return nil, err
	}
	return append(opts, kgo.ProducerBatchCompression(codec)), nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	default:
		return kgo.CompressionCodec{}, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", name)
	}
}

// explainProduceError says in words what a failed record's error means to
// someone at a terminal, keeping the original error wrapped.
func explainProduceError(topic string, err error) error {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return explained(err, "topic %q or its partition does not exist, and auto.create.topics.enable may be off", topic)
	case errors.Is(err, kgo.ErrRecordTimeout):
		return fmt.Errorf("not acknowledged in time (is the partition's leader reachable?): %w", err)
	case errors.Is(err, kerr.NotEnoughReplicas), errors.Is(err, kerr.NotEnoughReplicasAfterAppend):
		return explained(err, "fewer in-sync replicas than min.insync.replicas")
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return explained(err, "record larger than the topic's max.message.bytes")
	default:
		return err
	}
}

// headerFlags collects repeated --header key=value flags, in order, since
// Kafka headers are an ordered list that may repeat keys.
type headerFlags []kgo.RecordHeader

func (h *headerFlags) String() string {
	parts := make([]string, len(*h))
	for i, hdr := range *h {
		parts[i] = hdr.Key + "=" + string(hdr.Value)
	}
	return strings.Join(parts, ",")
}

func (h *headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("header %q: want key=value", v)
	}
	*h = append(*h, kgo.RecordHeader{Key: k, Value: []byte(val)})
	return nil
}

// millis turns a --*-ms flag into a duration.
func millis(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
