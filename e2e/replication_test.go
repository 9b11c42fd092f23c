package e2e

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/internal/verify"
	"github.com/kzoo/kzoo/zkpaths"
)

const (
	// replicationSessionTimeout is the brokers' ZooKeeper session timeout in
	// TestReplication: failover waits for it after a SIGKILL.
	replicationSessionTimeout = 6 * time.Second
	// replicationLagTime is replica.lag.time.max.ms: well below the session
	// timeout, so that a paused follower leaves the ISR through its
	// leader before the controller notices it is gone.
	replicationLagTime = 1500 * time.Millisecond
	replicationMinISR  = "2"
)

// TestReplication runs the fault scenarios of replication against three
// ZooKeeper nodes and three brokers, each with the verifier producing
// acks=all records throughout and checking at the end that no acknowledged
// record was lost, duplicated or reordered and that the in-sync replicas'
// logs are identical.
func TestReplication(t *testing.T) {
	env := map[string]string{
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS": strconv.Itoa(int(replicationSessionTimeout / time.Millisecond)),
		"KZOO_REPLICA_LAG_TIME_MAX_MS":      strconv.Itoa(int(replicationLagTime / time.Millisecond)),
		"KZOO_MIN_INSYNC_REPLICAS":          replicationMinISR,
	}
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 20800, Env: env})
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	conn := zkConn(t, c)

	scenarios := []struct {
		name string
		run  func(*testing.T, *cluster.Cluster, *zk.Conn)
	}{
		{"leader-kill-five-times", testLeaderKillRepeated},
		{"double-failover", testDoubleFailover},
		{"follower-pause", testFollowerPause},
		{"two-brokers-down", testTwoBrokersDown},
	}
	for _, sc := range scenarios {
		// A failed scenario may have left a broker down; the next one
		// starts with all three.
		for _, id := range c.BrokerIDs() {
			if err := c.StartBroker(id); err != nil {
				t.Fatal(err)
			}
		}
		waitForLiveBrokers(t, c.Bootstrap(), 3)
		t.Run(sc.name, func(t *testing.T) { sc.run(t, c, conn) })
	}
	// Last: it takes broker 3 out of scripts/cluster's hands.
	t.Run("leader-partitioned", func(t *testing.T) { testLeaderPartitioned(t, c, conn, env) })
}

// verifierRun is a verifier producer writing to a topic of the test.
type verifierRun struct {
	topic      string
	partitions int32
	producer   *verify.Producer
}

