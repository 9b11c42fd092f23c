package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	clientRecords    = 100_000
	clientPartitions = 6
)

// produceKafkaGo writes w with kafka-go's Writer, keyed with murmur2.
func produceKafkaGo(t *testing.T, bootstrap []string, topic string, w workload, compression kafka.Compression) {
	t.Helper()
	wr := &kafka.Writer{
		Addr:         kafka.TCP(bootstrap...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchTimeout: 5 * time.Millisecond,
		Compression:  compression,
		// kafka-go's shared default transport caches metadata for a while
		// and would not know a topic created since: use a fresh one.
		Transport: &kafka.Transport{},
	}
	defer wr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	msgs := make([]kafka.Message, 0, 5000)
	for i := range w.values {
		msgs = append(msgs, kafka.Message{Key: w.keys[i], Value: w.values[i]})
		if len(msgs) == cap(msgs) || i == len(w.values)-1 {
			if err := wr.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("kafka-go write: %v", err)
			}
			msgs = msgs[:0]
		}
	}
}

// consumeKafkaGo reads every partition of topic from the start to its high
// watermark with one kafka-go Reader per partition.
func consumeKafkaGo(t *testing.T, bootstrap []string, topic string, partitions int) []record {
	t.Helper()
	hws := highWatermarks(t, bootstrap, topic, partitions)
	var out []record
	for p := 0; p < partitions; p++ {
		if hws[p] == 0 {
			continue
		}
		rd := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   bootstrap,
			Topic:     topic,
			Partition: p,
			MinBytes:  1,
			MaxBytes:  4 << 20,
			MaxWait:   500 * time.Millisecond,
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		for {
			m, err := rd.ReadMessage(ctx)
			if err != nil {
				cancel()
				rd.Close()
				t.Fatalf("kafka-go read partition %d: %v", p, err)
			}
			out = append(out, record{partition: int32(m.Partition), offset: m.Offset, key: m.Key, value: m.Value})
			if m.Offset >= hws[p]-1 {
				break
			}
		}
		cancel()
		rd.Close()
	}
	return out
}

