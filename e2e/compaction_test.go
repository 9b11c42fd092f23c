package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/internal/poll"
)

// compactedLog is what a test produced to a one-partition compacted topic:
// every record by offset and, per key, the offset of its latest record.
type compactedLog struct {
	records map[int64]compactedRecord
	latest  map[string]int64
	next    int64 // the log end offset: every offset below was produced
}

type compactedRecord struct {
	key   string
	value []byte // nil for a tombstone
}

func (l *compactedLog) add(offset int64, key string, value []byte) {
	l.records[offset] = compactedRecord{key, value}
	if offset >= l.latest[key] {
		l.latest[key] = offset
	}
	l.next = max(l.next, offset+1)
}

// compactionProducer writes to partition 0 of a topic in small batches, so
// that the topic's tiny segments roll often.
type compactionProducer struct {
	cl    *kgo.Client
	topic string
	log   compactedLog
}

func (p *compactionProducer) produce(t *testing.T, keys []string, values [][]byte) {
	t.Helper()
	const batch = 10
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for start := 0; start < len(keys); start += batch {
		var recs []*kgo.Record
		for i := start; i < min(start+batch, len(keys)); i++ {
			recs = append(recs, &kgo.Record{Topic: p.topic, Partition: 0, Key: []byte(keys[i]), Value: values[i]})
		}
		for _, r := range p.cl.ProduceSync(ctx, recs...) {
			if r.Err != nil {
				t.Fatalf("produce to %s: %v", p.topic, r.Err)
			}
			p.log.add(r.Record.Offset, string(r.Record.Key), r.Record.Value)
		}
	}
}

// testCompaction: many overwrites of 50 keys and tombstones for ten of them
// in a compacted topic with tiny segments. The cleaner must end with one
// record per live key -- its latest value at its original offset -- and no
// record of a tombstoned key once delete.retention.ms has passed; the log
// end offset stays. Records of unique "filler" keys are produced all along:
// they roll the active segment (which is never cleaned) past everything
// else and keep the cleaner finding dirty data, and they are all kept.
// Every intermediate read must be consistent too: nothing but produced
// records at their offsets, every key's latest record present, and a
// tombstone gone only with every older value of its key.
func testCompaction(t *testing.T, bootstrap []string) {
	const (
		topic      = "compacted"
		keys       = 50
		rounds     = 60
		tombstoned = 10
	)
	createTopic(t, bootstrap, topic, 1, 3, map[string]string{
		"cleanup.policy":            "compact",
		"segment.bytes":             "2048",
		"min.cleanable.dirty.ratio": "0.01",
		"delete.retention.ms":       "1000",
	})
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := &compactionProducer{cl: cl, topic: topic, log: compactedLog{records: map[int64]compactedRecord{}, latest: map[string]int64{}}}

	var ks []string
	var vs [][]byte
	for r := range rounds {
		for k := range keys {
			ks = append(ks, fmt.Sprintf("key-%02d", k))
			vs = append(vs, fmt.Appendf(nil, "key-%02d-round-%03d", k, r))
		}
	}
	for k := range tombstoned {
		ks = append(ks, fmt.Sprintf("key-%02d", k))
		vs = append(vs, nil)
	}
	p.produce(t, ks, vs)

	fillers := 0
	produceFillers := func(n int) {
		var ks []string
		var vs [][]byte
		for range n {
			ks = append(ks, fmt.Sprintf("filler-%05d", fillers))
			vs = append(vs, fmt.Appendf(nil, "filler-%05d", fillers))
			fillers++
		}
		p.produce(t, ks, vs)
	}

	var read []record
	// Each look adds fillers first, so that the active segment keeps
	// rolling while the cleaner (every 500 ms) catches up.
	poll.UntilSaw(t, 2*time.Minute, "the log to be compacted", func() (bool, string) {
		produceFillers(5)
		read = readCompacted(t, bootstrap, topic, p.log.next)
		pending := checkCompacted(t, p.log, read)
		return pending == "", fmt.Sprintf("%s (%d records read, %d produced)", pending, len(read), p.log.next)
	})
	if len(read) == 0 || read[0].offset == 0 {
		t.Errorf("offset 0 (an overwritten value) is still in the log")
	}
	if start := logStartOf(t, bootstrap, topic, 0); start != 0 {
		t.Errorf("log start offset is %d after compaction, want 0", start)
	}
	if end := highWatermarks(t, bootstrap, topic, 1)[0]; end != p.log.next {
		t.Errorf("log end offset is %d, want %d", end, p.log.next)
	}

	// Another client skips the gaps the same way.
	viaKafkaGo := consumeKafkaGo(t, bootstrap, topic, 1)
	if len(viaKafkaGo) != len(read) {
		t.Fatalf("kafka-go read %d records, franz-go %d", len(viaKafkaGo), len(read))
	}
	for i := range read {
		if viaKafkaGo[i].offset != read[i].offset || !bytes.Equal(viaKafkaGo[i].value, read[i].value) {
			t.Fatalf("record %d: kafka-go read offset %d %q, franz-go %d %q", i, viaKafkaGo[i].offset, viaKafkaGo[i].value, read[i].offset, read[i].value)
		}
	}
}

// readCompacted reads partition 0 of topic from the start up to end, the
// log end offset (whose last record is a filler, never removed).
func readCompacted(t *testing.T, bootstrap []string, topic string, end int64) []record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []record
	for len(out) == 0 || out[len(out)-1].offset < end-1 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: only up to offset %d of %d before the deadline", topic, lastOffset(out), end)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Logf("fetch %s: %v", topic, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			out = append(out, record{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	return out
}

func lastOffset(rs []record) int64 {
	if len(rs) == 0 {
		return -1
	}
	return rs[len(rs)-1].offset
}

// checkCompacted fails t if read is inconsistent with what was produced
// (see testCompaction), and otherwise returns what still separates read
// from the fully compacted log, or "" when nothing does.
func checkCompacted(t *testing.T, produced compactedLog, read []record) (pending string) {
	t.Helper()
	present := map[string][]int64{} // offsets read per key
	prev := int64(-1)
	for _, r := range read {
		want, ok := produced.records[r.offset]
		switch {
		case r.offset <= prev:
			t.Fatalf("offset %d read after offset %d", r.offset, prev)
		case !ok:
			t.Fatalf("offset %d was never produced", r.offset)
		case string(r.key) != want.key || !bytes.Equal(r.value, want.value) || (r.value == nil) != (want.value == nil):
			t.Fatalf("offset %d holds key %q value %q, produced key %q value %q", r.offset, r.key, r.value, want.key, want.value)
		}
		prev = r.offset
		present[want.key] = append(present[want.key], r.offset)
	}
	for key, latest := range produced.latest {
		offsets := present[key]
		isTombstone := produced.records[latest].value == nil
		keptLatest := len(offsets) > 0 && offsets[len(offsets)-1] == latest
		switch {
		case !isTombstone && !keptLatest:
			t.Fatalf("the latest value of %s (offset %d) is gone; offsets of the key left: %v", key, latest, offsets)
		case isTombstone && !keptLatest && len(offsets) > 0:
			t.Fatalf("the tombstone of %s (offset %d) is gone but older values are left at %v", key, latest, offsets)
		case len(offsets) > 1 && pending == "":
			pending = fmt.Sprintf("%s has %d records left", key, len(offsets))
		case isTombstone && len(offsets) > 0 && pending == "":
			pending = fmt.Sprintf("the tombstone of %s is still there", key)
		}
	}
	return pending
}
