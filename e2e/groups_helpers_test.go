package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/poll"
)

// position names one record of a topic.
type position struct {
	partition int32
	offset    int64
}

// groupLog records, in one order, what the members of one consumer group
// did: which partitions each was assigned (for clients that report it),
// every record each consumed and which offsets were acknowledged as
// committed. It checks the group's invariants as events arrive and keeps
// what broke them.
type groupLog struct {
	// trackOwners: the members report assignments and revocations, and
	// consume only partitions they own (clients that process records
	// between a revocation's callbacks, e.g. franz-go with
	// BlockRebalanceOnPoll, sarama, kafka-go's ConsumerGroup).
	trackOwners bool
	// checkCommits: the members report commits the coordinator
	// acknowledged, and commit only offsets of partitions they own, so no
	// member may consume a record below an acknowledged commit.
	checkCommits bool

	mu         sync.Mutex
	consumed   map[position]int
	consumers  map[position][]string // who consumed each record, for failure reports
	byMember   map[string]int
	total      int
	owner      map[int32]string
	callbacks  map[string]int // assignment and revocation callbacks per member
	assigned   map[string][]int32
	committed  map[int32]int64  // highest acknowledged commit per partition
	lastMember map[int32]string // member that consumed the partition's last record
	runs       map[int32]int    // changes of consuming member per partition, plus 1
	violations []string
}

func newGroupLog(trackOwners, checkCommits bool) *groupLog {
	return &groupLog{
		trackOwners:  trackOwners,
		checkCommits: checkCommits,
		consumed:     map[position]int{},
		consumers:    map[position][]string{},
		byMember:     map[string]int{},
		owner:        map[int32]string{},
		callbacks:    map[string]int{},
		assigned:     map[string][]int32{},
		committed:    map[int32]int64{},
		lastMember:   map[int32]string{},
		runs:         map[int32]int{},
	}
}

func (g *groupLog) violate(format string, args ...any) {
	g.violations = append(g.violations, fmt.Sprintf(format, args...))
}

// assign records that member was given partitions. A partition that
// another member still owns means two owners at once.
func (g *groupLog) assign(member string, partitions []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.callbacks[member]++
	for _, p := range partitions {
		if prev, ok := g.owner[p]; ok && prev != member {
			g.violate("partition %d assigned to %s while %s still owns it", p, member, prev)
		}
		g.owner[p] = member
		if !slices.Contains(g.assigned[member], p) {
			g.assigned[member] = append(g.assigned[member], p)
		}
	}
}

// otherOwners returns the members other than member that own any of
// partitions, each once.
func (g *groupLog) otherOwners(member string, partitions []int32) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, p := range partitions {
		if o, ok := g.owner[p]; ok && o != member && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// revoke records that member gave up partitions (revoked or lost).
func (g *groupLog) revoke(member string, partitions []int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.callbacks[member]++
	for _, p := range partitions {
		if g.owner[p] == member {
			delete(g.owner, p)
		}
		g.assigned[member] = slices.DeleteFunc(g.assigned[member], func(q int32) bool { return q == p })
	}
}

// consume records that member processed the record at pos.
func (g *groupLog) consume(member string, pos position) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.trackOwners && g.owner[pos.partition] != member {
		g.violate("%s consumed partition %d offset %d, owned by %q", member, pos.partition, pos.offset, g.owner[pos.partition])
	}
	if c, ok := g.committed[pos.partition]; g.checkCommits && ok && pos.offset < c {
		g.violate("%s consumed partition %d offset %d after offset %d was committed", member, pos.partition, pos.offset, c)
	}
	if g.lastMember[pos.partition] != member {
		g.runs[pos.partition]++
		g.lastMember[pos.partition] = member
	}
	g.consumed[pos]++
	g.consumers[pos] = append(g.consumers[pos], member)
	g.byMember[member]++
	g.total++
}

// commit records that the coordinator acknowledged a commit of next for
// partition.
func (g *groupLog) commit(partition int32, next int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if next > g.committed[partition] {
		g.committed[partition] = next
	}
}

func (g *groupLog) consumedTotal() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

func (g *groupLog) consumedBy(member string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byMember[member]
}

func (g *groupLog) callbacksOf(member string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.callbacks[member]
}

// assignment returns the partitions member owns, sorted.
func (g *groupLog) assignment(member string) []int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.assigned[member])
	slices.Sort(out)
	return out
}

