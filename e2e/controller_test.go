package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// controllerSessionTimeout is the brokers' ZooKeeper session timeout in
// TestController: short, so that failures are noticed quickly.
const controllerSessionTimeout = 4 * time.Second

// TestController exercises controller and leader failover on a 3-broker
// cluster: SIGKILL and SIGSTOP of the controller, SIGKILL of a partition
// leader with preferred-leader rebalance after its return, a rolling restart
// under produce, and the loss of ZooKeeper nodes.
func TestController(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 22000, Env: map[string]string{
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS": strconv.Itoa(int(controllerSessionTimeout / time.Millisecond)),
		// Rebalance as soon as a preferred leader is back.
		"KZOO_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS": "1",
		"KZOO_LEADER_IMBALANCE_PER_BROKER_PERCENTAGE":  "0",
	}})
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	conn := zkConn(t, c)

	t.Run("leader-failover-and-rebalance", func(t *testing.T) { testLeaderFailover(t, c, conn) })
	t.Run("controller-kill", func(t *testing.T) { testControllerKill(t, c, conn) })
	t.Run("controller-pause", func(t *testing.T) { testControllerPause(t, c, conn) })
	t.Run("rolling-restart", func(t *testing.T) { testRollingRestart(t, c, conn) })
	t.Run("zookeeper-loss", func(t *testing.T) { testZooKeeperLoss(t, c, conn) })
}

