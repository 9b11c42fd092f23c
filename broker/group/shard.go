package group

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/zkpaths"
)

// shard is one __consumer_offsets partition the coordinator holds: its log
// and the groups that live in it. mu guards everything below it; it is never
// held while a write waits in Log.Append.
type shard struct {
	c         *Coordinator
	partition int32
	epoch     int32
	log       Log
	logger    logrus.FieldLogger
	// ctx, the shard's context (shards.Table), is canceled before the shard
	// is unloaded; loads and writes run under it.
	ctx context.Context

	mu sync.Mutex
	// loaded is set once the log is read; closed once the partition is
	// taken back. Requests are served only while loaded and not closed.
	loaded, closed bool
	groups         map[string]*group
	// writeTails holds, per group id, the completion of the group's last
	// write, which the group's next write waits for: writes of a group
	// reach the log in the order the group made them.
	writeTails map[string]chan struct{}
	// txnGroups holds, per producer id, the groups that may have pending
	// transactional offsets of the producer (txn.go).
	txnGroups map[int64]map[string]struct{}
	// loadCompletions are the transaction ends (CompleteTxn) that came
	// while the log was loading, applied once it is loaded.
	loadCompletions []txnCompletion
}

func newShard(c *Coordinator, ctx context.Context, partition, epoch int32, log Log) *shard {
	return &shard{
		c:          c,
		partition:  partition,
		epoch:      epoch,
		log:        log,
		logger:     c.log.WithFields(logrus.Fields{"partition": partition, "epoch": epoch}),
		ctx:        ctx,
		groups:     make(map[string]*group),
		writeTails: make(map[string]chan struct{}),
		txnGroups:  make(map[int64]map[string]struct{}),
	}
}

// Unload gives the partition up (shards.Shard; its context, and so its
// load and writes, are canceled already): every waiting JoinGroup and
// SyncGroup is answered NOT_COORDINATOR and the groups are dropped (Dead),
// as Kafka's onGroupUnloaded.
func (s *shard) Unload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, g := range s.groups {
		g.transitionTo(stateDead, s.c.now())
		g.eachMember(func(m *member) {
			g.answerJoin(m, joinError(m.id, errNotCoordinator))
			g.answerSync(m, syncError(errNotCoordinator))
		})
	}
	clear(s.groups)
	clear(s.txnGroups)
	s.loadCompletions = nil
}

