package storage

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

func newManagerT(t *testing.T, cfg ManagerConfig) *Manager {
	t.Helper()
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	return m
}

func closeManager(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.Close(); err != nil {
		t.Fatalf("close manager: %v", err)
	}
}

func TestManagerMetaPropertiesAndLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	cfg := ManagerConfig{Dirs: []string{dir}, BrokerID: 3, ClusterID: "cluster-a"}
	m := newManagerT(t, cfg)
	meta, err := os.ReadFile(filepath.Join(dir, "meta.properties"))
	must(t, err)
	for _, line := range []string{"version=0", "broker.id=3", "cluster.id=cluster-a"} {
		if !strings.Contains(string(meta), line+"\n") {
			t.Errorf("meta.properties lacks %q:\n%s", line, meta)
		}
	}

	if _, err := NewManager(cfg); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second manager on a locked dir: %v", err)
	}
	// A failure on a later dir releases the locks taken on earlier ones.
	other := filepath.Join(t.TempDir(), "other")
	if _, err := NewManager(ManagerConfig{Dirs: []string{other, dir}, BrokerID: 3, ClusterID: "cluster-a"}); err == nil {
		t.Fatal("manager with one locked dir succeeded")
	}
	m2 := newManagerT(t, ManagerConfig{Dirs: []string{other}, BrokerID: 3, ClusterID: "cluster-a"})
	closeManager(t, m2)
	closeManager(t, m)

	if _, err := NewManager(ManagerConfig{Dirs: []string{dir}, BrokerID: 4, ClusterID: "cluster-a"}); err == nil || !strings.Contains(err.Error(), "broker.id") {
		t.Fatalf("dir of broker 3 opened as broker 4: %v", err)
	}
	if _, err := NewManager(ManagerConfig{Dirs: []string{dir}, BrokerID: 3, ClusterID: "cluster-b"}); err == nil || !strings.Contains(err.Error(), "cluster.id") {
		t.Fatalf("dir of cluster-a opened in cluster-b: %v", err)
	}
	closeManager(t, newManagerT(t, cfg))

	// A dir formatted before the cluster id was known learns it.
	noCluster := filepath.Join(t.TempDir(), "nocluster")
	closeManager(t, newManagerT(t, ManagerConfig{Dirs: []string{noCluster}, BrokerID: 1}))
	closeManager(t, newManagerT(t, ManagerConfig{Dirs: []string{noCluster}, BrokerID: 1, ClusterID: "late"}))
	meta, err = os.ReadFile(filepath.Join(noCluster, "meta.properties"))
	must(t, err)
	if !strings.Contains(string(meta), "cluster.id=late\n") {
		t.Fatalf("cluster id not recorded:\n%s", meta)
	}
}

