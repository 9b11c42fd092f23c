package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	kzrecord "github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/kzoo/kzoo/e2e/cluster"
)

// TestHostileRecordBatches produces batches that inflate to 1 GiB, with every codec, to
// plain and compacted topics, and batches whose records do not add up, with a raw client.
// Each is refused with its error code, or taken because it is valid, while the broker's
// peak memory stays within a small bound; and the broker serves on afterwards.
func TestHostileRecordBatches(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 1, PortOffset: 10100})
	bootstrap := c.Bootstrap()
	pid, err := c.BrokerPID(1)
	if err != nil {
		t.Fatal(err)
	}
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.Contains(string(cmdline), "kzoo-broker") {
		t.Fatalf("pid %d is not the broker: %q, %v", pid, cmdline, err)
	}

	// max.message.bytes 1 MiB lets a batch inflate to 64 MiB; 64 MiB lets it inflate to
	// 2 GiB, so that every bomb reaches the records' validation.
	const bigMessages = 64 << 20
	topics := []struct {
		name    string
		configs map[string]string
	}{
		{"bombs-plain", nil},
		{"bombs-compact", map[string]string{"cleanup.policy": "compact"}},
		{"bombs-plain-64m", map[string]string{"max.message.bytes": strconv.Itoa(bigMessages)}},
		{"bombs-compact-64m", map[string]string{"cleanup.policy": "compact", "max.message.bytes": strconv.Itoa(bigMessages)}},
	}
	for _, tp := range topics {
		createTopic(t, bootstrap, tp.name, 1, 1, tp.configs)
	}
	cl := admin(t, bootstrap)
	warmUp := recordtest.Frame(kzrecord.CodecNone, 1, recordtest.Records(recordtest.Record{Key: []byte("warm-up")}))
	if code, err := produceBatch(cl, "bombs-plain", warmUp); err != nil || code != 0 {
		t.Fatalf("warm-up produce: %v, %v", kerr.ErrorForCode(code), err)
	}
	t.Logf("broker memory before the bombs: %s", brokerMemory(t, pid))

	const inflated = 1 << 30
	// The small bombs first, so that the peak the large snappy requests leave does not
	// hide what the small ones cost.
	all := recordtest.Codecs()
	for _, codec := range []recordtest.Codec{all[1], all[4], all[5], all[2], all[3]} {
		before := brokerMemory(t, pid)
		bomb, err := recordtest.Bomb(codec, []byte("bomb"), inflated)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range topics {
			code, err := produceBatch(cl, tp.name, bomb)
			if err != nil {
				t.Fatalf("%s bomb to %s: %v", codec.Name, tp.name, err)
			}
			// What a topic may take: a batch of at most max.message.bytes, inflating to
			// 32 times that (64 MiB at least), and a raw snappy block (decoded whole) of
			// 64 MiB at most. The 1 GiB bombs fit only the 64 MiB topics' bounds.
			want := kerr.MessageTooLarge.Code
			rawSnappy := codec.ID == kzrecord.CodecSnappy && codec.Framing == kzrecord.SnappyRaw
			if strings.HasSuffix(tp.name, "-64m") && !rawSnappy {
				want = 0
			}
			if code != want {
				t.Errorf("%s bomb (%d bytes) to %s: %v, want %v", codec.Name, len(bomb), tp.name, kerr.ErrorForCode(code), kerr.ErrorForCode(want))
			}
		}
		mem := brokerMemory(t, pid)
		t.Logf("after the %s bombs (%d bytes each): %s", codec.Name, len(bomb), mem)
		// The bound covers the decoders and the requests themselves, which the broker
		// holds while it reads them (the snappy ones are 50 MB, and garbage once
		// answered); inflating one bomb would take 1 GiB.
		bound := max(64<<20, 6*int64(len(bomb)))
		if grown := mem.peak - before.peak; grown > bound {
			t.Fatalf("broker's peak memory grew by %d MiB with the %s bombs, more than %d MiB", grown>>20, codec.Name, bound>>20)
		}
	}

	// Batches whose records do not add up, and a transactional batch sent
	// without a transactional id, which Kafka refuses as not authorized
	// for the (missing) transactional id, with or without an authorizer.
	oneRecord := recordtest.Records(recordtest.Record{Key: []byte("k"), Value: []byte("v")})
	for _, tt := range []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"declares 3 records, holds 1", recordtest.Frame(kzrecord.CodecNone, 3, oneRecord), kerr.CorruptMessage},
		{"declares 3 gzip records, holds 1", mustBatch(t, recordtest.Codecs()[1], 3, oneRecord), kerr.CorruptMessage},
		{"record length past its fields", recordtest.Frame(kzrecord.CodecNone, 1, append(lengthenFirst(oneRecord), 0)), kerr.CorruptMessage},
		{"transactional without a transactional id", transactional(t, oneRecord), kerr.TransactionalIDAuthorizationFailed},
	} {
		for _, topic := range []string{"bombs-plain", "bombs-compact"} {
			code, err := produceBatch(cl, topic, tt.batch)
			if err != nil {
				t.Fatalf("%s to %s: %v", tt.name, topic, err)
			}
			if code != tt.want.Code {
				t.Errorf("%s to %s: %v, want %v", tt.name, topic, kerr.ErrorForCode(code), tt.want)
			}
		}
	}

	// The broker serves on: a record produced now is fetched back, after every bomb
	// the topic took.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	producer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.DefaultProduceTopic("bombs-compact-64m"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	res, err := producer.ProduceSync(ctx, &kgo.Record{Key: []byte("after"), Value: []byte("still serving")}).First()
	if err != nil {
		t.Fatalf("produce after the bombs: %v", err)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"bombs-compact-64m": {0: kgo.NewOffset().At(res.Offset)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	for {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("fetching the record produced after the bombs: %v", err)
		}
		for _, fe := range fetches.Errors() {
			t.Fatalf("fetch: %v", fe.Err)
		}
		for _, r := range fetches.Records() {
			if string(r.Value) == "still serving" {
				t.Logf("broker memory at the end: %s", brokerMemory(t, pid))
				return
			}
		}
	}
}

