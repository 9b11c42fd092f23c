package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/zkpaths"
)

// The scale bench's settings, from the environment (make bench-scale).
const (
	// benchEnv must be 1 for TestScaleBench to run.
	benchEnv = "KZOO_SCALE_BENCH"
	// partitionsEnv lists the cluster sizes to measure, in partitions.
	partitionsEnv     = "KZOO_SCALE_PARTITIONS"
	defaultPartitions = "10000,50000,100000"
	// phaseTimeoutEnv bounds each phase (a Go duration).
	phaseTimeoutEnv     = "KZOO_SCALE_PHASE_TIMEOUT"
	defaultPhaseTimeout = 10 * time.Minute

	// benchPartitionsPerTopic is the size of the bench's topics: a topic's
	// assignment is one znode, and one of 100,000 partitions would exceed
	// ZooKeeper's 1 MB jute.maxbuffer.
	benchPartitionsPerTopic = 1000
	benchTopicPrefix        = "scale"
	// benchPollInterval spaces the bench's Metadata requests while it
	// waits: an answer for every topic is megabytes at 100k partitions,
	// and the brokers must not spend the machine's two cores on the
	// bench's questions.
	benchPollInterval = 250 * time.Millisecond
	// Metadata latency is the median of this many requests.
	metadataOneSamples = 21
	metadataAllSamples = 7
)

// TestScaleBench measures a three-broker cluster with many RF 3
// partitions; see make bench-scale. For each size in KZOO_SCALE_PARTITIONS,
// on a fresh cluster, it creates the partitions as topics of 1,000 and
// measures, each phase within KZOO_SCALE_PHASE_TIMEOUT:
//
//   - online: until every broker's Metadata shows every partition with a
//     live leader, and in sync: until every ISR is full;
//   - steady state: each broker's RSS and descriptors, and the median
//     latency of Metadata for one topic and for every topic;
//   - controlled shutdown of a broker that is not the controller (SIGTERM):
//     until its process exits, and until its partitions are led elsewhere;
//   - its restart: until it accepts connections, and until it is back in
//     every ISR;
//   - controller SIGKILL: until another controller is elected (bounded
//     below by zookeeper.session.timeout.ms), and then until every
//     partition has a live leader.
//
// It prints a table with Kafka's published figures and the targets beside
// the measurements. It asserts nothing about the figures: a missed
// deadline is printed with what was reached, and the bench goes on with
// what does not depend on it.
func TestScaleBench(t *testing.T) {
	if os.Getenv(benchEnv) != "1" {
		t.Skipf("the scale bench runs with make bench-scale (%s=1)", benchEnv)
	}
	sizes, err := parseSizes(cmpOr(os.Getenv(partitionsEnv), defaultPartitions))
	if err != nil {
		t.Fatalf("%s: %v", partitionsEnv, err)
	}
	phaseTimeout := defaultPhaseTimeout
	if s := os.Getenv(phaseTimeoutEnv); s != "" {
		if phaseTimeout, err = time.ParseDuration(s); err != nil || phaseTimeout <= 0 {
			t.Fatalf("%s: want a positive duration such as 10m, got %q", phaseTimeoutEnv, s)
		}
	}
	var results []*scaleResult
	for i, n := range sizes {
		// Made here, so that what a failed run measured is printed too.
		r := &scaleResult{partitions: n, topics: (n + benchPartitionsPerTopic - 1) / benchPartitionsPerTopic,
			shutdownID: -1, controllerID: -1, sessionTimeout: "18 s (default)"}
		t.Run(fmt.Sprintf("partitions=%d", n), func(t *testing.T) {
			runScale(t, r, phaseTimeout)
		})
		results = append(results, r)
		printTable(os.Stdout, results)
		if !r.online.ok {
			for _, later := range sizes[i+1:] {
				fmt.Printf("skipping %d partitions: %d did not come online\n", later, n)
			}
			break
		}
	}
}

// parseSizes parses a comma-separated list of partition counts.
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("want positive partition counts separated by commas, got %q", s)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// measure is one timed phase: how long it took, or, if it missed its
// deadline or failed, what it reached.
type measure struct {
	d    time.Duration
	ok   bool
	note string // what a missed or skipped phase reached
}

