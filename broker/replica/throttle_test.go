package replica

import (
	"context"
	"io"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

func TestPartitionThrottles(t *testing.T) {
	cfg := config.Topic{
		config.LeaderReplicationThrottledReplicas:   "0:1,0:2,1:1",
		config.FollowerReplicationThrottledReplicas: "0:3",
	}
	for _, tc := range []struct {
		partition, broker int32
		want              uint32
	}{
		{0, 1, throttledAsLeader}, {0, 2, throttledAsLeader}, {1, 1, throttledAsLeader},
		{0, 3, throttledAsFollower}, {1, 3, 0}, {2, 1, 0},
	} {
		if got := partitionThrottles(cfg, tc.partition, tc.broker); got != tc.want {
			t.Errorf("partition %d on broker %d: sides %b, want %b", tc.partition, tc.broker, got, tc.want)
		}
	}
	all := config.Topic{config.LeaderReplicationThrottledReplicas: "*", config.FollowerReplicationThrottledReplicas: "*"}
	if got := partitionThrottles(all, 5, 9); got != throttledAsLeader|throttledAsFollower {
		t.Errorf("* throttles sides %b, want both", got)
	}
	if got := partitionThrottles(config.Topic{}, 0, 1); got != 0 {
		t.Errorf("no lists throttle sides %b", got)
	}
}

// testClock is an injected clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// isrCluster accepts every ISR write and holds every broker live.
type isrCluster struct{}

func (isrCluster) UpdateISR(_ context.Context, _ string, _, _, partitionEpoch int32, _ []int32) (int32, error) {
	return partitionEpoch + 1, nil
}
func (isrCluster) Live(int32) bool                       { return true }
func (isrCluster) ReplicationAddr(int32) (string, error) { return "", io.EOF }

// throttleManager returns a manager of broker id on clock, with every
// partition it is given to hold opened over a log of its own.
func throttleManager(t *testing.T, id int32, clock *testClock) *Manager {
	t.Helper()
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	return New(Config{BrokerID: id, Logger: logger, Now: clock.Now, Cluster: isrCluster{}, ReplicaLagTimeMax: time.Hour}, 1)
}

// throttlePartition returns m's replica of t-partition with topic config cfg
// (its throttle sides set as Apply sets them), over a fresh log.
func throttlePartition(t *testing.T, m *Manager, partition int32, cfg config.Topic) *Partition {
	t.Helper()
	log, err := storage.Open(t.TempDir(), storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	p := newPartition(zkpaths.TopicPartition{Topic: "t", Partition: partition}, log, cfg)
	p.throttled.Store(partitionThrottles(cfg, partition, m.cfg.BrokerID))
	m.partitions.add(p)
	return p
}

func lead(t *testing.T, m *Manager, p *Partition, replicas, isr []int32) {
	t.Helper()
	p.mu.Lock()
	m.becomeLeaderLocked(p, coordinator.Partition{LeaderEpoch: 1, Replicas: replicas, ISR: isr, Leader: m.cfg.BrokerID})
	p.mu.Unlock()
	if !p.IsLeader() {
		t.Fatal("not leading")
	}
}

func followerRead(t *testing.T, m *Manager, p *Partition, follower int32, offset int64) ReadResult {
	t.Helper()
	res, err := m.Read(p, follower, FetchPosition{FetchOffset: offset, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1}, 1<<20, true)
	if err != nil {
		t.Fatalf("read of follower %d: %v", follower, err)
	}
	return res
}

// TestLeaderThrottle: a follower outside the ISR reads nothing of a partition
// throttled as leader while the leader quota is exceeded; ISR members, and
// partitions not named, read as ever; the follower joins the ISR by the
// usual rules and is no longer held back then.
func TestLeaderThrottle(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	m := throttleManager(t, 1, clock)
	throttled := throttlePartition(t, m, 0, config.Topic{config.LeaderReplicationThrottledReplicas: "0:1,0:2"})
	free := throttlePartition(t, m, 1, config.Topic{config.LeaderReplicationThrottledReplicas: "0:1"})
	for _, p := range []*Partition{throttled, free} {
		lead(t, m, p, []int32{1, 2, 3}, []int32{1, 2})
		for range 4 {
			a := []Append{{Partition: p, Records: producerBatch(10, -1, 0, false), LeaderEpoch: -1}}
			m.AppendRecords(context.Background(), 1, time.Second, a)
			if a[0].Err != nil {
				t.Fatal(a[0].Err)
			}
		}
	}
	end := throttled.log.LogEndOffset()
	for _, p := range []*Partition{throttled, free} {
		followerRead(t, m, p, 2, end) // the ISR has everything: the high watermark is the end
	}

	// Unlimited: nothing is held back, the bytes are counted all the same.
	res := followerRead(t, m, throttled, 3, 0)
	if res.Records.Size == 0 || !res.Throttled {
		t.Fatalf("unlimited: read %+v, want records, marked throttled", res)
	}
	m.RecordThrottledSent(res.Records.Size)
	if leader, follower := m.ThrottledBytes(); leader != res.Records.Size || follower != 0 {
		t.Fatalf("throttled bytes %d/%d, want %d/0", leader, follower, res.Records.Size)
	}

	m.SetReplicationThrottle(config.ReplicationThrottle{Leader: 100, Follower: math.Inf(1)})
	res = followerRead(t, m, throttled, 3, 0)
	if res.Records.Size == 0 {
		t.Fatal("a quota with nothing measured yet held a read back")
	}
	m.RecordThrottledSent(res.Records.Size) // well over 100 B in the first second
	if res := followerRead(t, m, throttled, 3, 0); res.Records.Size != 0 || !res.Throttled || res.HighWatermark != end {
		t.Fatalf("over the quota, follower 3 (out of the ISR) read %+v, want no records and the offsets", res)
	}
	if res := followerRead(t, m, throttled, 2, 0); res.Records.Size == 0 {
		t.Fatal("over the quota, follower 2 (in the ISR) was held back")
	}
	if res := followerRead(t, m, free, 3, 0); res.Records.Size == 0 || res.Throttled {
		t.Fatalf("a partition the list does not name on this broker: %+v", res)
	}
	if res, err := m.Read(throttled, -1, FetchPosition{FetchOffset: 0, CurrentLeaderEpoch: -1}, 1<<20, true); err != nil || res.Records.Size == 0 || res.Throttled {
		t.Fatalf("a consumer's read: %+v, %v", res, err)
	}

	// The measure falls as time passes: the follower reads again.
	clock.advance(time.Duration(float64(time.Second) * float64(2*res.Records.Size) / 100))
	if res := followerRead(t, m, throttled, 3, 0); res.Records.Size == 0 {
		t.Fatal("the quota held follower 3 back after its rate fell below the bound")
	}

	// Held back, a follower's fetch still counts as its progress: one at the
	// log end makes it join the ISR, which is never held back.
	m.RecordThrottledSent(1 << 20)
	if res := followerRead(t, m, throttled, 3, end); res.Records.Size != 0 {
		t.Fatalf("read at the end: %+v", res)
	}
	m.UpdateISRs(context.Background())
	throttled.mu.Lock()
	isr := slices.Clone(throttled.leader.isr)
	throttled.mu.Unlock()
	if !slices.Contains(isr, 3) {
		t.Fatalf("ISR %v: follower 3 did not join it while the leader quota was exceeded", isr)
	}
	if res := followerRead(t, m, throttled, 3, 0); res.Records.Size == 0 {
		t.Fatal("over the quota, follower 3, now in the ISR, was held back")
	}
}

// TestFollowerThrottle: a fetcher leaves out partitions throttled as
// follower while this replica is out of sync and the follower quota is
// exceeded, looks at them again soon, and counts what it receives of them.
func TestFollowerThrottle(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	m := throttleManager(t, 3, clock)
	target := followTarget{leader: 1, epoch: 1}
	throttled := throttlePartition(t, m, 0, config.Topic{config.FollowerReplicationThrottledReplicas: "0:3"})
	free := throttlePartition(t, m, 1, config.Topic{config.FollowerReplicationThrottledReplicas: "0:3"})
	f := &fetcher{source: 1, parts: make(map[zkpaths.TopicPartition]*fetchedPartition), wake: make(chan struct{}, 1)}
	fps := make(map[*Partition]*fetchedPartition)
	for _, p := range []*Partition{throttled, free} {
		p.following = target
		fps[p] = &fetchedPartition{p: p, target: target}
		f.parts[p.tp] = fps[p]
	}
	fetched := func() []*Partition {
		t.Helper()
		req, fetching, next := m.buildReplicaFetch(f)
		var out []*Partition
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				out = append(out, f.parts[zkpaths.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}].p)
			}
		}
		if fetching != len(out) {
			t.Errorf("%d partitions fetched, %d in the request: no session was made, so they must be the same", fetching, len(out))
		}
		if fetching == 0 && (next.IsZero() || time.Until(next) > followerThrottleRecheck) {
			t.Errorf("every partition held back, next look at %v: want within %v", next, followerThrottleRecheck)
		}
		return out
	}

	if got := fetched(); len(got) != 2 {
		t.Fatalf("unlimited: fetched %d partitions, want 2", len(got))
	}

	// The answer's records of the throttled partition count against the
	// follower quota; catching up with the leader's high watermark makes it
	// in sync.
	batch := producerBatch(10, -1, 0, false)
	resp := kmsg.NewPtrFetchResponse()
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition, rp.HighWatermark, rp.LogStartOffset, rp.RecordBatches = 0, 20, 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	m.SetReplicationThrottle(config.ReplicationThrottle{Leader: math.Inf(1), Follower: 100})
	m.applyReplicaFetch(f, resp)
	if throttled.log.LogEndOffset() != 10 {
		t.Fatalf("log end %d after the answer, want 10", throttled.log.LogEndOffset())
	}
	if leader, follower := m.ThrottledBytes(); leader != 0 || follower != int64(len(batch)) {
		t.Fatalf("throttled bytes %d/%d, want 0/%d", leader, follower, len(batch))
	}
	if fps[throttled].caughtUp {
		t.Fatal("at 10 of the leader's high watermark 20, caught up")
	}

	// Over the quota (over 100 B in the first second), out of sync: left out.
	if got := fetched(); !slices.Equal(got, []*Partition{free}) {
		t.Fatalf("over the quota, fetched %v, want only the partition not named", got)
	}
	f.parts = map[zkpaths.TopicPartition]*fetchedPartition{throttled.tp: fps[throttled]}
	fetched() // checks the recheck

	// In the ISR as the view has it: fetched.
	throttled.followerInISR.Store(true)
	if got := fetched(); len(got) != 1 {
		t.Fatal("over the quota, a replica in the ISR was held back")
	}
	throttled.followerInISR.Store(false)

	// Caught up with the leader's high watermark: fetched.
	fps[throttled].caughtUp = true
	if got := fetched(); len(got) != 1 {
		t.Fatal("over the quota, a replica caught up with the leader's high watermark was held back")
	}
	fps[throttled].caughtUp = false

	// The measure falls as time passes.
	clock.advance(time.Duration(float64(time.Second) * float64(2*len(batch)) / 100))
	if got := fetched(); len(got) != 1 {
		t.Fatal("held back after the rate fell below the bound")
	}
}

