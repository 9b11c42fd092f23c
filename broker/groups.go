package broker

// The broker side of the group coordinator (package group): it builds the
// coordinator from the broker's config and routes the group APIs to it.
// FindCoordinator, the creation of __consumer_offsets and the lending of its
// partitions are shared with the transaction coordinator (coordinators.go).

import (
	"context"
	"net"
	"slices"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/coordinator"
)

// newGroupCoordinator builds the group coordinator from the broker's config.
// The partition count it hashes group ids over is that of __consumer_offsets
// when the topic already exists (whatever offsets.topic.num.partitions says
// now), so that it agrees with FindCoordinator and the other brokers.
func newGroupCoordinator(cfg *config.Broker, snap *coordinator.Snapshot, logger logrus.FieldLogger) *group.Coordinator {
	return group.New(group.Config{
		OffsetsTopicPartitions:        internalTopicPartitions(snap, group.OffsetsTopic, cfg.OffsetsTopicPartitions),
		MinSessionTimeout:             cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:             cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay:         cfg.GroupInitialRebalanceDelay,
		MaxGroupSize:                  cfg.GroupMaxSize,
		OffsetsRetention:              cfg.OffsetsRetention,
		OffsetsRetentionCheckInterval: cfg.OffsetsRetentionCheckInterval,
		OffsetMetadataMaxBytes:        cfg.OffsetMetadataMaxBytes,
		Logger:                        logger,
	})
}

// groupAPI adapts a request handler of the coordinator to the API table.
func groupAPI[Req kmsg.Request, Resp kmsg.Response](handle func(*group.Coordinator, context.Context, Req) Resp) handlerFunc {
	return func(s *Server, ctx context.Context, req *request) any {
		return handle(s.groups, ctx, req.body.(Req))
	}
}

// clientHost is the host of a client's address as JoinGroup records it for
// the member: Kafka's form, Java's InetAddress.toString of an address
// without a name ("/127.0.0.1"), which its tools print as they get it.
func clientHost(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return "/" + tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "/" + addr.String()
	}
	return "/" + host
}

// forgetGroupOffsets removes from the groups this broker coordinates the
// committed offsets of the topics that previous had and snap no longer has
// or is deleting, as Kafka does when a topic is deleted: a topic created
// again under the same name starts without them.
func (s *Server) forgetGroupOffsets(previous, snap *coordinator.Snapshot) {
	if previous == nil || s.groups == nil {
		return
	}
	var deleted []string
	for name, t := range previous.Topics {
		if t.Deleting {
			continue // already forgotten when its deletion started
		}
		if now := snap.Topics[name]; now == nil || now.Deleting {
			deleted = append(deleted, name)
		}
	}
	s.groups.ForgetTopics(deleted)
}

// handleTxnOffsetCommit checks, as Kafka does, WRITE on the transactional
// id and READ on the group (either refuses every partition), READ on each
// topic, and answers the partitions of unknown topics itself; it passes the
// rest to the group coordinator.
func (s *Server) handleTxnOffsetCommit(ctx context.Context, req *request, in *kmsg.TxnOffsetCommitRequest, resp *kmsg.TxnOffsetCommitResponse) any {
	var code func(topic string) int16
	if !s.authorized(req, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, in.TransactionalID) {
		code = func(string) int16 { return kerr.TransactionalIDAuthorizationFailed.Code }
	} else {
		_, code = s.offsetAccess(req, kmsg.ACLOperationRead, in.Group)
	}
	snap := s.snapshot()
	known := *in
	known.Topics = nil
	var refused []refusedTopic
	for _, rt := range in.Topics {
		t := snap.Topics[rt.Topic]
		kt := rt
		kt.Partitions = nil
		r := refusedTopic{name: rt.Topic, code: code(rt.Topic)}
		for _, rp := range rt.Partitions {
			unknown := t == nil || t.Deleting || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions)
			if r.code == 0 && !unknown {
				kt.Partitions = append(kt.Partitions, rp)
			} else {
				r.partitions = append(r.partitions, rp.Partition)
			}
		}
		if r.code == 0 {
			r.code = kerr.UnknownTopicOrPartition.Code // what it refuses, if anything
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
		if len(r.partitions) > 0 {
			refused = append(refused, r)
		}
	}
	if len(refused) == 0 {
		return s.groups.TxnOffsetCommit(ctx, in)
	}
	if len(known.Topics) > 0 {
		resp = s.groups.TxnOffsetCommit(ctx, &known)
	}
	resp.Topics = append(resp.Topics, answerRefused(refused,
		func(name string, partitions []kmsg.TxnOffsetCommitResponseTopicPartition) kmsg.TxnOffsetCommitResponseTopic {
			return kmsg.TxnOffsetCommitResponseTopic{Topic: name, Partitions: partitions}
		},
		func(partition int32, code int16) kmsg.TxnOffsetCommitResponseTopicPartition {
			return kmsg.TxnOffsetCommitResponseTopicPartition{Partition: partition, ErrorCode: code}
		})...)
	return resp
}