// startVerifier creates topic (RF 3, min.insync.replicas 2), waits until
// every replica is in sync, and starts producing to it.
func startVerifier(t *testing.T, c *cluster.Cluster, conn *zk.Conn, topic string, partitions int32, bootstrap []string) *verifierRun {
	t.Helper()
	createTopic(t, bootstrap, topic, partitions, 3, map[string]string{"min.insync.replicas": replicationMinISR})
	waitForFullISR(t, conn, topic, partitions, 30*time.Second)
	p, err := verify.StartProducer(verify.ProducerConfig{
		Bootstrap:  bootstrap,
		Topic:      topic,
		Partitions: partitions,
		Rate:       300,
		// Longer than any outage in these tests, so that records wait for
		// the cluster rather than fail.
		DeliveryTimeout: time.Minute,
		Options: []kgo.Opt{
			// Give up on a silent broker (a partitioned one) quickly.
			kgo.ProduceRequestTimeout(3 * time.Second),
			kgo.RequestTimeoutOverhead(2 * time.Second),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := &verifierRun{topic: topic, partitions: partitions, producer: p}
	t.Cleanup(func() { p.Stop() })
	waitForProgress(t, run, 100, 20*time.Second, "the verifier's first acknowledgements")
	return run
}

// waitForProgress waits until n more records have been acknowledged.
func waitForProgress(t *testing.T, run *verifierRun, n int, timeout time.Duration, what string) {
	t.Helper()
	from := run.producer.Acknowledged()
	poll.UntilSaw(t, timeout, what, func() (bool, string) {
		acked := run.producer.Acknowledged() - from
		return acked >= n, fmt.Sprintf("%d of %d acknowledgements; failures: %v", acked, n, run.producer.Failures())
	})
}

// finish stops the producer, waits until every replica is back in sync
// and runs the verifier's check, which must find nothing wrong.
func (run *verifierRun) finish(t *testing.T, c *cluster.Cluster, conn *zk.Conn, bootstrap []string) {
	t.Helper()
	result := run.producer.Stop()
	waitForFullISR(t, conn, run.topic, run.partitions, 60*time.Second)
	// The verifier counts the replicas it compares from Metadata, which a
	// broker answers from its own view of ZooKeeper: wait until every
	// broker has seen the ISR complete too.
	waitForFullISRInMetadata(t, c, run.topic, run.partitions, 30*time.Second)
	dataDirs := map[int32]string{}
	for _, id := range c.BrokerIDs() {
		dataDirs[int32(id)] = filepath.Join(c.Home(), "broker-"+strconv.Itoa(id), "data")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := verify.Check(ctx, verify.CheckConfig{
		Bootstrap: bootstrap, Topic: run.topic, Partitions: run.partitions, DataDirs: dataDirs,
	}, result)
	if err != nil {
		t.Fatalf("verifier check: %v", err)
	}
	summary := verify.Summary(rep)
	t.Logf("verifier: %s", summary)
	if !strings.HasPrefix(rep.String(), fmt.Sprintf("acknowledged=%d lost=0 duplicated=0 reordered=0 divergent=0 ", rep.Acknowledged)) {
		t.Errorf("verifier found acknowledged writes not kept:\n%s", summary)
	}
	if rep.Acknowledged == 0 {
		t.Error("verifier: nothing was acknowledged")
	}
	if want := int(run.partitions) * 2; rep.ReplicasCompared != want {
		t.Errorf("verifier compared %d follower logs with their leaders', want %d", rep.ReplicasCompared, want)
	}
}

// waitForFullISR waits until the state znode of every partition of topic
// lists all three replicas in the ISR.
func waitForFullISR(t *testing.T, conn *zk.Conn, topic string, partitions int32, timeout time.Duration) {
	t.Helper()
	poll.Until(t, timeout, "every replica of "+topic+" in the ISR", func() bool {
		for p := range partitions {
			st, ok := partitionState(conn, topic, p)
			if !ok || len(st.ISR) != 3 || st.Leader < 0 {
				return false
			}
		}
		return true
	})
}

// waitForFullISRInMetadata waits until every broker of c answers Metadata
// with all three replicas of every partition of topic in the ISR.
func waitForFullISRInMetadata(t *testing.T, c *cluster.Cluster, topic string, partitions int32, timeout time.Duration) {
	t.Helper()
	for _, id := range c.BrokerIDs() {
		cl := brokerClient(t, c.BrokerAddr(id))
		poll.Until(t, timeout, fmt.Sprintf("broker %d's Metadata to list every replica of %s in the ISR", id, topic), func() bool {
			md := metadataFrom(cl, topic)
			if md == nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != int(partitions) {
				return false
			}
			for _, p := range md.Topics[0].Partitions {
				if len(p.ISR) != 3 {
					return false
				}
			}
			return true
		})
	}
}

// partitionState reads a state znode; ok is false if it cannot, as when
// ZooKeeper is briefly unreachable.
func partitionState(conn *zk.Conn, topic string, p int32) (zkpaths.PartitionState, bool) {
	data, _, err := conn.Get(zkpaths.PartitionStatePath(topic, p))
	if err != nil {
		return zkpaths.PartitionState{}, false
	}
	st, err := zkpaths.UnmarshalPartitionState(data)
	return st, err == nil
}

// waitForNewLeader waits until partition p of topic has a leader other
// than any of gone, and returns it.
func waitForNewLeader(t *testing.T, conn *zk.Conn, topic string, p int32, gone []int32, timeout time.Duration) zkpaths.PartitionState {
	t.Helper()
	var st zkpaths.PartitionState
	poll.Until(t, timeout, fmt.Sprintf("a leader of %s-%d other than %v", topic, p, gone), func() bool {
		var ok bool
		st, ok = partitionState(conn, topic, p)
		return ok && st.Leader >= 0 && !slices.Contains(gone, st.Leader)
	})
	return st
}

func testLeaderKillRepeated(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic, partitions, p = "repl-kill", 3, 0
	bootstrap := c.Bootstrap()
	run := startVerifier(t, c, conn, topic, partitions, bootstrap)
	for round := 1; round <= 5; round++ {
		waitForFullISR(t, conn, topic, partitions, 30*time.Second)
		st, _ := partitionState(conn, topic, p)
		victim := int(st.Leader)
		t.Logf("round %d: SIGKILL broker %d, leader of %s-%d in epoch %d", round, victim, topic, p, st.LeaderEpoch)
		if err := c.KillBroker(victim); err != nil {
			t.Fatal(err)
		}
		next := waitForNewLeader(t, conn, topic, p, []int32{int32(victim)}, replicationSessionTimeout+15*time.Second)
		if next.LeaderEpoch <= st.LeaderEpoch {
			t.Fatalf("round %d: new leader %d in epoch %d, not after %d", round, next.Leader, next.LeaderEpoch, st.LeaderEpoch)
		}
		waitForProgress(t, run, 100, 30*time.Second, fmt.Sprintf("production after killing broker %d", victim))
		if err := c.StartBroker(victim); err != nil {
			t.Fatal(err)
		}
		waitForLiveBrokers(t, bootstrap, 3)
	}
	waitForProgress(t, run, 100, 30*time.Second, "production after the last restart")
	run.finish(t, c, conn, bootstrap)
}

// testDoubleFailover kills a partition's leader and, as soon as another
// replica has taken over, that one too: the last replica must lead with
// everything acknowledged, and the two must truncate correctly (by leader
// epoch, not to their high watermark) when they return.
func testDoubleFailover(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic, partitions, p = "repl-double", 3, 1
	bootstrap := c.Bootstrap()
	run := startVerifier(t, c, conn, topic, partitions, bootstrap)
	first, _ := partitionState(conn, topic, p)
	t.Logf("SIGKILL broker %d, leader of %s-%d", first.Leader, topic, p)
	if err := c.KillBroker(int(first.Leader)); err != nil {
		t.Fatal(err)
	}
	second := waitForNewLeader(t, conn, topic, p, []int32{first.Leader}, replicationSessionTimeout+15*time.Second)
	t.Logf("SIGKILL broker %d, the next leader (epoch %d)", second.Leader, second.LeaderEpoch)
	if err := c.KillBroker(int(second.Leader)); err != nil {
		t.Fatal(err)
	}
	third := waitForNewLeader(t, conn, topic, p, []int32{first.Leader, second.Leader}, replicationSessionTimeout+15*time.Second)
	t.Logf("broker %d leads in epoch %d", third.Leader, third.LeaderEpoch)
	for _, id := range []int32{first.Leader, second.Leader} {
		if err := c.StartBroker(int(id)); err != nil {
			t.Fatal(err)
		}
	}
	waitForLiveBrokers(t, bootstrap, 3)
	waitForProgress(t, run, 100, 60*time.Second, "production after the double failover")
	run.finish(t, c, conn, bootstrap)
}

// isrShrinkLogged matches a broker's log line about shrinking the ISR of
// repl-pause.
var isrShrinkLogged = regexp.MustCompile(`(?im)^.*ISR shr(ink|unk).*topic=repl-pause\b`)

// testFollowerPause stops a follower with SIGSTOP: its leader drops it from
// the ISR after replica.lag.time.max.ms and acks=all writes go on with the
// other two; after SIGCONT it catches up and rejoins.
func testFollowerPause(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	// One partition, so that the paused broker leads nothing of it.
	const topic, partitions, p = "repl-pause", 1, 0
	bootstrap := c.Bootstrap()
	run := startVerifier(t, c, conn, topic, partitions, bootstrap)
	st, _ := partitionState(conn, topic, p)
	follower := st.ISR[0]
	if follower == st.Leader {
		follower = st.ISR[1]
	}
	t.Logf("SIGSTOP broker %d, follower of %s-%d led by %d", follower, topic, p, st.Leader)
	resume := pauseBroker(t, c, int(follower))
	defer resume()

	poll.Until(t, 20*time.Second, fmt.Sprintf("broker %d out of the ISR of %s-%d", follower, topic, p), func() bool {
		now, ok := partitionState(conn, topic, p)
		return ok && !slices.Contains(now.ISR, follower) && len(now.ISR) == 2
	})
	if now, _ := partitionState(conn, topic, p); now.Leader != st.Leader {
		t.Errorf("leader changed from %d to %d though only a follower paused", st.Leader, now.Leader)
	}
	waitForProgress(t, run, 200, 20*time.Second, "production with the follower paused")

	resume()
	poll.Until(t, 60*time.Second, fmt.Sprintf("broker %d back in the ISR of %s-%d", follower, topic, p), func() bool {
		now, ok := partitionState(conn, topic, p)
		return ok && slices.Contains(now.ISR, follower)
	})
	// An ISR shrink is logged with the partition, as operators look for it.
	if log := c.BrokerLog(int(st.Leader)); !isrShrinkLogged.MatchString(log) {
		t.Errorf("leader %d logged no ISR shrink of %s:\n%s", st.Leader, topic, tail(log, 30))
	}
	waitForProgress(t, run, 100, 20*time.Second, "production after the follower rejoined")
	run.finish(t, c, conn, bootstrap)
}

// testTwoBrokersDown kills two of three brokers: the last one leads every
// partition alone, and acks=all writes must fail with NOT_ENOUGH_REPLICAS,
// not succeed with one copy. With the brokers back, production resumes and
// nothing acknowledged is missing.
func testTwoBrokersDown(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic, partitions = "repl-min-isr", 3
	bootstrap := c.Bootstrap()
	run := startVerifier(t, c, conn, topic, partitions, bootstrap)
	all := c.BrokerIDs()
	survivor := all[0]
	down := all[1:]
	for _, id := range down {
		if err := c.KillBroker(id); err != nil {
			t.Fatal(err)
		}
	}
	for p := range int32(partitions) {
		poll.Until(t, replicationSessionTimeout+20*time.Second, fmt.Sprintf("broker %d alone leading %s-%d", survivor, topic, p), func() bool {
			st, ok := partitionState(conn, topic, p)
			return ok && st.Leader == int32(survivor) && len(st.ISR) == 1
		})
	}

	direct := brokerClient(t, c.BrokerAddr(survivor))
	acked := run.producer.Acknowledged()
	for p := range int32(partitions) {
		poll.Until(t, 20*time.Second, fmt.Sprintf("NOT_ENOUGH_REPLICAS from %s-%d", topic, p), func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := produceRequest(topic, p, -1, batch(-1, -1, -1, 1, time.Now().UnixMilli()))
			req.TimeoutMillis = 2000
			resp, err := req.RequestWith(ctx, direct)
			if err != nil {
				return false
			}
			code := resp.Topics[0].Partitions[0].ErrorCode
			if code == 0 {
				t.Fatalf("an acks=all write to %s-%d succeeded with one in-sync replica of three (min.insync.replicas=2)", topic, p)
			}
			return code == kerr.NotEnoughReplicas.Code
		})
	}
	if now := run.producer.Acknowledged(); now != acked {
		// Records acknowledged before the ISR shrank may still be arriving,
		// but none may have been written by the survivor alone: the check
		// at the end finds those on the others, or reports them lost.
		t.Logf("%d records acknowledged while checking NOT_ENOUGH_REPLICAS", now-acked)
	}

	for _, id := range down {
		if err := c.StartBroker(id); err != nil {
			t.Fatal(err)
		}
	}
	waitForLiveBrokers(t, bootstrap, 3)
	waitForProgress(t, run, 200, 60*time.Second, "production after the brokers returned")
	run.finish(t, c, conn, bootstrap)
}

// testLeaderPartitioned cuts a partition leader off from ZooKeeper and the
// other brokers while clients still reach it: broker 3 is restarted
// outside scripts/cluster, talking to ZooKeeper and advertising itself
// through proxies in this process, which then drop all traffic. The rest of
// the cluster must elect another leader; acks=all writes sent straight to
// the cut-off broker may time out but must never be acknowledged unless
// the others have them; with the proxies healed it must step down.
func testLeaderPartitioned(t *testing.T, c *cluster.Cluster, conn *zk.Conn, env map[string]string) {
	const topic, partitions = "repl-cut", 3
	const isolated = 3
	if err := c.StopBroker(isolated); err != nil {
		t.Fatal(err)
	}
	proxies := startIsolatableBroker(t, c, isolated, env)
	// The harness addresses of brokers 1 and 2; broker 3 is reachable only
	// through its proxy, as Metadata says.
	bootstrap := []string{c.BrokerAddr(1), c.BrokerAddr(2)}
	waitForLiveBrokers(t, bootstrap, 3)
	run := startVerifier(t, c, conn, topic, partitions, bootstrap)
	proxies.checkRunning(t, isolated)

	p := int32(-1)
	var before zkpaths.PartitionState
	for i := range int32(partitions) {
		if st, ok := partitionState(conn, topic, i); ok && st.Leader == isolated {
			p, before = i, st
			break
		}
	}
	if p < 0 {
		t.Fatalf("broker %d leads no partition of %s", isolated, topic)
	}

	markerRun, err := verify.NewRunID()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cutting off broker %d, leader of %s-%d in epoch %d", isolated, topic, p, before.LeaderEpoch)
	proxies.blackhole()
	defer proxies.heal()

	// Clients that still reach the isolated broker keep writing to it.
	direct := brokerClient(t, c.BrokerAddr(isolated))
	var markers verify.Result
	markers.RunID = markerRun
	writeMarker := func(seq int64) {
		value := verify.Value(markerRun, seq, 60)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := produceRequest(topic, p, -1, valueBatch(value))
		req.TimeoutMillis = 1000
		resp, err := req.RequestWith(ctx, direct)
		markers.Sent++
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			markers.Failed++
			return
		}
		rp := resp.Topics[0].Partitions[0]
		t.Logf("cut-off broker %d acknowledged an acks=all write at offset %d", isolated, rp.BaseOffset)
		markers.Acks = append(markers.Acks, verify.Ack{Partition: p, Offset: rp.BaseOffset, Seq: seq, Value: value})
	}

	seq := int64(0)
	var after zkpaths.PartitionState
	poll.Until(t, replicationSessionTimeout+20*time.Second, fmt.Sprintf("a new leader of %s-%d", topic, p), func() bool {
		proxies.checkRunning(t, isolated)
		writeMarker(seq)
		seq++
		var ok bool
		after, ok = partitionState(conn, topic, p)
		return ok && after.Leader >= 0 && after.Leader != isolated
	})
	t.Logf("broker %d leads %s-%d in epoch %d", after.Leader, topic, p, after.LeaderEpoch)
	if after.LeaderEpoch <= before.LeaderEpoch {
		t.Errorf("new leader in epoch %d, not after %d", after.LeaderEpoch, before.LeaderEpoch)
	}
	// The majority side goes on; the cut-off broker still gets writes.
	progress := run.producer.Acknowledged()
	poll.Until(t, 30*time.Second, fmt.Sprintf("production with broker %d cut off", isolated), func() bool {
		writeMarker(seq)
		seq++
		return run.producer.Acknowledged() >= progress+200
	})

	proxies.heal()
	isolatedClient := brokerClient(t, c.BrokerAddr(isolated))
	poll.Until(t, 60*time.Second, fmt.Sprintf("broker %d to step down for %s-%d", isolated, topic, p), func() bool {
		proxies.checkRunning(t, isolated)
		md := metadataFrom(isolatedClient, topic)
		if md == nil || len(md.Topics) != 1 || int(p) >= len(md.Topics[0].Partitions) {
			return false
		}
		mp := md.Topics[0].Partitions[p]
		return mp.Leader != isolated && mp.Leader >= 0 && mp.LeaderEpoch >= after.LeaderEpoch
	})
	// A write to it now is refused, not taken as leader.
	resp := produceTo(t, direct, topic, p, valueBatch(verify.Value(markerRun, seq, 60)))
	if resp.ErrorCode == 0 {
		t.Errorf("broker %d took an acks=all write for %s-%d after stepping down", isolated, topic, p)
	}

	run.finish(t, c, conn, bootstrap)
	proxies.checkRunning(t, isolated)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := verify.Check(ctx, verify.CheckConfig{Bootstrap: bootstrap, Topic: topic, Partitions: partitions}, markers)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("writes sent straight to the cut-off broker: sent=%d %s", markers.Sent, verify.Summary(rep))
	if !rep.OK() {
		t.Errorf("the cut-off leader acknowledged writes the cluster does not have:\n%s", verify.Summary(rep))
	}
}

// valueBatch encodes a v2 record batch of one record holding value.
func valueBatch(value []byte) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		Magic:                2,
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           1,
		PartitionLeaderEpoch: -1,
	}
	r := kmsg.Record{Value: value}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	b.Records = r.AppendTo(nil)
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	// The CRC covers everything from the attributes on.
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

// isolation is a broker process started by the test and the proxies it
// talks through.
type isolation struct {
	proxies []*blackholeProxy
	exited  <-chan struct{} // closed when the broker process has exited
}

func (is isolation) blackhole() {
	for _, p := range is.proxies {
		p.setBlocked(true)
	}
}

func (is isolation) heal() {
	for _, p := range is.proxies {
		p.setBlocked(false)
	}
}

// checkRunning fails the test if the broker process has exited.
func (is isolation) checkRunning(t *testing.T, id int) {
	t.Helper()
	select {
	case <-is.exited:
		t.Fatalf("broker %d exited; see its log", id)
	default:
	}
}

// startIsolatableBroker starts broker id (stopped in scripts/cluster) with
// the binary of the cluster, on its usual listener and data directory, but
// with zookeeper.connect and advertised.listeners pointing at proxies in
// this process. Its output goes to the broker's usual log, so that a failed
// test shows it. It is killed when the test ends.
func startIsolatableBroker(t *testing.T, c *cluster.Cluster, id int, env map[string]string) isolation {
	t.Helper()
	var proxies []*blackholeProxy
	var zkAddrs []string
	for n := 1; n <= 3; n++ {
		p := startBlackholeProxy(t, c.ZKAddr(n))
		proxies = append(proxies, p)
		zkAddrs = append(zkAddrs, p.addr())
	}
	advertised := startBlackholeProxy(t, c.BrokerAddr(id))
	proxies = append(proxies, advertised)

	bin, err := c.Binary("kzoo-broker")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(c.Home(), "broker-"+strconv.Itoa(id))
	logFile, err := os.OpenFile(filepath.Join(dir, "broker.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	fmt.Fprintf(logFile, "===== %s: test starting broker-%d behind proxies =====\n", time.Now().Format(time.RFC3339), id)

	cmd := exec.Command(bin,
		"--config", filepath.Join(repo, "configs", "broker.yaml"),
		"--override", "broker.id="+strconv.Itoa(id),
		"--override", "listeners=PLAINTEXT://"+c.BrokerAddr(id),
		"--override", "advertised.listeners=PLAINTEXT://"+advertised.addr(),
		"--override", "log.dirs="+filepath.Join(dir, "data"),
		"--override", "zookeeper.connect="+strings.Join(zkAddrs, ","))
	cmd.Env = brokerEnv(os.Environ(), env)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// scripts/cluster does not know this process: should the test process
	// die before its cleanup, take the broker along rather than leave it
	// holding the cluster's port.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status of a killed broker says nothing
		close(exited)
	}()
	is := isolation{proxies: proxies, exited: exited}
	t.Cleanup(func() {
		is.heal()
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("kill broker %d: %v", id, err)
		}
		<-exited
		for _, p := range proxies {
			p.close()
		}
	})
	poll.Until(t, 30*time.Second, fmt.Sprintf("broker %d to listen", id), func() bool {
		is.checkRunning(t, id)
		conn, err := net.DialTimeout("tcp", c.BrokerAddr(id), time.Second)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	return is
}

// brokerEnv is base without KZOO_* variables, plus settings.
func brokerEnv(base []string, settings map[string]string) []string {
	out := slices.DeleteFunc(slices.Clone(base), func(kv string) bool { return strings.HasPrefix(kv, "KZOO_") })
	for k, v := range settings {
		out = append(out, k+"="+v)
	}
	return out
}

// blackholeProxy forwards TCP connections to a target until blocked; while
// blocked it reads and drops everything in both directions, as a network
// that loses every packet would, and accepts new connections without
// forwarding them. Healing closes every connection that existed while
// blocked, since dropped bytes have broken their streams.
type blackholeProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	blocked bool
	closed  bool
	conns   map[net.Conn]bool // value: opened or damaged while blocked
}

func startBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p
}

func (p *blackholeProxy) addr() string { return p.ln.Addr().String() }

func (p *blackholeProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(client) {
			client.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(client)
	}
}

// track registers c; false if the proxy is closed.
func (p *blackholeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = p.blocked
	return true
}

func (p *blackholeProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.forget(client)
	if p.isBlocked() {
		p.pipe(client, io.Discard)
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.forget(server)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.pipe(server, client)
		client.Close()
	}()
	p.pipe(client, server)
	server.Close()
	<-done
}

// pipe copies src to dst until src fails, dropping what it reads while
// the proxy is blocked.
func (p *blackholeProxy) pipe(src net.Conn, dst io.Writer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if p.isBlocked() {
				p.markDamaged(src)
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *blackholeProxy) isBlocked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked
}

func (p *blackholeProxy) markDamaged(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns[c]; ok {
		p.conns[c] = true
	}
}

func (p *blackholeProxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *blackholeProxy) setBlocked(blocked bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if blocked == p.blocked {
		return
	}
	p.blocked = blocked
	if blocked {
		// Everything open now is cut off from now on.
		for c := range p.conns {
			p.conns[c] = true
		}
		return
	}
	for c, damaged := range p.conns {
		if damaged {
			c.Close()
		}
	}
}

func (p *blackholeProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
