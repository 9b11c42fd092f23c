package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/zkpaths"
)

// TestZooKeeper runs the integration tests against one real three-node
// ensemble; each subtest works in a chroot of its own. The subtests of the
// session itself are in this file; the others sit next to the code they test
// (controller_test.go, configs_test.go, quotas_test.go, scram_test.go, acls_test.go,
// deletion_test.go, shutdown_test.go, election_test.go, reassign_test.go).
func TestZooKeeper(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 0, PortOffset: 20000})
	connect := c.ZKConnect()

	t.Run("Registration", func(t *testing.T) { testRegistration(t, newEnv(t, connect)) })
	t.Run("DuplicateBrokerID", func(t *testing.T) { testDuplicateBrokerID(t, newEnv(t, connect)) })
	t.Run("ControllerElection", func(t *testing.T) { testControllerElection(t, newEnv(t, connect)) })
	t.Run("TopicLifecycle", func(t *testing.T) { testTopicLifecycle(t, newEnv(t, connect)) })
	t.Run("BrokerFailure", func(t *testing.T) { testBrokerFailure(t, newEnv(t, connect)) })
	t.Run("UpdateISRs", func(t *testing.T) { testUpdateISRs(t, newEnv(t, connect)) })
	t.Run("ProducerIDBlocks", func(t *testing.T) { testProducerIDBlocks(t, newEnv(t, connect)) })
	t.Run("StaleControllerWriteFails", func(t *testing.T) { testStaleControllerWriteFails(t, newEnv(t, connect)) })
	t.Run("AdoptControllership", func(t *testing.T) { testAdoptControllership(t, newEnv(t, connect)) })
	t.Run("SessionExpiry", func(t *testing.T) { testSessionExpiry(t, newEnv(t, connect), c.ZKAddr(1)) })
	t.Run("ConfigNotifications", func(t *testing.T) { testConfigNotifications(t, newEnv(t, connect)) })
	t.Run("ClientQuotas", func(t *testing.T) { testClientQuotas(t, newEnv(t, connect)) })
	t.Run("ClientQuotasKafkaTool", func(t *testing.T) { testClientQuotasKafkaTool(t, newEnv(t, connect)) })
	t.Run("ScramCredentials", func(t *testing.T) { testScramCredentials(t, newEnv(t, connect)) })
	t.Run("ScramZKWrite", func(t *testing.T) { testScramZKWrite(t, newEnv(t, connect)) })
	t.Run("ScramKafkaTool", func(t *testing.T) { testScramKafkaTool(t, newEnv(t, connect)) })
	t.Run("DeletionWithBrokerDown", func(t *testing.T) { testDeletionWithBrokerDown(t, newEnv(t, connect)) })
	t.Run("LargeTopicDeletion", func(t *testing.T) { testLargeTopicDeletion(t, newEnv(t, connect)) })
	t.Run("ControlledShutdown", func(t *testing.T) { testControlledShutdown(t, newEnv(t, connect)) })
	t.Run("AutoRebalance", func(t *testing.T) { testPreferredLeaders(t, newEnv(t, connect), true) })
	t.Run("ElectLeaders", func(t *testing.T) { testPreferredLeaders(t, newEnv(t, connect), false) })
	t.Run("Reassignment", func(t *testing.T) { testReassignment(t, newEnv(t, connect)) })
	t.Run("StaleControllerWritesNothing", func(t *testing.T) { testStaleControllerWritesNothing(t, newEnv(t, connect), c.ZKAddr(1)) })
	t.Run("ACLs", func(t *testing.T) { testACLs(t, newEnv(t, connect)) })
	t.Run("ACLsAfterSessionLoss", func(t *testing.T) { testACLsAfterSessionLoss(t, newEnv(t, connect), c.ZKAddr(1)) })
	t.Run("ACLsKafkaTool", func(t *testing.T) { testACLsKafkaTool(t, newEnv(t, connect)) })
	t.Run("ZooKeeperNodeLoss", func(t *testing.T) { testZooKeeperNodeLoss(t, newEnv(t, connect), c) })
	t.Run("SecureACLs", func(t *testing.T) { testSecureACLs(t, newEnv(t, connect), c.ZKAddr(1)) })
}