// missing returns the positions of want that no member consumed.
func (g *groupLog) missing(want []position) []position {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []position
	for _, pos := range want {
		if g.consumed[pos] == 0 {
			out = append(out, pos)
		}
	}
	return out
}

// duplicates returns how many records were consumed more than once.
func (g *groupLog) duplicates() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.consumed {
		if c > 1 {
			n++
		}
	}
	return n
}

// maxRuns returns the largest number of consuming-member runs of any
// partition: with one owner at a time, a partition's records come in at
// most one run per generation.
func (g *groupLog) maxRuns() (partition int32, runs int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, r := range g.runs {
		if r > runs {
			partition, runs = p, r
		}
	}
	return partition, runs
}

// check fails t with the violations recorded so far.
func (g *groupLog) check(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, v := range g.violations {
		if i == 10 {
			t.Errorf("... and %d more violations", len(g.violations)-10)
			break
		}
		t.Error(v)
	}
}

// groupMember is one running member of a consumer group, whatever its
// client.
type groupMember interface {
	// stop makes the member leave the group as its client does on a
	// clean shutdown, and returns once it is gone.
	stop(t *testing.T)
}

// stopAll stops members in parallel: members that leave one by one would
// each cause a rebalance the next one has to sit through.
func stopAll(t *testing.T, members []groupMember) {
	t.Helper()
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(func() { m.stop(t) })
	}
	wg.Wait()
}

// loadProducer produces keyed records to a topic in the background, at a
// modest pace, until stopped; it keeps the position of every acknowledged
// record.
type loadProducer struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	acked  []position
	failed int
	err    error
}

// startLoadProducer starts producing to topic with an idempotent franz-go
// producer (acks=all); stop ends it.
func startLoadProducer(t *testing.T, bootstrap []string, topic string) *loadProducer {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RecordDeliveryTimeout(time.Minute),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &loadProducer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer cl.Close()
		// The pace spreads the records over the rebalances under test;
		// it is not a wait for anything.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := 0; ; {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			recs := make([]*kgo.Record, 10)
			for i := range recs {
				recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "key-%d", seq%997), Value: fmt.Appendf(nil, "value-%d", seq)}
				seq++
			}
			results := cl.ProduceSync(ctx, recs...)
			p.mu.Lock()
			for _, r := range results {
				if r.Err != nil {
					p.failed++
					if ctx.Err() == nil && p.err == nil {
						p.err = r.Err
					}
					continue
				}
				p.acked = append(p.acked, position{r.Record.Partition, r.Record.Offset})
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.halt)
	return p
}

func (p *loadProducer) halt() {
	p.cancel()
	<-p.done
}

// stop ends production and returns the acknowledged positions; a record
// that failed while the producer was running fails the test.
func (p *loadProducer) stop(t *testing.T) []position {
	t.Helper()
	p.halt()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Errorf("producer: %d records failed, first: %v", p.failed, p.err)
	}
	return slices.Clone(p.acked)
}