func (m measure) String() string {
	switch {
	case m.ok:
		return fmtDuration(m.d)
	case m.note == "":
		return "skipped"
	default:
		return m.note
	}
}

// brokerUsage is a broker's resources at steady state.
type brokerUsage struct {
	id             int
	rss            int64
	fds, logDirFDs int
	fdLimit        int64
	err            error
	// From the broker's metrics, where it has them (the descriptor cache):
	// the segment and index files it holds open and its bound on them.
	openFiles, openFilesLimit float64
	openFilesKnown            bool
}

// scaleResult is what the bench measured for one cluster size.
type scaleResult struct {
	partitions int
	topics     int

	create  measure // CreateTopics answered
	online  measure // every partition led, on every broker
	inSync  measure // every ISR full, on every broker
	usage   []brokerUsage
	mdOne   measure // median Metadata latency, one topic
	mdAll   measure // median Metadata latency, every topic
	mdAllMB float64 // size of the every-topic answer

	shutdownID   int
	shutdownLed  int     // partitions the broker led when stopped
	shutdownExit measure // SIGTERM until the process exited
	shutdownMove measure // SIGTERM until its partitions were led elsewhere
	restartUp    measure // start until it accepts connections
	restartISR   measure // start until it is back in every ISR

	controllerID   int
	failoverElect  measure // SIGKILL until another controller
	failoverLed    measure // election until every partition led
	failoverTotal  measure // SIGKILL until every partition led
	sessionTimeout string
}

// bench is one cluster size's run.
type bench struct {
	t       *testing.T
	c       *cluster.Cluster
	r       *scaleResult
	timeout time.Duration
	topics  []string
}

// runScale measures r.partitions partitions on a fresh cluster into r.
func runScale(t *testing.T, r *scaleResult, timeout time.Duration) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 22700, Env: map[string]string{
		// The ensemble holds two znodes per partition and the brokers'
		// watches; the scripts' default heap is sized for tests.
		"KZOO_ZK_JVM_OPTS": "-Xmx2g",
		// Brokers with many partitions may take longer than the
		// script's default minute to accept connections.
		"KZOO_START_TIMEOUT": strconv.Itoa(int(max(timeout, time.Minute) / time.Second)),
	}})
	b := &bench{t: t, c: c, r: r, timeout: timeout, topics: topicNames(benchTopicPrefix, r.topics)}

	if !b.createAndWait() {
		b.measureUsage()
		return
	}
	b.measureUsage()
	b.measureMetadata()
	if r.inSync.ok {
		b.controlledShutdown()
		b.restart()
	}
	b.controllerKill()
}

// createAndWait creates the topics and waits until every partition is led
// and then in sync. It reports whether every partition came online.
func (b *bench) createAndWait() bool {
	r := b.r
	admin := newClient(b.t, b.c.Bootstrap())
	start := time.Now()
	for i := 0; i < len(b.topics); i += topicsPerCreate {
		batch := b.topics[i:min(i+topicsPerCreate, len(b.topics))]
		// The last topic holds what remains of n.
		full := batch
		if i+len(batch) == len(b.topics) && r.partitions%benchPartitionsPerTopic != 0 {
			full = batch[:len(batch)-1]
		}
		err := tryCreateTopics(admin, full, benchPartitionsPerTopic, 3, nil, time.Minute)
		if err == nil && len(full) < len(batch) {
			err = tryCreateTopics(admin, batch[len(batch)-1:], int32(r.partitions%benchPartitionsPerTopic), 3, nil, time.Minute)
		}
		// A request that timed out, at the broker or here, leaves its
		// topics being created; waiting for them to come online covers
		// that.
		if err != nil && !errors.Is(err, kerr.RequestTimedOut) && !errors.Is(err, context.DeadlineExceeded) {
			r.create.note = fmt.Sprintf("failed after %d topics: %v", i, err)
			b.t.Log(r.create.note)
			return false
		}
		if time.Since(start) > b.timeout {
			r.create.note = fmt.Sprintf("%d of %d topics after %s", i+len(batch), len(b.topics), fmtDuration(time.Since(start)))
			return false
		}
	}
	r.create = measure{d: time.Since(start), ok: true}
	b.t.Logf("%d topics created in %s", len(b.topics), r.create)

	r.online = b.waitEveryBroker(start, b.c.BrokerIDs(), -1, "every partition led",
		func(l leadership) bool { return l.led == r.partitions })
	b.t.Logf("online: %s", r.online)
	if !r.online.ok {
		return false
	}
	r.inSync = b.waitEveryBroker(start, b.c.BrokerIDs(), -1, "every ISR full",
		func(l leadership) bool { return l.led == r.partitions && l.fullISR == r.partitions })
	b.t.Logf("in sync: %s", r.inSync)
	return true
}

