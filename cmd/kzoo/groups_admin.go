package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// groupAdmin is what the groups commands ask of the cluster. clusterAdmin
// answers over the Kafka protocol; the commands' tests use a fake.
type groupAdmin interface {
	// ListGroups returns the groups of every broker that answered and an
	// error naming each broker that did not.
	ListGroups(ctx context.Context) ([]groupListing, error)
	// DescribeGroups describes each group, in the order given; a group that
	// could not be described carries the reason in its Err.
	DescribeGroups(ctx context.Context, groups []string) []groupDescription
	// CommittedOffsets returns the group's committed offset of every
	// partition it has committed.
	CommittedOffsets(ctx context.Context, group string) (map[zkpaths.TopicPartition]int64, error)
	// ListOffsets looks up the offset `at` of each partition from its leader.
	ListOffsets(ctx context.Context, tps []zkpaths.TopicPartition, at offsetSpec) offsetLookups
	// Partitions returns the partition ids of each topic, ascending.
	Partitions(ctx context.Context, topics []string) (map[string][]int32, error)
	// DeleteGroups deletes each group; the map holds the reason for every
	// group that was not deleted.
	DeleteGroups(ctx context.Context, groups []string) map[string]error
	// CommitOffsets commits offsets for group as an administrator
	// (generation -1, no member id), which the coordinator accepts only
	// while the group has no members. The map holds the reason for every
	// partition whose commit was refused.
	CommitOffsets(ctx context.Context, group string, offsets map[zkpaths.TopicPartition]int64) (map[zkpaths.TopicPartition]error, error)
}

// groupListing is one group as ListGroups reports it.
type groupListing struct {
	Group        string
	State        string // empty from brokers older than ListGroups v4
	ProtocolType string
	Coordinator  int32
}

// brokerInfo identifies a broker in output: "2 (127.0.0.1:9093)".
type brokerInfo struct {
	ID   int32
	Host string
	Port int32
}

func (b brokerInfo) String() string {
	return fmt.Sprintf("%d (%s)", b.ID, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
}

// groupDescription is one group as its coordinator describes it.
type groupDescription struct {
	Group        string
	State        string
	ProtocolType string
	Protocol     string // the chosen assignor for "consumer" groups
	Coordinator  brokerInfo
	Members      []groupMember
	// Err is why the group could not be described; a *groupNotFoundError
	// when it does not exist.
	Err error
}

// groupMember is one member of a group.
type groupMember struct {
	MemberID   string
	InstanceID string // group.instance.id of a static member, else empty
	ClientID   string
	Host       string
	// Assignment is the member's partitions, decoded for protocol type
	// "consumer" (other protocols' assignments are opaque to us).
	Assignment []zkpaths.TopicPartition
	// AssignmentErr is set when a consumer assignment could not be decoded.
	AssignmentErr error
}

// groupNotFoundError says that a group does not exist; its text is Kafka's.
type groupNotFoundError struct{ group string }

func (e *groupNotFoundError) Error() string {
	return fmt.Sprintf("consumer group '%s' does not exist", e.group)
}

func isGroupNotFound(err error) bool {
	var nf *groupNotFoundError
	return errors.As(err, &nf)
}

// offsetSpec is the timestamp of a ListOffsets lookup.
type offsetSpec int64

const (
	// latestOffset is the high watermark (with read_uncommitted), the
	// offset consumers can read up to: the log end offset of
	// kafka-consumer-groups.sh.
	latestOffset offsetSpec = -1
	// earliestOffset is the log start offset.
	earliestOffset offsetSpec = -2
)

// offsetLookups is what ListOffsets found: the offset of every partition
// it could read, and why it could not read the others.
type offsetLookups struct {
	Offsets map[zkpaths.TopicPartition]int64
	Failed  map[zkpaths.TopicPartition]error
}

// clusterAdmin implements groupAdmin with a franz-go client, which routes
// each request as Kafka requires: group requests to the group's
// coordinator (found with FindCoordinator), ListOffsets to each
// partition's leader, ListGroups to every broker. It retries what Kafka
// calls retriable (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, ...).
type clusterAdmin struct {
	cl *kgo.Client
}

func brokerFromMeta(m kgo.BrokerMetadata) brokerInfo {
	return brokerInfo{ID: m.NodeID, Host: m.Host, Port: m.Port}
}

func (a clusterAdmin) ListGroups(ctx context.Context) ([]groupListing, error) {
	var (
		listings []groupListing
		failed   error
	)
	// Each broker answers only for the groups it coordinates, so the
	// request goes to all of them.
	for _, shard := range a.cl.RequestSharded(ctx, kmsg.NewPtrListGroupsRequest()) {
		err := shard.Err
		if err == nil {
			err = kerr.ErrorForCode(shard.Resp.(*kmsg.ListGroupsResponse).ErrorCode)
		}
		if err != nil {
			failed = errors.Join(failed, fmt.Errorf("list groups of broker %s: %w", brokerFromMeta(shard.Meta), err))
			continue
		}
		for _, g := range shard.Resp.(*kmsg.ListGroupsResponse).Groups {
			listings = append(listings, groupListing{
				Group: g.Group, State: g.GroupState, ProtocolType: g.ProtocolType, Coordinator: shard.Meta.NodeID,
			})
		}
	}
	return listings, failed
}

func (a clusterAdmin) DescribeGroups(ctx context.Context, groups []string) []groupDescription {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = groups
	found := make(map[string]groupDescription, len(groups))
	for _, shard := range a.cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, g := range shard.Req.(*kmsg.DescribeGroupsRequest).Groups {
				found[g] = groupDescription{Group: g, Err: fmt.Errorf("describe group %s: %w", g, shard.Err)}
			}
			continue
		}
		for _, g := range shard.Resp.(*kmsg.DescribeGroupsResponse).Groups {
			found[g.Group] = newGroupDescription(g, brokerFromMeta(shard.Meta))
		}
	}
	return inKeyOrder(groups, found, func(g string) groupDescription {
		return groupDescription{Group: g, Err: fmt.Errorf("describe group %s: its coordinator did not answer for it", g)}
	})
}