// The checks of the group APIs, as Kafka's KafkaApis makes them: a member
// needs READ on its group, a reader of offsets DESCRIBE on the group and on
// each topic, a writer of offsets READ on both, DeleteGroups and
// OffsetDelete DELETE on the group; DescribeGroups and ListGroups show only
// the groups the client may DESCRIBE.

// memberAPI is groupAPI for the APIs of a group's members, which need READ
// on the group: a member that may not gets GROUP_AUTHORIZATION_FAILED alone.
func memberAPI[Req kmsg.Request, Resp kmsg.Response](handle func(*group.Coordinator, context.Context, Req) Resp, groupOf func(Req) string, setCode func(Resp, int16)) handlerFunc {
	return refuseUnless(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, groupOf, kerr.GroupAuthorizationFailed, setCode, groupAPI(handle))
}

// offsetAccess is the check of a request on a group's offsets: groupOp on
// the group, then READ on each topic. It reports whether the group may be
// asked at all, and the error code of each topic's partitions: the
// group's refusal for all of them, or TOPIC_AUTHORIZATION_FAILED for a
// topic the client may not read; 0 when the coordinator is to answer.
func (s *Server) offsetAccess(req *request, groupOp kmsg.ACLOperation, groupID string) (bool, func(topic string) int16) {
	if !s.authorized(req, groupOp, kmsg.ACLResourceTypeGroup, groupID) {
		return false, func(string) int16 { return kerr.GroupAuthorizationFailed.Code }
	}
	readable := s.topicAccess(req, kmsg.ACLOperationRead)
	return true, func(topic string) int16 {
		if !readable(topic) {
			return kerr.TopicAuthorizationFailed.Code
		}
		return 0
	}
}

// refusedTopic is a topic of a request whose partitions the broker answers
// itself, all with code.
type refusedTopic struct {
	name       string
	partitions []int32
	code       int16
}

// splitTopics divides a request's topics into those code lets through (0)
// and those it refuses; partitions lists a topic's partitions.
func splitTopics[T any](topics []T, name func(T) string, partitions func(T) []int32, code func(topic string) int16) (allowed []T, refused []refusedTopic) {
	for _, t := range topics {
		if c := code(name(t)); c != 0 {
			refused = append(refused, refusedTopic{name: name(t), partitions: partitions(t), code: c})
		} else {
			allowed = append(allowed, t)
		}
	}
	return allowed, refused
}

// partitionIDs lists the partition numbers of a request topic's partitions.
func partitionIDs[P any](partitions []P, id func(P) int32) []int32 {
	out := make([]int32, len(partitions))
	for i, p := range partitions {
		out[i] = id(p)
	}
	return out
}

// answerRefused is the answer of refused topics, in a response's types.
func answerRefused[T, P any](refused []refusedTopic, newTopic func(name string, partitions []P) T, newPartition func(partition int32, code int16) P) []T {
	var out []T
	for _, r := range refused {
		partitions := make([]P, len(r.partitions))
		for i, p := range r.partitions {
			partitions[i] = newPartition(p, r.code)
		}
		out = append(out, newTopic(r.name, partitions))
	}
	return out
}