// waitEveryBroker waits, from start and for at most the phase timeout,
// until each broker of ids in turn answers Metadata in which cond holds of
// the bench's topics; a live leader is one registered and not dead. It
// returns the time from start, or on a miss what the last answer showed.
func (b *bench) waitEveryBroker(start time.Time, ids []int, dead int32, what string, cond func(leadership) bool) measure {
	deadline := start.Add(b.timeout)
	for _, id := range ids {
		cl := newClient(b.t, []string{b.c.BrokerAddr(id)})
		var last leadership
		var lastErr error
		ok := waitUntil(deadline, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			md, err := metadataFrom(ctx, cl)
			if err != nil {
				lastErr = err
				return false
			}
			last, lastErr = summarize(md, benchTopicPrefix, len(b.topics), dead), nil
			return last.missingTopics == 0 && cond(last)
		})
		cl.Close()
		if !ok {
			saw := last.String()
			if lastErr != nil {
				saw = lastErr.Error()
			}
			return measure{note: fmt.Sprintf("missed (%s): broker %d after %s: %s", what, id, fmtDuration(time.Since(start)), saw)}
		}
	}
	return measure{d: time.Since(start), ok: true}
}

// waitUntil polls cond every benchPollInterval until it holds or deadline
// passes, and reports whether it held.
func waitUntil(deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(benchPollInterval, time.Until(deadline)))
	}
}

// measureUsage records each running broker's memory and descriptors.
func (b *bench) measureUsage() {
	for _, id := range b.c.BrokerIDs() {
		u := brokerUsage{id: id}
		var fds []string
		if u.rss, u.err = b.c.BrokerRSS(id); u.err == nil {
			fds, u.err = b.c.BrokerFDs(id)
		}
		if u.err == nil {
			u.fds = len(fds)
			logDir, err := filepath.EvalSymlinks(b.c.BrokerLogDir(id))
			if err != nil {
				logDir = b.c.BrokerLogDir(id)
			}
			u.logDirFDs = cluster.CountUnder(fds, logDir)
			u.fdLimit, u.err = b.c.BrokerFDLimit(id)
		}
		if text, err := scrapeMetrics(b.c.MetricsAddr(id)); err == nil {
			var okLimit bool
			u.openFiles, u.openFilesKnown = metricValue(text, "kzoo_log_open_files")
			u.openFilesLimit, okLimit = metricValue(text, "kzoo_log_open_files_limit")
			u.openFilesKnown = u.openFilesKnown && okLimit
		}
		b.r.usage = append(b.r.usage, u)
	}
}