func (p *loadProducer) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// produceToEachPartition writes one record to every partition of topic and
// returns their positions.
func produceToEachPartition(t *testing.T, bootstrap []string, topic string, partitions int) []position {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, partitions)
	for p := range recs {
		recs[p] = &kgo.Record{Topic: topic, Partition: int32(p), Value: fmt.Appendf(nil, "after-%d", p)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []position
	for _, r := range cl.ProduceSync(ctx, recs...) {
		if r.Err != nil {
			t.Fatalf("produce to %s/%d: %v", topic, r.Record.Partition, r.Err)
		}
		out = append(out, position{r.Record.Partition, r.Record.Offset})
	}
	return out
}

// committedOffsets returns the offsets group has committed for partitions
// 0..partitions-1 of topic (-1 where none), asked of the coordinator.
func committedOffsets(t *testing.T, cl *kgo.Client, group, topic string, partitions int) ([]int64, error) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rt.Partitions = append(rt.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("OffsetFetch %s: %w", group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("OffsetFetch %s: %w", group, err)
	}
	out := make([]int64, partitions)
	for i := range out {
		out[i] = -2 // not in the answer
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("OffsetFetch %s %s/%d: %w", group, tp.Topic, p.Partition, err)
			}
			if tp.Topic == topic && p.Partition >= 0 && int(p.Partition) < partitions {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// groupDescription is what DescribeGroups tells of one group.
type groupDescription struct {
	state   string
	members []describedMember
}

type describedMember struct {
	memberID   string
	instanceID string
	partitions []int32 // of the consumer-protocol assignment, sorted
}

// describeGroup asks group's coordinator to describe it.
func describeGroup(t *testing.T, cl *kgo.Client, group string) (groupDescription, error) {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return groupDescription{}, fmt.Errorf("DescribeGroups %s: %w", group, err)
	}
	if len(resp.Groups) != 1 {
		return groupDescription{}, fmt.Errorf("DescribeGroups %s: %d groups in the answer", group, len(resp.Groups))
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		return groupDescription{}, fmt.Errorf("DescribeGroups %s: %w", group, err)
	}
	out := groupDescription{state: g.State}
	for _, m := range g.Members {
		dm := describedMember{memberID: m.MemberID}
		if m.InstanceID != nil {
			dm.instanceID = *m.InstanceID
		}
		if len(m.MemberAssignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(m.MemberAssignment); err != nil {
				return groupDescription{}, fmt.Errorf("DescribeGroups %s: assignment of %s: %w", group, m.MemberID, err)
			}
			for _, tp := range a.Topics {
				dm.partitions = append(dm.partitions, tp.Partitions...)
			}
			slices.Sort(dm.partitions)
		}
		out.members = append(out.members, dm)
	}
	return out, nil
}

// findCoordinator returns the node id of group's coordinator.
func findCoordinator(cl *kgo.Client, group string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, fmt.Errorf("FindCoordinator %s: %w", group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return -1, fmt.Errorf("FindCoordinator %s: %w", group, err)
	}
	return resp.NodeID, nil
}

// waitCommitted waits until group's committed offsets of topic equal want.
func waitCommitted(t *testing.T, cl *kgo.Client, group, topic string, want []int64) {
	t.Helper()
	if _, err := pollCommitted(t, cl, group, topic, want, 45*time.Second); err != nil {
		t.Fatal(err)
	}
}

// pollCommitted polls the offsets group has committed on topic until they
// are want or timeout passes; then it returns the last ones and an error
// that says how they differ.
func pollCommitted(t *testing.T, cl *kgo.Client, group, topic string, want []int64, timeout time.Duration) ([]int64, error) {
	t.Helper()
	var last []int64
	var lastErr error
	if _, ok := poll.Wait(timeout, func() (bool, string) {
		last, lastErr = committedOffsets(t, cl, group, topic, len(want))
		return lastErr == nil && slices.Equal(last, want), ""
	}); !ok {
		return last, fmt.Errorf("committed offsets of %s on %s: got %v (error %v), want the log end offsets %v", group, topic, last, lastErr, want)
	}
	return last, nil
}

// waitAllConsumed waits until the group consumed every position of want.
func waitAllConsumed(t *testing.T, log *groupLog, want []position, timeout time.Duration) {
	t.Helper()
	waitConsumed(t, log, want, timeout, nil)
}

// waitConsumed waits until the group consumed every position of want but
// a set that tolerate accepts (nil: none).
func waitConsumed(t *testing.T, log *groupLog, want []position, timeout time.Duration, tolerate func(missing []position) bool) {
	t.Helper()
	var missing []position
	if _, ok := poll.Wait(timeout, func() (bool, string) {
		missing = log.missing(want)
		return len(missing) == 0 || (tolerate != nil && tolerate(missing)), ""
	}); ok {
		return
	}
	for _, pos := range missing[:min(len(missing), 5)] {
		t.Logf("partition %d: offset %d consumed by %v, offset %d missing, offset %d consumed by %v", pos.partition,
			pos.offset-1, log.consumersOf(position{pos.partition, pos.offset - 1}), pos.offset,
			pos.offset+1, log.consumersOf(position{pos.partition, pos.offset + 1}))
	}
	t.Fatalf("%d of %d produced records never consumed, e.g. %v", len(missing), len(want), missing[:min(len(missing), 10)])
}

// positions returns every position consumed, in no order.
func (g *groupLog) positions() []position {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]position, 0, len(g.consumed))
	for pos := range g.consumed {
		out = append(out, pos)
	}
	return out
}

// committedSnapshot returns the highest acknowledged commit per partition.
func (g *groupLog) committedSnapshot() map[int32]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.committed)
}

// consumersOf returns the members that consumed pos, in order.
func (g *groupLog) consumersOf(pos position) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.consumers[pos])
}
