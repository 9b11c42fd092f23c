package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

const (
	groupTopicPartitions = 12
	offsetsTopic         = "__consumer_offsets"
)

// TestGroups runs consumer groups of every client against one 3-broker
// cluster with Kafka's default __consumer_offsets (50 partitions, RF 3):
// members joining and leaving mid-stream, more members than partitions, a
// coordinator killed under commits, a static member's restart, log
// compaction, and the rules for the internal topic.
func TestGroups(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 11000, Env: map[string]string{
		// Below the clients' 6 s session timeouts.
		"KZOO_GROUP_MIN_SESSION_TIMEOUT_MS":     "1000",
		"KZOO_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
		// A killed coordinator's registration lingers for a session timeout.
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS": "6000",
		// For the compaction scenario (and __consumer_offsets).
		"KZOO_LOG_CLEANER_BACKOFF_MS": "500",
	}})
	bootstrap := c.Bootstrap()
	waitForLiveBrokers(t, bootstrap, 3)

	kcat := kcatPath(t)
	rebalance := []struct {
		name        string
		trackOwners bool // the client reports assignments
		knowsCommit bool // the test sees which commits were acknowledged
		dropsOnStop bool // a stopped member may drop one record (kcat)
		start       func(groupTarget) startMember
	}{
		{"kafka-go-reader", false, false, false, readerStarter},
		{"kafka-go-consumergroup", true, true, false, consumerGroupStarter},
		{"franz-go-range", true, true, false, func(g groupTarget) startMember { return franzStarter(g) }},
		{"franz-go-cooperative-sticky", true, true, false, func(g groupTarget) startMember {
			return franzStarter(g, kgo.Balancers(kgo.CooperativeStickyBalancer()))
		}},
		{"sarama", true, false, false, saramaStarter},
		{"kcat", true, false, true, func(g groupTarget) startMember { return kcatStarter(g, kcat) }},
	}
	for _, tc := range rebalance {
		t.Run("rebalance/"+tc.name, func(t *testing.T) {
			g := groupTarget{
				bootstrap: bootstrap,
				group:     "group-" + tc.name,
				topic:     "groups-" + tc.name,
				log:       newGroupLog(tc.trackOwners, tc.knowsCommit),
			}
			testRebalanceUnderLoad(t, g, tc.start, tc.dropsOnStop)
		})
	}
	t.Run("more-members-than-partitions", func(t *testing.T) { testMoreMembersThanPartitions(t, bootstrap) })
	t.Run("static-member-restart", func(t *testing.T) { testStaticMemberRestart(t, bootstrap) })
	t.Run("coordinator-kill", func(t *testing.T) { testCoordinatorKill(t, c) })
	t.Run("compaction", func(t *testing.T) { testCompaction(t, c.Bootstrap()) })
	t.Run("offsets-topic", func(t *testing.T) { testOffsetsTopic(t, c.Bootstrap()) })
	t.Run("cli", func(t *testing.T) { cliGroupsScenario(t, c) })
	t.Run("lag-metric", func(t *testing.T) { testLagMetric(t, c) })
	t.Run("deleted-topic-offsets", func(t *testing.T) { testDeletedTopicOffsets(t, c) })
}

