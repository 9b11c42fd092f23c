package broker

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// plaintextBroker is a live broker with a single PLAINTEXT listener, as a
// default configuration registers it.
func plaintextBroker(id int32, host string, port int32) coordinator.Broker {
	return coordinator.Broker{ID: id, Host: host, Port: port, Endpoints: []coordinator.Endpoint{
		{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: host, Port: port},
	}}
}

// namedListenerBroker has an INTERNAL endpoint internal:9092 and, when
// external is not empty, an EXTERNAL one external:1909<id>.
func namedListenerBroker(id int32, internal, external string) coordinator.Broker {
	b := coordinator.Broker{ID: id, Host: "", Port: -1, Endpoints: []coordinator.Endpoint{
		{Listener: "INTERNAL", SecurityProtocol: "PLAINTEXT", Host: internal, Port: 9092},
	}}
	if external != "" {
		b.Endpoints = append(b.Endpoints, coordinator.Endpoint{Listener: "EXTERNAL", SecurityProtocol: "PLAINTEXT", Host: external, Port: 19090 + id})
	}
	return b
}

// namedListenerSnapshot has brokers 1 and 2 on INTERNAL and EXTERNAL and
// broker 3 on INTERNAL only; topic t's partition 0 is led by broker 1,
// partition 1 by broker 3.
func namedListenerSnapshot() *coordinator.Snapshot {
	online := func(p, leader int32) coordinator.Partition {
		return coordinator.Partition{Topic: "t", Partition: p, Leader: leader, LeaderEpoch: 1, State: zkpaths.StateOnline,
			Replicas: []int32{leader}, ISR: []int32{leader}}
	}
	return &coordinator.Snapshot{
		ClusterID:    "c",
		ControllerID: 1,
		Brokers: map[int32]coordinator.Broker{
			1: namedListenerBroker(1, "broker1", "127.0.0.1"),
			2: namedListenerBroker(2, "broker2", "127.0.0.1"),
			3: namedListenerBroker(3, "broker3", ""),
		},
		Topics: map[string]*coordinator.Topic{
			"t": {Name: "t", Configs: map[string]string{}, Partitions: []coordinator.Partition{online(0, 1), online(1, 3)}},
		},
	}
}

var namedListenerConfig = []string{
	"listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
	"listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
	"inter.broker.listener.name=INTERNAL",
}

func addrsOf[B interface {
	kmsg.MetadataResponseBroker | kmsg.DescribeClusterResponseBroker
}](brokers []B) []string {
	var out []string
	for _, b := range brokers {
		switch b := any(b).(type) {
		case kmsg.MetadataResponseBroker:
			out = append(out, fmt.Sprintf("%d=%s:%d", b.NodeID, b.Host, b.Port))
		case kmsg.DescribeClusterResponseBroker:
			out = append(out, fmt.Sprintf("%d=%s:%d", b.NodeID, b.Host, b.Port))
		}
	}
	return out
}

func TestMetadataAnswersInTheClientsListener(t *testing.T) {
	s, _ := testServer(t, namedListenerSnapshot(), namedListenerConfig...)
	metadata := func(listener string, version int16) *kmsg.MetadataResponse {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = version
		md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
		return callHandler(s, context.Background(), &request{version: version, body: md, listener: listener}).(*kmsg.MetadataResponse)
	}

	internal := metadata("INTERNAL", 12)
	if got, want := addrsOf(internal.Brokers), []string{"1=broker1:9092", "2=broker2:9092", "3=broker3:9092"}; !slices.Equal(got, want) {
		t.Errorf("through INTERNAL: brokers %v, want %v", got, want)
	}
	for _, p := range internal.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Errorf("through INTERNAL: partition %d error %d, want none", p.Partition, p.ErrorCode)
		}
	}

	external := metadata("EXTERNAL", 12)
	if got, want := addrsOf(external.Brokers), []string{"1=127.0.0.1:19091", "2=127.0.0.1:19092"}; !slices.Equal(got, want) {
		t.Errorf("through EXTERNAL: brokers %v, want %v (broker 3 has no EXTERNAL listener)", got, want)
	}
	parts := external.Topics[0].Partitions
	if parts[0].ErrorCode != 0 || parts[0].Leader != 1 {
		t.Errorf("through EXTERNAL: partition 0 error %d leader %d, want leader 1", parts[0].ErrorCode, parts[0].Leader)
	}
	if parts[1].ErrorCode != kerr.ListenerNotFound.Code || parts[1].Leader != -1 {
		t.Errorf("through EXTERNAL: partition 1 error %d leader %d, want LISTENER_NOT_FOUND and no leader", parts[1].ErrorCode, parts[1].Leader)
	}
	if old := metadata("EXTERNAL", 5).Topics[0].Partitions[1]; old.ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Errorf("through EXTERNAL, v5: partition 1 error %d, want LEADER_NOT_AVAILABLE", old.ErrorCode)
	}
}