func TestManagerPartitionsCheckpointsAndCleanShutdown(t *testing.T) {
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "a"), filepath.Join(root, "b")}
	cfg := ManagerConfig{Dirs: dirs, BrokerID: 1, ClusterID: "c"}
	m := newManagerT(t, cfg)
	tps := []zkpaths.TopicPartition{{Topic: "my-topic.v1", Partition: 0}, {Topic: "my-topic.v1", Partition: 1}, {Topic: "my-topic.v1", Partition: 2}, {Topic: "other", Partition: 10}}
	perDir := map[string]int{}
	ends := map[zkpaths.TopicPartition]int64{}
	for i, tp := range tps {
		l, err := m.GetOrCreate(tp, smallConfig())
		must(t, err)
		if again, err := m.GetOrCreate(tp, smallConfig()); err != nil || again != l {
			t.Fatalf("second GetOrCreate of %s returned another log (%v)", tp, err)
		}
		perDir[filepath.Dir(l.Dir())]++
		appendBatches(t, l, 3+i)
		ends[tp] = l.LogEndOffset()
	}
	if perDir[dirs[0]] != 2 || perDir[dirs[1]] != 2 {
		t.Fatalf("partitions per dir %v, want 2 and 2", perDir)
	}
	if _, err := m.GetOrCreate(zkpaths.TopicPartition{Topic: "../escape", Partition: 0}, smallConfig()); err == nil {
		t.Fatal("accepted a topic name that escapes the log dir")
	}
	if got := m.Existing(); len(got) != 0 {
		t.Fatalf("Existing lists opened partitions: %v", got)
	}
	closeManager(t, m)

	for _, d := range dirs {
		if !fileExists(filepath.Join(d, ".kafka_cleanshutdown")) {
			t.Fatalf("no clean shutdown marker in %s", d)
		}
	}
	checkpointed := map[zkpaths.TopicPartition]int64{}
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "recovery-point-offset-checkpoint"))
		must(t, err)
		offsets, err := parseOffsetCheckpoint(data)
		must(t, err)
		for tp, off := range offsets {
			checkpointed[tp] = off
		}
	}
	if !reflect.DeepEqual(checkpointed, ends) {
		t.Fatalf("checkpointed recovery points %v, want the log ends %v", checkpointed, ends)
	}

	m = newManagerT(t, cfg)
	for _, d := range m.dirs {
		if !d.cleanShutdown {
			t.Fatalf("%s not seen as cleanly shut down", d.path)
		}
		if fileExists(filepath.Join(d.path, ".kafka_cleanshutdown")) {
			t.Fatalf("clean shutdown marker left in %s while running", d.path)
		}
	}
	if got := m.Existing(); !reflect.DeepEqual(got, tps) {
		t.Fatalf("Existing() = %v, want %v", got, tps)
	}
	l, err := m.GetOrCreate(tps[2], smallConfig())
	must(t, err)
	if l.LogEndOffset() != ends[tps[2]] {
		t.Fatalf("reopened %s ends at %d, want %d", tps[2], l.LogEndOffset(), ends[tps[2]])
	}
	if got, ok := m.Get(tps[2]); !ok || got != l {
		t.Fatal("Get does not return the opened log")
	}
	if _, ok := m.Get(tps[0]); ok {
		t.Fatal("Get returned a partition that is not open")
	}
	if got := m.Existing(); len(got) != 3 {
		t.Fatalf("Existing() = %v after opening one of four", got)
	}
	closeManager(t, m)

	// Unopened partitions keep their checkpointed recovery points.
	data, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(l.Dir())), filepath.Base(filepath.Dir(l.Dir())), "recovery-point-offset-checkpoint"))
	must(t, err)
	offsets, err := parseOffsetCheckpoint(data)
	must(t, err)
	for tp, off := range offsets {
		if off != ends[tp] {
			t.Fatalf("checkpoint after the second run: %s at %d, want %d", tp, off, ends[tp])
		}
	}
}

// crash releases a manager's locks without closing anything, as a killed process would.
func crash(t *testing.T, m *Manager) {
	t.Helper()
	for _, ml := range m.openLogs() {
		_ = ml.log.Close()
	}
	must(t, m.releaseLocks())
}

func TestManagerRecoversAfterACrash(t *testing.T) {
	dir := t.TempDir()
	cfg := ManagerConfig{Dirs: []string{dir}, BrokerID: 1}
	tp := zkpaths.TopicPartition{Topic: "t", Partition: 0}
	m := newManagerT(t, cfg)
	l, err := m.GetOrCreate(tp, smallConfig())
	must(t, err)
	appendBatches(t, l, 20)
	end := l.LogEndOffset()
	segs := segmentFiles(t, l.Dir())
	last := filepath.Join(l.Dir(), segs[len(segs)-1])
	crash(t, m)
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	mustWrite(t, f.Write, []byte("torn batch"))
	must(t, f.Close())

	// A run that never opens the partition must not mark the dir clean.
	m = newManagerT(t, cfg)
	if m.dirs[0].cleanShutdown {
		t.Fatal("crashed dir seen as cleanly shut down")
	}
	closeManager(t, m)
	if fileExists(filepath.Join(dir, ".kafka_cleanshutdown")) {
		t.Fatal("dir marked clean though a partition was never recovered")
	}

	m = newManagerT(t, cfg)
	l, err = m.GetOrCreate(tp, smallConfig())
	must(t, err)
	if l.LogEndOffset() != end {
		t.Fatalf("recovered log ends at %d, want %d", l.LogEndOffset(), end)
	}
	if res := appendT(t, l, makeBatch(t, plain(1, 0))); res.FirstOffset != end {
		t.Fatalf("append after recovery at %d, want %d", res.FirstOffset, end)
	}
	closeManager(t, m)
	if !fileExists(filepath.Join(dir, ".kafka_cleanshutdown")) {
		t.Fatal("dir not marked clean once every partition was recovered")
	}
}