// testRebalanceUnderLoad: three members consume a 12-partition RF 3 topic
// while records are produced; a fourth and a fifth join and the first
// leaves, each mid-stream. Every record must be consumed, each partition
// owned by one member at a time, and the final commits must equal the log
// end offsets, from which a new member resumes.
//
// dropsOnStop: the member that leaves mid-stream may drop one record
// without processing it yet commit past it (kcat, see kcatMember); then
// one missing record is tolerated, the one right after the last record
// that member consumed in its partition.
func testRebalanceUnderLoad(t *testing.T, g groupTarget, newStarter func(groupTarget) startMember, dropsOnStop bool) {
	start := newStarter(g)
	createTopic(t, g.bootstrap, g.topic, groupTopicPartitions, 3, nil)
	prod := startLoadProducer(t, g.bootstrap, g.topic)

	var members []groupMember
	join := func(name string) {
		members = append(members, start(t, name))
		poll.Until(t, time.Minute, name+" consuming", func() bool { return g.log.consumedBy(name) > 0 })
	}
	progress := func(what string) {
		before := g.log.consumedTotal()
		poll.Until(t, time.Minute, "consumption after "+what, func() bool { return g.log.consumedTotal() >= before+300 })
	}
	for i := 1; i <= 3; i++ {
		join(fmt.Sprintf("member-%d", i))
	}
	progress("three members")
	join("member-4")
	progress("a fourth member")
	join("member-5")
	progress("a fifth member")
	members[0].stop(t)
	progress("member-1 left")
	// Joins of members 1-5 and member-1's leave: at most six generations.
	const membershipChanges = 6

	acked := prod.stop(t)
	t.Logf("%d records produced", len(acked))
	var tolerate func([]position) bool
	if dropsOnStop {
		tolerate = func(missing []position) bool {
			if len(missing) != 1 {
				return false
			}
			prev := position{missing[0].partition, missing[0].offset - 1}
			if !slices.Contains(g.log.consumersOf(prev), "member-1") {
				return false
			}
			t.Logf("partition %d offset %d was dropped by member-1 as it stopped", missing[0].partition, missing[0].offset)
			return true
		}
	}
	waitConsumed(t, g.log, acked, time.Minute, tolerate)
	adm := admin(t, g.bootstrap)
	ends := settleCommits(t, g, adm)
	stopAll(t, members[1:])

	got, err := committedOffsets(t, adm, g.group, g.topic, groupTopicPartitions)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ends) {
		t.Errorf("after the members left, committed offsets are %v, want the log end offsets %v", got, ends)
	}
	g.log.check(t)
	if !g.log.trackOwners {
		// Without assignment callbacks, one owner at a time shows in the
		// records: a partition's records come in runs of one member each,
		// at most one run per generation.
		if p, runs := g.log.maxRuns(); runs > membershipChanges {
			t.Errorf("partition %d was consumed in %d runs of alternating members; at most %d generations", p, runs, membershipChanges)
		}
	}
	t.Logf("%d records consumed more than once", g.log.duplicates())

	testResume(t, g, newStarter, ends)
}

// settleCommits returns once the group's committed offsets are the log end
// offsets of g.topic, which it returns: it gives every partition's owner
// one more record to consume and commit, and does so again, a bounded
// number of times, while a partition's committed offset stays below its end.
//
// One round is not always enough, and that is the client's right. A member
// may commit, under the new generation, offsets of a partition it has just
// lost: kafka-go's Reader hands out the records it fetched before a
// rebalance until it subscribes to its new assignment, and sends their
// commits once its next generation starts. Kafka's coordinator checks a
// commit's member and generation, never who owns the partition, so such a
// commit is taken and can move the offset below the new owner's last
// commit. Under the range assignor the partitions passed between two live
// members when member-1 leaves (3: member-2 to member-3, 6: member-3 to
// member-4) are where it shows, and when the old owner's next generation
// starts late (a busy machine), its commit can land after the new owner's
// commit of the round's record. Such commits come only from records fetched
// before the group's last rebalance, so a later round's commit settles the
// partition for good.
func settleCommits(t *testing.T, g groupTarget, adm *kgo.Client) []int64 {
	t.Helper()
	const rounds = 4
	for round := 1; ; round++ {
		waitAllConsumed(t, g.log, produceToEachPartition(t, g.bootstrap, g.topic, groupTopicPartitions), time.Minute)
		ends := highWatermarks(t, g.bootstrap, g.topic, groupTopicPartitions)
		committed, err := pollCommitted(t, adm, g.group, g.topic, ends, 30*time.Second)
		if err == nil {
			return ends
		}
		if round == rounds {
			t.Fatalf("after %d rounds of one record per partition: %v", rounds, err)
		}
		t.Logf("round %d: committed offsets %v, log end offsets %v; a member committed a partition it lost after its new owner did; one more round", round, committed, ends)
	}
}

// testResume starts one more member of g's group and checks that it
// resumes from the group's committed offsets, ends: it consumes the
// records produced since and nothing below ends.
func testResume(t *testing.T, g groupTarget, newStarter func(groupTarget) startMember, ends []int64) {
	t.Helper()
	g.log = newGroupLog(g.log.trackOwners, false)
	m := newStarter(g)(t, "member-resumed")
	fresh := produceToEachPartition(t, g.bootstrap, g.topic, groupTopicPartitions)
	waitAllConsumed(t, g.log, fresh, time.Minute)
	m.stop(t)
	for _, pos := range g.log.positions() {
		if pos.offset < ends[pos.partition] {
			t.Errorf("the resumed member consumed partition %d offset %d, below the committed offset %d", pos.partition, pos.offset, ends[pos.partition])
		}
	}
	g.log.check(t)
}