// measureMetadata records the median latency of Metadata for one topic and
// for every topic, asked of broker 1 over one warmed-up connection.
func (b *bench) measureMetadata() {
	cl := newClient(b.t, []string{b.c.BrokerAddr(1)})
	defer cl.Close()
	time1 := func(samples int, topics ...string) (measure, int) {
		var ds []time.Duration
		size := 0
		for i := range samples + 1 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			start := time.Now()
			md, err := metadataFrom(ctx, cl, topics...)
			d := time.Since(start)
			cancel()
			if err != nil {
				return measure{note: fmt.Sprintf("failed: %v", err)}, 0
			}
			if i == 0 {
				// The first request opens the connection.
				size = len(md.AppendTo(nil))
				continue
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return measure{d: ds[len(ds)/2], ok: true}, size
	}
	b.r.mdOne, _ = time1(metadataOneSamples, b.topics[0])
	var size int
	b.r.mdAll, size = time1(metadataAllSamples)
	b.r.mdAllMB = float64(size) / (1 << 20)
	b.t.Logf("Metadata: one topic %s, every topic %s (%.1f MiB)", b.r.mdOne, b.r.mdAll, b.r.mdAllMB)
}

// controller asks a broker of ids who the controller is (-1 if none
// knows).
func (b *bench) controller(ids []int) int {
	for _, id := range ids {
		cl := newClient(b.t, []string{b.c.BrokerAddr(id)})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		md, err := controllerOnly(ctx, cl)
		cancel()
		cl.Close()
		if err == nil && md.ControllerID >= 0 {
			return int(md.ControllerID)
		}
	}
	return -1
}

// controllerOnly asks the first seed broker of cl for Metadata without any
// topic: the brokers and the controller only, cheap at any scale.
func controllerOnly(ctx context.Context, cl *kgo.Client) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // empty, not null: no topic
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// controlledShutdown sends SIGTERM to a broker that is not the controller
// and measures until it exits and until its partitions are led elsewhere.
func (b *bench) controlledShutdown() {
	r := b.r
	ids := b.c.BrokerIDs()
	controller := b.controller(ids)
	victim := -1
	for _, id := range slices.Backward(ids) {
		if id != controller {
			victim = id
			break
		}
	}
	others := without(ids, victim)
	r.shutdownID = victim
	cl := newClient(b.t, []string{b.c.BrokerAddr(others[0])})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	md, err := metadataFrom(ctx, cl)
	cancel()
	cl.Close()
	if err != nil {
		r.shutdownExit.note = fmt.Sprintf("no metadata: %v", err)
		return
	}
	r.shutdownLed = summarize(md, benchTopicPrefix, len(b.topics), -1).ledBy[int32(victim)]
	pid, err := b.c.BrokerPID(victim)
	if err != nil {
		r.shutdownExit.note = err.Error()
		return
	}

	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		r.shutdownExit.note = fmt.Sprintf("SIGTERM: %v", err)
		return
	}
	exited := make(chan measure, 1)
	go func() { // owned here: its result is awaited below
		if waitUntil(start.Add(b.timeout), func() bool { return !b.c.BrokerRunning(victim) }) {
			exited <- measure{d: time.Since(start), ok: true}
			return
		}
		exited <- measure{note: fmt.Sprintf("still running after %s", fmtDuration(time.Since(start)))}
	}()
	r.shutdownMove = b.waitEveryBroker(start, others[:1], int32(victim), "its partitions led elsewhere",
		func(l leadership) bool { return l.led == r.partitions })
	r.shutdownExit = <-exited
	b.t.Logf("controlled shutdown of broker %d (leader of %d): exited %s, partitions led elsewhere %s",
		victim, r.shutdownLed, r.shutdownExit, r.shutdownMove)
	if !r.shutdownExit.ok {
		if err := b.c.KillBroker(victim); err != nil {
			b.t.Errorf("kill broker %d after its shutdown missed the deadline: %v", victim, err)
		}
	}
}

// restart starts the broker stopped by controlledShutdown and measures
// until it accepts connections and until it is back in every ISR.
func (b *bench) restart() {
	r := b.r
	if r.shutdownID < 0 {
		return
	}
	start := time.Now()
	if err := b.c.StartBroker(r.shutdownID); err != nil {
		// The script gives up waiting; the broker may still come up.
		r.restartUp.note = fmt.Sprintf("not accepting connections after %s", fmtDuration(time.Since(start)))
		b.t.Log(err)
	} else {
		r.restartUp = measure{d: time.Since(start), ok: true}
	}
	r.restartISR = b.waitEveryBroker(start, b.c.BrokerIDs(), -1, "every ISR full",
		func(l leadership) bool { return l.led == r.partitions && l.fullISR == r.partitions })
	b.t.Logf("restart of broker %d: accepting connections %s, back in every ISR %s", r.shutdownID, r.restartUp, r.restartISR)
}