func TestManagerRemove(t *testing.T) {
	dir := t.TempDir()
	cfg := ManagerConfig{Dirs: []string{dir}, BrokerID: 1}
	m := newManagerT(t, cfg)
	open, closed := zkpaths.TopicPartition{Topic: "open", Partition: 0}, zkpaths.TopicPartition{Topic: "closed", Partition: 0}
	for _, tp := range []zkpaths.TopicPartition{open, closed} {
		l, err := m.GetOrCreate(tp, smallConfig())
		must(t, err)
		appendBatches(t, l, 3)
	}
	closeManager(t, m)
	must(t, os.MkdirAll(filepath.Join(dir, "gone-0.0123abcd-delete"), 0o755)) // an interrupted removal

	m = newManagerT(t, cfg)
	defer closeManager(t, m)
	if fileExists(filepath.Join(dir, "gone-0.0123abcd-delete")) {
		t.Fatal("leftover -delete dir not removed at start")
	}
	l, err := m.GetOrCreate(open, smallConfig())
	must(t, err)
	slice, err := l.Read(0, math.MaxInt64, 1)
	must(t, err)
	must(t, m.Remove(open))
	must(t, m.Remove(closed)) // on disk, never opened
	must(t, m.Remove(zkpaths.TopicPartition{Topic: "unknown", Partition: 0}))
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("%s left after removing every partition", e.Name())
		}
	}
	if _, ok := m.Get(open); ok {
		t.Fatal("removed partition still returned by Get")
	}
	if got := m.Existing(); len(got) != 0 {
		t.Fatalf("Existing() = %v after removal", got)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, plain(1, 0)), testEpoch, OriginClient); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to a removed log: %v", err)
	}
	// A fetch that found the log before removal can still send from it.
	if len(readSlice(t, slice)) == 0 {
		t.Fatal("removed log's files closed before file.delete.delay.ms")
	}
}

