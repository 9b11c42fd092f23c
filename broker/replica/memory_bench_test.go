package replica

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

// BenchmarkPartitionMemory reports the heap one partition replica takes:
// opened through Apply over a real log dir, led (replicas and ISR [1 2 3])
// or followed (fetching from broker 2, unreachable here). The storage log
// is part of it; "log-bytes/op" is the log alone, opened through the
// storage manager without a replica.
func BenchmarkPartitionMemory(b *testing.B) {
	const n = 2000 // each log holds descriptors: keep well under the limit
	for _, role := range []string{"leader", "follower"} {
		b.Run(role, func(b *testing.B) {
			for range b.N {
				m := applyManager(b)
				changed := make(map[zkpaths.TopicPartition]Assignment, n)
				for i := range n {
					leader := int32(1)
					if role == "follower" {
						leader = 2
					}
					a := state(int32(i), leader, 1, []int32{1, 2, 3}, []int32{1, 2, 3})
					changed[zkpaths.TopicPartition{Topic: "t", Partition: int32(i)}] = a
				}
				before := heapInUse()
				if _, failed := m.Apply(changed, nil); len(failed) > 0 {
					b.Fatalf("cannot apply %d partitions", len(failed))
				}
				after := heapInUse()
				b.ReportMetric(float64(after-before)/n, "heap-bytes/partition")
				if path := os.Getenv("KZOO_HEAP_PROFILE"); path != "" {
					writeHeapProfile(b, path)
				}

				logs := applyManager(b).cfg.Logs
				before = heapInUse()
				for i := range n {
					if _, err := logs.GetOrCreate(zkpaths.TopicPartition{Topic: "u", Partition: int32(i)}, changed[zkpaths.TopicPartition{Topic: "t", Partition: 0}].Config.Storage()); err != nil {
						b.Fatal(err)
					}
				}
				after = heapInUse()
				b.ReportMetric(float64(after-before)/n, "log-heap-bytes/partition")
				runtime.KeepAlive(m)
			}
		})
	}
}

// writeHeapProfile writes the heap profile to path, for a look at what a
// partition holds (KZOO_HEAP_PROFILE=path with -memprofilerate=1).
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