// controllerKill SIGKILLs the controller and measures until another is
// elected and until every partition has a live leader. The election is
// read from ZooKeeper: /controller carries the time the new controller
// registered, and the brokers' Metadata may name the controller late.
func (b *bench) controllerKill() {
	r := b.r
	ids := b.c.BrokerIDs()
	conn, _, err := zk.Connect(strings.Split(b.c.ZKConnect(), ","), 30*time.Second, zk.WithLogInfo(false))
	if err != nil {
		r.failoverElect.note = fmt.Sprintf("connect to ZooKeeper: %v", err)
		return
	}
	defer conn.Close()
	controller := func() (zkpaths.ControllerRegistration, bool) {
		data, _, err := conn.Get(zkpaths.ControllerPath)
		if err != nil {
			return zkpaths.ControllerRegistration{}, false
		}
		reg, err := zkpaths.UnmarshalControllerRegistration(data)
		return reg, err == nil
	}
	old, ok := controller()
	if !ok {
		r.failoverElect.note = "no controller"
		return
	}
	r.controllerID = int(old.BrokerID)
	live := without(ids, r.controllerID)
	start := time.Now()
	if err := b.c.KillBroker(r.controllerID); err != nil {
		r.failoverElect.note = fmt.Sprintf("kill: %v", err)
		return
	}
	var elected zkpaths.ControllerRegistration
	if !waitUntil(start.Add(b.timeout), func() bool {
		reg, ok := controller()
		elected = reg
		return ok && reg.BrokerID != old.BrokerID
	}) {
		r.failoverElect.note = fmt.Sprintf("no new controller after %s", fmtDuration(time.Since(start)))
		return
	}
	// The registration's time is the broker's clock, which is this
	// machine's; milliseconds only, so it may read just before start.
	r.failoverElect = measure{d: max(elected.Timestamp.Sub(start), 0), ok: true}
	r.failoverTotal = b.waitEveryBroker(start, live, int32(r.controllerID), "every partition led",
		func(l leadership) bool { return l.led == r.partitions })
	if r.failoverTotal.ok {
		r.failoverLed = measure{d: r.failoverTotal.d - r.failoverElect.d, ok: true}
	} else {
		r.failoverLed.note = r.failoverTotal.note
	}
	b.t.Logf("controller %d killed: broker %d registered as controller %s after, every partition led %s after that",
		r.controllerID, elected.BrokerID, r.failoverElect, r.failoverLed)
}

// Kafka's published figures, from "Apache Kafka Supports 200K Partitions
// Per Cluster" (Jun Rao, Confluent blog, 2018), and the targets at 100k
// partitions of the issue that asked for this bench.
const (
	kafkaFailover  = "100k partitions: 28 s (1.0) → 14 s (1.1)"
	kafkaShutdown  = "10k partitions: 6.5 min (1.0) → 3 s (1.1)"
	kafkaGuidance  = "ZooKeeper mode: ~4,000 partitions per broker, 200,000 per cluster"
	targetOnline   = "< 60 s"
	targetFailover = "< 10 s"
	targetShutdown = "< 5 s"
	targetRSS      = "< 1 GiB"
	targetFDs      = "under the bound"
)

