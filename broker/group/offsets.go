package group

import (
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/zkpaths"
)

// The offset APIs: OffsetCommit, OffsetFetch, OffsetDelete.

func (c *Coordinator) offsetCommit(req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	codes := c.commit(req)
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes(zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commit stores the offsets of an OffsetCommit and returns the error code
// of each partition. It returns once the write is done.
func (c *Coordinator) commit(req *kmsg.OffsetCommitRequest) func(zkpaths.TopicPartition) int16 {
	all := func(code int16) func(zkpaths.TopicPartition) int16 {
		return func(zkpaths.TopicPartition) int16 { return code }
	}

	// Version 0 commits from outside any group; v1 adds the generation and
	// member id, v7 the instance id.
	generation, memberID := int32(-1), ""
	var instanceID *string
	if req.Version >= 1 {
		generation, memberID = req.Generation, req.MemberID
	}
	if req.Version >= 7 {
		instanceID = req.InstanceID
	}

	s, code := c.acquire(req.Group)
	if code != errNone {
		return all(code)
	}
	now := c.now()
	g := s.groups[req.Group]
	if g == nil {
		if generation >= 0 {
			// A commit of a generation of a group that does not exist.
			s.mu.Unlock()
			return all(errIllegalGeneration)
		}
		// A "simple" consumer keeping its offsets in Kafka.
		g = newGroup(req.Group, now)
		s.groups[req.Group] = g
	}
	if code := g.validateCommit(generation, memberID, instanceID, false); code != errNone {
		s.mu.Unlock()
		return all(code)
	}
	switch g.state {
	case stateEmpty:
	case stateStable, statePreparingRebalance:
		// Commits of the previous generation are still taken during the
		// join phase; the member learns of the rebalance by heartbeat.
		if m := g.members[memberID]; m != nil {
			m.heartbeatDeadline = now.Add(m.sessionTimeout)
		}
	case stateCompletingRebalance:
		s.mu.Unlock()
		return all(errRebalanceInProgress)
	default:
		s.mu.Unlock()
		return all(errCoordinatorNotAvailable)
	}

	offsets, tooLarge := c.commitValues(req, now)
	if len(offsets) == 0 {
		s.mu.Unlock()
		return all(errOffsetMetadataTooLarge)
	}
	writeCode := s.storeOffsets(g, offsets, now)
	return func(tp zkpaths.TopicPartition) int16 {
		if tooLarge[tp] {
			return errOffsetMetadataTooLarge
		}
		return writeCode
	}
}

// validateCommit checks who may commit, as Kafka: anyone (generation -1,
// no member id) while the group is Empty; otherwise only a member of the
// current generation. A transactional commit without generation and member
// is taken in any state: TxnOffsetCommit before v3 carries neither.
func (g *group) validateCommit(generation int32, memberID string, instanceID *string, transactional bool) int16 {
	switch {
	case g.is(stateDead):
		return errCoordinatorNotAvailable
	case generation < 0 && g.is(stateEmpty):
		return errNone
	case generation >= 0 || memberID != "" || instanceID != nil:
		if code := g.validateMember(memberID, instanceID); code != errNone {
			return code
		}
		if generation != g.generation {
			return errIllegalGeneration
		}
		return errNone
	case !transactional && !g.is(stateEmpty):
		return errUnknownMemberID
	}
	return errNone
}

// commitValues reads the offsets of an OffsetCommit: commit timestamp now
// (or the explicit one of v1), an expire timestamp when v2-v4 set a
// retention time, the leader epoch from v6 on. Partitions whose metadata is
// over offset.metadata.max.bytes are left out and reported in tooLarge.
func (c *Coordinator) commitValues(req *kmsg.OffsetCommitRequest, now time.Time) (offsets map[zkpaths.TopicPartition]committedOffset, tooLarge map[zkpaths.TopicPartition]bool) {
	nowMs := now.UnixMilli()
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		expire = nowMs + req.RetentionTimeMillis
	}
	offsets = make(map[zkpaths.TopicPartition]committedOffset)
	tooLarge = make(map[zkpaths.TopicPartition]bool)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			o := committedOffset{offset: p.Offset, leaderEpoch: -1, commitTimestamp: nowMs, expireTimestamp: expire, batchOffset: -1}
			if p.Metadata != nil {
				o.metadata = *p.Metadata
			}
			if req.Version == 1 && p.Timestamp != -1 {
				o.commitTimestamp = p.Timestamp
			}
			if req.Version >= 6 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if javaLength(o.metadata) > c.cfg.OffsetMetadataMaxBytes {
				tooLarge[tp] = true
				delete(offsets, tp)
				continue
			}
			delete(tooLarge, tp)
			offsets[tp] = o
		}
	}
	return offsets, tooLarge
}