// produceFranz writes w with franz-go, idempotently (its default), keyed
// with murmur2 (its default partitioner for keyed records). It returns the
// acknowledged records.
func produceFranz(t *testing.T, bootstrap []string, topic string, w workload, opts ...kgo.Opt) []record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(bootstrap...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(2 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var (
		mu    sync.Mutex
		acked []record
		errs  []error
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range w.values {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: w.keys[i], Value: w.values[i]}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			acked = append(acked, record{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("franz-go: %d records failed, first: %v", len(errs), errs[0])
	}
	return acked
}

// consumeFranz reads topic from the start up to the given high watermarks.
func consumeFranz(t *testing.T, bootstrap []string, topic string, hws []int64) []record {
	t.Helper()
	var want int64
	for _, hw := range hws {
		want += hw
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []record
	for int64(len(out)) < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go consumed %d of %d records before the deadline", len(out), want)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Logf("franz-go fetch %s/%d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			out = append(out, record{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	return out
}

// sortByPartition orders records by partition, keeping the order within each.
func sortByPartition(rs []record, partitions int) []record {
	byP := make([][]record, partitions)
	for _, r := range rs {
		byP[r.partition] = append(byP[r.partition], r)
	}
	out := make([]record, 0, len(rs))
	for _, p := range byP {
		out = append(out, p...)
	}
	return out
}

func testKafkaGo(t *testing.T, bootstrap []string) {
	topic := "clients-kafka-go"
	createTopic(t, bootstrap, topic, clientPartitions, 1, nil)
	w := newWorkload(clientRecords, 1000, "kafka-go")
	produceKafkaGo(t, bootstrap, topic, w, 0)
	got := consumeKafkaGo(t, bootstrap, topic, clientPartitions)
	verifyExactlyOnceInOrder(t, w, clientPartitions, got)
}

func testFranz(t *testing.T, bootstrap []string) {
	topic := "clients-franz-go"
	createTopic(t, bootstrap, topic, clientPartitions, 1, nil)
	w := newWorkload(clientRecords, 1000, "franz-go")
	acked := produceFranz(t, bootstrap, topic, w)
	if len(acked) != clientRecords {
		t.Fatalf("%d of %d records acknowledged", len(acked), clientRecords)
	}
	got := consumeFranz(t, bootstrap, topic, highWatermarks(t, bootstrap, topic, clientPartitions))
	got = sortByPartition(got, clientPartitions)
	verifyExactlyOnceInOrder(t, w, clientPartitions, got)
	// Every acknowledged offset holds the acknowledged record.
	byPos := make(map[[2]int64]string, len(got))
	for _, r := range got {
		byPos[[2]int64{int64(r.partition), r.offset}] = string(r.value)
	}
	for _, a := range acked {
		if byPos[[2]int64{int64(a.partition), a.offset}] != string(a.value) {
			t.Fatalf("acknowledged record at %d/%d is not there", a.partition, a.offset)
		}
	}
}

func kcatPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: `make deps` installs Debian's kcat")
	}
	return path
}

func testKcat(t *testing.T, bootstrap []string) {
	kcat := kcatPath(t)
	topic := "clients-kcat"
	createTopic(t, bootstrap, topic, clientPartitions, 1, nil)
	w := newWorkload(clientRecords, 1000, "kcat")

	var in bytes.Buffer
	for i := range w.values {
		in.Write(w.keys[i])
		in.WriteByte('\t')
		in.Write(w.values[i])
		in.WriteByte('\n')
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	produce := exec.CommandContext(ctx, kcat, "-P", "-b", strings.Join(bootstrap, ","), "-t", topic,
		"-K", "\t", "-X", "topic.partitioner=murmur2_random", "-X", "enable.idempotence=true",
		"-X", "linger.ms=5")
	produce.Stdin = &in
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}

	consume := exec.CommandContext(ctx, kcat, "-C", "-b", strings.Join(bootstrap, ","), "-t", topic,
		"-o", "beginning", "-e", "-q", "-f", "%p\t%o\t%k\t%s\n")
	out, err := consume.Output()
	if err != nil {
		t.Fatalf("kcat consume: %v", err)
	}
	verifyExactlyOnceInOrder(t, w, clientPartitions, sortByPartition(kcatRecords(t, out), clientPartitions))
}

// testCompression produces with each codec through franz-go and kafka-go and
// reads the records back: batches are stored as sent and served as stored.
func testCompression(t *testing.T, bootstrap []string) {
	codecs := map[string]kgo.CompressionCodec{
		"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "compression-" + name
			createTopic(t, bootstrap, topic, 3, 1, nil)
			w := newWorkload(5000, 100, name)
			produceFranz(t, bootstrap, topic, w, kgo.ProducerBatchCompression(codec))
			got := consumeFranz(t, bootstrap, topic, highWatermarks(t, bootstrap, topic, 3))
			verifyExactlyOnceInOrder(t, w, 3, sortByPartition(got, 3))
		})
	}
	t.Run("kafka-go-lz4", func(t *testing.T) {
		topic := "compression-kafka-go"
		createTopic(t, bootstrap, topic, 3, 1, nil)
		w := newWorkload(5000, 100, "kgo-lz4")
		produceKafkaGo(t, bootstrap, topic, w, kafka.Lz4)
		verifyExactlyOnceInOrder(t, w, 3, consumeKafkaGo(t, bootstrap, topic, 3))
	})
}

// kcatRecords parses what kcat -C -f '%p\t%o\t%k\t%s\n' printed.
func kcatRecords(t *testing.T, out []byte) []record {
	t.Helper()
	var got []record
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 4)
		if len(f) != 4 {
			t.Fatalf("kcat printed %q", sc.Text())
		}
		p, _ := strconv.Atoi(f[0])
		o, _ := strconv.ParseInt(f[1], 10, 64)
		got = append(got, record{partition: int32(p), offset: o, key: []byte(f[2]), value: []byte(f[3])})
	}
	return got
}