// partitionStates returns the state znodes of every partition of topic.
func partitionStates(t *testing.T, conn *zk.Conn, topic string, partitions int) []zkpaths.PartitionState {
	t.Helper()
	out := make([]zkpaths.PartitionState, partitions)
	for p := range partitions {
		data, _, err := conn.Get(zkpaths.PartitionStatePath(topic, int32(p)))
		if err != nil {
			t.Fatalf("read the state of %s-%d: %v", topic, p, err)
		}
		if out[p], err = zkpaths.UnmarshalPartitionState(data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// awaitISRExpansion waits until every replica of topic's partitions is back
// in the ISR: the leaders add a restarted broker once it has caught up.
// Without that, neither a preferred election nor a second restart could use
// the broker.
func awaitISRExpansion(t *testing.T, conn *zk.Conn, topic string, partitions int, replicas [][]int32) {
	t.Helper()
	for p := range partitions {
		path := zkpaths.PartitionStatePath(topic, int32(p))
		poll.Until(t, 30*time.Second, "full ISR of "+path, func() bool {
			data, _, err := conn.Get(path)
			if err != nil {
				return false
			}
			st, err := zkpaths.UnmarshalPartitionState(data)
			return err == nil && st.State == zkpaths.StateOnline && len(st.ISR) == len(replicas[p])
		})
	}
}

// replicasOf returns the replica lists of topic's partitions.
func replicasOf(t *testing.T, cl *kgo.Client, topic string) [][]int32 {
	t.Helper()
	md := metadataFrom(cl, topic)
	if md == nil || len(md.Topics) != 1 {
		t.Fatalf("no metadata for %s", topic)
	}
	out := make([][]int32, len(md.Topics[0].Partitions))
	for _, p := range md.Topics[0].Partitions {
		out[p.Partition] = p.Replicas
	}
	return out
}

// everyBrokerSees waits until every broker of ids answers Metadata that
// satisfies cond.
func everyBrokerSees(t *testing.T, c *cluster.Cluster, ids []int, timeout time.Duration, what string, cond func(*kmsg.MetadataResponse) bool, topics ...string) {
	t.Helper()
	for _, id := range ids {
		cl := brokerClient(t, c.BrokerAddr(id))
		poll.Until(t, timeout, what+" from broker "+strconv.Itoa(id), func() bool {
			md := metadataFrom(cl, topics...)
			return md != nil && cond(md)
		})
	}
}

func without(ids []int, id int) []int {
	return slices.DeleteFunc(slices.Clone(ids), func(x int) bool { return x == id })
}

// controllerID asks broker id who the controller is.
func controllerID(t *testing.T, c *cluster.Cluster, id int) int32 {
	t.Helper()
	md := metadataFrom(brokerClient(t, c.BrokerAddr(id)))
	if md == nil {
		t.Fatalf("no metadata from broker %d", id)
	}
	return md.ControllerID
}

func testLeaderFailover(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic, partitions = "failover", 3
	createTopic(t, c.Bootstrap(), topic, partitions, 3, nil)
	all := c.BrokerIDs()
	replicas := replicasOf(t, admin(t, c.Bootstrap()), topic)
	controller := controllerID(t, c, all[0])

	// A broker that is not the controller and leads partition p.
	before := partitionStates(t, conn, topic, partitions)
	victim, p := -1, -1
	for i, st := range before {
		if st.Leader != controller {
			victim, p = int(st.Leader), i
			break
		}
	}
	if victim < 0 {
		t.Fatalf("the controller %d leads every partition: %+v", controller, before)
	}
	if err := c.KillBroker(victim); err != nil {
		t.Fatal(err)
	}
	live := without(all, victim)
	everyBrokerSees(t, c, live, controllerSessionTimeout+10*time.Second, "a new leader of partition "+strconv.Itoa(p), func(md *kmsg.MetadataResponse) bool {
		mp := md.Topics[0].Partitions[p]
		return mp.ErrorCode == 0 && mp.Leader >= 0 && mp.Leader != int32(victim) &&
			slices.Contains(before[p].ISR, mp.Leader) && mp.LeaderEpoch > before[p].LeaderEpoch
	}, topic)
	after := partitionStates(t, conn, topic, partitions)[p]
	if slices.Contains(after.ISR, int32(victim)) || len(after.ISR) == 0 {
		t.Errorf("ISR after the failure = %v, want it without broker %d and not empty", after.ISR, victim)
	}

	// Back, in the ISR again, and preferred leader of what it led.
	if err := c.StartBroker(victim); err != nil {
		t.Fatal(err)
	}
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	awaitISRExpansion(t, conn, topic, partitions, replicas)
	everyBrokerSees(t, c, all, 30*time.Second, "preferred leaders back", func(md *kmsg.MetadataResponse) bool {
		for _, mp := range md.Topics[0].Partitions {
			if mp.ErrorCode != 0 || mp.Leader != mp.Replicas[0] {
				return false
			}
		}
		return true
	}, topic)
}

func testControllerKill(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic, partitions = "controller-kill", 3
	createTopic(t, c.Bootstrap(), topic, partitions, 3, nil)
	all := c.BrokerIDs()
	replicas := replicasOf(t, admin(t, c.Bootstrap()), topic)
	old := int(controllerID(t, c, all[0]))
	if old < 0 {
		t.Fatal("no controller")
	}
	before := partitionStates(t, conn, topic, partitions)

	killed := time.Now()
	if err := c.KillBroker(old); err != nil {
		t.Fatal(err)
	}
	live := without(all, old)
	// The new controller must be in place within a session timeout (when
	// ZooKeeper drops the dead broker's /controller) and two seconds.
	deadline := controllerSessionTimeout + 2*time.Second - time.Since(killed)
	everyBrokerSees(t, c, live, deadline, "a new controller", func(md *kmsg.MetadataResponse) bool {
		return md.ControllerID >= 0 && md.ControllerID != int32(old)
	})
	everyBrokerSees(t, c, live, 10*time.Second, "new leaders for the dead controller's partitions", func(md *kmsg.MetadataResponse) bool {
		for _, mp := range md.Topics[0].Partitions {
			if mp.ErrorCode != 0 || mp.Leader == int32(old) || mp.Leader < 0 {
				return false
			}
			if before[mp.Partition].Leader == int32(old) && mp.LeaderEpoch <= before[mp.Partition].LeaderEpoch {
				return false
			}
		}
		return true
	}, topic)

	if err := c.StartBroker(old); err != nil {
		t.Fatal(err)
	}
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	awaitISRExpansion(t, conn, topic, partitions, replicas)
}

func testControllerPause(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic, partitions = "controller-pause", 3
	createTopic(t, c.Bootstrap(), topic, partitions, 3, nil)
	all := c.BrokerIDs()
	replicas := replicasOf(t, admin(t, c.Bootstrap()), topic)
	old := int(controllerID(t, c, all[0]))
	_, oldEpochStat, err := conn.Get(zkpaths.ControllerEpochPath)
	if err != nil {
		t.Fatal(err)
	}

	resume := pauseBroker(t, c, old)
	defer resume()

	live := without(all, old)
	var newController int32
	everyBrokerSees(t, c, live, controllerSessionTimeout+10*time.Second, "a new controller", func(md *kmsg.MetadataResponse) bool {
		newController = md.ControllerID
		return md.ControllerID >= 0 && md.ControllerID != int32(old)
	})
	epochData, epochStat, err := conn.Get(zkpaths.ControllerEpochPath)
	if err != nil {
		t.Fatal(err)
	}
	newEpoch, err := zkpaths.UnmarshalControllerEpoch(epochData)
	if err != nil {
		t.Fatal(err)
	}
	if epochStat.Version <= oldEpochStat.Version {
		t.Fatalf("/controller_epoch not bumped by the new controller (version %d, was %d)", epochStat.Version, oldEpochStat.Version)
	}

	resume()
	// The old controller wakes up to an expired session: it must step down
	// and follow the new controller.
	oldClient := brokerClient(t, c.BrokerAddr(old))
	poll.Until(t, 30*time.Second, "the old controller to follow the new one", func() bool {
		md := metadataFrom(oldClient)
		return md != nil && md.ControllerID == newController
	})
	waitForLiveBrokers(t, c.Bootstrap(), 3)

	// Nothing was written under the old epoch after the new one began.
	if _, err := conn.Sync("/"); err != nil {
		t.Fatal(err)
	}
	data, stat, err := conn.Get(zkpaths.ControllerEpochPath)
	if err != nil {
		t.Fatal(err)
	}
	if epoch, _ := zkpaths.UnmarshalControllerEpoch(data); epoch != newEpoch || stat.Version != epochStat.Version {
		t.Errorf("/controller_epoch = %d (version %d) after the old controller resumed, want %d (version %d)", epoch, stat.Version, newEpoch, epochStat.Version)
	}
	data, _, err = conn.Get(zkpaths.ControllerPath)
	if err != nil {
		t.Fatal(err)
	}
	if reg, err := zkpaths.UnmarshalControllerRegistration(data); err != nil || reg.BrokerID != newController {
		t.Errorf("/controller = %+v (%v), want broker %d", reg, err, newController)
	}
	for _, name := range []string{topic, "failover", "controller-kill"} {
		for p := range partitions {
			path := zkpaths.PartitionStatePath(name, int32(p))
			data, stat, err := conn.Get(path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := zkpaths.UnmarshalPartitionState(data)
			if err != nil {
				t.Fatal(err)
			}
			if stat.Mzxid > epochStat.Mzxid && st.ControllerEpoch < newEpoch {
				t.Errorf("%s written after epoch %d began with controller epoch %d: %+v", path, newEpoch, st.ControllerEpoch, st)
			}
		}
	}
	if log := c.BrokerLog(old); strings.Count(log, "panic") > 0 {
		t.Errorf("broker %d panicked:\n%s", old, tail(log, 40))
	}
	awaitISRExpansion(t, conn, topic, partitions, replicas)
}

// brokerPID returns the process id scripts/cluster recorded for broker id.
// pauseBroker stops broker id with SIGSTOP and returns the function that
// resumes it with SIGCONT; calling it more than once is harmless.
func pauseBroker(t *testing.T, c *cluster.Cluster, id int) (resume func()) {
	t.Helper()
	pid := brokerPID(t, c, id)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	return func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT broker %d: %v", id, err)
			}
		}
	}
}

func brokerPID(t *testing.T, c *cluster.Cluster, id int) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Home(), "broker-"+strconv.Itoa(id), "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		t.Fatalf("broker %d pid file holds %q", id, data)
	}
	return pid
}

