package coordinator

import (
	"reflect"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/zkpaths"
)

func TestChrootMapping(t *testing.T) {
	c := &zkClient{chroot: "/kzoo"}
	if got := c.abs("/brokers/ids"); got != "/kzoo/brokers/ids" {
		t.Errorf("abs = %q", got)
	}
	if got := c.abs("/"); got != "/kzoo" {
		t.Errorf("abs(/) = %q", got)
	}
	if got := c.deleteOp("/a", 3).Path; got != "/kzoo/a" {
		t.Errorf("deleteOp path = %q", got)
	}
	for in, want := range map[string]string{"/kzoo/brokers/ids": "/brokers/ids", "/kzoo": "/"} {
		if got, ok := c.rel(in); !ok || got != want {
			t.Errorf("rel(%q) = %q, %v", in, got, ok)
		}
	}
	for _, outside := range []string{"/kzoo2/x", "/other", "/"} {
		if got, ok := c.rel(outside); ok {
			t.Errorf("rel(%q) = %q, want outside the chroot", outside, got)
		}
	}
	plain := &zkClient{}
	if got, ok := plain.rel("/x"); !ok || got != "/x" || plain.abs("/x") != "/x" {
		t.Errorf("no chroot: rel = %q %v, abs = %q", got, ok, plain.abs("/x"))
	}
}

func TestMarkPath(t *testing.T) {
	v := newView()
	for _, p := range []string{
		zkpaths.BrokerIDsPath, zkpaths.BrokerIDPath(4), zkpaths.ControllerPath, zkpaths.ControllerEpochPath,
		zkpaths.TopicsPath, zkpaths.TopicPath("t"), zkpaths.PartitionStatePath("t", 2), zkpaths.DeleteTopicsPath,
		"/unrelated/path", zkpaths.TopicPartitionsPath("t"),
	} {
		v.markPath(p)
	}
	d := v.dirty
	if !d.brokerList || !d.controller || !d.controllerEpoch || !d.topicList || !d.deletions {
		t.Errorf("flags not all set: %+v", d)
	}
	if !d.brokers[4] || len(d.brokers) != 1 || !d.topics["t"] || len(d.topics) != 1 ||
		!d.states[zkpaths.TopicPartition{Topic: "t", Partition: 2}] || len(d.states) != 1 ||
		!d.partitionLists["t"] || len(d.partitionLists) != 1 {
		t.Errorf("dirty sets = %v %v %v %v", d.brokers, d.topics, d.states, d.partitionLists)
	}
	v.dirty.reset()
	if !v.dirty.empty() {
		t.Error("reset left something dirty")
	}
}

func TestEventQueue(t *testing.T) {
	q := newEventQueue()
	q.push(zk.Event{Path: "/a"})
	q.push(zk.Event{Path: "/b"})
	select {
	case <-q.ready:
	default:
		t.Fatal("no token after push")
	}
	if got := q.drain(); len(got) != 2 || got[0].Path != "/a" || got[1].Path != "/b" {
		t.Fatalf("drain = %+v", got)
	}
	if got := q.drain(); len(got) != 0 {
		t.Fatalf("second drain = %+v", got)
	}
}

func TestSnapshotFromView(t *testing.T) {
	v := newView()
	v.brokers[1] = Broker{ID: 1, Host: "h", Port: 9092, Epoch: 77, Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 9092}}}
	v.brokers[3] = Broker{ID: 3, Port: -1, Epoch: 78}
	v.controller = controllerZnode{exists: true, brokerID: 3}
	v.controllerEpoch = epochZnode{epoch: 4, version: 4}
	id := zkpaths.UUID{9}
	v.topics["t"] = &topicEntry{
		assignment: zkpaths.NewTopicAssignment(id, [][]int32{{1, 3}, {3, 1}}),
		replicas:   [][]int32{{1, 3}, {3, 1}},
		states: map[int32]stateEntry{
			0: {exists: true, version: 2, state: zkpaths.PartitionState{ControllerEpoch: 4, Leader: 1, LeaderEpoch: 1, ISR: []int32{1, 3}, State: zkpaths.StateOnline}},
			1: {exists: false},
		},
	}
	v.topics["broken"] = &topicEntry{states: map[int32]stateEntry{}}
	v.deleting["t"] = true

	snap := v.snapshot("cid")
	if snap.ClusterID != "cid" || snap.ControllerID != 3 || snap.ControllerEpoch != 4 {
		t.Errorf("header = %q %d %d", snap.ClusterID, snap.ControllerID, snap.ControllerEpoch)
	}
	if got := snap.LiveBrokerIDs(); !reflect.DeepEqual(got, []int32{1, 3}) {
		t.Errorf("LiveBrokerIDs = %v", got)
	}
	if _, ok := snap.Topics["broken"]; ok {
		t.Error("a topic with an unreadable assignment is in the snapshot")
	}
	topic := snap.Topics["t"]
	if topic == nil || topic.ID != id || !topic.Deleting || len(topic.Partitions) != 2 {
		t.Fatalf("topic = %+v", topic)
	}
	want0 := Partition{Topic: "t", Partition: 0, Replicas: []int32{1, 3}, Leader: 1, LeaderEpoch: 1, ISR: []int32{1, 3},
		State: zkpaths.StateOnline, ControllerEpoch: 4, PartitionEpoch: 2}
	if !reflect.DeepEqual(topic.Partitions[0], want0) {
		t.Errorf("partition 0 = %+v", topic.Partitions[0])
	}
	want1 := Partition{Topic: "t", Partition: 1, Replicas: []int32{3, 1}, Leader: -1, LeaderEpoch: -1,
		State: zkpaths.StateNonExistent, ControllerEpoch: -1, PartitionEpoch: -1}
	if !reflect.DeepEqual(topic.Partitions[1], want1) {
		t.Errorf("partition 1 = %+v", topic.Partitions[1])
	}

	// The snapshot shares nothing mutable with the view.
	v.topics["t"].replicas[0][0] = 42
	v.brokers[1].Endpoints[0].Port = 1
	if topic.Partitions[0].Replicas[0] != 1 || snap.Brokers[1].Endpoints[0].Port != 9092 {
		t.Error("the snapshot changed with the view")
	}

	v.controller = controllerZnode{}
	if got := v.snapshot("cid").ControllerID; got != -1 {
		t.Errorf("ControllerID without controller = %d", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{BrokerID: 1, Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 1}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SessionTimeout != DefaultSessionTimeout || cfg.ConnectionTimeout != DefaultSessionTimeout || cfg.Logger == nil || cfg.Now == nil {
		t.Errorf("defaults = %+v", cfg)
	}
	for _, bad := range []Config{
		{BrokerID: -1, Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 1}}},
		{BrokerID: 1},
		{BrokerID: 1, Endpoints: []Endpoint{{"", "PLAINTEXT", "h", 1}}},
		{BrokerID: 1, Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 70000}}},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("withDefaults accepted %+v", bad)
		}
	}
}
