package coordinator

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/zkpaths"
)

// scaleEnv names the partition counts TestScale measures, e.g. "10000,50000";
// the test is skipped without it. Each count runs in a chroot of its own in
// one ensemble, whose heap follows the largest count; one count per run
// keeps it small.
const scaleEnv = "KZOO_COORDINATOR_SCALE"

// scaleTopicPartitions is the partitions per topic: one topic znode holding
// 100,000 partitions' assignment would exceed ZooKeeper's 1 MB jute.maxbuffer.
const scaleTopicPartitions = 1000

// scaleTimeout bounds each phase of TestScale; the figures are printed, never
// asserted.
const scaleTimeout = 5 * time.Minute

// TestScale measures the coordinator with three sessions acting as brokers
// 1 to 3 and no broker storage: topics of 1,000 partitions with three
// replicas up to the count asked, the time until every partition is Online
// with a live leader in every session's snapshot, a full load of the view,
// building a snapshot after one partition changed, a controller failover
// and a controlled shutdown. It asserts only that the cluster gets there.
func TestScale(t *testing.T) {
	spec := os.Getenv(scaleEnv)
	if spec == "" {
		t.Skipf("set %s=10000,50000,100000 to measure the coordinator at scale", scaleEnv)
	}
	var counts []int
	for _, field := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < scaleTopicPartitions || n%scaleTopicPartitions != 0 {
			t.Fatalf("%s=%q: want multiples of %d", scaleEnv, spec, scaleTopicPartitions)
		}
		counts = append(counts, n)
	}
	// ZooKeeper's heap of the harness (256 MB) holds some 50,000
	// partitions watched by three sessions; more needs more.
	c := cluster.Start(t, cluster.Options{Brokers: 0, PortOffset: 20000, Env: map[string]string{
		"KZOO_ZK_JVM_OPTS": "-Xmx" + strconv.Itoa(max(256, slices.Max(counts)/50)) + "m",
	}})
	connect := c.ZKConnect()
	for _, n := range counts {
		t.Run(strconv.Itoa(n), func(t *testing.T) { testScale(t, newEnv(t, connect), n) })
	}
}

// countingHook counts log entries by level.
type countingHook struct {
	counts [logrus.TraceLevel + 1]atomic.Int64
}

func (h *countingHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *countingHook) Fire(e *logrus.Entry) error {
	h.counts[e.Level].Add(1)
	return nil
}

// take returns the INFO and WARN entries counted since the last take.
func (h *countingHook) take() (info, warn int64) {
	return h.counts[logrus.InfoLevel].Swap(0), h.counts[logrus.WarnLevel].Swap(0)
}