// producer produces continuously to a topic until stopped, recording the
// slowest acknowledgement and every failure.
type producer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	acked   int
	slowest time.Duration
	slow    []string // when acknowledgements took over a second
	errs    []error
}

func startProducer(t *testing.T, bootstrap []string, topic string) *producer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RecordDeliveryTimeout(time.Minute), kgo.ProducerLinger(0),
		// kgo refreshes metadata at most every 5 s by default, which alone
		// would hold a record that met NOT_LEADER that long; the Java
		// client's equivalent is its 100 ms retry backoff.
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithCancel(context.Background())
	pr := &producer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		inflight := make(chan struct{}, 32)
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case inflight <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			sent := time.Now()
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, func(r *kgo.Record, err error) {
				defer wg.Done()
				<-inflight
				took := time.Since(sent)
				pr.mu.Lock()
				defer pr.mu.Unlock()
				if err != nil {
					pr.errs = append(pr.errs, err)
					return
				}
				pr.acked++
				pr.slowest = max(pr.slowest, took)
				if took > time.Second {
					pr.slow = append(pr.slow, fmt.Sprintf("partition %d sent %s took %v", r.Partition, sent.Format("15:04:05.000"), took))
				}
			})
			time.Sleep(time.Millisecond) // a steady stream, not a flood
		}
	}()
	return pr
}