// inKeyOrder returns the answer found for each of keys, in their order:
// what a coordinator-sharded request (DescribeGroups, DescribeTransactions)
// learned, and missing(key) for a key no coordinator answered for.
func inKeyOrder[D any](keys []string, found map[string]D, missing func(key string) D) []D {
	out := make([]D, 0, len(keys))
	for _, k := range keys {
		d, ok := found[k]
		if !ok {
			d = missing(k)
		}
		out = append(out, d)
	}
	return out
}

// newGroupDescription converts a DescribeGroups answer.
func newGroupDescription(g kmsg.DescribeGroupsResponseGroup, coordinator brokerInfo) groupDescription {
	d := groupDescription{
		Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol, Coordinator: coordinator,
	}
	err := kerr.ErrorForCode(g.ErrorCode)
	switch {
	// A coordinator describes a group it does not know as Dead (Kafka
	// before 4.0) or answers GROUP_ID_NOT_FOUND (DescribeGroups v6).
	case errors.Is(err, kerr.GroupIDNotFound) || (err == nil && g.State == "Dead"):
		d.Err = &groupNotFoundError{group: g.Group}
		return d
	case err != nil:
		d.Err = fmt.Errorf("describe group %s: %w", g.Group, err)
		return d
	}
	for _, m := range g.Members {
		member := groupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
		if m.InstanceID != nil {
			member.InstanceID = *m.InstanceID
		}
		if g.ProtocolType == "consumer" {
			member.Assignment, member.AssignmentErr = decodeConsumerAssignment(m.MemberAssignment)
		}
		d.Members = append(d.Members, member)
	}
	return d
}

// decodeConsumerAssignment decodes the assignment of the "consumer"
// protocol, sorted. A member has no assignment bytes until the group's
// leader has sent its SyncGroup.
func decodeConsumerAssignment(raw []byte) ([]zkpaths.TopicPartition, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(raw); err != nil {
		return nil, fmt.Errorf("decode consumer assignment: %w", err)
	}
	var tps []zkpaths.TopicPartition
	for _, t := range a.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, zkpaths.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	slices.SortFunc(tps, compareTopicPartitions)
	return tps, nil
}