// TestThrottleFollowsTheView: a config change moves a replica's throttled
// sides, and each state applied says whether this follower is in the ISR.
func TestThrottleFollowsTheView(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	m := throttleManager(t, 3, clock)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // fetchers stop at once: this test looks at the partition's state only
	m.StartFetchers(ctx)
	p := throttlePartition(t, m, 0, config.Topic{})
	if p.throttled.Load() != 0 {
		t.Fatal("throttled without lists")
	}
	m.updateConfig(p, config.Topic{config.FollowerReplicationThrottledReplicas: "0:3", config.LeaderReplicationThrottledReplicas: "0:1"})
	if got := p.throttled.Load(); got != throttledAsFollower {
		t.Fatalf("sides %b after the lists were set, want follower only", got)
	}
	m.updateConfig(p, config.Topic{})
	if p.throttled.Load() != 0 {
		t.Fatal("still throttled after the lists were removed")
	}

	state := coordinator.Partition{State: zkpaths.StateOnline, Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}}
	m.setRole(p, state)
	if p.followerInISR.Load() {
		t.Fatal("in the ISR by a view that leaves it out")
	}
	state.ISR = []int32{1, 2, 3}
	m.setRole(p, state)
	if !p.followerInISR.Load() {
		t.Fatal("not in the ISR by a view that has it")
	}
	m.WaitFetchers()
}