// stop ends production and returns what it saw.
func (pr *producer) stop() (acked int, slowest time.Duration, errs []error) {
	pr.cancel()
	<-pr.done
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.acked, pr.slowest, pr.errs
}

// acknowledged reports how many records have been acknowledged so far.
func (pr *producer) acknowledged() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.acked
}

func testRollingRestart(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic, partitions = "rolling", 6
	createTopic(t, c.Bootstrap(), topic, partitions, 3, nil)
	replicas := replicasOf(t, admin(t, c.Bootstrap()), topic)
	pr := startProducer(t, c.Bootstrap(), topic)
	defer pr.stop()

	for _, id := range c.BrokerIDs() {
		before := pr.acknowledged()
		t.Logf("%s: stopping broker %d", time.Now().Format("15:04:05.000"), id)
		if err := c.StopBroker(id); err != nil {
			t.Fatal(err)
		}
		if log := c.BrokerLog(id); !strings.Contains(log, "controlled shutdown complete") {
			t.Errorf("broker %d did not complete a controlled shutdown:\n%s", id, tail(log, 20))
		}
		t.Logf("%s: starting broker %d", time.Now().Format("15:04:05.000"), id)
		if err := c.StartBroker(id); err != nil {
			t.Fatal(err)
		}
		waitForLiveBrokers(t, c.Bootstrap(), 3)
		awaitISRExpansion(t, conn, topic, partitions, replicas)
		t.Logf("%s: broker %d back in the ISRs", time.Now().Format("15:04:05.000"), id)
		poll.Until(t, 10*time.Second, "production to go on", func() bool { return pr.acknowledged() > before+100 })
	}

	acked, slowest, errs := pr.stop()
	if len(errs) > 0 {
		t.Errorf("%d records failed during the rolling restart, first: %v", len(errs), errs[0])
	}
	// One retry after NOT_LEADER_OR_FOLLOWER costs a metadata refresh and a
	// backoff, well under this; a partition left without a leader until a
	// session timeout would exceed it.
	if limit := 2 * time.Second; slowest > limit {
		t.Errorf("slowest acknowledgement took %v during the rolling restart, want under %v", slowest, limit)
	}
	t.Logf("%d records acknowledged, slowest in %v", acked, slowest)
	pr.mu.Lock()
	for _, s := range pr.slow[:min(len(pr.slow), 20)] {
		t.Log(s)
	}
	pr.mu.Unlock()
}