// produceBatch sends one batch to partition 0 of topic, acks=1, and returns the
// partition's error code.
func produceBatch(cl *kgo.Client, topic string, batch []byte) (int16, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := produceRequest(topic, 0, 1, batch).RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	return resp.Topics[0].Partitions[0].ErrorCode, nil
}

func mustBatch(t *testing.T, codec recordtest.Codec, count int32, records []byte) []byte {
	t.Helper()
	b, err := recordtest.Batch(codec, count, records)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lengthenFirst returns records with the length prefix of the first record one larger
// than its fields (the prefix being one byte long).
func lengthenFirst(records []byte) []byte {
	out := append([]byte(nil), records...)
	length, n := binary.Varint(out)
	if n != 1 {
		panic("lengthenFirst: prefix of more than one byte")
	}
	binary.PutVarint(out, length+1)
	return out
}

// transactional builds a batch with the transactional bit from producer 1, epoch 0.
func transactional(t *testing.T, records []byte) []byte {
	t.Helper()
	b := recordtest.Frame(kzrecord.CodecNone, 1, records)
	h := kzrecord.ParseHeader(b)
	binary.BigEndian.PutUint16(b[21:], uint16(h.Attributes|kzrecord.TransactionalBit))
	binary.BigEndian.PutUint64(b[43:], 1) // producer id
	binary.BigEndian.PutUint16(b[51:], 0) // producer epoch
	binary.BigEndian.PutUint32(b[53:], 0) // base sequence
	kzrecord.Finish(b, 1, h.MaxTimestamp)
	return b
}

// memory is what /proc/<pid>/status says of a process's resident memory.
type memory struct{ resident, peak int64 }

func (m memory) String() string {
	return fmt.Sprintf("VmRSS %d MiB, VmHWM %d MiB", m.resident>>20, m.peak>>20)
}

func brokerMemory(t *testing.T, pid int) memory {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("broker memory: %v", err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("broker memory: %s: %v", sc.Text(), err)
		}
		if name == "VmRSS" {
			m.resident = kb << 10
		} else {
			m.peak = kb << 10
		}
	}
	if m.peak == 0 {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	return m
}