// testZooKeeperNodeLoss stops one ZooKeeper node: the sessions on it move to
// the others, and the cluster goes on.
func testZooKeeperNodeLoss(t *testing.T, env *zkEnv, c *cluster.Cluster) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	s2 := env.start(t, env.config(2))
	if err := s1.CreateTopic(context.Background(), "before", [][]int32{{1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "before", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}, State: zkpaths.StateOnline})

	if err := c.StopZK(2); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.StartZK(2); err != nil {
			t.Errorf("restart ZooKeeper node 2: %v", err)
		}
	})
	waitFor(t, "a topic created after the node loss to come online", func() (bool, string) {
		err := s2.CreateTopic(context.Background(), "after", [][]int32{{2, 1}}, nil)
		if err != nil && !errors.Is(err, ErrTopicExists) {
			return false, err.Error()
		}
		state, _, ok := in.partitionState("after", 0)
		return ok && state.State == zkpaths.StateOnline && state.Leader == 2, fmt.Sprintf("%+v", state)
	})
	for n, s := range map[int]*Session{1: s1, 2: s2} {
		waitFor(t, fmt.Sprintf("broker %d's snapshot to show both topics", n), func() (bool, string) {
			snap := s.Snapshot()
			ok := len(snap.Brokers) == 2 && snap.Topics["before"] != nil && snap.Topics["after"] != nil &&
				snap.Topics["after"].Partitions[0].State == zkpaths.StateOnline
			return ok, fmt.Sprintf("brokers %v, topics %d", snap.LiveBrokerIDs(), len(snap.Topics))
		})
	}
}

func testRegistration(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	cfg := env.config(1)
	cfg.Rack = "r1"
	cfg.Endpoints = []Endpoint{{"PLAINTEXT", "PLAINTEXT", "127.0.0.1", 9192}, {"REPL", "SSL", "127.0.0.1", 9193}}
	cfg.Now = func() time.Time { return time.UnixMilli(1700000000000) }
	s := env.start(t, cfg)

	data, stat := in.mustGet("/brokers/ids/1")
	want := `{"version":5,"host":"127.0.0.1","port":9192,"jmx_port":-1,"timestamp":"1700000000000",` +
		`"endpoints":["PLAINTEXT://127.0.0.1:9192","REPL://127.0.0.1:9193"],` +
		`"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","REPL":"SSL"},"rack":"r1","features":{}}`
	if string(data) != want {
		t.Errorf("registration:\n got %s\nwant %s", data, want)
	}
	if stat.Czxid != s.BrokerEpoch() || stat.EphemeralOwner == 0 {
		t.Errorf("czxid %d, broker epoch %d, ephemeral owner %x", stat.Czxid, s.BrokerEpoch(), stat.EphemeralOwner)
	}
	for _, p := range zkpaths.PersistentPaths() {
		if !in.exists(p) {
			t.Errorf("persistent path %s missing", p)
		}
	}

	data, idStat := in.mustGet(zkpaths.ClusterIDPath)
	var clusterID map[string]any
	if err := json.Unmarshal(data, &clusterID); err != nil {
		t.Fatal(err)
	}
	if clusterID["version"] != "1" || clusterID["id"] != s.ClusterID() || len(s.ClusterID()) != 22 {
		t.Errorf("cluster id znode %s, session says %q", data, s.ClusterID())
	}

	zs := s.ZooKeeperStatus()
	if len(zs.Servers) != 3 || !slices.Contains(zs.Servers, zs.Connected) || zs.State != "StateHasSession" ||
		zs.SessionID == 0 || zs.Chroot != env.chroot {
		t.Errorf("ZooKeeper status %+v (servers %v, chroot %s)", zs, env.servers, env.chroot)
	}

	// A second broker reuses the cluster id and appears in the first one's
	// view, with the console it registered.
	cfg2 := env.config(2)
	cfg2.Console = "127.0.0.1:9649"
	s2 := env.start(t, cfg2)
	if s2.ClusterID() != s.ClusterID() {
		t.Errorf("second broker has cluster id %q, first %q", s2.ClusterID(), s.ClusterID())
	}
	if _, again := in.mustGet(zkpaths.ClusterIDPath); again.Mzxid != idStat.Mzxid {
		t.Error("/cluster/id was rewritten")
	}
	waitFor(t, "both brokers in the snapshot", func() (bool, string) {
		snap := s.Snapshot()
		b1, b2 := snap.Brokers[1], snap.Brokers[2]
		ok := len(snap.Brokers) == 2 && b1.Epoch == s.BrokerEpoch() && b2.Epoch == s2.BrokerEpoch() &&
			b1.Host == "127.0.0.1" && b1.Port == 9192 && b1.Rack == "r1" &&
			reflect.DeepEqual(b1.Endpoints, cfg.Endpoints) && b2.Port == 9002 &&
			b1.Console == "" && b2.Console == "127.0.0.1:9649"
		return ok, fmt.Sprintf("%+v", snap.Brokers)
	})

	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if in.exists("/brokers/ids/2") {
		t.Error("registration still there after Close")
	}
	waitFor(t, "broker 2 gone from the snapshot", func() (bool, string) {
		ids := s.Snapshot().LiveBrokerIDs()
		return reflect.DeepEqual(ids, []int32{1}), fmt.Sprint(ids)
	})
	if _, open := <-s2.Changes(); open {
		// Drain what was buffered; the channel must then be closed.
		for range s2.Changes() {
		}
	}
}