func TestDescribeClusterAnswersInTheClientsListener(t *testing.T) {
	s, _ := testServer(t, namedListenerSnapshot(), namedListenerConfig...)
	in := kmsg.NewPtrDescribeClusterRequest()
	in.Version, in.EndpointType = 1, 1
	resp := callHandler(s, context.Background(), &request{version: 1, body: in, listener: "EXTERNAL"}).(*kmsg.DescribeClusterResponse)
	if got, want := addrsOf(resp.Brokers), []string{"1=127.0.0.1:19091", "2=127.0.0.1:19092"}; !slices.Equal(got, want) {
		t.Errorf("brokers %v, want %v", got, want)
	}
}

func TestFindCoordinatorAnswersInTheClientsListener(t *testing.T) {
	snap := namedListenerSnapshot()
	// Group a's coordinator is broker 1, group b's broker 3 (no EXTERNAL).
	offsets := offsetsTopic(1, 3)
	snap.Topics[group.OffsetsTopic] = offsets
	s, _ := testServer(t, snap, append(namedListenerConfig, "offsets.topic.num.partitions=2")...)
	var groupOn [2]string
	for i := 0; groupOn[0] == "" || groupOn[1] == ""; i++ {
		id := fmt.Sprintf("g%d", i)
		if p := kafkaPartitionFor(id, 2); groupOn[p] == "" {
			groupOn[p] = id
		}
	}

	find := func(listener string) []kmsg.FindCoordinatorResponseCoordinator {
		req := findCoordinatorRequest(4, coordinatorKeyGroup, groupOn[0], groupOn[1])
		req.listener = listener
		return callHandler(s, context.Background(), req).(*kmsg.FindCoordinatorResponse).Coordinators
	}
	internal := find("INTERNAL")
	if c := internal[0]; c.ErrorCode != 0 || c.Host != "broker1" || c.Port != 9092 {
		t.Errorf("through INTERNAL: %+v, want broker1:9092", c)
	}
	if c := internal[1]; c.ErrorCode != 0 || c.Host != "broker3" || c.Port != 9092 {
		t.Errorf("through INTERNAL: %+v, want broker3:9092", c)
	}
	external := find("EXTERNAL")
	if c := external[0]; c.ErrorCode != 0 || c.NodeID != 1 || c.Host != "127.0.0.1" || c.Port != 19091 {
		t.Errorf("through EXTERNAL: %+v, want node 1 at 127.0.0.1:19091", c)
	}
	if c := external[1]; c.ErrorCode != kerr.CoordinatorNotAvailable.Code || c.NodeID != -1 {
		t.Errorf("through EXTERNAL: %+v, want COORDINATOR_NOT_AVAILABLE (broker 3 has no EXTERNAL listener)", c)
	}
}

func TestPeersAreReachedThroughTheInterBrokerListener(t *testing.T) {
	snap := namedListenerSnapshot()
	s, _ := testServer(t, snap, namedListenerConfig...)
	if addr, ok := brokerAddr(snap, 2, s.interBrokerListener()); !ok || addr != "broker2:9092" {
		t.Errorf("broker 2 at %q (%v), want its INTERNAL endpoint broker2:9092", addr, ok)
	}
	if _, ok := brokerAddr(snap, 3, "EXTERNAL"); ok {
		t.Error("broker 3 found on EXTERNAL, which it does not have")
	}
	if _, ok := brokerAddr(snap, 4, "INTERNAL"); ok {
		t.Error("broker 4 found, which is not live")
	}

	plain, _ := testServer(t, snap)
	if got := plain.interBrokerListener(); got != "PLAINTEXT" {
		t.Errorf("default inter-broker listener %q, want PLAINTEXT", got)
	}
}
