package coordinator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/zkpaths"
)

func testControllerElection(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	sessions := map[int32]*Session{1: env.start(t, env.config(1)), 2: env.start(t, env.config(2))}

	var controller, epoch int32
	waitFor(t, "one controller seen by both brokers", func() (bool, string) {
		controller, epoch = in.controller()
		s1, s2 := sessions[1].Snapshot(), sessions[2].Snapshot()
		ok := sessions[controller] != nil && epoch >= 1 &&
			s1.ControllerID == controller && s2.ControllerID == controller &&
			s1.ControllerEpoch == epoch && s2.ControllerEpoch == epoch
		return ok, fmt.Sprintf("znode: %d epoch %d; snapshots: %d/%d, %d/%d", controller, epoch,
			s1.ControllerID, s1.ControllerEpoch, s2.ControllerID, s2.ControllerEpoch)
	})
	other := int32(3) - controller
	if err := sessions[controller].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other broker to take over with a higher epoch", func() (bool, string) {
		id, e := in.controller()
		snap := sessions[other].Snapshot()
		ok := id == other && e == epoch+1 && snap.ControllerID == other && snap.ControllerEpoch == epoch+1
		return ok, fmt.Sprintf("znode %d epoch %d; snapshot %d epoch %d", id, e, snap.ControllerID, snap.ControllerEpoch)
	})
}

func testStaleControllerWriteFails(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	client := &zkClient{conn: in.conn, chroot: env.chroot}
	if _, err := client.create(zkpaths.ControllerEpochPath, zkpaths.MarshalControllerEpoch(5), zk.FlagPersistent); err != nil {
		t.Fatal(err)
	}
	_, stat := in.mustGet(zkpaths.ControllerEpochPath)
	s := &Session{
		zk:   client,
		log:  env.log,
		view: newView(),
		ctrl: controllerState{active: true, epoch: 5, epochZkVersion: stat.Version},
	}
	if _, err := s.fencedMulti(client.createOp("/written-by-controller", nil, zk.FlagPersistent)); err != nil {
		t.Fatalf("write with the current epoch: %v", err)
	}

	// Another broker is elected: the epoch moves on.
	if _, err := client.set(zkpaths.ControllerEpochPath, zkpaths.MarshalControllerEpoch(6), stat.Version); err != nil {
		t.Fatal(err)
	}
	_, err := s.fencedMulti(client.createOp("/written-by-stale-controller", nil, zk.FlagPersistent))
	if !errors.Is(err, errNotController) {
		t.Fatalf("stale write: %v, want errNotController", err)
	}
	if in.exists("/written-by-stale-controller") {
		t.Error("the stale controller's write went through")
	}
	if s.ctrl.active {
		t.Error("the stale controller did not resign")
	}
	if _, err := s.fencedMulti(client.createOp("/written-after-resigning", nil, zk.FlagPersistent)); !errors.Is(err, errNotController) {
		t.Errorf("write after resigning: %v", err)
	}
}