func testScale(t *testing.T, env *zkEnv, n int) {
	hook := &countingHook{}
	log := logrus.New()
	log.Out = io.Discard
	log.Level = logrus.InfoLevel
	log.AddHook(hook)
	config := func(id int32) Config {
		cfg := env.config(id)
		cfg.Logger = log.WithField("test_broker", id)
		return cfg
	}
	lastCPU := processCPU(t)
	report := func(what string, d time.Duration) {
		info, warn := hook.take()
		cpu := processCPU(t)
		t.Logf("N=%d %-44s %8.3f s  (this process's CPU %6.2f s; INFO lines %d, WARN lines %d)",
			n, what, d.Seconds(), (cpu - lastCPU).Seconds(), info, warn)
		lastCPU = cpu
	}

	sessions := map[int32]*Session{}
	for id := int32(1); id <= 3; id++ {
		sessions[id] = env.start(t, config(id))
	}
	hook.take()

	// Create: the assignment of Kafka's placement without racks, 1,000
	// partitions a topic.
	topics := n / scaleTopicPartitions
	began := time.Now()
	for i := range topics {
		assignment := make([][]int32, scaleTopicPartitions)
		for p := range assignment {
			first := int32((i*scaleTopicPartitions + p) % 3)
			assignment[p] = []int32{first + 1, (first+1)%3 + 1, (first+2)%3 + 1}
		}
		if err := sessions[1].CreateTopic(context.Background(), fmt.Sprintf("scale-%04d", i), assignment, nil); err != nil {
			t.Fatal(err)
		}
	}
	report("create topics (znodes written)", time.Since(began))
	live := map[int32]bool{1: true, 2: true, 3: true}
	awaitAllLed(t, sessions, n, live)
	report("create until all Online with a leader", time.Since(began))

	// A full load of the view, as a broker starting or a new controller
	// does it: alone, then three at once.
	in := env.inspector(t)
	client := &zkClient{conn: in.conn, chroot: env.chroot}
	began = time.Now()
	v := loadView(t, client)
	report("full view load, one client", time.Since(began))
	began = time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadView(t, client)
		}()
	}
	wg.Wait()
	report("full view load, three clients at once", time.Since(began))

	began = time.Now()
	first := v.snapshot("scale")
	report("snapshot build, whole view", time.Since(began))
	if got := countLed(first, live); got != n {
		t.Fatalf("the loaded view has %d of %d partitions led", got, n)
	}
	tp := zkpaths.TopicPartition{Topic: "scale-0000", Partition: 7}
	entry := v.topics[tp.Topic].states[tp.Partition]
	entry.state.ISR = entry.state.ISR[:1]
	entry.version++
	v.setState(tp, entry)
	began = time.Now()
	second := v.snapshot("scale")
	report("snapshot build after one partition changed", time.Since(began))
	if got := len(second.Topics[tp.Topic].Partitions[tp.Partition].ISR); got != 1 {
		t.Fatalf("the snapshot after the change has an ISR of %d", got)
	}

	// Failover: the controller's session ends.
	controller := sessions[1].Snapshot().ControllerID
	if sessions[controller] == nil {
		t.Fatalf("controller %d is not one of the sessions", controller)
	}
	began = time.Now()
	if err := sessions[controller].Close(); err != nil {
		t.Fatal(err)
	}
	delete(sessions, controller)
	delete(live, controller)
	awaitAllLed(t, sessions, n, live)
	report(fmt.Sprintf("controller %d closed until all led again", controller), time.Since(began))

	began = time.Now()
	sessions[controller] = env.start(t, config(controller))
	report("a broker's start (registration and view load)", time.Since(began))
	live[controller] = true

	// Controlled shutdown of a broker that leads partitions.
	var leaving int32
	for id := range sessions {
		if id != controller && id != sessions[id].Snapshot().ControllerID {
			leaving = id
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	began = time.Now()
	if err := sessions[leaving].ControlledShutdown(ctx); err != nil {
		t.Fatal(err)
	}
	report(fmt.Sprintf("controlled shutdown of broker %d", leaving), time.Since(began))
}

// processCPU is the CPU time the test process has used: the sessions' share
// of a phase, which the machine's load does not inflate as it does the
// wall time.
func processCPU(t *testing.T) time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		t.Fatal(err)
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// loadView reads the whole namespace into a new view.
func loadView(t *testing.T, c *zkClient) *view {
	t.Helper()
	v := newView()
	v.markAll()
	if err := v.refresh(c, logrus.New()); err != nil {
		t.Fatalf("load the view: %v", err)
	}
	return v
}

// countLed counts the partitions Online with a leader in live.
func countLed(snap *Snapshot, live map[int32]bool) int {
	led := 0
	for _, topic := range snap.Topics {
		for _, p := range topic.Partitions {
			if p.State == zkpaths.StateOnline && live[p.Leader] {
				led++
			}
		}
	}
	return led
}

// awaitAllLed waits until every session's snapshot shows n partitions Online
// with a leader in live.
func awaitAllLed(t *testing.T, sessions map[int32]*Session, n int, live map[int32]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	began := time.Now()
	var seen []string
	for _, id := range slices.Sorted(maps.Keys(sessions)) {
		s := sessions[id]
		if err := s.awaitSnapshot(ctx, func(snap *Snapshot) bool { return countLed(snap, live) == n }); err != nil {
			t.Fatalf("broker %d sees %d of %d partitions led: %v", id, countLed(s.Snapshot(), live), n, err)
		}
		seen = append(seen, fmt.Sprintf("broker %d after %.3f s", id, time.Since(began).Seconds()))
	}
	t.Logf("all led: %s", strings.Join(seen, ", "))
}