func TestManagerRun(t *testing.T) {
	dir := t.TempDir()
	m := newManagerT(t, ManagerConfig{
		Dirs: []string{dir}, BrokerID: 1,
		RetentionCheckInterval: 5 * time.Millisecond,
		FlushSchedulerInterval: 5 * time.Millisecond,
		CheckpointInterval:     5 * time.Millisecond,
	})
	defer closeManager(t, m)
	logCfg := smallConfig()
	logCfg.RetentionBytes = 0
	logCfg.FlushMs = 0
	tp := zkpaths.TopicPartition{Topic: "t", Partition: 0}
	l, err := m.GetOrCreate(tp, logCfg)
	must(t, err)
	appendBatches(t, l, 30)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	checkpointed := func() bool {
		data, err := os.ReadFile(filepath.Join(dir, "recovery-point-offset-checkpoint"))
		if err != nil {
			return false
		}
		offsets, err := parseOffsetCheckpoint(data)
		return err == nil && offsets[tp] == l.LogEndOffset()
	}
	poll.Until(t, waitTimeout, "retention, flush and checkpoint by Run", func() bool {
		return l.LogStartOffset() > 0 && l.RecoveryPoint() == l.LogEndOffset() && checkpointed()
	})
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// waitTimeout bounds each wait of these tests for a background goroutine of
// the log or the manager, which takes milliseconds: the slack is for a
// loaded machine.
const waitTimeout = 10 * time.Second

func TestParsePartitionDir(t *testing.T) {
	tests := []struct {
		name string
		want zkpaths.TopicPartition
		ok   bool
	}{
		{"orders-0", zkpaths.TopicPartition{Topic: "orders", Partition: 0}, true},
		{"my-topic.v2-17", zkpaths.TopicPartition{Topic: "my-topic.v2", Partition: 17}, true},
		{"__consumer_offsets-49", zkpaths.TopicPartition{Topic: "__consumer_offsets", Partition: 49}, true},
		{"a--1", zkpaths.TopicPartition{Topic: "a-", Partition: 1}, true},
		{"orders", zkpaths.TopicPartition{}, false},
		{"orders-", zkpaths.TopicPartition{}, false},
		{"-3", zkpaths.TopicPartition{}, false},
		{"orders-x", zkpaths.TopicPartition{}, false},
		{"orders-+1", zkpaths.TopicPartition{}, false},
		{"orders-01", zkpaths.TopicPartition{}, false},
		{"orders-99999999999", zkpaths.TopicPartition{}, false},
		{"bad topic-0", zkpaths.TopicPartition{}, false},
	}
	for _, tt := range tests {
		got, ok := parsePartitionDir(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parsePartitionDir(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
		if ok && got.String() != tt.name {
			t.Errorf("%v names dir %q, not %q", got, got.String(), tt.name)
		}
	}
}

func TestOffsetCheckpointFormat(t *testing.T) {
	offsets := map[zkpaths.TopicPartition]int64{{Topic: "b", Partition: 1}: 7, {Topic: "a-x", Partition: 0}: 0, {Topic: "a-x", Partition: 10}: 1 << 40}
	data := formatOffsetCheckpoint(offsets)
	want := "0\n3\na-x 0 0\na-x 10 1099511627776\nb 1 7\n"
	if string(data) != want {
		t.Fatalf("formatted:\n%s\nwant:\n%s", data, want)
	}
	got, err := parseOffsetCheckpoint(data)
	if err != nil || !reflect.DeepEqual(got, offsets) {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if got, err := parseOffsetCheckpoint([]byte("0\n0\n")); err != nil || len(got) != 0 {
		t.Fatalf("empty checkpoint: %v, %v", got, err)
	}
	for _, bad := range []string{
		"",
		"1\n0\n",
		"0\n",
		"0\nx\n",
		"0\n2\na 0 1\n",
		"0\n1\na 0\n",
		"0\n1\na 0 -5\n",
		"0\n1\na x 5\n",
		"0\n1\n../a 0 5\n",
		"0\n2\na 0 1\na 0 2\n",
	} {
		if _, err := parseOffsetCheckpoint([]byte(bad)); err == nil {
			t.Errorf("accepted malformed checkpoint %q", bad)
		}
	}
}

func TestParseMetaPropertiesAsKafkaWritesIt(t *testing.T) {
	data := "#\n#Tue Nov 21 11:24:00 UTC 2023\ncluster.id=Xk3d_Jq9QbWz0b1FhZ7a4A\nversion=0\nbroker.id=2\n"
	got, err := parseMetaProperties([]byte(data))
	must(t, err)
	want := metaProperties{version: "0", brokerID: "2", clusterID: "Xk3d_Jq9QbWz0b1FhZ7a4A"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := parseMetaProperties([]byte("broker.id=2\n")); err == nil {
		t.Fatal("accepted meta.properties without a version")
	}
	round, err := parseMetaProperties(formatMetaProperties(5, "cid", time.Unix(0, 0)))
	if err != nil || round != (metaProperties{version: "0", brokerID: "5", clusterID: "cid"}) {
		t.Fatalf("round trip: %+v, %v", round, err)
	}
}

func TestManagerConcurrentGetOrCreateShareOneLog(t *testing.T) {
	m := newManagerT(t, ManagerConfig{Dirs: []string{t.TempDir()}, BrokerID: 1})
	defer closeManager(t, m)
	tp := zkpaths.TopicPartition{Topic: "t", Partition: 3}
	logs := make(chan *Log, 8)
	for range cap(logs) {
		go func() {
			l, err := m.GetOrCreate(tp, smallConfig())
			if err != nil {
				t.Error(err)
			}
			logs <- l
		}()
	}
	first := <-logs
	for range cap(logs) - 1 {
		if l := <-logs; l != first {
			t.Fatal("concurrent GetOrCreate calls opened the partition twice")
		}
	}
	if _, err := m.GetOrCreate(zkpaths.TopicPartition{Topic: "t", Partition: -1}, smallConfig()); err == nil {
		t.Fatal("accepted a negative partition")
	}
}