// javaLength is the length of s as Java counts it (UTF-16 code units),
// which is what Kafka compares with offset.metadata.max.bytes.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// storeOffsets writes offsets of g as one batch and, once the write is
// done, makes them the group's committed offsets. It unlocks s.mu, waits
// for the write and returns its error code.
func (s *shard) storeOffsets(g *group, offsets map[zkpaths.TopicPartition]committedOffset, now time.Time) int16 {
	token := new(pendingCommit)
	batch := record.NewBuilder(now.UnixMilli())
	for tp, o := range offsets {
		g.pendingCommits[tp] = token
		batch.Append(offsetCommitKey(g.id, tp), offsetCommitValue(o))
	}
	var code int16
	done := s.write(g.id, batch.Build(), func(baseOffset int64, err error) {
		code = offsetWriteError(err)
		if err != nil {
			s.logger.WithError(err).WithFields(logrus.Fields{"group": g.id, "partitions": len(offsets)}).Warn("writing committed offsets failed")
		}
		for tp, o := range offsets {
			// An offset deleted while the write was out stays deleted. One
			// later in the log stays too (Kafka's rule; a group's writes
			// are appended in order, so only a transactional commit made
			// visible meanwhile could be, and it is not: its batch waited
			// for this write).
			o.batchOffset = baseOffset
			if cur, ok := g.offsets[tp]; err == nil && !g.is(stateDead) && g.pendingCommits[tp] != nil && (!ok || o.supersedes(cur)) {
				g.offsets[tp] = o
			}
			if g.pendingCommits[tp] == token {
				delete(g.pendingCommits, tp)
			}
		}
	})
	s.mu.Unlock()
	<-done
	return code
}

// fetchedPartition is one partition of an OffsetFetch answer.
type fetchedPartition struct {
	tp          zkpaths.TopicPartition
	offset      int64
	leaderEpoch int32
	metadata    string
	code        int16
}

