package zkpaths

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var kafkaTime = time.UnixMilli(1700000000000)

func mustMarshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) string {
	t.Helper()
	data, err := m.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return string(data)
}

func TestBrokerRegistrationKafkaJSON(t *testing.T) {
	r := NewBrokerRegistration([]BrokerEndpoint{
		{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "h1", Port: 9092},
		{Listener: "REPL", SecurityProtocol: "SSL", Host: "h1", Port: 9093},
	}, "r1", kafkaTime)
	want := `{"version":5,"host":"h1","port":9092,"jmx_port":-1,"timestamp":"1700000000000",` +
		`"endpoints":["PLAINTEXT://h1:9092","REPL://h1:9093"],` +
		`"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","REPL":"SSL"},"rack":"r1","features":{}}`
	if got := mustMarshal(t, r); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := UnmarshalBrokerRegistration([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Timestamp.Equal(r.Timestamp) {
		t.Errorf("timestamp %v, want %v", back.Timestamp, r.Timestamp)
	}
	back.Timestamp, r.Timestamp = time.Time{}, time.Time{}
	r.Features = map[string]FeatureRange{}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, r)
	}
}

// TestBrokerRegistrationConsole: kzoo's kzoo_console field goes out when
// the broker serves a console, not otherwise (the JSON above has none), and
// comes back.
func TestBrokerRegistrationConsole(t *testing.T) {
	r := NewBrokerRegistration([]BrokerEndpoint{
		{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "h1", Port: 9092},
	}, "", kafkaTime)
	r.Console = "h1:9645"
	got := mustMarshal(t, r)
	if !strings.Contains(got, `"kzoo_console":"h1:9645"`) {
		t.Fatalf("no kzoo_console in %s", got)
	}
	back, err := UnmarshalBrokerRegistration([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if back.Console != "h1:9645" {
		t.Errorf("console = %q, want h1:9645", back.Console)
	}
	r.Console = ""
	if got := mustMarshal(t, r); strings.Contains(got, "kzoo_console") {
		t.Errorf("kzoo_console without a console: %s", got)
	}
	back, err = UnmarshalBrokerRegistration([]byte(mustMarshal(t, r)))
	if err != nil || back.Console != "" {
		t.Errorf("without a console: %q, %v", back.Console, err)
	}
}

func TestBrokerRegistrationWithoutPlaintextOrRack(t *testing.T) {
	r := NewBrokerRegistration([]BrokerEndpoint{
		{Listener: "SECURE", SecurityProtocol: "SSL", Host: "::1", Port: 9093},
	}, "", kafkaTime)
	want := `{"version":5,"host":null,"port":-1,"jmx_port":-1,"timestamp":"1700000000000",` +
		`"endpoints":["SECURE://[::1]:9093"],"listener_security_protocol_map":{"SECURE":"SSL"},"features":{}}`
	if got := mustMarshal(t, r); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := UnmarshalBrokerRegistration([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if back.Host != "" || back.Port != -1 || back.Rack != "" {
		t.Errorf("host/port/rack = %q/%d/%q", back.Host, back.Port, back.Rack)
	}
	if len(back.Endpoints) != 1 || back.Endpoints[0] != r.Endpoints[0] {
		t.Errorf("endpoints = %+v", back.Endpoints)
	}
}

func TestBrokerRegistrationReadsOlderVersionsAndUnknownKeys(t *testing.T) {
	// Version 3 (Kafka 0.10.x): no protocol map; the listener name is the protocol.
	v3 := `{"jmx_port":-1,"timestamp":"1","endpoints":["SSL://b:9093"],"host":"b","version":3,"port":9092,"future":{"x":1}}`
	r, err := UnmarshalBrokerRegistration([]byte(v3))
	if err != nil {
		t.Fatal(err)
	}
	if want := (BrokerEndpoint{Listener: "SSL", SecurityProtocol: "SSL", Host: "b", Port: 9093}); len(r.Endpoints) != 1 || r.Endpoints[0] != want {
		t.Errorf("endpoints = %+v", r.Endpoints)
	}
	// Version 1: only host and port, which were a PLAINTEXT listener.
	r, err = UnmarshalBrokerRegistration([]byte(`{"version":1,"host":"a","port":9092,"timestamp":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (BrokerEndpoint{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "a", Port: 9092}); len(r.Endpoints) != 1 || r.Endpoints[0] != want {
		t.Errorf("endpoints = %+v", r.Endpoints)
	}
}

func TestBrokerRegistrationRejectsBadInput(t *testing.T) {
	for _, bad := range []string{
		``, `{`, `[]`, `{"host":"a"}`, `{"version":5,"timestamp":"soon"}`,
		`{"version":5,"endpoints":["h:1"]}`, `{"version":5,"endpoints":["P://h"]}`,
		`{"version":5,"endpoints":["P://h:70000"]}`, `{"version":5,"endpoints":["://h:1"]}`,
	} {
		if _, err := UnmarshalBrokerRegistration([]byte(bad)); err == nil {
			t.Errorf("UnmarshalBrokerRegistration(%q) succeeded", bad)
		}
	}
	bad := BrokerRegistration{Endpoints: []BrokerEndpoint{{Listener: "", Host: "h", Port: 1}}}
	if _, err := bad.Marshal(); err == nil {
		t.Error("Marshal accepted an endpoint without a listener name")
	}
}

func TestControllerRegistration(t *testing.T) {
	c := ControllerRegistration{BrokerID: 2, Timestamp: kafkaTime}
	want := `{"version":1,"brokerid":2,"timestamp":"1700000000000"}`
	if got := mustMarshal(t, c); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	back, err := UnmarshalControllerRegistration([]byte(want))
	if err != nil || back.BrokerID != 2 || !back.Timestamp.Equal(kafkaTime) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	v2 := `{"version":2,"brokerid":0,"timestamp":"1700000000000","kraftControllerEpoch":-1}`
	if back, err := UnmarshalControllerRegistration([]byte(v2)); err != nil || back.BrokerID != 0 {
		t.Fatalf("v2 = %+v, %v", back, err)
	}
	for _, bad := range []string{`{}`, `{"version":1}`, `{"version":1,"brokerid":"x"}`, `nope`} {
		if _, err := UnmarshalControllerRegistration([]byte(bad)); err == nil {
			t.Errorf("UnmarshalControllerRegistration(%q) succeeded", bad)
		}
	}
}

func TestControllerEpoch(t *testing.T) {
	if got := string(MarshalControllerEpoch(7)); got != "7" {
		t.Fatalf("got %q", got)
	}
	for in, want := range map[string]int32{"7": 7, "0": 0, " 12\n": 12} {
		if got, err := UnmarshalControllerEpoch([]byte(in)); err != nil || got != want {
			t.Errorf("UnmarshalControllerEpoch(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1", "99999999999", `{"epoch":1}`} {
		if _, err := UnmarshalControllerEpoch([]byte(bad)); err == nil {
			t.Errorf("UnmarshalControllerEpoch(%q) succeeded", bad)
		}
	}
}

func TestTopicAssignmentKafkaJSON(t *testing.T) {
	id, err := ParseUUID("b8tRS7h4TJ2Vt43Dp85v2A")
	if err != nil {
		t.Fatal(err)
	}
	a := TopicAssignment{
		TopicID:          id,
		Partitions:       map[int32][]int32{0: {1, 2, 3}},
		AddingReplicas:   map[int32][]int32{0: {4}},
		RemovingReplicas: map[int32][]int32{0: {1}},
	}
	want := `{"version":3,"topic_id":"b8tRS7h4TJ2Vt43Dp85v2A","partitions":{"0":[1,2,3]},"adding_replicas":{"0":[4]},"removing_replicas":{"0":[1]}}`
	if got := mustMarshal(t, a); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := UnmarshalTopicAssignment([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Errorf("round trip: got %+v, want %+v", back, a)
	}
}

func TestTopicAssignmentNumericOrderAndEmptyMaps(t *testing.T) {
	replicas := make([][]int32, 12)
	for p := range replicas {
		replicas[p] = []int32{int32(p % 3)}
	}
	id := UUID{1}
	a := NewTopicAssignment(id, replicas)
	want := `{"version":3,"topic_id":"` + id.String() + `","partitions":{"0":[0],"1":[1],"2":[2],"3":[0],"4":[1],"5":[2],` +
		`"6":[0],"7":[1],"8":[2],"9":[0],"10":[1],"11":[2]},"adding_replicas":{},"removing_replicas":{}}`
	if got := mustMarshal(t, a); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := UnmarshalTopicAssignment([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	list, err := back.Replicas()
	if err != nil || !reflect.DeepEqual(list, replicas) {
		t.Fatalf("Replicas() = %v, %v", list, err)
	}
}

func TestTopicAssignmentWithoutTopicID(t *testing.T) {
	a := NewTopicAssignment(ZeroUUID, [][]int32{{1}})
	want := `{"version":2,"partitions":{"0":[1]},"adding_replicas":{},"removing_replicas":{}}`
	if got := mustMarshal(t, a); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// Version 1 has neither topic_id nor the adding/removing maps.
	back, err := UnmarshalTopicAssignment([]byte(`{"version":1,"partitions":{"1":[2],"0":[1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !back.TopicID.IsZero() || len(back.Partitions) != 2 || len(back.AddingReplicas) != 0 {
		t.Errorf("got %+v", back)
	}
}

func TestTopicAssignmentRejectsBadInput(t *testing.T) {
	for _, bad := range []string{
		`{"partitions":{"0":[1]}}`,
		`{"version":3,"topic_id":"short","partitions":{"0":[1]}}`,
		`{"version":3,"partitions":{"x":[1]}}`,
		`{"version":3,"partitions":{"-1":[1]}}`,
		`{"version":3,"partitions":{"0":["a"]}}`,
		`{"version":3,"partitions":{"0":[1]},"adding_replicas":{"zero":[1]}}`,
	} {
		if _, err := UnmarshalTopicAssignment([]byte(bad)); err == nil {
			t.Errorf("UnmarshalTopicAssignment(%q) succeeded", bad)
		}
	}
	gap, err := UnmarshalTopicAssignment([]byte(`{"version":3,"partitions":{"0":[1],"2":[1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gap.Replicas(); err == nil {
		t.Error("Replicas() accepted partitions 0 and 2 without 1")
	}
	if _, err := (TopicAssignment{Partitions: map[int32][]int32{-1: {1}}}).Marshal(); err == nil {
		t.Error("Marshal accepted a negative partition")
	}
}

func TestPartitionStateKafkaJSON(t *testing.T) {
	s := PartitionState{ControllerEpoch: 7, Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2, 3}, State: StateOnline}
	want := `{"controller_epoch":7,"leader":1,"version":1,"leader_epoch":4,"isr":[1,2,3],"state":"Online"}`
	if got := mustMarshal(t, s); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := UnmarshalPartitionState([]byte(want))
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}

	none := PartitionState{ControllerEpoch: 1, Leader: NoLeader, LeaderEpoch: -1, State: StateNew}
	want = `{"controller_epoch":1,"leader":-1,"version":1,"leader_epoch":-1,"isr":[],"state":"New"}`
	if got := mustMarshal(t, none); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}

	recovering := PartitionState{ControllerEpoch: 1, Leader: 2, LeaderEpoch: 3, ISR: []int32{2}, LeaderRecoveryState: 1, State: StateOnline}
	want = `{"controller_epoch":1,"leader":2,"version":1,"leader_epoch":3,"isr":[2],"leader_recovery_state":1,"state":"Online"}`
	if got := mustMarshal(t, recovering); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestPartitionStateWrittenByKafka(t *testing.T) {
	// Kafka writes no "state": it follows from the leader.
	online, err := UnmarshalPartitionState([]byte(`{"controller_epoch":7,"leader":1,"version":1,"leader_epoch":4,"isr":[1,2,3]}`))
	if err != nil || online.State != StateOnline || online.Leader != 1 || online.LeaderEpoch != 4 || online.ControllerEpoch != 7 {
		t.Fatalf("got %+v, %v", online, err)
	}
	offline, err := UnmarshalPartitionState([]byte(`{"isr":[3],"leader_epoch":5,"leader":-1,"version":1,"controller_epoch":7,"extra":true}`))
	if err != nil || offline.State != StateOffline || offline.Leader != NoLeader {
		t.Fatalf("got %+v, %v", offline, err)
	}
}

func TestPartitionStateRejectsBadInput(t *testing.T) {
	for _, bad := range []string{
		`{"controller_epoch":1,"leader":1,"leader_epoch":0,"isr":[1]}`,
		`{"version":1,"controller_epoch":1,"leader_epoch":0,"isr":[1]}`,
		`{"version":1,"leader":1,"isr":[1],"state":"Dancing"}`,
		`{"version":1,"leader":1,"isr":"1"}`,
	} {
		if _, err := UnmarshalPartitionState([]byte(bad)); err == nil {
			t.Errorf("UnmarshalPartitionState(%q) succeeded", bad)
		}
	}
	for _, state := range []PartitionStatus{"", StateNonExistent, "online"} {
		if _, err := (PartitionState{State: state}).Marshal(); err == nil {
			t.Errorf("Marshal accepted state %q", state)
		}
	}
}

func TestConfigEntity(t *testing.T) {
	c := ConfigEntity{Config: map[string]string{"retention.ms": "86400000", "cleanup.policy": "compact"}}
	want := `{"version":1,"config":{"cleanup.policy":"compact","retention.ms":"86400000"}}`
	if got := mustMarshal(t, c); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	back, err := UnmarshalConfigEntity([]byte(want))
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	if got := mustMarshal(t, ConfigEntity{}); got != `{"version":1,"config":{}}` {
		t.Errorf("empty config = %s", got)
	}
	if got := mustMarshal(t, ConfigEntity{Config: map[string]string{"a": "<&>"}}); got != `{"version":1,"config":{"a":"<&>"}}` {
		t.Errorf("HTML characters escaped: %s", got)
	}
	back, err = UnmarshalConfigEntity([]byte(`{"version":1}`))
	if err != nil || back.Config == nil || len(back.Config) != 0 {
		t.Errorf("missing config = %+v, %v", back, err)
	}
	for _, bad := range []string{`{"config":{}}`, `{"version":1,"config":{"a":1}}`, `{"version":1,"config":[]}`} {
		if _, err := UnmarshalConfigEntity([]byte(bad)); err == nil {
			t.Errorf("UnmarshalConfigEntity(%q) succeeded", bad)
		}
	}
}

func TestConfigChangeNotification(t *testing.T) {
	n := NewConfigChangeNotification(ConfigTypeTopic, "foo")
	want := `{"version":2,"entity_path":"topics/foo"}`
	if got := mustMarshal(t, n); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if back, err := UnmarshalConfigChangeNotification([]byte(want)); err != nil || back != n {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for _, bad := range []string{`{"version":1,"entity_type":"topics","entity_name":"foo"}`, `{"version":2,"entity_path":"foo"}`} {
		if _, err := UnmarshalConfigChangeNotification([]byte(bad)); err == nil {
			t.Errorf("UnmarshalConfigChangeNotification(%q) succeeded", bad)
		}
	}
}

func TestClusterID(t *testing.T) {
	c := ClusterID{ID: "3Db5QLSqSZieL3rJBUUegA"}
	want := `{"version":"1","id":"3Db5QLSqSZieL3rJBUUegA"}`
	if got := mustMarshal(t, c); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if back, err := UnmarshalClusterID([]byte(want)); err != nil || back != c {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	if back, err := UnmarshalClusterID([]byte(`{"id":"x","version":1,"more":2}`)); err != nil || back.ID != "x" {
		t.Fatalf("lenient read = %+v, %v", back, err)
	}
	if _, err := UnmarshalClusterID([]byte(`{"version":"1"}`)); err == nil {
		t.Error("accepted a cluster id without id")
	}
}

func TestProducerIDBlock(t *testing.T) {
	b := ProducerIDBlock{BrokerID: 2, BlockStart: 1000, BlockEnd: 1999}
	want := `{"version":1,"broker":2,"block_start":"1000","block_end":"1999"}`
	if got := mustMarshal(t, b); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if back, err := UnmarshalProducerIDBlock([]byte(want)); err != nil || back != b {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for _, bad := range []string{
		`{"version":1,"broker":2,"block_start":"x","block_end":"1"}`,
		`{"version":1,"broker":2,"block_start":"10","block_end":"9"}`,
		`{"version":1,"broker":2,"block_start":"-1","block_end":"9"}`,
		`{"broker":2,"block_start":"0","block_end":"9"}`,
	} {
		if _, err := UnmarshalProducerIDBlock([]byte(bad)); err == nil {
			t.Errorf("UnmarshalProducerIDBlock(%q) succeeded", bad)
		}
	}
}

func TestAdminPayloads(t *testing.T) {
	r := ReassignPartitions{Partitions: []PartitionReassignment{{Topic: "foo", Partition: 0, Replicas: []int32{4, 5, 6}}}}
	want := `{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[4,5,6]}]}`
	if got := mustMarshal(t, r); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if back, err := UnmarshalReassignPartitions([]byte(want)); err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	if _, err := (ReassignPartitions{Partitions: []PartitionReassignment{{Topic: "foo"}}}).Marshal(); err == nil {
		t.Error("Marshal accepted a reassignment without replicas")
	}

	p := PreferredReplicaElection{Partitions: []TopicPartition{{Topic: "foo", Partition: 0}}}
	want = `{"version":1,"partitions":[{"topic":"foo","partition":0}]}`
	if got := mustMarshal(t, p); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if back, err := UnmarshalPreferredReplicaElection([]byte(want)); err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}

	if _, err := UnmarshalPreferredReplicaElection([]byte(`{"partitions":[]}`)); err == nil {
		t.Error("accepted an election request without version")
	}
}

func TestElectionTypeAndControlledShutdown(t *testing.T) {
	unclean := PreferredReplicaElection{Partitions: []TopicPartition{{Topic: "foo", Partition: 1}}, ElectionType: UncleanElectionType}
	want := `{"version":1,"partitions":[{"topic":"foo","partition":1}],"election_type":1}`
	if got := mustMarshal(t, unclean); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if back, err := UnmarshalPreferredReplicaElection([]byte(want)); err != nil || !reflect.DeepEqual(back, unclean) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	if _, err := UnmarshalPreferredReplicaElection([]byte(`{"version":1,"partitions":[],"election_type":7}`)); err == nil {
		t.Error("accepted an unknown election type")
	}
	if _, err := (PreferredReplicaElection{ElectionType: 3}).Marshal(); err == nil {
		t.Error("Marshal accepted an unknown election type")
	}

	r := ControlledShutdownRequest{BrokerID: 2, BrokerEpoch: 4294967301}
	want = `{"version":1,"broker":2,"broker_epoch":4294967301}`
	if got := mustMarshal(t, r); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if back, err := UnmarshalControlledShutdownRequest([]byte(want)); err != nil || back != r {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for _, bad := range []string{`{"broker":2}`, `{"version":1,"broker":-1}`, `not json`} {
		if _, err := UnmarshalControlledShutdownRequest([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestTopicPartitionCompare(t *testing.T) {
	tps := []TopicPartition{{"b", 0}, {"a", 10}, {"a", 2}, {"ab", 0}, {"a", -1}}
	slices.SortFunc(tps, TopicPartition.Compare)
	if want := []TopicPartition{{"a", -1}, {"a", 2}, {"a", 10}, {"ab", 0}, {"b", 0}}; !reflect.DeepEqual(tps, want) {
		t.Errorf("sorted = %v, want %v", tps, want)
	}
	if c := (TopicPartition{"a", 1}).Compare(TopicPartition{"a", 1}); c != 0 {
		t.Errorf("a-1 compared with itself = %d", c)
	}
}

func TestTopicAssignmentTooLargeForAZnode(t *testing.T) {
	replicas := func(partitions int) [][]int32 {
		out := make([][]int32, partitions)
		for p := range out {
			out[p] = []int32{1001, 1002, 1003}
		}
		return out
	}
	if _, err := NewTopicAssignment(UUID{1}, replicas(10_000)).Marshal(); err != nil {
		t.Fatalf("10,000 partitions of RF 3: %v", err)
	}
	_, err := NewTopicAssignment(UUID{1}, replicas(100_000)).Marshal()
	if !errors.Is(err, ErrZnodeTooLarge) {
		t.Fatalf("100,000 partitions of RF 3: err %v, want ErrZnodeTooLarge", err)
	}
	if !strings.Contains(err.Error(), "100000 partitions") {
		t.Errorf("error %q does not say how many partitions", err)
	}
}