func testDuplicateBrokerID(t *testing.T, env *zkEnv) {
	first := env.start(t, env.config(5))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	second, err := Start(ctx, env.config(5))
	if err == nil {
		second.Close()
		t.Fatal("a second session registered broker id 5")
	}
	if !errors.Is(err, ErrBrokerIDInUse) || !strings.Contains(err.Error(), "broker 5") {
		t.Fatalf("got %v, want ErrBrokerIDInUse naming broker 5", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := env.start(t, env.config(5))
	if third.BrokerEpoch() == first.BrokerEpoch() {
		t.Error("re-registration kept the old broker epoch")
	}
}

func TestStartFailsWhenZooKeeperIsUnreachable(t *testing.T) {
	refusing, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusingAddr := refusing.Addr().String()
	refusing.Close()

	// A server that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var accepted []net.Conn
		defer func() {
			for _, c := range accepted {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			accepted = append(accepted, c)
		}
	}()

	for name, addr := range map[string]string{"refused": refusingAddr, "silent": silent.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			const timeout = 1500 * time.Millisecond
			began := time.Now()
			s, err := Start(context.Background(), Config{
				BrokerID:          1,
				Connect:           addr,
				SessionTimeout:    3 * time.Second,
				ConnectionTimeout: timeout,
				Endpoints:         []Endpoint{{"PLAINTEXT", "PLAINTEXT", "127.0.0.1", 9092}},
				Logger:            testLogger(t),
			})
			elapsed := time.Since(began)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded without ZooKeeper")
			}
			if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "no session") {
				t.Errorf("error %q does not say which servers were unreachable", err)
			}
			// Closing the abandoned connection may take up to a second more.
			if elapsed < timeout || elapsed > timeout+2*time.Second {
				t.Errorf("Start gave up after %v, connection timeout %v", elapsed, timeout)
			}
		})
	}
}

