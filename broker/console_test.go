package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/console"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/sasl"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/zkpaths"
)

// fakeGroups is a group coordinator holding fixed groups: described ones
// answer with their description, others (and those in notCoordinator) as
// the coordinator answers a group it does not hold.
type fakeGroups struct {
	listed         []string
	described      map[string]kmsg.DescribeGroupsResponseGroup
	notCoordinator []string
	committed      []group.CommittedOffset
}

func (g *fakeGroups) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	for _, id := range g.listed {
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

func (g *fakeGroups) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		d, ok := g.described[id]
		if !ok || slices.Contains(g.notCoordinator, id) {
			d = kmsg.NewDescribeGroupsResponseGroup()
			d.Group, d.ErrorCode = id, kerr.NotCoordinator.Code
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

func (g *fakeGroups) CommittedOffsets() []group.CommittedOffset { return g.committed }

// describedGroup is a described group whose members carry assignments.
func describedGroup(id, state, protocolType string, members map[string][]byte) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group, d.State, d.ProtocolType, d.Protocol = id, state, protocolType, "range"
	for _, mid := range slices.Sorted(maps.Keys(members)) {
		m := kmsg.NewDescribeGroupsResponseGroupMember()
		m.MemberID, m.ClientID, m.ClientHost, m.MemberAssignment = mid, "client-"+mid, "/10.0.0.1", members[mid]
		d.Members = append(d.Members, m)
	}
	return d
}

// consumerAssignment encodes a consumer group member's assignment.
func consumerAssignment(topics map[string][]int32) []byte {
	var a kmsg.ConsumerMemberAssignment
	for _, topic := range slices.Sorted(maps.Keys(topics)) {
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = topic, topics[topic]
		a.Topics = append(a.Topics, at)
	}
	return a.AppendTo(nil)
}

// TestConsoleReport: a broker with records in its logs, traffic and
// groups reports its byte counts, the sizes of its logs by topic and its
// groups with their assignments and the lag the metrics compute; asked for
// a topic, the offsets of its replicas of that topic and nothing else.
func TestConsoleReport(t *testing.T) {
	snap := &coordinator.Snapshot{ControllerID: 1, Brokers: liveBrokers(1, 2), Topics: map[string]*coordinator.Topic{
		// Led by broker 2, which is not reachable here: its end offset
		// cannot be read.
		"remote": {Name: "remote", Partitions: []coordinator.Partition{{Topic: "remote", Partition: 0, Leader: 2, Replicas: []int32{2}, ISR: []int32{2}, State: zkpaths.StateOnline}}},
	}}
	s, f := metricsTestServer(t, 1, snap)
	s.cfg.ReplicaSocketTimeout = 100 * time.Millisecond
	orders0 := f.lead("orders", 0, config.Topic{}, 1, []int32{1}, []int32{1})
	orders1 := f.lead("orders", 1, config.Topic{}, 1, []int32{1}, []int32{1})
	addPartition(f, "orders", 2, -1) // a follower's replica
	other := f.lead("other", 0, config.Topic{}, 1, []int32{1}, []int32{1})
	for _, v := range []string{"a", "b", "c"} {
		f.appendAsLeader(orders0, testBatch(t, v))
	}
	f.appendAsLeader(orders1, testBatch(t, "d"))
	f.appendAsLeader(other, testBatch(t, "e"))
	s.traffic.Topic("orders").AddIn(300, 4)
	s.traffic.Topic("orders").AddOut(120)
	s.traffic.Topic("gone").AddIn(7, 1) // traffic, no replica left here

	groups := &fakeGroups{
		listed: []string{"readers", "odd", "moved"},
		described: map[string]kmsg.DescribeGroupsResponseGroup{
			"readers": describedGroup("readers", "Stable", "consumer", map[string][]byte{
				"m2": consumerAssignment(map[string][]int32{"orders": {1}}),
				"m1": consumerAssignment(map[string][]int32{"orders": {2, 0}, "other": {0}}),
			}),
			"odd":      describedGroup("odd", "Stable", "consumer", map[string][]byte{"x": {0xff, 0x01}}),
			"idle":     describedGroup("idle", "Empty", "consumer", nil),
			"connects": describedGroup("connects", "Stable", "connect", map[string][]byte{"w": consumerAssignment(map[string][]int32{"orders": {0}})}),
			"moved":    describedGroup("moved", "Stable", "consumer", nil),
		},
		notCoordinator: []string{"moved"},
		committed: []group.CommittedOffset{
			{Group: "readers", Topic: "orders", Partition: 0, Offset: 1},
			{Group: "readers", Topic: "orders", Partition: 1, Offset: 1},
			{Group: "readers", Topic: "remote", Partition: 0, Offset: 5},
			{Group: "readers", Topic: "other", Partition: 0, Offset: -1}, // no position
			{Group: "idle", Topic: "orders", Partition: 0, Offset: 3},
			{Group: "moved", Topic: "orders", Partition: 0, Offset: 0},
		},
	}
	src := newConsoleSource(s)
	src.groups = groups
	src.endsTimeout = time.Second
	now := time.Unix(1700000000, 0)
	src.now = func() time.Time { return now }

	rep, err := src.Report(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Partitions) != 0 {
		t.Errorf("the broker's report holds %d partitions; a topic's report has them", len(rep.Partitions))
	}
	if rep.Broker != 1 || !rep.Time.Equal(now) || rep.BytesIn != 307 || rep.BytesOut != 120 {
		t.Errorf("broker %d at %v, bytes in %d out %d; want 1 at %v, 307 and 120", rep.Broker, rep.Time, rep.BytesIn, rep.BytesOut, now)
	}

	size := func(topic string, partition int32) int64 {
		return s.replicas.Partition(tp(topic, partition)).Log().Size()
	}
	batch := int64(len(testBatch(t, "a")))
	if size("orders", 0) != 3*batch || size("orders", 2) != 0 {
		t.Fatalf("log sizes %d and %d, want %d and 0", size("orders", 0), size("orders", 2), 3*batch)
	}
	wantTopics := []console.TopicReport{
		{Topic: "gone", BytesIn: 7},
		{Topic: "orders", BytesIn: 300, BytesOut: 120, SizeBytes: 4 * batch},
		{Topic: "other", SizeBytes: batch},
	}
	if !slices.Equal(rep.Topics, wantTopics) {
		t.Errorf("topics\n got %+v\nwant %+v", rep.Topics, wantTopics)
	}
	// "moved" is not coordinated here any more; "connects" is neither
	// listed nor has offsets here, so it is not asked about.
	if ids := groupIDs(rep.Groups); !slices.Equal(ids, []string{"idle", "odd", "readers"}) {
		t.Fatalf("groups %v, want idle, odd and readers", ids)
	}
	readers := rep.Groups[2]
	if readers.State != "Stable" || readers.ProtocolType != "consumer" || readers.Protocol != "range" || readers.Coordinator != 1 {
		t.Errorf("readers: %+v", readers)
	}
	wantMembers := []console.MemberReport{
		{MemberID: "m1", ClientID: "client-m1", Host: "/10.0.0.1", Assignment: []zkpaths.TopicPartition{tp("orders", 0), tp("orders", 2), tp("other", 0)}},
		{MemberID: "m2", ClientID: "client-m2", Host: "/10.0.0.1", Assignment: []zkpaths.TopicPartition{tp("orders", 1)}},
	}
	if !slices.EqualFunc(readers.Members, wantMembers, equalMember) {
		t.Errorf("members\n got %+v\nwant %+v", readers.Members, wantMembers)
	}
	wantOffsets := []console.OffsetReport{
		{TopicPartition: tp("orders", 0), Committed: 1, End: 3, Lag: 2},
		{TopicPartition: tp("orders", 1), Committed: 1, End: 1, Lag: 0},
		{TopicPartition: tp("remote", 0), Committed: 5, End: -1, Lag: -1}, // its leader did not answer
	}
	if !slices.Equal(readers.Offsets, wantOffsets) {
		t.Errorf("offsets\n got %+v\nwant %+v", readers.Offsets, wantOffsets)
	}
	// A member whose assignment does not decode is listed without one.
	if odd := rep.Groups[1]; len(odd.Members) != 1 || odd.Members[0].MemberID != "x" || len(odd.Members[0].Assignment) != 0 {
		t.Errorf("odd: %+v", odd.Members)
	}
	// A group known by its offsets alone; committed beyond the end: lag 0.
	if idle := rep.Groups[0]; idle.State != "Empty" || !slices.Equal(idle.Offsets, []console.OffsetReport{{TopicPartition: tp("orders", 0), Committed: 3, End: 3, Lag: 0}}) {
		t.Errorf("idle: %+v", idle)
	}

	// A topic's report: its local replicas' offsets, and neither the
	// groups (whose lag costs end-offset reads) nor the traffic.
	rep, err = src.Report(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	wantPartitions := []console.PartitionReport{
		{TopicPartition: tp("orders", 0), Leader: true, LogStart: 0, LogEnd: 3, HighWatermark: 3, SizeBytes: 3 * batch},
		{TopicPartition: tp("orders", 1), Leader: true, LogStart: 0, LogEnd: 1, HighWatermark: 1, SizeBytes: batch},
		{TopicPartition: tp("orders", 2), Leader: false, LogStart: 0, LogEnd: 0, HighWatermark: 0, SizeBytes: 0},
	}
	if rep.Broker != 1 || !slices.Equal(rep.Partitions, wantPartitions) {
		t.Errorf("broker %d, partitions\n got %+v\nwant %+v", rep.Broker, rep.Partitions, wantPartitions)
	}
	if len(rep.Groups) != 0 || len(rep.Topics) != 0 {
		t.Errorf("a topic's report holds %d groups and %d topics, want none", len(rep.Groups), len(rep.Topics))
	}
	// A report asked for by a request that went away fails.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Report(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Report with a cancelled context: %v", err)
	}
}

func TestConsoleReportNonConsumerGroup(t *testing.T) {
	s, _ := metricsTestServer(t, 1, &coordinator.Snapshot{})
	src := newConsoleSource(s)
	src.groups = &fakeGroups{
		listed: []string{"connects"},
		described: map[string]kmsg.DescribeGroupsResponseGroup{
			"connects": describedGroup("connects", "Stable", "connect", map[string][]byte{"w": consumerAssignment(map[string][]int32{"orders": {0}})}),
		},
	}
	rep, err := src.Report(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	// Connect's assignments are not the consumer protocol's: not decoded.
	if len(rep.Groups) != 1 || len(rep.Groups[0].Members) != 1 || len(rep.Groups[0].Members[0].Assignment) != 0 {
		t.Errorf("groups %+v", rep.Groups)
	}
}

func groupIDs(groups []console.GroupReport) []string {
	var ids []string
	for _, g := range groups {
		ids = append(ids, g.Group)
	}
	return ids
}

func equalMember(a, b console.MemberReport) bool {
	return a.MemberID == b.MemberID && a.InstanceID == b.InstanceID && a.ClientID == b.ClientID && a.Host == b.Host &&
		slices.Equal(a.Assignment, b.Assignment)
}

// consoleAuthzServer is authzServer with SASL users: PLAIN ones (alice,
// admin) on a listener's JAAS config and a SCRAM one (bob) in the view.
func consoleAuthzServer(t *testing.T) (*Server, *authzMetadata) {
	t.Helper()
	s, meta := authzServer(t)
	s.listenerSecurity = map[string]*listenerSecurity{
		"PLAINTEXT": {name: "PLAINTEXT"},
		"SASL": {name: "SASL", sasl: &sasl.Server{Mechanisms: []string{sasl.Plain},
			PlainUsers: map[string]string{"alice": "alice-secret", "admin": "admin-secret"}}},
	}
	cred, err := scramcred.FromPassword(scramcred.SHA512, "bob-secret", scramcred.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	meta.update(func(snap *coordinator.Snapshot) {
		snap.ScramCredentials = map[string]map[string]scramcred.Credential{"bob": {scramcred.SHA512: cred}}
	})
	return s, meta
}

func TestConsoleAuthorize(t *testing.T) {
	s, meta := consoleAuthzServer(t)
	src := newConsoleSource(s)
	creds := func(user, password string) console.Credentials {
		return console.Credentials{User: user, Password: password, Present: true}
	}
	type check struct {
		name          string
		creds         console.Credentials
		wantPrincipal string
		wantErr       error
	}
	run := func(t *testing.T, checks []check) {
		t.Helper()
		for _, c := range checks {
			principal, err := src.Authorize(context.Background(), c.creds, console.ActionElectPreferred, "t")
			if !errors.Is(err, c.wantErr) || (c.wantErr != nil) != (err != nil) || principal != c.wantPrincipal {
				t.Errorf("%s: (%q, %v), want (%q, %v)", c.name, principal, err, c.wantPrincipal, c.wantErr)
			}
		}
	}

	t.Run("no ACL", func(t *testing.T) {
		run(t, []check{
			{"no credentials", console.Credentials{}, "", console.ErrAuthRequired},
			{"empty user", creds("", "x"), "", console.ErrAuthRequired},
			{"unknown user", creds("mallory", "alice-secret"), "", console.ErrAuthRequired},
			{"wrong PLAIN password", creds("alice", "bob-secret"), "", console.ErrAuthRequired},
			{"empty password", creds("alice", ""), "", console.ErrAuthRequired},
			{"wrong SCRAM password", creds("bob", "alice-secret"), "", console.ErrAuthRequired},
			{"PLAIN user without the right", creds("alice", "alice-secret"), "User:alice", console.ErrDenied},
			{"SCRAM user without the right", creds("bob", "bob-secret"), "User:bob", console.ErrDenied},
			{"super user", creds("admin", "admin-secret"), "User:admin", nil},
		})
	})

	t.Run("ALTER on the cluster", func(t *testing.T) {
		allow := func(principal string) acl.Binding {
			b := grant(kmsg.ACLResourceTypeCluster, acl.ClusterName, kmsg.ACLOperationAlter)
			b.Entry.Principal = principal
			return b
		}
		meta.setACLs([]acl.Binding{allow("User:alice"), allow("User:bob")})
		run(t, []check{
			{"PLAIN user with the right", creds("alice", "alice-secret"), "User:alice", nil},
			{"SCRAM user with the right", creds("bob", "bob-secret"), "User:bob", nil},
			{"wrong password still", creds("alice", "nope"), "", console.ErrAuthRequired},
		})
		// DESCRIBE on the cluster is not ALTER.
		b := allow("User:alice")
		b.Entry.Operation = kmsg.ACLOperationDescribe
		meta.setACLs([]acl.Binding{b})
		run(t, []check{{"DESCRIBE only", creds("alice", "alice-secret"), "User:alice", console.ErrDenied}})
	})

	t.Run("from a host", func(t *testing.T) {
		// ALTER from everywhere, but denied from one host: the request's
		// host decides, as a Kafka connection's does.
		allowed := grant(kmsg.ACLResourceTypeCluster, acl.ClusterName, kmsg.ACLOperationAlter)
		allowed.Entry.Principal = "User:alice"
		denied := allowed
		denied.Entry.Host = "192.0.2.9"
		denied.Entry.Permission = kmsg.ACLPermissionTypeDeny
		meta.setACLs([]acl.Binding{allowed, denied})
		from := func(host string) console.Credentials {
			c := creds("alice", "alice-secret")
			c.Host = host
			return c
		}
		run(t, []check{
			{"from the denied host", from("192.0.2.9"), "User:alice", console.ErrDenied},
			{"from another host", from("192.0.2.10"), "User:alice", nil},
			{"from an unknown host", from(""), "User:alice", nil},
		})
	})

	t.Run("security off", func(t *testing.T) {
		s.authorizer = nil
		run(t, []check{
			{"no credentials", console.Credentials{}, "User:ANONYMOUS", nil},
			{"any credentials", creds("mallory", "x"), "User:ANONYMOUS", nil},
		})
	})

	if _, err := src.Authorize(context.Background(), console.Credentials{}, "delete-everything", "t"); err == nil {
		t.Error("an unknown action was authorized")
	}
}

// consoleConfigMetadata answers TopicConfig and ElectLeaders from tables.
type consoleConfigMetadata struct {
	*fakeMetadata
	configs map[string]map[string]string

	mu        sync.Mutex
	elections [][]zkpaths.TopicPartition
	elect     func(tps []zkpaths.TopicPartition) (map[zkpaths.TopicPartition]error, error)
}

func (m *consoleConfigMetadata) TopicConfig(ctx context.Context, name string) (map[string]string, error) {
	c, ok := m.configs[name]
	if !ok {
		return nil, coordinator.ErrUnknownTopic
	}
	return c, nil
}

func (m *consoleConfigMetadata) ElectLeaders(ctx context.Context, typ coordinator.ElectionType, tps []zkpaths.TopicPartition) (map[zkpaths.TopicPartition]error, error) {
	if typ != coordinator.PreferredElection {
		return nil, fmt.Errorf("election type %d, want preferred", typ)
	}
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("an election without a deadline")
	}
	m.mu.Lock()
	m.elections = append(m.elections, tps)
	m.mu.Unlock()
	return m.elect(tps)
}

func consoleTopicServer(t *testing.T) (*Server, *consoleConfigMetadata) {
	t.Helper()
	partitions := make([]coordinator.Partition, 3)
	for i := range partitions {
		partitions[i] = coordinator.Partition{Topic: "orders", Partition: int32(i), Leader: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, State: zkpaths.StateOnline}
	}
	snap := &coordinator.Snapshot{Brokers: liveBrokers(1, 2), Topics: map[string]*coordinator.Topic{
		"orders":  {Name: "orders", Partitions: partitions, Configs: map[string]string{"retention.ms": "1000"}},
		"leaving": {Name: "leaving", Partitions: partitions[:1], Deleting: true},
	}}
	s, fake := testServer(t, snap, "log.segment.bytes=2000000")
	meta := &consoleConfigMetadata{fakeMetadata: fake, configs: map[string]map[string]string{"orders": {"retention.ms": "1000"}}}
	s.meta = meta
	return s, meta
}

func TestConsoleTopicConfigs(t *testing.T) {
	s, _ := consoleTopicServer(t)
	src := newConsoleSource(s)
	entries, err := src.TopicConfigs(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	// The entries DescribeConfigs gives, in the console's words.
	described, err := s.describeResource(context.Background(), s.snapshot(), kmsg.ConfigResourceTypeTopic, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(described) || len(entries) < 20 {
		t.Fatalf("%d entries, DescribeConfigs has %d", len(entries), len(described))
	}
	byName := make(map[string]console.ConfigEntry)
	for _, e := range entries {
		byName[e.Name] = e
	}
	for name, want := range map[string]struct{ value, source string }{
		"retention.ms":     {"1000", "DYNAMIC_TOPIC_CONFIG"},
		"segment.bytes":    {"2000000", "STATIC_BROKER_CONFIG"},
		"cleanup.policy":   {"delete", "DEFAULT_CONFIG"},
		"compression.type": {"producer", "DEFAULT_CONFIG"},
	} {
		e, ok := byName[name]
		if !ok || e.Value == nil || *e.Value != want.value || e.Source != want.source || e.Sensitive {
			t.Errorf("%s: %+v (value %v), want %q from %s", name, e, deref(e.Value), want.value, want.source)
		}
	}

	for _, topic := range []string{"nope", "leaving"} {
		if _, err := src.TopicConfigs(context.Background(), topic); !errors.Is(err, coordinator.ErrUnknownTopic) {
			t.Errorf("TopicConfigs(%q): %v, want ErrUnknownTopic", topic, err)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestConsoleElectPreferred(t *testing.T) {
	s, meta := consoleTopicServer(t)
	src := newConsoleSource(s)
	notAvailable := fmt.Errorf("%w: broker 1 is not in the ISR", coordinator.ErrPreferredLeaderNotAvailable)
	meta.elect = func(tps []zkpaths.TopicPartition) (map[zkpaths.TopicPartition]error, error) {
		return map[zkpaths.TopicPartition]error{
			tp("orders", 0): nil,
			tp("orders", 1): coordinator.ErrElectionNotNeeded,
			tp("orders", 2): notAvailable,
		}, nil
	}
	failed, err := src.ElectPreferred(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !errors.Is(failed[2], coordinator.ErrPreferredLeaderNotAvailable) {
		t.Errorf("failed partitions %v, want 2 alone (preferred leader not available)", failed)
	}
	if len(meta.elections) != 1 || !slices.Equal(meta.elections[0], []zkpaths.TopicPartition{tp("orders", 0), tp("orders", 1), tp("orders", 2)}) {
		t.Errorf("elections asked %v, want one over every partition of orders", meta.elections)
	}

	// The controller could not be reached: the election as a whole failed.
	meta.elect = func([]zkpaths.TopicPartition) (map[zkpaths.TopicPartition]error, error) {
		return nil, coordinator.ErrClosed
	}
	if _, err := src.ElectPreferred(context.Background(), "orders"); !errors.Is(err, coordinator.ErrClosed) {
		t.Errorf("ElectPreferred with the session closed: %v", err)
	}
	for _, topic := range []string{"nope", "leaving"} {
		if _, err := src.ElectPreferred(context.Background(), topic); !errors.Is(err, coordinator.ErrUnknownTopic) {
			t.Errorf("ElectPreferred(%q): %v, want ErrUnknownTopic", topic, err)
		}
	}
	if len(meta.elections) != 2 {
		t.Errorf("%d elections asked, want 2 (none for unknown topics)", len(meta.elections))
	}
}

// zkStatusMetadata is metadata with a ZooKeeper session's status, as
// *coordinator.Session has.
type zkStatusMetadata struct {
	*fakeMetadata
	status coordinator.ZooKeeperStatus
}

func (m *zkStatusMetadata) ZooKeeperStatus() coordinator.ZooKeeperStatus { return m.status }

func TestConsoleZooKeeperAndBrokerID(t *testing.T) {
	s, fake := testServer(t, &coordinator.Snapshot{}, "broker.id=3")
	src := newConsoleSource(s)
	if src.BrokerID() != 3 {
		t.Errorf("BrokerID() = %d, want 3", src.BrokerID())
	}
	// Metadata that is not a ZooKeeper session: nothing to show.
	if zs := src.ZooKeeper(); zs.State != "" || len(zs.Servers) != 0 {
		t.Errorf("ZooKeeper() without a session: %+v", zs)
	}
	s.meta = &zkStatusMetadata{fakeMetadata: fake, status: coordinator.ZooKeeperStatus{
		Servers: []string{"zk1:2181", "zk2:2181"}, Chroot: "/kzoo", Connected: "zk2:2181", State: "StateHasSession", SessionID: 42,
	}}
	want := coordinator.ZooKeeperStatus{Servers: []string{"zk1:2181", "zk2:2181"}, Chroot: "/kzoo", Connected: "zk2:2181", State: "StateHasSession", SessionID: 42}
	if zs := src.ZooKeeper(); !slices.Equal(zs.Servers, want.Servers) || zs.Chroot != want.Chroot || zs.Connected != want.Connected ||
		zs.State != want.State || zs.SessionID != want.SessionID {
		t.Errorf("ZooKeeper() = %+v, want %+v", zs, want)
	}
}

// TestConsoleListenAndServe: the console binds console.listen when the
// server is made (a taken port fails with the key's name), serves until
// the server's context ends, and stops with it.
func TestConsoleListenAndServe(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s, _ := testServer(t, &coordinator.Snapshot{})
	err = s.listenConsole(taken.Addr().String(), discardLogger())
	if err == nil || !strings.Contains(err.Error(), "console.listen") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("listening on a taken port: %v, want an error naming console.listen and the address", err)
	}

	s, _ = testServer(t, &coordinator.Snapshot{})
	if err := s.listenConsole("127.0.0.1:0", discardLogger()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.runConsole(ctx)
	}()
	url := "http://" + s.consoleEndpoint.Addr().String() + "/no-such-page"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s: %s, want 404", url, resp.Status)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the console still runs after its context ended")
	}
	if _, err := http.Get(url); err == nil {
		t.Error("the console still answers after it stopped")
	}
}

// changesMeta is applyMeta with the stream of views followMetadata reads.
type changesMeta struct {
	*applyMeta
	changes chan *coordinator.Snapshot
}

func (m *changesMeta) Changes() <-chan *coordinator.Snapshot { return m.changes }

// TestFollowMetadataFeedsTheConsole: the console sees the view Serve
// applied first as soon as the metadata goroutine starts, then each new
// view once applied.
func TestFollowMetadataFeedsTheConsole(t *testing.T) {
	s, fake := testServer(t, nil)
	meta := &changesMeta{applyMeta: &applyMeta{fakeMetadata: fake}, changes: make(chan *coordinator.Snapshot)}
	s.meta = meta
	withReplicas(t, s)
	s.connLimits = newConnLimiter(s.cfg.InterBrokerListener, s.cfg.Values.Runtime().Connections, discardLogger())
	s.console = console.New(newConsoleSource(s), console.Config{Logger: discardLogger()})

	first := &coordinator.Snapshot{ControllerID: 1, Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{"a": diffTopic("a", []int32{1})}}
	if !s.applyMetadata(context.Background(), first) {
		t.Fatal("first view not applied")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.followMetadata(ctx, false)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "the console to show the first view", func() bool { return s.console.State().Snap == first })

	second := &coordinator.Snapshot{ControllerID: 1, Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{
		"a": first.Topics["a"], "b": diffTopic("b", []int32{1}),
	}}
	meta.changes <- second
	waitFor(t, "the console to show the second view", func() bool { return s.console.State().Snap == second })
	if s.snapshot() != second {
		t.Error("the console saw a view the broker had not applied")
	}
}

// stuckEnds is a leader that never answers: EndOffsets returns nothing
// once its context is done, and records how long it was given.
type stuckEnds struct{ given chan time.Duration }

func (e stuckEnds) EndOffsets(ctx context.Context, partitions []zkpaths.TopicPartition) map[zkpaths.TopicPartition]int64 {
	deadline, _ := ctx.Deadline()
	e.given <- time.Until(deadline)
	<-ctx.Done()
	return nil
}

// TestConsoleReportWithSlowEndOffsets: end offsets that do not come in
// time cost the report their lag (-1), not the report itself, which the
// asking console would then show as an unreachable broker: their read gets
// at most half the time the request has.
func TestConsoleReportWithSlowEndOffsets(t *testing.T) {
	s, _ := metricsTestServer(t, 1, &coordinator.Snapshot{})
	src := newConsoleSource(s)
	src.groups = &fakeGroups{
		listed:    []string{"g"},
		described: map[string]kmsg.DescribeGroupsResponseGroup{"g": describedGroup("g", "Empty", "consumer", nil)},
		committed: []group.CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 4}},
	}
	ends := stuckEnds{given: make(chan time.Duration, 1)}
	src.ends = ends // the metrics' 2 s bound stays: the request's is shorter

	const asked = 400 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), asked)
	defer cancel()
	rep, err := src.Report(ctx, "")
	if err != nil {
		t.Fatalf("Report: %v, want a report without the lag", err)
	}
	if ctx.Err() != nil {
		t.Error("the report took the whole time its request had")
	}
	if given := <-ends.given; given > asked/2 {
		t.Errorf("the end offsets were given %v of the request's %v, want at most half", given, asked)
	}
	want := []console.OffsetReport{{TopicPartition: tp("t", 0), Committed: 4, End: -1, Lag: -1}}
	if len(rep.Groups) != 1 || !slices.Equal(rep.Groups[0].Offsets, want) {
		t.Errorf("groups %+v, want g with %+v", rep.Groups, want)
	}
}
