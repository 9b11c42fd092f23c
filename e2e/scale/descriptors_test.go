package scale

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/e2e/cluster"
)

const (
	// descriptorBound is the broker's kzoo.max.open.files in
	// TestDescriptorBound: far fewer than the topic's segment files.
	descriptorBound = 200
	// descriptorTopicPartitions is the partition count of the test's
	// topic; each partition gets a segment per round, so the broker has
	// several thousand segment files, each with its indexes.
	descriptorTopicPartitions = 1000
	// descriptorRounds is how many records each partition gets before the
	// restart; one more follows it.
	descriptorRounds = 3
	// descriptorSegmentBytes is the topic's segment.bytes, less than two
	// records: every record after a partition's first rolls a new segment.
	descriptorSegmentBytes = 1024
	// descriptorValueBytes is the size of every record's value.
	descriptorValueBytes = 600
	// sampleInterval is how often the sampler counts the broker's
	// descriptors.
	sampleInterval = 50 * time.Millisecond
	// maxOtherLogDirFDs bounds the descriptors into the log directory that
	// are not segment or index files, which kzoo.max.open.files does not
	// cover: the directory's lock, a directory or checkpoint file open for
	// a moment.
	maxOtherLogDirFDs = 16
)

// segmentFile matches the base names of segment and index files, which
// kzoo.max.open.files bounds, including those renamed for deletion or
// by the cleaner (<name>.deleted, .cleaned, .swap).
var segmentFile = regexp.MustCompile(`^[0-9]{20}\.(log|index|timeindex|txnindex)(\..*)?$`)