func testTopicLifecycle(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	s2 := env.start(t, env.config(2))
	ctx := context.Background()
	waitFor(t, "a controller", func() (bool, string) {
		id, _ := in.controller()
		return id == 1 || id == 2, fmt.Sprint(id)
	})

	assignment := [][]int32{{1, 2}, {2, 1}, {1, 2}}
	configs := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	if err := s2.CreateTopic(ctx, "orders", assignment, configs); err != nil {
		t.Fatal(err)
	}

	data, _ := in.mustGet("/brokers/topics/orders")
	var parsed struct {
		TopicID string `json:"topic_id"`
	}
	if err := json.Unmarshal(data, &parsed); err != nil {
		t.Fatal(err)
	}
	want := `{"version":3,"topic_id":"` + parsed.TopicID + `","partitions":{"0":[1,2],"1":[2,1],"2":[1,2]},"adding_replicas":{},"removing_replicas":{}}`
	if string(data) != want || len(parsed.TopicID) != 22 {
		t.Errorf("topic znode:\n got %s\nwant %s", data, want)
	}
	data, _ = in.mustGet("/config/topics/orders")
	if want := `{"version":1,"config":{"cleanup.policy":"compact","retention.ms":"1000"}}`; string(data) != want {
		t.Errorf("config znode:\n got %s\nwant %s", data, want)
	}

	_, controllerEpoch := in.controller()
	for p, replicas := range assignment {
		waitForState(t, in, "orders", int32(p), zkpaths.PartitionState{
			ControllerEpoch: controllerEpoch, Leader: replicas[0], LeaderEpoch: 0, ISR: replicas, State: zkpaths.StateOnline,
		})
	}
	data, _ = in.mustGet(zkpaths.PartitionStatePath("orders", 1))
	if want := fmt.Sprintf(`{"controller_epoch":%d,"leader":2,"version":1,"leader_epoch":0,"isr":[2,1],"state":"Online"}`, controllerEpoch); string(data) != want {
		t.Errorf("state znode:\n got %s\nwant %s", data, want)
	}

	id, err := zkpaths.ParseUUID(parsed.TopicID)
	if err != nil {
		t.Fatal(err)
	}
	for n, s := range map[int]*Session{1: s1, 2: s2} {
		waitFor(t, fmt.Sprintf("broker %d's snapshot to show the topic online", n), func() (bool, string) {
			topic := s.Snapshot().Topics["orders"]
			if topic == nil || topic.ID != id || len(topic.Partitions) != 3 || topic.Deleting {
				return false, fmt.Sprintf("%+v", topic)
			}
			for p, part := range topic.Partitions {
				if part.State != zkpaths.StateOnline || part.Leader != assignment[p][0] || part.LeaderEpoch != 0 ||
					!reflect.DeepEqual(part.ISR, assignment[p]) || !reflect.DeepEqual(part.Replicas, assignment[p]) ||
					part.PartitionEpoch != 1 {
					return false, fmt.Sprintf("%+v", part)
				}
			}
			return true, ""
		})
	}
	waitFor(t, "the change on the Changes channel", func() (bool, string) {
		select {
		case snap := <-s1.Changes():
			topic := snap.Topics["orders"]
			return topic != nil && topic.Partitions[2].State == zkpaths.StateOnline, "a snapshot without the online topic"
		default:
			return false, "no snapshot"
		}
	})

	if err := s1.CreateTopic(ctx, "orders", [][]int32{{1}}, nil); !errors.Is(err, ErrTopicExists) {
		t.Errorf("second CreateTopic = %v, want ErrTopicExists", err)
	}
	if err := s1.CreateTopic(ctx, "bad/name", [][]int32{{1}}, nil); !errors.Is(err, placement.ErrInvalidTopicName) {
		t.Errorf("CreateTopic(bad/name) = %v, want placement.ErrInvalidTopicName", err)
	}
	if err := s1.CreateTopic(ctx, "dup", [][]int32{{1, 1}}, nil); !errors.Is(err, placement.ErrInvalidReplicaAssignment) {
		t.Errorf("CreateTopic with a duplicate replica = %v, want placement.ErrInvalidReplicaAssignment", err)
	}
	if got, err := s1.TopicConfig(ctx, "orders"); err != nil || !reflect.DeepEqual(got, configs) {
		t.Errorf("TopicConfig = %v, %v", got, err)
	}
	if _, err := s1.TopicConfig(ctx, "nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("TopicConfig(nope) = %v, want ErrUnknownTopic", err)
	}
	if err := s1.DeleteTopic(ctx, "nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("DeleteTopic(nope) = %v, want ErrUnknownTopic", err)
	}

	testAddPartitions(t, in, s1, s2)
	testSetTopicConfig(t, in, s1, s2)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s1.CreateTopic(cancelled, "late", [][]int32{{1}}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateTopic with a cancelled context = %v", err)
	}

	if err := s1.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := s1.AddPartitions(ctx, "orders", [][]int32{{1, 2}}); !errors.Is(err, ErrTopicDeletionPending) && !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("AddPartitions during deletion = %v", err)
	}
	// The deletion waits for both brokers to remove their replicas.
	waitFor(t, "the deletion to wait for brokers 1 and 2", func() (bool, string) {
		snap := s2.Snapshot()
		topic := snap.Topics["orders"]
		ok := topic != nil && topic.Deleting && reflect.DeepEqual(snap.PendingDeletion["orders"], []int32{1, 2})
		return ok, fmt.Sprintf("%+v, pending %v", topic, snap.PendingDeletion)
	})
	if err := s1.ConfirmReplicasDeleted(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion to wait for broker 2 only", func() (bool, string) {
		pending := s1.Snapshot().PendingDeletion["orders"]
		return reflect.DeepEqual(pending, []int32{2}), fmt.Sprint(pending)
	})
	if !in.exists("/brokers/topics/orders") {
		t.Fatal("the topic was deleted before every replica was")
	}
	if err := s2.ConfirmReplicasDeleted(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	waitForTopicGone(t, in, "orders")
	for n, s := range map[int]*Session{1: s1, 2: s2} {
		waitFor(t, fmt.Sprintf("broker %d's snapshot to drop the topic", n), func() (bool, string) {
			topic := s.Snapshot().Topics["orders"]
			return topic == nil, fmt.Sprintf("%+v", topic)
		})
	}

	if err := s2.ConfirmReplicasDeleted(ctx, "orders"); err != nil {
		t.Errorf("a confirmation after the deletion finished: %v", err)
	}

	// The name is free again, and the new topic is a different one.
	if err := s1.CreateTopic(ctx, "orders", [][]int32{{2}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "orders", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2}, State: zkpaths.StateOnline})
	waitFor(t, "the new topic in the snapshot", func() (bool, string) {
		topic := s2.Snapshot().Topics["orders"]
		return topic != nil && topic.ID != id && len(topic.Partitions) == 1 && topic.Partitions[0].State == zkpaths.StateOnline,
			fmt.Sprintf("%+v", topic)
	})
}