// testMoreMembersThanPartitions: eight members on six partitions. Once the
// group is stable, six members own one partition each and two own none,
// and every record is consumed.
func testMoreMembersThanPartitions(t *testing.T, bootstrap []string) {
	const partitions, memberCount = 6, 8
	g := groupTarget{bootstrap: bootstrap, group: "group-eight", topic: "groups-eight", log: newGroupLog(true, true)}
	createTopic(t, bootstrap, g.topic, partitions, 3, nil)
	prod := startLoadProducer(t, bootstrap, g.topic)
	var members []groupMember
	for i := 1; i <= memberCount; i++ {
		members = append(members, startFranzMember(t, g, fmt.Sprintf("member-%d", i)))
	}

	adm := admin(t, bootstrap)
	var desc groupDescription
	var describeErr error
	settled := func() bool {
		desc, describeErr = describeGroup(t, adm, g.group)
		if describeErr != nil || desc.state != "Stable" || len(desc.members) != memberCount {
			return false
		}
		var owned []int32
		idle := 0
		for _, m := range desc.members {
			switch len(m.partitions) {
			case 0:
				idle++
			case 1:
				owned = append(owned, m.partitions[0])
			default:
				return false
			}
		}
		slices.Sort(owned)
		return idle == memberCount-partitions && slices.Equal(owned, []int32{0, 1, 2, 3, 4, 5})
	}
	poll.UntilSaw(t, time.Minute, "the group to settle to 6 members with one partition and 2 with none", func() (bool, string) {
		ok := settled()
		return ok, fmt.Sprintf("%+v (error %v)", desc, describeErr)
	})
	// The members' own view agrees with the coordinator's.
	poll.Until(t, 30*time.Second, "members' callbacks to match DescribeGroups", func() bool {
		var sizes []int
		for i := 1; i <= memberCount; i++ {
			sizes = append(sizes, len(g.log.assignment(fmt.Sprintf("member-%d", i))))
		}
		slices.Sort(sizes)
		return slices.Equal(sizes, []int{0, 0, 1, 1, 1, 1, 1, 1})
	})

	poll.Until(t, time.Minute, "records produced", func() bool { return prod.ackedCount() >= 1000 })
	acked := prod.stop(t)
	waitAllConsumed(t, g.log, acked, time.Minute)
	waitCommitted(t, adm, g.group, g.topic, highWatermarks(t, bootstrap, g.topic, partitions))
	stopAll(t, members)
	g.log.check(t)
}