func (c *Coordinator) offsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	requireStable := req.Version >= 7 && req.RequireStable
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var requested []zkpaths.TopicPartition
			if rg.Topics != nil {
				requested = []zkpaths.TopicPartition{}
				for _, t := range rg.Topics {
					for _, p := range t.Partitions {
						requested = append(requested, zkpaths.TopicPartition{Topic: t.Topic, Partition: p})
					}
				}
			}
			code, parts := c.fetchOffsets(rg.Group, requested, requireStable)
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, code
			for _, t := range byTopic(parts) {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = t[0].tp.Topic
				for _, p := range t {
					rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.tp.Partition, p.offset, p.leaderEpoch, new(p.metadata), p.code
					rt.Partitions = append(rt.Partitions, rp)
				}
				g.Topics = append(g.Topics, rt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}

	var requested []zkpaths.TopicPartition
	if req.Topics != nil || req.Version < 2 {
		requested = []zkpaths.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				requested = append(requested, zkpaths.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	code, parts := c.fetchOffsets(req.Group, requested, requireStable)
	if code != errNone {
		if req.Version >= 2 {
			resp.ErrorCode = code
			return resp
		}
		// v0 and v1 have no group error: every partition carries it.
		parts = parts[:0]
		for _, tp := range requested {
			parts = append(parts, fetchedPartition{tp: tp, offset: -1, leaderEpoch: -1, code: code})
		}
	}
	for _, t := range byTopic(parts) {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t[0].tp.Topic
		for _, p := range t {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.tp.Partition, p.offset, p.leaderEpoch, new(p.metadata), p.code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// fetchOffsets returns the group's committed offsets of requested, or of
// every partition it has one for when requested is nil. A partition without
// one gets offset -1 and empty metadata; with requireStable, a partition
// with a commit in flight or a transactional commit pending (whose
// transaction has not ended) gets UNSTABLE_OFFSET_COMMIT, as in Kafka
// (per partition in every version; the group error stays NONE).
func (c *Coordinator) fetchOffsets(groupID string, requested []zkpaths.TopicPartition, requireStable bool) (int16, []fetchedPartition) {
	s, code := c.acquire(groupID)
	if code != errNone {
		return code, nil
	}
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g != nil && g.is(stateDead) {
		g = nil
	}
	if requested == nil {
		if g == nil {
			return errNone, nil
		}
		for tp := range g.offsets {
			requested = append(requested, tp)
		}
		slices.SortFunc(requested, compareTopicPartitions)
	}
	out := make([]fetchedPartition, 0, len(requested))
	for _, tp := range requested {
		p := fetchedPartition{tp: tp, offset: -1, leaderEpoch: -1}
		switch {
		case g == nil:
		case requireStable && g.hasPendingCommit(tp):
			p.code = errUnstableOffsetCommit
		default:
			if o, ok := g.offsets[tp]; ok {
				p.offset, p.leaderEpoch, p.metadata = o.offset, o.leaderEpoch, o.metadata
			}
		}
		out = append(out, p)
	}
	return errNone, out
}

// byTopic groups consecutive partitions of the same topic, keeping the
// order of first appearance.
func byTopic(parts []fetchedPartition) [][]fetchedPartition {
	var out [][]fetchedPartition
	index := make(map[string]int)
	for _, p := range parts {
		i, ok := index[p.tp.Topic]
		if !ok {
			i = len(out)
			index[p.tp.Topic] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], p)
	}
	return out
}

func compareTopicPartitions(a, b zkpaths.TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

func (c *Coordinator) offsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	var requested []zkpaths.TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			requested = append(requested, zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition})
		}
	}
	code, errs := c.deleteOffsets(req.Group, requested)
	if resp.ErrorCode = code; code != errNone {
		return resp
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, errs[zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// deleteOffsets deletes the group's offsets of partitions, as Kafka's
// handleDeleteOffsets: all of them in an Empty group; in a consumer group
// in use only those of topics no member subscribes to (the others get
// GROUP_SUBSCRIBED_TO_TOPIC); none in another group in use
// (NON_EMPTY_GROUP). It returns once the tombstones are written.
func (c *Coordinator) deleteOffsets(groupID string, partitions []zkpaths.TopicPartition) (int16, map[zkpaths.TopicPartition]int16) {
	if groupID == "" {
		return errInvalidGroupID, nil
	}
	s, code := c.acquire(groupID)
	if code != errNone {
		return code, nil
	}
	g := s.groups[groupID]
	if g == nil || g.is(stateDead) {
		s.mu.Unlock()
		return errGroupIDNotFound, nil
	}
	errs := make(map[zkpaths.TopicPartition]int16)
	var eligible []zkpaths.TopicPartition
	switch {
	case g.is(stateEmpty):
		eligible = partitions
	case g.isConsumerGroup():
		for _, tp := range partitions {
			if g.isSubscribedTo(tp.Topic) {
				errs[tp] = errGroupSubscribedToTopic
			} else {
				eligible = append(eligible, tp)
			}
		}
	default:
		s.mu.Unlock()
		return errNonEmptyGroup, nil
	}
	now := c.now()
	removed := g.removeOffsets(eligible)
	done := s.writeTombstones(g, removed, s.removeGroupIfDead(g, now))
	s.mu.Unlock()
	<-done
	return errNone, errs
}