// printTable writes the results side by side, one column per size, with
// Kafka's figures and the targets.
func printTable(w io.Writer, results []*scaleResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"RF 3, 3 brokers, partitions"}
	for _, r := range results {
		header = append(header, fmt.Sprintf("%d (%d topics)", r.partitions, r.topics))
	}
	header = append(header, "Kafka (published)", "target at 100k")
	row := func(name string, cell func(*scaleResult) string, kafka, target string) {
		cells := []string{name}
		for _, r := range results {
			cells = append(cells, cell(r))
		}
		cells = append(cells, kafka, target)
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	m := func(f func(*scaleResult) measure) func(*scaleResult) string {
		return func(r *scaleResult) string { return f(r).String() }
	}
	fmt.Fprintln(w)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	row("create topics (CreateTopics answered)", m(func(r *scaleResult) measure { return r.create }), "", "")
	row("all partitions online, live leader", m(func(r *scaleResult) measure { return r.online }), "", targetOnline)
	row("all ISRs full", m(func(r *scaleResult) measure { return r.inSync }), "", "")
	row("Metadata latency, one topic (median)", m(func(r *scaleResult) measure { return r.mdOne }), "", "")
	row("Metadata latency, all topics (median)", func(r *scaleResult) string {
		if !r.mdAll.ok {
			return r.mdAll.String()
		}
		return fmt.Sprintf("%s (%.1f MiB)", r.mdAll, r.mdAllMB)
	}, "", "")
	for i := range 3 {
		row(fmt.Sprintf("broker %d RSS", i+1), func(r *scaleResult) string {
			if i >= len(r.usage) {
				return "-"
			}
			if u := r.usage[i]; u.err != nil {
				return "error: " + u.err.Error()
			}
			return fmt.Sprintf("%.0f MiB", float64(r.usage[i].rss)/(1<<20))
		}, "", targetRSS)
	}
	for i := range 3 {
		row(fmt.Sprintf("broker %d fds: all / log dir / limit", i+1), func(r *scaleResult) string {
			if i >= len(r.usage) || r.usage[i].err != nil {
				return "-"
			}
			u := r.usage[i]
			return fmt.Sprintf("%d / %d / %d", u.fds, u.logDirFDs, u.fdLimit)
		}, "", "")
	}
	for i := range 3 {
		row(fmt.Sprintf("broker %d log files open / kzoo.max.open.files", i+1), func(r *scaleResult) string {
			if i >= len(r.usage) || !r.usage[i].openFilesKnown {
				return "-"
			}
			return fmt.Sprintf("%.0f / %.0f", r.usage[i].openFiles, r.usage[i].openFilesLimit)
		}, "", targetFDs)
	}
	row("controlled shutdown (SIGTERM): exited", func(r *scaleResult) string {
		if r.shutdownID < 0 {
			return r.shutdownExit.String()
		}
		return fmt.Sprintf("%s (broker %d, led %d)", r.shutdownExit, r.shutdownID, r.shutdownLed)
	}, kafkaShutdown, targetShutdown)
	row("controlled shutdown: its partitions led elsewhere", m(func(r *scaleResult) measure { return r.shutdownMove }), "", "")
	row("restart: accepting connections", m(func(r *scaleResult) measure { return r.restartUp }), "", "")
	row("restart: back in every ISR", m(func(r *scaleResult) measure { return r.restartISR }), "", "")
	row("controller SIGKILL: new controller registered (≥ session timeout)", func(r *scaleResult) string {
		if r.controllerID < 0 {
			return r.failoverElect.String()
		}
		return fmt.Sprintf("%s (broker %d killed)", r.failoverElect, r.controllerID)
	}, "", "")
	row("controller SIGKILL: then every partition led", m(func(r *scaleResult) measure { return r.failoverLed }), kafkaFailover, targetFailover)
	row("controller SIGKILL: total", m(func(r *scaleResult) measure { return r.failoverTotal }), "", "")
	tw.Flush()
	fmt.Fprintf(w, "Controller failover: the election waits for the killed controller's ZooKeeper session to expire\n"+
		"(zookeeper.session.timeout.ms %s); Kafka's figure and the target compare with what follows it.\n"+
		"Kafka's guidance: %s.\n\n", results[0].sessionTimeout, kafkaGuidance)
}

// fmtDuration prints d to the millisecond below a minute, to the second
// above.
func fmtDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

// scrapeMetrics returns the Prometheus text a broker serves at addr.
func scrapeMetrics(addr string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics of %s: %s", addr, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// metricValue returns the sum of the samples of metric name (any labels)
// in Prometheus text, and whether there was one.
func metricValue(text, name string) (float64, bool) {
	sum, found := 0.0, false
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	return sum, found
}

func TestMetricValue(t *testing.T) {
	text := "# HELP kzoo_log_open_files Segment and index files open.\n" +
		"# TYPE kzoo_log_open_files gauge\n" +
		"kzoo_log_open_files 187\n" +
		"kzoo_log_open_files_limit 200\n" +
		"kzoo_requests_total{api=\"Fetch\"} 3\n" +
		"kzoo_requests_total{api=\"Produce\"} 4.5\n"
	for name, want := range map[string]float64{"kzoo_log_open_files": 187, "kzoo_log_open_files_limit": 200, "kzoo_requests_total": 7.5} {
		if got, ok := metricValue(text, name); !ok || got != want {
			t.Errorf("metricValue(%s) = %v, %v; want %v", name, got, ok, want)
		}
	}
	if _, ok := metricValue(text, "kzoo_log_open"); ok {
		t.Error("metricValue matched a prefix of a metric's name")
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("10000, 50000,100000")
	if err != nil || !slices.Equal(got, []int{10000, 50000, 100000}) {
		t.Errorf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "10k", "0", "1000,-5", "1000,,2000"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q): no error", bad)
		}
	}
}