func testBrokerFailure(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	waitForController(t, in, 1)
	s2 := env.start(t, env.config(2))
	ctx := context.Background()
	if err := s1.CreateTopic(ctx, "solo", [][]int32{{2}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s1.CreateTopic(ctx, "pair", [][]int32{{2, 1}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s1.CreateTopic(ctx, "later", [][]int32{{3}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2}, State: zkpaths.StateOnline})
	waitForState(t, in, "pair", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 1}, State: zkpaths.StateOnline})
	// No replica of "later" is live: it waits in New.
	waitForState(t, in, "later", 0, zkpaths.PartitionState{Leader: -1, LeaderEpoch: -1, ISR: []int32{}, State: zkpaths.StateNew})

	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: -1, LeaderEpoch: 1, ISR: []int32{2}, State: zkpaths.StateOffline})
	waitForState(t, in, "pair", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 1, ISR: []int32{1}, State: zkpaths.StateOnline})
	waitFor(t, "the snapshot to show solo offline", func() (bool, string) {
		p := viewPartition(s1, "solo", 0)
		return p.State == zkpaths.StateOffline && p.Leader == -1, fmt.Sprintf("%+v", p)
	})

	s2 = env.start(t, env.config(2))
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 2, ISR: []int32{2}, State: zkpaths.StateOnline})
	// Broker 2 rejoins pair's ISR through its leader, not the controller.
	waitForState(t, in, "pair", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 1, ISR: []int32{1}, State: zkpaths.StateOnline})

	testUpdateISR(t, in, s1, s2)

	// A quick restart, which the controller may see only as a new broker
	// epoch: it is a failure and then a start all the same.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	env.start(t, env.config(2))
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 4, ISR: []int32{2}, State: zkpaths.StateOnline})
	waitForState(t, in, "pair", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 2, ISR: []int32{1}, State: zkpaths.StateOnline})

	env.start(t, env.config(3))
	waitForState(t, in, "later", 0, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 0, ISR: []int32{3}, State: zkpaths.StateOnline})
}

