package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// TestSetCleanerAppliesAtRunTime: a cleaner started with a backoff of an
// hour cleans nothing; SetCleaner (a dynamic broker config) shortens it at
// once, and its threads then clean every due log.
func TestSetCleanerAppliesAtRunTime(t *testing.T) {
	dir := t.TempDir()
	m := newManagerT(t, ManagerConfig{
		Dirs: []string{dir}, BrokerID: 1,
		CleanerEnabled: true,
		CleanerBackoff: time.Hour,
	})
	defer closeManager(t, m)
	cfg := compactedConfig()
	cfg.SegmentMs = 0
	actives := make(map[zkpaths.TopicPartition]int64)
	for p := range int32(4) {
		tp := zkpaths.TopicPartition{Topic: "compacted", Partition: p}
		l, err := m.GetOrCreate(tp, cfg)
		must(t, err)
		for i := range 60 {
			appendT(t, l, keyedBatch(t, keyed(time.Now().UnixMilli(), kv(fmt.Sprint("k", i%3), fmt.Sprint(i)))))
		}
		actives[tp] = activeSegment(l).baseOffset
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	want := CleanerSettings{Backoff: 5 * time.Millisecond, DedupeBufferSize: 1 << 20, Threads: 3, IOMaxBytesPerSecond: 1 << 30}
	m.SetCleaner(want)
	if got := m.Cleaner(); got != want {
		t.Fatalf("settings = %+v, want %+v", got, want)
	}
	poll.Until(t, waitTimeout, "the cleaner threads to clean every log and checkpoint it", func() bool {
		data, err := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
		if err != nil {
			return false
		}
		offsets, err := parseOffsetCheckpoint(data)
		if err != nil {
			return false
		}
		for tp, active := range actives {
			if offsets[tp] != active {
				return false
			}
		}
		return true
	})
}
