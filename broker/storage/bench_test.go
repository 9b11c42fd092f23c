package storage

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/zkpaths"
)

func benchConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	cfg.RetentionBytes = 64 << 20 // keeps the disk footprint of long runs bounded
	cfg.RetentionMs = -1
	cfg.FileDeleteDelayMs = 0
	return cfg
}

func BenchmarkAppendAsLeader(b *testing.B) {
	benchmarkAppendAsLeader(b, record.CodecNone)
}

// BenchmarkAppendAsLeaderCompressed is BenchmarkAppendAsLeader with compressed batches,
// whose records an append decompresses to validate them.
func BenchmarkAppendAsLeaderCompressed(b *testing.B) {
	for _, codec := range []struct {
		name string
		id   int
	}{{"gzip", record.CodecGzip}, {"snappy", record.CodecSnappy}, {"lz4", record.CodecLz4}, {"zstd", record.CodecZstd}} {
		b.Run(codec.name, func(b *testing.B) { benchmarkAppendAsLeader(b, codec.id) })
	}
}

// benchmarkAppendAsLeader appends batches of 10 records of 100 bytes, compressed with
// codec, deleting the expired segments now and then outside the timer.
func benchmarkAppendAsLeader(b *testing.B, codec int) {
	l := openLogT(b, b.TempDir(), benchConfig(), OpenOptions{})
	spec := plain(10, 1_000)
	spec.valueSize = 100
	spec.codec = codec
	template := makeBatch(b, spec)
	buf := make([]byte, len(template))
	b.SetBytes(int64(len(template)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(buf, template)
		if _, err := l.AppendAsLeader(buf, 1, OriginClient); err != nil {
			b.Fatal(err)
		}
		if i%8192 == 8191 {
			b.StopTimer()
			if _, err := l.DeleteExpiredSegments(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

func BenchmarkRead(b *testing.B) {
	l := openLogT(b, b.TempDir(), benchConfig(), OpenOptions{})
	spec := plain(10, 1_000)
	spec.valueSize = 100
	template := makeBatch(b, spec)
	for range 20_000 {
		if _, err := l.AppendAsLeader(append([]byte(nil), template...), 1, OriginClient); err != nil {
			b.Fatal(err)
		}
	}
	end := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	var bytes int64
	for b.Loop() {
		s, err := l.Read(rng.Int64N(end), math.MaxInt64, 64<<10)
		if err != nil {
			b.Fatal(err)
		}
		bytes += s.Size
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "slice-bytes/op")
}

// BenchmarkOpenClean opens, after a clean shutdown, a log of some 300 segments written by
// idempotent producers: what a broker restart costs per partition.
func BenchmarkOpenClean(b *testing.B) {
	cfg := benchConfig()
	cfg.SegmentBytes = 64 << 10
	cfg.RetentionBytes = -1
	dir := b.TempDir()
	l, err := Open(dir, cfg, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const producers = 8
	var seqs [producers]int32
	for i := 0; len(l.loadSegments()) < 300; i++ {
		pid := i % producers
		spec := idempotent(10, int64(pid), 0, seqs[pid])
		spec.valueSize = 100
		seqs[pid] += 10
		if _, err := l.AppendAsLeader(makeBatch(b, spec), 1, OriginClient); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var headers int64
	for b.Loop() {
		l, err := Open(dir, cfg, OpenOptions{CleanShutdown: true})
		if err != nil {
			b.Fatal(err)
		}
		headers += l.headersRead
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(headers)/float64(b.N), "headers/op")
}

// BenchmarkAppendAsLeaderIdempotent appends an idempotent producer's batches of 10
// records of 100 bytes, moving the high watermark after each as a leader alone in its ISR
// does: the path transactions must not slow down.
func BenchmarkAppendAsLeaderIdempotent(b *testing.B) {
	l := openLogT(b, b.TempDir(), benchConfig(), OpenOptions{})
	spec := idempotent(10, 1, 0, 0)
	spec.valueSize = 100
	template := makeBatch(b, spec)
	buf := make([]byte, len(template))
	b.SetBytes(int64(len(template)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(buf, template)
		binary.BigEndian.PutUint32(buf[53:], uint32(i*10))
		binary.BigEndian.PutUint32(buf[17:], record.ComputeCRC(buf))
		if _, err := l.AppendAsLeader(buf, 1, OriginClient); err != nil {
			b.Fatal(err)
		}
		l.SetHighWatermark(l.LogEndOffset())
		if i%8192 == 8191 {
			b.StopTimer()
			if _, err := l.DeleteExpiredSegments(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkConsumerView is BenchmarkRead of a log of transactions, each of one batch of
// 10 records and its marker, every fourth aborted, followed by the read_committed view of
// each range read: what filtering costs a consumer's fetch. aborted-list is what a
// read_committed fetch did before instead: collect the aborted transactions of the range.
func BenchmarkConsumerView(b *testing.B) {
	l := openLogT(b, b.TempDir(), benchConfig(), OpenOptions{})
	for i := range 10_000 {
		producer := int64(i%4 + 1)
		appendAs(b, l, OriginClient, txnBatch(b, 10, producer, 0, int32(i/4*10)))
		appendAs(b, l, OriginCoordinator, markerBatch(producer, 0, 1, i%4 != 3))
	}
	end := l.LogEndOffset()
	l.SetHighWatermark(end)
	for _, view := range []bool{true, false} {
		name := map[bool]string{true: "view", false: "aborted-list"}[view]
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				offset := rng.Int64N(end)
				s, err := l.Read(offset, l.LastStableOffset(), 64<<10)
				if err != nil {
					b.Fatal(err)
				}
				if view {
					_, _, err = l.ConsumerView(s, l.LastStableOffset(), 64<<10, true)
				} else {
					_, err = l.AbortedTransactions(offset, s.NextOffset)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkManagerOpenLogs opens, after a clean shutdown, the 20,000 logs of a broker
// (two small segments each) through a Manager bounded to 1,000 open files: what a
// restart costs for the logs alone. Its setup writes them; run it with -benchtime 1x.
func BenchmarkManagerOpenLogs(b *testing.B) {
	const partitions = 20_000
	dir := b.TempDir()
	batch := makeBatch(b, plain(10, 1_000))
	cfg := benchConfig()
	cfg.SegmentBytes = int64(len(batch)) // a segment per batch
	mcfg := ManagerConfig{Dirs: []string{dir}, BrokerID: 1, MaxOpenFiles: 1_000}
	m, err := NewManager(mcfg)
	if err != nil {
		b.Fatal(err)
	}
	for i := range partitions {
		l, err := m.GetOrCreate(zkpaths.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		for range 2 {
			if _, err := l.AppendAsLeader(append([]byte(nil), batch...), 1, OriginClient); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m, err := NewManager(mcfg)
		if err != nil {
			b.Fatal(err)
		}
		for i := range partitions {
			if _, err := m.GetOrCreate(zkpaths.TopicPartition{Topic: "t", Partition: int32(i)}, cfg); err != nil {
				b.Fatal(err)
			}
		}
		st := m.FileCacheStats()
		b.ReportMetric(float64(st.Open), "files-open")
		b.ReportMetric(float64(st.Opens)/partitions, "opens/log")
		b.StopTimer()
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkFileHandleAcquire is what every read, append and sendfile adds for the
// descriptor cache when its file is open: acquiring and releasing a handle, alone and
// with every goroutine on one handle.
func BenchmarkFileHandleAcquire(b *testing.B) {
	c := newFileCache(16, nil)
	h, err := c.create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer h.close()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.acquire(); err != nil {
				b.Fatal(err)
			}
			h.release()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.acquire(); err != nil {
					b.Error(err)
					return
				}
				h.release()
			}
		})
	})
}

// BenchmarkReadEvicting is BenchmarkRead with two logs sharing a cache of one file, read
// in turn: every read reopens its segment file (and closes the other's), the cost of a
// fetch when the descriptor bound is far below the partitions being read.
func BenchmarkReadEvicting(b *testing.B) {
	files := newFileCache(1, nil)
	spec := plain(10, 1_000)
	spec.valueSize = 100
	template := makeBatch(b, spec)
	var logs [2]*Log
	for i := range logs {
		l, err := openLog(b.TempDir(), benchConfig(), OpenOptions{}, logShared{files: files})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		for range 2_000 {
			if _, err := l.AppendAsLeader(append([]byte(nil), template...), 1, OriginClient); err != nil {
				b.Fatal(err)
			}
		}
		logs[i] = l
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l := logs[i%2]
		if _, err := l.Read(rng.Int64N(l.LogEndOffset()), math.MaxInt64, 64<<10); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(files.stats().Opens)/float64(b.N), "opens/op")
}