func (a clusterAdmin) CommittedOffsets(ctx context.Context, group string) (map[zkpaths.TopicPartition]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group // no topics: every partition the group has committed
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", group, err)
	}
	committed := make(map[zkpaths.TopicPartition]int64)
	var failed error
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				failed = errors.Join(failed, fmt.Errorf("committed offset of group %s for %s: %w", group, partitionName(tp), err))
				continue
			}
			if p.Offset >= 0 { // -1: nothing committed
				committed[tp] = p.Offset
			}
		}
	}
	return committed, failed
}

func (a clusterAdmin) ListOffsets(ctx context.Context, tps []zkpaths.TopicPartition, at offsetSpec) offsetLookups {
	found := offsetLookups{Offsets: make(map[zkpaths.TopicPartition]int64), Failed: make(map[zkpaths.TopicPartition]error)}
	if len(tps) == 0 {
		return found
	}
	req := kmsg.NewPtrListOffsetsRequest()
	for topic, partitions := range partitionsByTopic(tps) {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for _, p := range partitions {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, int64(at)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	for _, shard := range a.cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, t := range shard.Req.(*kmsg.ListOffsetsRequest).Topics {
				for _, p := range t.Partitions {
					found.Failed[zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = shard.Err
				}
			}
			continue
		}
		for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					found.Failed[tp] = err
					continue
				}
				found.Offsets[tp] = p.Offset
			}
		}
	}
	for _, tp := range tps {
		_, ok := found.Offsets[tp]
		if _, failed := found.Failed[tp]; !ok && !failed {
			found.Failed[tp] = errors.New("no broker answered for this partition")
		}
	}
	return found
}

// partitionsByTopic groups partitions by topic.
func partitionsByTopic(tps []zkpaths.TopicPartition) map[string][]int32 {
	byTopic := make(map[string][]int32)
	for _, tp := range tps {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	return byTopic
}

func (a clusterAdmin) Partitions(ctx context.Context, topics []string) (map[string][]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	partitions := make(map[string][]int32, len(topics))
	var failed error
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			failed = errors.Join(failed, fmt.Errorf("topic %s: %w", name, err))
			continue
		}
		ids := make([]int32, 0, len(t.Partitions))
		for _, p := range t.Partitions {
			ids = append(ids, p.Partition)
		}
		slices.Sort(ids)
		partitions[name] = ids
	}
	return partitions, failed
}

func (a clusterAdmin) DeleteGroups(ctx context.Context, groups []string) map[string]error {
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = groups
	failed := make(map[string]error)
	answered := make(map[string]bool, len(groups))
	for _, shard := range a.cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, g := range shard.Req.(*kmsg.DeleteGroupsRequest).Groups {
				failed[g], answered[g] = shard.Err, true
			}
			continue
		}
		for _, g := range shard.Resp.(*kmsg.DeleteGroupsResponse).Groups {
			answered[g.Group] = true
			if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
				failed[g.Group] = err
			}
		}
	}
	for _, g := range groups {
		if !answered[g] {
			failed[g] = errors.New("its coordinator did not answer for it")
		}
	}
	return failed
}

func (a clusterAdmin) CommitOffsets(ctx context.Context, group string, offsets map[zkpaths.TopicPartition]int64) (map[zkpaths.TopicPartition]error, error) {
	req := kmsg.NewPtrOffsetCommitRequest()
	// Generation -1 and no member id: an administrative commit, which the
	// coordinator takes only from outside an active group.
	req.Group, req.Generation, req.MemberID = group, -1, ""
	byTopic := make(map[string][]kmsg.OffsetCommitRequestTopicPartition)
	for tp, offset := range offsets {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = tp.Partition, offset
		byTopic[tp.Topic] = append(byTopic[tp.Topic], p)
	}
	for topic, partitions := range byTopic {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.Partitions = topic, partitions
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return nil, fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	refused := make(map[zkpaths.TopicPartition]error)
	answered := make(map[zkpaths.TopicPartition]bool, len(offsets))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			answered[tp] = true
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				refused[tp] = err
			}
		}
	}
	for tp := range offsets {
		if !answered[tp] {
			refused[tp] = errors.New("the coordinator did not answer for this partition")
		}
	}
	return refused, nil
}