func (s *Server) handleOffsetCommit(ctx context.Context, req *request, in *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse) any {
	groupOK, code := s.offsetAccess(req, kmsg.ACLOperationRead, in.Group)
	allowed := *in
	var refused []refusedTopic
	allowed.Topics, refused = splitTopics(in.Topics, func(t kmsg.OffsetCommitRequestTopic) string { return t.Topic },
		func(t kmsg.OffsetCommitRequestTopic) []int32 {
			return partitionIDs(t.Partitions, func(p kmsg.OffsetCommitRequestTopicPartition) int32 { return p.Partition })
		}, code)
	if groupOK && (len(allowed.Topics) > 0 || len(refused) == 0) {
		resp = s.groups.OffsetCommit(ctx, &allowed)
	}
	resp.Topics = append(resp.Topics, answerRefused(refused,
		func(name string, partitions []kmsg.OffsetCommitResponseTopicPartition) kmsg.OffsetCommitResponseTopic {
			return kmsg.OffsetCommitResponseTopic{Topic: name, Partitions: partitions}
		},
		func(partition int32, code int16) kmsg.OffsetCommitResponseTopicPartition {
			return kmsg.OffsetCommitResponseTopicPartition{Partition: partition, ErrorCode: code}
		})...)
	return resp
}

func (s *Server) handleOffsetDelete(ctx context.Context, req *request, in *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse) any {
	groupOK, code := s.offsetAccess(req, kmsg.ACLOperationDelete, in.Group)
	if !groupOK {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	allowed := *in
	var refused []refusedTopic
	allowed.Topics, refused = splitTopics(in.Topics, func(t kmsg.OffsetDeleteRequestTopic) string { return t.Topic },
		func(t kmsg.OffsetDeleteRequestTopic) []int32 {
			return partitionIDs(t.Partitions, func(p kmsg.OffsetDeleteRequestTopicPartition) int32 { return p.Partition })
		}, code)
	resp = s.groups.OffsetDelete(ctx, &allowed)
	if resp.ErrorCode != 0 {
		return resp // the group's error alone, as Kafka answers it
	}
	resp.Topics = append(resp.Topics, answerRefused(refused,
		func(name string, partitions []kmsg.OffsetDeleteResponseTopicPartition) kmsg.OffsetDeleteResponseTopic {
			return kmsg.OffsetDeleteResponseTopic{Topic: name, Partitions: partitions}
		},
		func(partition int32, code int16) kmsg.OffsetDeleteResponseTopicPartition {
			return kmsg.OffsetDeleteResponseTopicPartition{Partition: partition, ErrorCode: code}
		})...)
	return resp
}

// handleOffsetFetch asks the coordinator for the groups the client may
// DESCRIBE and hides the offsets of topics it may not: a partition asked
// for is answered TOPIC_AUTHORIZATION_FAILED, one of a fetch of all of a
// group's offsets is left out, as in Kafka.
func (s *Server) handleOffsetFetch(ctx context.Context, req *request, in *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) any {
	describable := s.topicAccess(req, kmsg.ACLOperationDescribe)
	mayDescribe := func(groupID string) bool {
		return s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, groupID)
	}
	if in.Version >= 8 {
		resp.Groups = askAllowed(in.Groups,
			func(g kmsg.OffsetFetchRequestGroup) bool { return mayDescribe(g.Group) },
			func(groups []kmsg.OffsetFetchRequestGroup) []kmsg.OffsetFetchResponseGroup {
				allowed := *in
				allowed.Groups = groups
				return s.groups.OffsetFetch(ctx, &allowed).Groups
			},
			func(g kmsg.OffsetFetchRequestGroup) kmsg.OffsetFetchResponseGroup {
				og := kmsg.NewOffsetFetchResponseGroup()
				og.Group, og.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
				return og
			})
		for i, g := range in.Groups {
			resp.Groups[i].Topics = hideOffsets(resp.Groups[i].Topics, g.Topics == nil, describable,
				func(t *kmsg.OffsetFetchResponseGroupTopic) string { return t.Topic },
				func(t *kmsg.OffsetFetchResponseGroupTopic) {
					for j := range t.Partitions {
						p := &t.Partitions[j]
						p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, new(""), kerr.TopicAuthorizationFailed.Code
					}
				})
		}
		return resp
	}
	if !mayDescribe(in.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		if in.Version < 2 {
			// v0 and v1 have no group error: every partition carries it.
			for _, rt := range in.Topics {
				ot := kmsg.NewOffsetFetchResponseTopic()
				ot.Topic = rt.Topic
				for _, p := range rt.Partitions {
					op := kmsg.NewOffsetFetchResponseTopicPartition()
					op.Partition, op.Offset, op.LeaderEpoch, op.Metadata, op.ErrorCode = p, -1, -1, new(""), resp.ErrorCode
					ot.Partitions = append(ot.Partitions, op)
				}
				resp.Topics = append(resp.Topics, ot)
			}
		}
		return resp
	}
	resp = s.groups.OffsetFetch(ctx, in)
	resp.Topics = hideOffsets(resp.Topics, in.Topics == nil, describable,
		func(t *kmsg.OffsetFetchResponseTopic) string { return t.Topic },
		func(t *kmsg.OffsetFetchResponseTopic) {
			for j := range t.Partitions {
				p := &t.Partitions[j]
				p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, new(""), kerr.TopicAuthorizationFailed.Code
			}
		})
	return resp
}