// testAdoptControllership: a broker that finds /controller created by its own
// session (say, an election whose reply was lost) acts as controller
// (KAFKA-13407), while one naming it from another session is left alone.
func testAdoptControllership(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	client := &zkClient{conn: in.conn, chroot: env.chroot}
	for _, p := range zkpaths.PersistentPaths() {
		if err := client.ensurePath(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.create(zkpaths.ControllerEpochPath, zkpaths.MarshalControllerEpoch(3), zk.FlagPersistent); err != nil {
		t.Fatal(err)
	}
	registration, err := zkpaths.ControllerRegistration{BrokerID: 9, Timestamp: time.Now()}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.create(zkpaths.ControllerPath, registration, zk.FlagEphemeral); err != nil {
		t.Fatal(err)
	}
	newBroker := func(sessionID int64) *Session {
		cfg, err := env.config(9).withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		s := &Session{cfg: cfg, zk: client, log: env.log, view: newView(), sessionID: sessionID}
		s.view.markAll()
		if err := s.view.refresh(client, env.log); err != nil {
			t.Fatal(err)
		}
		return s
	}

	stranger := newBroker(in.conn.SessionID() + 1)
	if err := stranger.controllerStep(); err != nil || stranger.ctrl.active {
		t.Fatalf("another session's broker 9: active=%v, %v", stranger.ctrl.active, err)
	}

	owner := newBroker(in.conn.SessionID())
	if err := owner.controllerStep(); err != nil {
		t.Fatal(err)
	}
	if !owner.ctrl.active || owner.ctrl.epoch != 3 || owner.ctrl.epochZkVersion != 0 {
		t.Fatalf("controller state after adopting: %+v", owner.ctrl)
	}
	// It writes as controller: a fenced write goes through.
	if _, err := owner.fencedMulti(client.createOp("/adopted", nil, zk.FlagPersistent)); err != nil {
		t.Fatalf("fenced write: %v", err)
	}
}

// testStaleControllerWritesNothing cuts the controller off ZooKeeper until its
// session expires and another broker is elected: when it is back, it writes
// nothing to the state znodes and steps down.
func testStaleControllerWritesNothing(t *testing.T, env *zkEnv, zkAddr string) {
	in := env.inspector(t)
	s1, proxy := env.startBehindProxy(t, 1, zkAddr)
	waitForController(t, in, 1)
	s2 := env.start(t, env.config(2))
	ctx := context.Background()
	if err := s2.CreateTopic(ctx, "x", [][]int32{{2, 1}, {1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "x", 1, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}, State: zkpaths.StateOnline})
	_, oldEpoch := in.controller()
	oldBrokerEpoch := s1.BrokerEpoch()

	proxy.setBlocked(true)
	waitFor(t, "broker 2 to be elected and to handle broker 1's failure", func() (bool, string) {
		id, epoch := in.controller()
		state, _, _ := in.partitionState("x", 1)
		return id == 2 && epoch == oldEpoch+1 && state.Leader == 2, fmt.Sprintf("controller %d epoch %d, x-1 %+v", id, epoch, state)
	})
	waitForState(t, in, "x", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2}, State: zkpaths.StateOnline})
	type znode struct {
		data    string
		version int32
		mzxid   int64
	}
	read := func() map[string]znode {
		out := make(map[string]znode)
		for _, p := range []string{zkpaths.PartitionStatePath("x", 0), zkpaths.PartitionStatePath("x", 1),
			zkpaths.ControllerEpochPath, zkpaths.ControllerPath, zkpaths.TopicPath("x")} {
			data, stat := in.mustGet(p)
			out[p] = znode{string(data), stat.Version, stat.Mzxid}
		}
		return out
	}
	before := read()

	proxy.setBlocked(false)
	waitFor(t, "broker 1 to register again and to see broker 2 as controller", func() (bool, string) {
		snap := s1.Snapshot()
		b, ok := snap.Brokers[1]
		return s1.BrokerEpoch() != oldBrokerEpoch && ok && b.Epoch == s1.BrokerEpoch() && snap.ControllerID == 2 &&
				snap.ControllerEpoch == oldEpoch+1 && snap.Brokers[2].ID == 2,
			fmt.Sprintf("epoch %d, controller %d/%d", s1.BrokerEpoch(), snap.ControllerID, snap.ControllerEpoch)
	})
	// Broker 2 has seen broker 1 come back too; neither changed anything.
	waitFor(t, "broker 2 to see broker 1 back", func() (bool, string) {
		b, ok := s2.Snapshot().Brokers[1]
		return ok && b.Epoch == s1.BrokerEpoch(), fmt.Sprintf("%+v", b)
	})
	if after := read(); !reflect.DeepEqual(after, before) {
		t.Errorf("znodes changed after the stale controller came back:\nbefore %+v\n after %+v", before, after)
	}
	if id, epoch := in.controller(); id != 2 || epoch != oldEpoch+1 {
		t.Errorf("controller %d epoch %d, want 2 epoch %d", id, epoch, oldEpoch+1)
	}
}