// testStaticMemberRestart: a static member (group.instance.id) that
// restarts within its session timeout rejoins without a rebalance: the
// generation stays, the other members see no callbacks, and it gets its
// partitions back.
func testStaticMemberRestart(t *testing.T, bootstrap []string) {
	const partitions = 6
	g := groupTarget{bootstrap: bootstrap, group: "group-static", topic: "groups-static", log: newGroupLog(true, true)}
	createTopic(t, bootstrap, g.topic, partitions, 3, nil)
	static := func(name string) *franzMember {
		// Well above the restart's duration: the coordinator must not
		// expire the member while it is away.
		return startFranzMember(t, g, name, kgo.InstanceID(name), kgo.SessionTimeout(20*time.Second))
	}
	// member-a starts first, so it is the leader; the one to restart is
	// a follower.
	a := static("static-a")
	poll.Until(t, time.Minute, "static-a assigned", func() bool { return len(g.log.assignment("static-a")) == partitions })
	b, c := static("static-b"), static("static-c")
	adm := admin(t, bootstrap)
	poll.Until(t, time.Minute, "three static members with two partitions each", func() bool {
		desc, err := describeGroup(t, adm, g.group)
		if err != nil || desc.state != "Stable" || len(desc.members) != 3 {
			return false
		}
		for _, m := range desc.members {
			if len(m.partitions) != 2 || len(g.log.assignment(m.instanceID)) != 2 {
				return false
			}
		}
		return a.generation() > 0 && a.generation() == b.generation() && b.generation() == c.generation()
	})
	generation := a.generation()
	callbacksA, callbacksB := g.log.callbacksOf("static-a"), g.log.callbacksOf("static-b")
	partsC := g.log.assignment("static-c")
	before, err := describeGroup(t, adm, g.group)
	if err != nil {
		t.Fatal(err)
	}
	oldMemberID := memberWithInstance(before, "static-c").memberID

	c.stop(t)
	// A static member's close sends no LeaveGroup: it is still a member.
	if desc, err := describeGroup(t, adm, g.group); err != nil {
		t.Fatal(err)
	} else if m := memberWithInstance(desc, "static-c"); desc.state != "Stable" || len(desc.members) != 3 || m.memberID != oldMemberID {
		t.Fatalf("after static-c closed, the group is %s with %d members (static-c as %q); want Stable with static-c still %q",
			desc.state, len(desc.members), m.memberID, oldMemberID)
	}
	callbacksC := g.log.callbacksOf("static-c")
	c = static("static-c")
	poll.Until(t, time.Minute, "static-c back", func() bool {
		return g.log.callbacksOf("static-c") > callbacksC && len(g.log.assignment("static-c")) > 0
	})

	if got := g.log.assignment("static-c"); !slices.Equal(got, partsC) {
		t.Errorf("restarted static-c got partitions %v, had %v", got, partsC)
	}
	if gen := c.generation(); gen != generation {
		t.Errorf("restarted static-c is in generation %d, the group was in %d", gen, generation)
	}
	after, err := describeGroup(t, adm, g.group)
	if err != nil {
		t.Fatal(err)
	}
	if m := memberWithInstance(after, "static-c"); after.state != "Stable" || len(after.members) != 3 || m.memberID == oldMemberID || !slices.Equal(m.partitions, partsC) {
		t.Errorf("after the restart the group is %s with %d members, static-c %+v; want Stable, 3 members, static-c with a new member id and partitions %v",
			after.state, len(after.members), m, partsC)
	}
	// The others were not disturbed: same generation, no callbacks.
	fresh := produceToEachPartition(t, bootstrap, g.topic, partitions)
	waitAllConsumed(t, g.log, fresh, time.Minute)
	if gens := []int32{a.generation(), b.generation(), c.generation()}; slices.ContainsFunc(gens, func(x int32) bool { return x != generation }) {
		t.Errorf("generations after the restart are %v, want all %d", gens, generation)
	}
	if ca, cb := g.log.callbacksOf("static-a"), g.log.callbacksOf("static-b"); ca != callbacksA || cb != callbacksB {
		t.Errorf("the other members saw rebalance callbacks: static-a %d→%d, static-b %d→%d", callbacksA, ca, callbacksB, cb)
	}
	g.log.check(t)
	// Static members leave only by LeaveGroup with their instance id (or
	// by session timeout): do it as an operator would, so the group ends empty.
	a.stop(t)
	b.stop(t)
	c.stop(t)
	leaveStatic(t, adm, g.group, "static-a", "static-b", "static-c")
	poll.Until(t, 30*time.Second, "the group empty", func() bool {
		desc, err := describeGroup(t, adm, g.group)
		return err == nil && desc.state == "Empty" && len(desc.members) == 0
	})
}

func memberWithInstance(d groupDescription, instanceID string) describedMember {
	for _, m := range d.members {
		if m.instanceID == instanceID {
			return m
		}
	}
	return describedMember{}
}