// hideOffsets hides the offsets of the topics of an OffsetFetch answer the
// client may not DESCRIBE: left out of a fetch of all of a group's offsets
// (all), refused by deny when asked for by name.
func hideOffsets[T any](topics []T, all bool, describable func(string) bool, name func(*T) string, deny func(*T)) []T {
	if all {
		return slices.DeleteFunc(topics, func(t T) bool { return !describable(name(&t)) })
	}
	for i := range topics {
		if !describable(name(&topics[i])) {
			deny(&topics[i])
		}
	}
	return topics
}

// handleDescribeGroups describes the groups the client may DESCRIBE, with
// what it may do with each when asked (KIP-430).
func (s *Server) handleDescribeGroups(ctx context.Context, req *request, in *kmsg.DescribeGroupsRequest, resp *kmsg.DescribeGroupsResponse) any {
	resp.Groups = askAllowed(in.Groups,
		func(id string) bool {
			return s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, id)
		},
		func(ids []string) []kmsg.DescribeGroupsResponseGroup {
			allowed := *in
			allowed.Groups = ids
			return s.groups.DescribeGroups(ctx, &allowed).Groups
		},
		func(id string) kmsg.DescribeGroupsResponseGroup {
			d := kmsg.NewDescribeGroupsResponseGroup()
			d.Group, d.ErrorCode = id, kerr.GroupAuthorizationFailed.Code
			return d
		})
	if in.Version >= 3 && in.IncludeAuthorizedOperations {
		for i := range resp.Groups {
			if d := &resp.Groups[i]; d.ErrorCode == 0 {
				d.AuthorizedOperations = s.authorizedOperations(req, kmsg.ACLResourceTypeGroup, d.Group)
			}
		}
	}
	return resp
}

// handleListGroups lists every group to a client that may DESCRIBE the
// cluster, and otherwise those it may DESCRIBE.
func (s *Server) handleListGroups(ctx context.Context, req *request, in *kmsg.ListGroupsRequest, resp *kmsg.ListGroupsResponse) any {
	resp = s.groups.ListGroups(ctx, in)
	if !s.authorizedCluster(req, kmsg.ACLOperationDescribe) {
		resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
			return !s.authorize(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.Group, false)
		})
	}
	return resp
}

// handleDeleteGroups deletes the groups the client may DELETE.
func (s *Server) handleDeleteGroups(ctx context.Context, req *request, in *kmsg.DeleteGroupsRequest, resp *kmsg.DeleteGroupsResponse) any {
	resp.Groups = askAllowed(dedupe(in.Groups),
		func(id string) bool { return s.authorized(req, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, id) },
		func(ids []string) []kmsg.DeleteGroupsResponseGroup {
			allowed := *in
			allowed.Groups = ids
			return s.groups.DeleteGroups(ctx, &allowed).Groups
		},
		func(id string) kmsg.DeleteGroupsResponseGroup {
			d := kmsg.NewDeleteGroupsResponseGroup()
			d.Group, d.ErrorCode = id, kerr.GroupAuthorizationFailed.Code
			return d
		})
	return resp
}

// dedupe is ids without repetitions, in the order of first appearance.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