// TestDescriptorBound runs one broker with kzoo.max.open.files=200 and a
// topic of 1,000 partitions whose every record rolls a segment, so that
// the broker holds some 4,000 segments, each with its log and index files.
// It produces to every partition, consumes every partition from the start,
// restarts the broker, produces once more and reads everything back, while
// a sampler counts every ~50 ms the broker's descriptors into its log
// directory: the segment and index files among them, which the key bounds,
// must never exceed it, and the others (the directory's lock, a directory
// being synced) must stay a handful.
//
// One broker with RF 1: replication would add nothing the cache does not
// already see (a follower appends and a leader serves its fetches through
// the same segment files as a producer and a consumer do), and costs two
// more processes on a small machine. TestManyPartitionsSurviveFailover runs
// replicas at scale.
func TestDescriptorBound(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 1, PortOffset: 22300, Env: map[string]string{
		"KZOO_KZOO_MAX_OPEN_FILES": strconv.Itoa(descriptorBound),
	}})
	const topic = "bounded"
	bootstrap := c.Bootstrap()
	admin := newClient(t, bootstrap)
	createTopics(t, admin, []string{topic}, descriptorTopicPartitions, 1, map[string]string{
		"segment.bytes": strconv.Itoa(descriptorSegmentBytes),
	})
	waitForLeaders(t, c, topic, descriptorTopicPartitions)

	s := startDescriptorSampler(t, c, 1)
	producer := newClient(t, bootstrap,
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(time.Minute),
		// Uncompressed, so that each record fills most of a segment.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)
	for round := range descriptorRounds {
		produceRound(t, producer, topic, round)
	}
	readBack(t, bootstrap, topic, descriptorRounds)
	// The test's premise: far more segment files than the bound.
	segments, err := filepath.Glob(filepath.Join(c.BrokerLogDir(1), topic+"-*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := descriptorTopicPartitions * descriptorRounds; len(segments) < want {
		t.Fatalf("%d segments of %s on disk, want at least %d: records did not roll segments", len(segments), topic, want)
	}

	if err := c.StopBroker(1); err != nil {
		t.Fatal(err)
	}
	if err := c.StartBroker(1); err != nil {
		t.Fatal(err)
	}
	waitForLeaders(t, c, topic, descriptorTopicPartitions)
	readBack(t, bootstrap, topic, descriptorRounds)
	produceRound(t, producer, topic, descriptorRounds)
	readBack(t, bootstrap, topic, descriptorRounds+1)

	st := s.stop()
	t.Logf("descriptors sampled %d times (%d while the broker ran): at most %d segment and index files (bound %d), "+
		"%d other descriptors into the log directory, %d in all",
		st.samples, st.running, st.maxSegmentFiles, descriptorBound, st.maxOtherLogDir, st.maxTotal)
	if st.maxSegmentFiles > descriptorBound {
		t.Errorf("the broker held %d segment and index files open at once, over kzoo.max.open.files=%d; at the peak:\n%s",
			st.maxSegmentFiles, descriptorBound, st.peakSample)
	}
	// The lock file, a directory being synced, a checkpoint being
	// written: a few, never some per partition.
	if st.maxOtherLogDir > maxOtherLogDirFDs {
		t.Errorf("the broker held %d descriptors into its log directory besides segment and index files; at the peak:\n%s",
			st.maxOtherLogDir, st.peakOther)
	}
	// Without samples of a running broker the bound proves nothing.
	if st.running < 10 {
		t.Errorf("only %d samples of a running broker", st.running)
	}
	if st.err != nil {
		t.Errorf("sampler: %v", st.err)
	}
}

// descriptorValue is the value of partition p's record of round r.
func descriptorValue(p int32, round int) []byte {
	head := fmt.Sprintf("p%d-r%d-", p, round)
	return []byte(head + strings.Repeat(string(rune('a'+round%26)), descriptorValueBytes-len(head)))
}

// produceRound writes one record to every partition and waits for every
// acknowledgement; records of round r land at offset r.
func produceRound(t *testing.T, cl *kgo.Client, topic string, round int) {
	t.Helper()
	records := make([]*kgo.Record, descriptorTopicPartitions)
	for p := range int32(descriptorTopicPartitions) {
		records[p] = &kgo.Record{Topic: topic, Partition: p, Value: descriptorValue(p, round)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, r := range cl.ProduceSync(ctx, records...) {
		if r.Err != nil {
			t.Fatalf("round %d: produce to %s-%d: %v", round, topic, r.Record.Partition, r.Err)
		}
		if r.Record.Offset != int64(round) {
			t.Fatalf("round %d: %s-%d acknowledged at offset %d, want %d", round, topic, r.Record.Partition, r.Record.Offset, round)
		}
	}
}

// readBack consumes every partition of topic from the start and checks
// that it holds exactly the records of rounds 0..rounds-1, in order.
func readBack(t *testing.T, bootstrap []string, topic string, rounds int) {
	t.Helper()
	offsets := make(map[int32]kgo.Offset, descriptorTopicPartitions)
	for p := range int32(descriptorTopicPartitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, bootstrap, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	defer cl.Close()
	next := make([]int64, descriptorTopicPartitions)
	want := descriptorTopicPartitions * rounds
	got := 0
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for got < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back %d of %d records of %s before the deadline", got, want, topic)
		}
		for _, fe := range fetches.Errors() {
			t.Logf("fetch %s-%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if r.Offset != next[r.Partition] {
				t.Fatalf("%s-%d: offset %d where %d was next", topic, r.Partition, r.Offset, next[r.Partition])
			}
			if r.Offset >= int64(rounds) {
				t.Fatalf("%s-%d: a record at offset %d, after the %d written", topic, r.Partition, r.Offset, rounds)
			}
			if want := descriptorValue(r.Partition, int(r.Offset)); string(r.Value) != string(want) {
				t.Fatalf("%s-%d offset %d: value %.40q…, want %.40q…", topic, r.Partition, r.Offset, r.Value, want)
			}
			next[r.Partition]++
			got++
		}
	}
}

// waitForLeaders waits until every broker of c answers Metadata with a
// leader for each partition of topic.
func waitForLeaders(t *testing.T, c *cluster.Cluster, topic string, partitions int) {
	t.Helper()
	everyBrokerSees(t, c, c.BrokerIDs(), time.Minute, "a leader of every partition of "+topic, []string{topic}, topic, -1,
		func(l leadership) bool { return l.partitions == partitions && l.led == partitions })
}

// descriptorSampler counts, every sampleInterval, the descriptors a broker
// holds, in all and into its log directory, until stopped.
type descriptorSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	stats  samplerStats // written by the sampler goroutine until done closes
}

type samplerStats struct {
	samples, running int // taken; of a running broker
	// The most segment and index files, other descriptors into the log
	// directory, and descriptors in all, each in one sample.
	maxSegmentFiles, maxOtherLogDir, maxTotal int
	// Summaries of the descriptors at maxSegmentFiles and maxOtherLogDir.
	peakSample, peakOther string
	err                   error // the first failure other than a stopped broker
}

// startDescriptorSampler starts sampling broker id of c; the test stops it
// with stop, or its cleanup does.
func startDescriptorSampler(t *testing.T, c *cluster.Cluster, id int) *descriptorSampler {
	t.Helper()
	// /proc shows resolved paths; the temporary directory may lie under a
	// symbolic link.
	logDir, err := filepath.EvalSymlinks(c.BrokerLogDir(id))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &descriptorSampler{cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, c, id, logDir)
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *descriptorSampler) run(ctx context.Context, c *cluster.Cluster, id int, logDir string) {
	defer close(s.done)
	tick := time.NewTicker(sampleInterval)
	defer tick.Stop()
	for {
		s.stats.samples++
		fds, err := c.BrokerFDs(id)
		switch {
		case errors.Is(err, cluster.ErrNotRunning):
			// Restarting: nothing to count.
		case err != nil:
			if s.stats.err == nil {
				s.stats.err = err
			}
		default:
			s.stats.running++
			segments, other := countLogDirFDs(fds, logDir)
			if segments > s.stats.maxSegmentFiles {
				s.stats.maxSegmentFiles = segments
				s.stats.peakSample = describeDescriptors(fds, logDir)
			}
			if other > s.stats.maxOtherLogDir {
				s.stats.maxOtherLogDir = other
				s.stats.peakOther = describeDescriptors(fds, logDir)
			}
			s.stats.maxTotal = max(s.stats.maxTotal, len(fds))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// stop stops the sampler and returns what it saw; it may be called again.
func (s *descriptorSampler) stop() samplerStats {
	s.cancel()
	<-s.done
	return s.stats
}

// countLogDirFDs counts the descriptors into logDir: segment and index
// files, and the others.
func countLogDirFDs(fds []string, logDir string) (segments, other int) {
	prefix := logDir + string(filepath.Separator)
	for _, fd := range fds {
		if fd != logDir && !strings.HasPrefix(fd, prefix) {
			continue
		}
		// /proc marks a file removed while open with " (deleted)".
		if segmentFile.MatchString(filepath.Base(strings.TrimSuffix(fd, " (deleted)"))) {
			segments++
		} else {
			other++
		}
	}
	return segments, other
}

// describeDescriptors summarizes descriptors by kind: files into logDir
// by suffix, everything else by type.
func describeDescriptors(fds []string, logDir string) string {
	kinds := map[string]int{}
	prefix := logDir + string(filepath.Separator)
	for _, fd := range fds {
		switch {
		case strings.HasPrefix(fd, prefix):
			ext := filepath.Ext(fd)
			if ext == "" {
				ext = filepath.Base(fd)
			}
			kinds["log dir "+ext]++
		case strings.HasPrefix(fd, "socket:"):
			kinds["sockets"]++
		default:
			kinds["other"]++
		}
	}
	var b strings.Builder
	for _, kind := range slices.Sorted(maps.Keys(kinds)) {
		fmt.Fprintf(&b, "  %s: %d\n", kind, kinds[kind])
	}
	return b.String()
}

func TestCountLogDirFDs(t *testing.T) {
	fds := []string{
		"/d/logs/.lock",
		"/d/logs/t-0",
		"/d/logs/t-0/00000000000000000000.log",
		"/d/logs/t-0/00000000000000000000.index",
		"/d/logs/t-0/00000000000000000007.timeindex",
		"/d/logs/t-0/00000000000000000007.txnindex",
		"/d/logs/t-0/00000000000000000003.log.1.deleted",
		"/d/logs/t-0/00000000000000000004.log (deleted)",
		"/d/logs/t-0/00000000000000000007.snapshot",
		"/d/logs/recovery-point-offset-checkpoint.tmp",
		"/d/logs2/t-0/00000000000000000000.log",
		"socket:[77]",
	}
	segments, other := countLogDirFDs(fds, "/d/logs")
	if segments != 6 || other != 4 {
		t.Errorf("countLogDirFDs = %d segment files, %d other; want 6, 4", segments, other)
	}
}