func testZooKeeperLoss(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	bootstrap := c.Bootstrap()
	all := c.BrokerIDs()
	if err := c.StopZK(3); err != nil {
		t.Fatal(err)
	}
	const topic, partitions = "zk-one-down", 3
	createTopic(t, bootstrap, topic, partitions, 3, nil)
	replicas := replicasOf(t, admin(t, bootstrap), topic)

	// An election still works: kill a non-controller leader.
	controller := controllerID(t, c, all[0])
	before := partitionStates(t, conn, topic, partitions)
	victim, p := -1, -1
	for i, st := range before {
		if st.Leader != controller {
			victim, p = int(st.Leader), i
			break
		}
	}
	if victim < 0 {
		t.Fatalf("the controller %d leads every partition", controller)
	}
	if err := c.KillBroker(victim); err != nil {
		t.Fatal(err)
	}
	everyBrokerSees(t, c, without(all, victim), controllerSessionTimeout+10*time.Second, "a new leader with one ZooKeeper node down", func(md *kmsg.MetadataResponse) bool {
		mp := md.Topics[0].Partitions[p]
		return mp.ErrorCode == 0 && mp.Leader >= 0 && mp.Leader != int32(victim) && mp.LeaderEpoch > before[p].LeaderEpoch
	}, topic)
	if err := c.StartBroker(victim); err != nil {
		t.Fatal(err)
	}
	waitForLiveBrokers(t, bootstrap, 3)
	awaitISRExpansion(t, conn, topic, partitions, replicas)
	// The restart triggers preferred elections (auto rebalance): let them
	// reach every broker first. Leadership news travels through ZooKeeper,
	// so an election caught by the quorum loss would leave followers
	// fetching from the old leader until the quorum returns.
	everyBrokerSees(t, c, all, 60*time.Second, "preferred leaders with full ISRs", func(md *kmsg.MetadataResponse) bool {
		for _, mp := range md.Topics[0].Partitions {
			if mp.ErrorCode != 0 || len(mp.Replicas) == 0 || mp.Leader != mp.Replicas[0] || len(mp.ISR) != len(mp.Replicas) {
				return false
			}
		}
		return true
	}, topic)

	// Without a quorum, brokers go on serving what they lead.
	if err := c.StopZK(2); err != nil {
		t.Fatal(err)
	}
	w := newWorkload(300, 30, "noquorum")
	produced := produceFranz(t, bootstrap, topic, w, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if len(produced) != len(w.values) {
		t.Fatalf("produced %d of %d records without a ZooKeeper quorum", len(produced), len(w.values))
	}
	// acks=1 answers before the followers have the records: wait for the
	// high watermarks (followers fetch without ZooKeeper) to pass them.
	var hws []int64
	poll.Until(t, 30*time.Second, "the high watermarks to pass the records", func() bool {
		hws = highWatermarks(t, bootstrap, topic, partitions)
		var sum int64
		for _, hw := range hws {
			sum += hw
		}
		return sum >= int64(len(w.values))
	})
	got := consumeFranz(t, bootstrap, topic, hws)
	if len(got) < len(w.values) {
		t.Errorf("consumed %d records without a ZooKeeper quorum, want at least %d", len(got), len(w.values))
	}

	// Changes resume with the quorum.
	for _, n := range []int{2, 3} {
		if err := c.StartZK(n); err != nil {
			t.Fatal(err)
		}
	}
	waitForLiveBrokers(t, bootstrap, 3)
	poll.Until(t, 30*time.Second, "a topic creation after the quorum returns", func() bool {
		return tryCreateTopic(t, bootstrap, "zk-back", 3, 3, nil) == 0
	})
	waitForLeaders(t, bootstrap, "zk-back", 3)
}