func testSessionExpiry(t *testing.T, env *zkEnv, zkAddr string) {
	in := env.inspector(t)
	s, proxy := env.startBehindProxy(t, 1, zkAddr)
	waitForController(t, in, 1)
	_, controllerEpoch := in.controller()
	oldEpoch := s.BrokerEpoch()

	proxy.setBlocked(true)
	waitFor(t, "the session to expire and its registration to go", func() (bool, string) {
		return !in.exists("/brokers/ids/1"), "still registered"
	})
	proxy.setBlocked(false)

	waitFor(t, "re-registration under a new epoch", func() (bool, string) {
		_, stat, err := in.get("/brokers/ids/1")
		if err != nil {
			return false, err.Error()
		}
		return stat.Czxid != oldEpoch && stat.Czxid == s.BrokerEpoch(),
			fmt.Sprintf("czxid %d, old epoch %d, BrokerEpoch %d", stat.Czxid, oldEpoch, s.BrokerEpoch())
	})
	waitFor(t, "re-election with a higher controller epoch", func() (bool, string) {
		id, epoch := in.controller()
		return id == 1 && epoch > controllerEpoch, fmt.Sprintf("controller %d epoch %d", id, epoch)
	})
	waitFor(t, "the snapshot to show the new registration", func() (bool, string) {
		b, ok := s.Snapshot().Brokers[1]
		return ok && b.Epoch == s.BrokerEpoch(), fmt.Sprintf("%+v", b)
	})

	// The watches work again: a topic created now is brought online.
	if err := s.CreateTopic(context.Background(), "after-expiry", [][]int32{{1}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "after-expiry", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})
	waitFor(t, "the topic in the snapshot", func() (bool, string) {
		topic := s.Snapshot().Topics["after-expiry"]
		return topic != nil && topic.Partitions[0].State == zkpaths.StateOnline, fmt.Sprintf("%+v", topic)
	})
}

// testAddPartitions grows "orders" (partitions [1,2] [2,1] [1,2]) by one.
func testAddPartitions(t *testing.T, in *inspector, s1, s2 *Session) {
	ctx := context.Background()
	if err := s2.AddPartitions(ctx, "orders", [][]int32{{2, 1}}); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "orders", 3, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 1}, State: zkpaths.StateOnline})
	waitFor(t, "four partitions in the snapshot", func() (bool, string) {
		topic := s1.Snapshot().Topics["orders"]
		ok := topic != nil && len(topic.Partitions) == 4 && topic.Partitions[3].Leader == 2 &&
			topic.Partitions[0].LeaderEpoch == 0 && topic.Partitions[0].PartitionEpoch == 1
		return ok, fmt.Sprintf("%+v", topic)
	})
	if err := s1.AddPartitions(ctx, "orders", [][]int32{{1}}); !errors.Is(err, placement.ErrInvalidReplicaAssignment) {
		t.Errorf("AddPartitions with another replication factor = %v", err)
	}
	if err := s1.AddPartitions(ctx, "nope", [][]int32{{1}}); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("AddPartitions(nope) = %v", err)
	}
}

func testSetTopicConfig(t *testing.T, in *inspector, s, other *Session) {
	ctx := context.Background()
	changesBefore := in.children(zkpaths.ConfigChangesPath)
	updated := map[string]string{"retention.ms": "2000"}
	if err := s.SetTopicConfig(ctx, "orders", updated); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TopicConfig(ctx, "orders"); err != nil || !reflect.DeepEqual(got, updated) {
		t.Errorf("TopicConfig after SetTopicConfig = %v, %v", got, err)
	}
	changes := in.children(zkpaths.ConfigChangesPath)
	if len(changes) != len(changesBefore)+1 {
		t.Fatalf("config changes %v, before %v", changes, changesBefore)
	}
	for _, name := range changes {
		if slices.Contains(changesBefore, name) {
			continue
		}
		if !strings.HasPrefix(name, zkpaths.ConfigChangePrefix) || len(name) != len(zkpaths.ConfigChangePrefix)+10 {
			t.Errorf("change notification named %q", name)
		}
		data, _ := in.mustGet(zkpaths.ConfigChangesPath + "/" + name)
		if want := `{"version":2,"entity_path":"topics/orders"}`; string(data) != want {
			t.Errorf("change notification %s, want %s", data, want)
		}
	}
	if err := s.SetTopicConfig(ctx, "nope", updated); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("SetTopicConfig(nope) = %v", err)
	}
	for n, session := range map[string]*Session{"writer": s, "other": other} {
		waitFor(t, "the "+n+" broker's snapshot to show the new topic config", func() (bool, string) {
			topic := session.Snapshot().Topics["orders"]
			return topic != nil && reflect.DeepEqual(topic.Configs, updated), fmt.Sprintf("%+v", topic)
		})
	}
}