// leaveStatic removes static members from group by instance id
// (LeaveGroup v3+).
func leaveStatic(t *testing.T, cl *kgo.Client, group string, instanceIDs ...string) {
	t.Helper()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	for _, id := range instanceIDs {
		m := kmsg.NewLeaveGroupRequestMember()
		m.InstanceID = kmsg.StringPtr(id)
		req.Members = append(req.Members, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("LeaveGroup: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("LeaveGroup: %v", err)
	}
	for _, m := range resp.Members {
		if err := kerr.ErrorForCode(m.ErrorCode); err != nil {
			t.Errorf("LeaveGroup of %v: %v", m.InstanceID, err)
		}
	}
}

// testCoordinatorKill: the group's coordinator is SIGKILLed while three
// members consume and commit. The group moves to the new coordinator, every
// commit acknowledged before is still there, and consumption goes on from
// the commits with nothing lost. The broker is restarted at the end, also
// when the scenario fails.
func testCoordinatorKill(t *testing.T, c *cluster.Cluster) {
	const partitions = 6
	bootstrap := c.Bootstrap()
	g := groupTarget{bootstrap: bootstrap, group: "group-coordinator-kill", topic: "groups-coordinator-kill", log: newGroupLog(true, true)}
	createTopic(t, bootstrap, g.topic, partitions, 3, nil)
	prod := startLoadProducer(t, bootstrap, g.topic)
	var members []groupMember
	for i := 1; i <= 3; i++ {
		// The session must outlast the failover (the dead coordinator's
		// ZooKeeper session, then the clients' backoff while they look for
		// the new one): a member that times out is expelled while it still
		// believes it owns its partitions, in Kafka as here, and the check
		// of one owner at a time would see that zombie.
		members = append(members, startFranzMember(t, g, fmt.Sprintf("member-%d", i), kgo.SessionTimeout(20*time.Second)))
	}
	poll.Until(t, time.Minute, "commits under way", func() bool {
		return g.log.consumedTotal() >= 1000 && len(g.log.committedSnapshot()) == partitions
	})

	adm := admin(t, bootstrap)
	coordinator, err := findCoordinator(adm, g.group)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing the coordinator, broker %d", coordinator)
	if err := c.KillBroker(int(coordinator)); err != nil {
		t.Fatal(err)
	}
	// The scenarios after this one need every broker, whatever happens here.
	defer func() {
		if err := c.StartBroker(int(coordinator)); err != nil {
			t.Errorf("restarting broker %d: %v", coordinator, err)
			return
		}
		waitForLiveBrokers(t, bootstrap, 3)
	}()
	// Every commit acknowledged before the kill is in here.
	acknowledged := g.log.committedSnapshot()

	var survivors []string
	for _, id := range c.BrokerIDs() {
		if id != int(coordinator) {
			survivors = append(survivors, c.BrokerAddr(id))
		}
	}
	live := admin(t, survivors)
	poll.Until(t, time.Minute, "a new coordinator", func() bool {
		id, err := findCoordinator(live, g.group)
		return err == nil && id != coordinator
	})
	poll.Until(t, 90*time.Second, "commits acknowledged by the new coordinator", func() bool {
		now := g.log.committedSnapshot()
		for p, o := range now {
			if o > acknowledged[p] {
				return true
			}
		}
		return false
	})
	got, err := committedOffsets(t, live, g.group, g.topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range acknowledged {
		if got[p] < o {
			t.Errorf("partition %d: committed offset %d after the failover, %d was acknowledged before", p, got[p], o)
		}
	}

	acked := prod.stop(t)
	waitAllConsumed(t, g.log, acked, 90*time.Second)
	waitCommitted(t, live, g.group, g.topic, highWatermarks(t, survivors, g.topic, partitions))
	stopAll(t, members)
	g.log.check(t)
}

// testOffsetsTopic: __consumer_offsets is internal, has Kafka's default 50
// partitions with 3 replicas each, and refuses records from clients.
func testOffsetsTopic(t *testing.T, bootstrap []string) {
	cl := admin(t, bootstrap)
	md := metadataFrom(cl, offsetsTopic)
	if md == nil || len(md.Topics) != 1 {
		t.Fatalf("no metadata for %s", offsetsTopic)
	}
	topic := md.Topics[0]
	if err := kerr.ErrorForCode(topic.ErrorCode); err != nil {
		t.Fatalf("metadata of %s: %v", offsetsTopic, err)
	}
	if !topic.IsInternal {
		t.Errorf("%s is not marked internal", offsetsTopic)
	}
	if len(topic.Partitions) != 50 {
		t.Errorf("%s has %d partitions, want 50", offsetsTopic, len(topic.Partitions))
	}
	for _, p := range topic.Partitions {
		if len(p.Replicas) != 3 {
			t.Errorf("%s-%d has replicas %v, want 3", offsetsTopic, p.Partition, p.Replicas)
		}
	}

	prod, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(20*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = prod.ProduceSync(ctx, &kgo.Record{Topic: offsetsTopic, Partition: 0, Value: []byte("not an offset")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Errorf("produce to %s: got %v, want %v", offsetsTopic, err, kerr.InvalidTopicException)
	}
}