// write appends batch for the group groupID once the group's earlier writes
// are done, then calls onDone (when not nil) with s.mu held and the result
// of the Append: the offset of the batch's first record, and the error. It
// returns a channel closed after onDone ran. The caller holds s.mu, which
// fixes the order of the group's writes.
func (s *shard) write(groupID string, batch []byte, onDone func(baseOffset int64, err error)) <-chan struct{} {
	done := make(chan struct{})
	if s.closed {
		if onDone != nil {
			onDone(-1, context.Canceled)
		}
		close(done)
		return done
	}
	prev := s.writeTails[groupID]
	s.writeTails[groupID] = done
	s.c.shards.Go(func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		baseOffset := int64(-1)
		err := s.ctx.Err()
		if err == nil {
			var lastOffset int64
			if lastOffset, err = s.log.Append(s.ctx, batch); err == nil {
				baseOffset = lastOffset - int64(record.ParseHeader(batch).LastOffsetDelta)
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.writeTails[groupID] == done {
			delete(s.writeTails, groupID)
		}
		if onDone != nil {
			onDone(baseOffset, err)
		}
	})
	return done
}

// storeGroup writes the group's metadata with the members' assignments, as
// Kafka's GroupMetadataManager.storeGroup; onDone gets the error code the
// members would get (NONE on success) with s.mu held.
func (s *shard) storeGroup(g *group, assignment map[string][]byte, onDone func(code int16)) {
	batch := record.NewBuilder(s.c.now().UnixMilli())
	batch.Append(groupMetadataKey(g.id), groupMetadataValue(g, assignment))
	generation := g.generation
	s.write(g.id, batch.Build(), func(_ int64, err error) {
		if err != nil {
			s.logger.WithFields(logrus.Fields{"group": g.id, "generation": generation}).WithError(err).
				Warn("writing group metadata failed")
		}
		onDone(groupWriteError(err))
	})
}

// writeTombstones deletes offsets of g and, when deleteGroup, the group's
// metadata, in one batch; done is closed once the write is over. Like
// Kafka, a failed tombstone write is only logged: the offsets are gone from
// the coordinator either way, and expiry retries on a later leader.
func (s *shard) writeTombstones(g *group, offsets []zkpaths.TopicPartition, deleteGroup bool) <-chan struct{} {
	if len(offsets) == 0 && !deleteGroup {
		done := make(chan struct{})
		close(done)
		return done
	}
	batch := record.NewBuilder(s.c.now().UnixMilli())
	for _, tp := range offsets {
		batch.Append(offsetCommitKey(g.id, tp), nil)
	}
	if deleteGroup {
		batch.Append(groupMetadataKey(g.id), nil)
	}
	return s.write(g.id, batch.Build(), func(_ int64, err error) {
		if err != nil {
			s.logger.WithField("group", g.id).WithError(err).Warn("writing tombstones failed")
		}
	})
}

// removeGroupIfDead deletes an Empty group that has no offsets left: it
// goes Dead and leaves the shard. It reports whether the group's metadata
// needs a tombstone (only a group that ever had a generation wrote any).
func (s *shard) removeGroupIfDead(g *group, now time.Time) (tombstone bool) {
	if !g.is(stateEmpty) || g.hasOffsets() || len(g.pendingMembers) > 0 {
		// (A member id handed out with MEMBER_ID_REQUIRED is about to
		// join: keep the group for it.)
		return false
	}
	g.transitionTo(stateDead, now)
	if s.groups[g.id] == g {
		delete(s.groups, g.id)
	}
	s.logger.WithFields(logrus.Fields{"group": g.id, "generation": g.generation}).Info("group is dead")
	return g.generation > 0
}

// tick fires the deadlines of the shard's groups that passed at now.
func (s *shard) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded || s.closed {
		return
	}
	for _, g := range s.groups {
		s.tickGroup(g, now)
	}
}

// forgetTopics deletes the offsets of the deleted topics and the groups
// left Empty without offsets.
func (s *shard) forgetTopics(deleted map[string]bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded || s.closed {
		return
	}
	for _, g := range s.groups {
		var gone []zkpaths.TopicPartition
		for tp := range g.offsets {
			if deleted[tp.Topic] {
				gone = append(gone, tp)
			}
		}
		for tp := range g.pendingCommits {
			if deleted[tp.Topic] {
				gone = append(gone, tp)
			}
		}
		for _, pending := range g.pendingTxnOffsets {
			for tp := range pending {
				if deleted[tp.Topic] {
					gone = append(gone, tp)
				}
			}
		}
		if len(gone) == 0 {
			continue
		}
		removed := g.removeOffsets(gone)
		tombstone := s.removeGroupIfDead(g, now)
		s.logger.WithFields(logrus.Fields{"group": g.id, "offsets": len(removed)}).Info("removed the offsets of deleted topics")
		s.writeTombstones(g, removed, tombstone)
	}
}

// expireOffsets deletes the offsets that expired at now and the groups left
// Empty without offsets, as Kafka's cleanupGroupMetadata.
func (s *shard) expireOffsets(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded || s.closed {
		return
	}
	for _, g := range s.groups {
		expired := g.removeExpiredOffsets(now, s.c.cfg.OffsetsRetention)
		tombstone := s.removeGroupIfDead(g, now)
		if len(expired) > 0 {
			s.logger.WithFields(logrus.Fields{"group": g.id, "offsets": len(expired)}).Info("expired offsets")
		}
		s.writeTombstones(g, expired, tombstone)
	}
}