func testProducerIDBlocks(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	sessions := []*Session{env.start(t, env.config(1)), env.start(t, env.config(2))}
	ctx := context.Background()
	first, last, err := sessions[0].AllocateProducerIDBlock(ctx)
	if err != nil || first != 0 || last != 999 {
		t.Fatalf("first block = %d..%d, %v", first, last, err)
	}
	data, _ := in.mustGet(zkpaths.ProducerIDBlockPath)
	if want := `{"version":1,"broker":1,"block_start":"0","block_end":"999"}`; string(data) != want {
		t.Errorf("block znode %s, want %s", data, want)
	}

	// Brokers racing for blocks each get distinct ones, with no gap.
	const perBroker = 5
	starts := make(chan int64, 2*perBroker)
	var wg sync.WaitGroup
	for _, s := range sessions {
		for range perBroker {
			wg.Go(func() {
				first, last, err := s.AllocateProducerIDBlock(ctx)
				if err != nil || last-first != ProducerIDBlockSize-1 {
					t.Errorf("block %d..%d, %v", first, last, err)
				}
				starts <- first
			})
		}
	}
	wg.Wait()
	close(starts)
	got := slices.Sorted(func(yield func(int64) bool) {
		for s := range starts {
			if !yield(s) {
				return
			}
		}
	})
	for i, start := range got {
		if want := int64(i+1) * ProducerIDBlockSize; start != want {
			t.Fatalf("block starts %v, want multiples of %d from %d", got, ProducerIDBlockSize, ProducerIDBlockSize)
		}
	}

	if err := sessions[1].Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sessions[1].AllocateProducerIDBlock(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("AllocateProducerIDBlock after Close = %v, want ErrClosed", err)
	}
	if err := sessions[1].Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// testUpdateISR has broker 1, leader of "pair" (replicas [2 1], ISR [1], leader
// epoch 1), take broker 2 back into the ISR.
func testUpdateISR(t *testing.T, in *inspector, leader, follower *Session) {
	ctx := context.Background()
	before, stat, ok := in.partitionState("pair", 0)
	if !ok {
		t.Fatal("no state znode")
	}
	waitFor(t, "the leader's snapshot to know both brokers", func() (bool, string) {
		ids := leader.Snapshot().LiveBrokerIDs()
		return reflect.DeepEqual(ids, []int32{1, 2}), fmt.Sprint(ids)
	})
	if _, err := leader.UpdateISR(ctx, "pair", 0, 1, stat.Version, []int32{2}); !errors.Is(err, ErrInvalidISR) {
		t.Errorf("ISR without the leader: %v", err)
	}
	if _, err := leader.UpdateISR(ctx, "pair", 0, 1, stat.Version, []int32{1, 3}); !errors.Is(err, ErrInvalidISR) {
		t.Errorf("ISR with a broker that is not a replica: %v", err)
	}
	if _, err := leader.UpdateISR(ctx, "pair", 0, 0, stat.Version, []int32{1, 2}); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("old leader epoch: %v", err)
	}
	if _, err := follower.UpdateISR(ctx, "pair", 0, 1, stat.Version, []int32{2, 1}); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("update by a follower: %v", err)
	}
	if _, err := leader.UpdateISR(ctx, "nope", 0, 1, 0, []int32{1}); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("unknown topic: %v", err)
	}

	version, err := leader.UpdateISR(ctx, "pair", 0, 1, stat.Version, []int32{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	after, afterStat, _ := in.partitionState("pair", 0)
	want := before
	want.ISR = []int32{1, 2}
	if !reflect.DeepEqual(after, want) || afterStat.Version != version || version != stat.Version+1 {
		t.Errorf("after the update: %+v at version %d (returned %d), want %+v at %d", after, afterStat.Version, version, want, stat.Version+1)
	}
	// A retry of a write that went through succeeds; a stale different one fails.
	if again, err := leader.UpdateISR(ctx, "pair", 0, 1, stat.Version, []int32{1, 2}); err != nil || again != version {
		t.Errorf("retried update = %d, %v; want %d", again, err, version)
	}
	if _, err := leader.UpdateISR(ctx, "pair", 0, 1, stat.Version, []int32{1}); !errors.Is(err, ErrStalePartitionEpoch) {
		t.Errorf("stale update: %v", err)
	}
	waitFor(t, "the snapshot to show the new ISR", func() (bool, string) {
		p := viewPartition(follower, "pair", 0)
		return reflect.DeepEqual(p.ISR, []int32{1, 2}) && p.PartitionEpoch == version, fmt.Sprintf("%+v", p)
	})
}

// testUpdateISRs has the leader of 300 partitions take a follower out of every
// ISR in one call, with one stale update and one for an unknown topic among
// them: those fail, the others stand.
func testUpdateISRs(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	sessions := env.startBrokers(t, 2)
	const partitions = 300
	assignment := make([][]int32, partitions)
	for p := range assignment {
		assignment[p] = []int32{1, 2}
	}
	if err := sessions[1].CreateTopic(context.Background(), "many", assignment, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every partition online in the leader's snapshot", func() (bool, string) {
		online := 0
		for p := range int32(partitions) {
			if part := viewPartition(sessions[1], "many", p); part.State == zkpaths.StateOnline && len(part.ISR) == 2 {
				online++
			}
		}
		return online == partitions, fmt.Sprint(online)
	})
	updates := []ISRUpdate{{Topic: "nope", Partition: 0, ISR: []int32{1}}}
	for p := range int32(partitions) {
		part := viewPartition(sessions[1], "many", p)
		u := ISRUpdate{Topic: "many", Partition: p, LeaderEpoch: part.LeaderEpoch, PartitionEpoch: part.PartitionEpoch, ISR: []int32{1}}
		if p == 7 {
			u.PartitionEpoch++
		}
		updates = append(updates, u)
	}
	results := sessions[1].UpdateISRs(context.Background(), updates)
	if len(results) != len(updates) {
		t.Fatalf("%d results for %d updates", len(results), len(updates))
	}
	if !errors.Is(results[0].Err, ErrUnknownTopic) {
		t.Errorf("unknown topic: %v", results[0].Err)
	}
	for i, r := range results[1:] {
		p := int32(i)
		state, stat, _ := in.partitionState("many", p)
		if p == 7 {
			if !errors.Is(r.Err, ErrStalePartitionEpoch) || !reflect.DeepEqual(state.ISR, []int32{1, 2}) {
				t.Errorf("stale update of partition 7: %v, ISR %v", r.Err, state.ISR)
			}
			continue
		}
		if r.Err != nil || r.PartitionEpoch != stat.Version || !reflect.DeepEqual(state.ISR, []int32{1}) {
			t.Errorf("partition %d: %+v; znode ISR %v at version %d", p, r, state.ISR, stat.Version)
		}
	}
	// Every session watches the state znodes, including the controller,
	// which created them (the topic's partition list told the others).
	for id, s := range sessions {
		waitFor(t, fmt.Sprintf("broker %d's snapshot to show the new ISRs", id), func() (bool, string) {
			shrunk := 0
			for p := range int32(partitions) {
				if reflect.DeepEqual(viewPartition(s, "many", p).ISR, []int32{1}) {
					shrunk++
				}
			}
			return shrunk == partitions-1, fmt.Sprint(shrunk)
		})
	}
}
