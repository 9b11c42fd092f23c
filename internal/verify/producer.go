// Package verify checks that a kzoo cluster keeps every acknowledged write:
// a Producer writes numbered records with acks=all and an idempotent
// franz-go client, remembering where each acknowledged record landed, and
// Check reads the topic back and compares. It serves the end-to-end fault
// tests and operators (`kzoo verify`) alike.
//
// Check reports, per run:
//   - lost: acknowledged records not found at their acknowledged offset;
//   - duplicated: records of the run present more than once in the log;
//   - reordered: records of a partition whose sequence does not grow with
//     the offset;
//   - divergent: partitions whose in-sync replicas do not hold
//     byte-identical batches below the high watermark. Replicas are
//     compared by reading their segment files, so this needs the log
//     directories (CheckConfig.DataDirs); a follower's log cannot be read
//     over the protocol (Kafka serves replicas to consumers only with
//     KIP-392). Without them only the leader's log is checked.
package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Ack is an acknowledged record: where the cluster said it put it.
type Ack struct {
	Partition int32
	Offset    int64
	Seq       int64
	Value     []byte
}

// ProducerConfig describes a verifying producer.
type ProducerConfig struct {
	Bootstrap  []string
	Topic      string
	Partitions int32 // records go to partition seq % Partitions
	// Records stops the producer after this many records were sent; 0 means
	// until Stop.
	Records int64
	// Rate is the number of records sent per second; 0 means 200.
	Rate int
	// DeliveryTimeout bounds how long a record may wait for its
	// acknowledgement, retries included; 0 means 30 s.
	DeliveryTimeout time.Duration
	// ValueBytes pads values to about this size; 0 means 100.
	ValueBytes int
	// Options are extra client options (tests pass logging or timeouts).
	Options []kgo.Opt
}

// Producer writes numbered records until stopped, recording every
// acknowledgement. Its methods are safe for concurrent use.
type Producer struct {
	cfg       ProducerConfig
	runID     string
	client    *kgo.Client
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	sent     int64
	acks     []Ack
	failures map[string]int // error text -> records that failed with it
}

// valuePrefix starts every value the verifier writes; the run id follows,
// then the sequence, so that Check recognizes the records of its run in a
// topic other runs have written to as well.
const valuePrefix = "kzoo-verify"

// StartProducer connects and starts producing in the background.
func StartProducer(cfg ProducerConfig) (*Producer, error) {
	if len(cfg.Bootstrap) == 0 || cfg.Topic == "" || cfg.Partitions <= 0 {
		return nil, errors.New("verify: producer needs bootstrap servers, a topic and a partition count")
	}
	if cfg.Records < 0 || cfg.Rate < 0 || cfg.DeliveryTimeout < 0 || cfg.ValueBytes < 0 {
		return nil, errors.New("verify: negative producer setting")
	}
	if cfg.Rate == 0 {
		cfg.Rate = 200
	}
	if cfg.DeliveryTimeout == 0 {
		cfg.DeliveryTimeout = 30 * time.Second
	}
	if cfg.ValueBytes == 0 {
		cfg.ValueBytes = 100
	}
	runID, err := NewRunID()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Bootstrap...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is kgo's default
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.ProducerLinger(0),
		// Refresh metadata promptly after NOT_LEADER, not after kgo's 5 s.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}
	client, err := kgo.NewClient(append(opts, cfg.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("verify: producer client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		cfg:      cfg,
		runID:    runID,
		client:   client,
		cancel:   cancel,
		done:     make(chan struct{}),
		failures: map[string]int{},
	}
	go p.produce(ctx)
	return p, nil
}

// NewRunID returns a fresh run id, for records written by other means than
// Producer (see Value).
func NewRunID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("verify: run id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func (p *Producer) produce(ctx context.Context) {
	defer close(p.done)
	interval := time.Second / time.Duration(p.cfg.Rate)
	tick := time.NewTicker(max(interval, time.Microsecond))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait() // every promise has run before done closes
	for seq := int64(0); p.cfg.Records == 0 || seq < p.cfg.Records; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		value := Value(p.runID, seq, p.cfg.ValueBytes)
		r := &kgo.Record{Partition: int32(seq % int64(p.cfg.Partitions)), Value: value}
		wg.Add(1)
		p.mu.Lock()
		p.sent++
		p.mu.Unlock()
		// Not ctx: stopping the producer must not fail records in flight,
		// whose fate (acknowledged or not) the check needs to know.
		p.client.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			defer wg.Done()
			p.mu.Lock()
			defer p.mu.Unlock()
			if err != nil {
				p.failures[err.Error()]++
				return
			}
			p.acks = append(p.acks, Ack{Partition: r.Partition, Offset: r.Offset, Seq: seq, Value: r.Value})
		})
	}
}

// Acknowledged reports how many records have been acknowledged so far.
func (p *Producer) Acknowledged() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// Failures returns how many records failed, by error.
func (p *Producer) Failures() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.failures))
	for k, v := range p.failures {
		out[k] = v
	}
	return out
}

// Done is closed when the producer has sent Records records and every one
// has been acknowledged or has failed.
func (p *Producer) Done() <-chan struct{} { return p.done }

// Stop stops sending, waits until every record sent has been acknowledged
// or has failed, closes the client and returns the acknowledgements.
// Calling it again returns the same.
//
// An idempotent producer never fails a record whose fate it does not know,
// whatever the delivery timeout, so Stop waits at most somewhat longer than
// that timeout and then closes the client, failing what is still pending.
func (p *Producer) Stop() Result {
	p.cancel()
	wait := time.NewTimer(p.cfg.DeliveryTimeout + 5*time.Second)
	defer wait.Stop()
	select {
	case <-p.done:
	case <-wait.C:
	}
	p.closeOnce.Do(p.client.Close)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	failed := 0
	for _, n := range p.failures {
		failed += n
	}
	return Result{RunID: p.runID, Sent: p.sent, Failed: failed, Acks: append([]Ack(nil), p.acks...)}
}

// Result is what a producer run left behind: the input of Check.
type Result struct {
	RunID  string
	Sent   int64
	Failed int
	Acks   []Ack
}

// Value returns the value of record seq of run runID:
// "kzoo-verify|<run>|<seq>|" padded with filler to about size bytes. Records
// written with it by other means can be checked with Check too.
func Value(runID string, seq int64, size int) []byte {
	v := fmt.Sprintf("%s|%s|%016d|", valuePrefix, runID, seq)
	if pad := size - len(v); pad > 0 {
		v += strings.Repeat(string(rune('a'+seq%26)), pad)
	}
	return []byte(v)
}

// decodeValue returns the run id and sequence of a value the verifier
// wrote; ok is false for any other value.
func decodeValue(v []byte) (runID string, seq int64, ok bool) {
	parts := strings.SplitN(string(v), "|", 4)
	if len(parts) != 4 || parts[0] != valuePrefix {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || seq < 0 {
		return "", 0, false
	}
	return parts[1], seq, true
}
