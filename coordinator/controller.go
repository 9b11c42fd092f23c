package coordinator

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/internal/configvalue"
	"github.com/kzoo/kzoo/zkpaths"
)

// uncleanLeaderElectionKey is the topic config overriding
// Config.UncleanLeaderElection.
const uncleanLeaderElectionKey = "unclean.leader.election.enable"

// maxOpsPerMulti keeps a multi well below ZooKeeper's 1 MiB request limit.
const maxOpsPerMulti = 500

// errNotController: a fenced write found /controller_epoch moved on, so another
// broker was elected and this one must stop acting as controller.
var errNotController = errors.New("no longer the controller: /controller_epoch changed")

// controllerState is the controller's own state; the zero value means "not the
// controller".
type controllerState struct {
	active bool
	epoch  int32
	// epochZkVersion is the zkVersion of /controller_epoch written by our
	// election; every controller write checks it.
	epochZkVersion int32
	// knownBrokers maps each broker id to the epoch the controller last
	// handled, to tell failures, starts and bounces apart.
	knownBrokers map[int32]int64
	// lastChangePurge is when old config and ACL change notifications were
	// last purged.
	lastChangePurge time.Time
	// replicaStates holds the replica state machine of the topics being
	// deleted, derived again by a new controller.
	replicaStates map[string]map[replicaKey]replicaState
	// deletionWaitLogged remembers which dead brokers a deletion was last
	// logged as waiting for.
	deletionWaitLogged map[string][]int32
	// rebalanceDue is set by the auto rebalance ticker.
	rebalanceDue bool
	// transitions counts the partition state changes written since they
	// were last logged.
	transitions transitionCounts
	// planned is set when the last pass over the partitions succeeded,
	// with planFingerprint summing up what it depended on besides the
	// topics (see reconcileChangedPartitions).
	planned         bool
	planFingerprint string
}

// transitionCounts summarises partition state changes for one INFO line: a
// failover changes every partition of a broker, and a line per partition
// (at debug level) would drown the log at INFO.
type transitionCounts struct {
	// total counts the transitions (a partition created and brought
	// online in one write makes two).
	total int
	// byKind counts the changes by "From->To".
	byKind map[string]int
	topics map[string]bool
	// leaders counts the new leaders of the partitions that changed leader
	// by broker (-1: none).
	leaders map[int32]int
}

func (c *transitionCounts) add(topic string, plan partitionPlan) {
	if c.byKind == nil {
		c.byKind, c.topics, c.leaders = make(map[string]int), make(map[string]bool), make(map[int32]int)
	}
	c.total++
	c.byKind[string(plan.From)+"->"+string(plan.To)]++
	c.topics[topic] = true
}

// newLeader counts a partition whose leader changed to id.
func (c *transitionCounts) newLeader(id int32) {
	c.leaders[id]++
}

// controllerStep takes part in the election and, when this broker is the
// controller, does the controller's work.
func (s *Session) controllerStep() error {
	v := s.view
	ours := v.controller.exists && v.controller.brokerID == s.cfg.BrokerID && v.controller.owner == s.sessionID
	if s.ctrl.active && (!ours || v.controllerEpoch.version != s.ctrl.epochZkVersion) {
		s.resign("another broker is controller")
	}
	if !s.ctrl.active {
		var err error
		switch {
		case ours:
			err = s.adoptControllership()
		case !v.controller.exists:
			err = s.elect()
		}
		if err != nil || !s.ctrl.active {
			return err
		}
		// A new controller acts on the view it has rather than reading
		// every znode again (seconds at 100,000 partitions, all of it
		// added to the failover): this session's watches kept the view
		// current (a new session reads everything, see step), what is
		// still dirty is read now, and every write the controller makes
		// is conditional on the versions it read, so a stale entry only
		// fails a write, which has it read again.
		if err := v.refresh(s.zk, s.log); err != nil {
			return err
		}
		s.ctrl.knownBrokers = brokerEpochs(v.brokers)
	}
	return s.reconcile()
}

// elect runs Kafka's election: one multi creates the ephemeral /controller and
// bumps /controller_epoch at the version just read, so exactly one broker wins
// each epoch.
func (s *Session) elect() error {
	epoch, version, err := s.readControllerEpoch()
	if err != nil {
		return fmt.Errorf("controller election: %w", err)
	}
	payload, err := zkpaths.ControllerRegistration{BrokerID: s.cfg.BrokerID, Timestamp: s.cfg.Now()}.Marshal()
	if err != nil {
		return fmt.Errorf("controller election: %w", err)
	}
	res, err := s.zk.multi(
		s.zk.createOp(zkpaths.ControllerPath, payload, zk.FlagEphemeral),
		s.zk.setOp(zkpaths.ControllerEpochPath, zkpaths.MarshalControllerEpoch(epoch+1), version))
	switch {
	case err == nil:
		newVersion := res[1].Stat.Version
		s.view.setController(controllerZnode{exists: true, brokerID: s.cfg.BrokerID, owner: s.sessionID})
		s.view.controllerEpoch = epochZnode{epoch: epoch + 1, version: newVersion}
		// The creation's watch event fills in the czxid.
		s.view.dirty.controller = true
		s.becomeController(epoch+1, newVersion)
		return nil
	case errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrBadVersion):
		// Another broker won; the watches show who.
		s.view.dirty.controller, s.view.dirty.controllerEpoch = true, true
		return nil
	default:
		// The outcome is unknown (e.g. the connection dropped): reading
		// /controller again tells, and adoptControllership takes over if we won.
		s.view.dirty.controller, s.view.dirty.controllerEpoch = true, true
		return fmt.Errorf("controller election: %w", err)
	}
}

// readControllerEpoch reads /controller_epoch and its zkVersion, creating it with
// epoch 0 when absent.
func (s *Session) readControllerEpoch() (epoch, version int32, err error) {
	for range 3 {
		data, stat, err := s.zk.get(zkpaths.ControllerEpochPath)
		if err == nil {
			epoch, err := zkpaths.UnmarshalControllerEpoch(data)
			return epoch, stat.Version, err
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return 0, 0, err
		}
		_, err = s.zk.create(zkpaths.ControllerEpochPath, zkpaths.MarshalControllerEpoch(0), zk.FlagPersistent)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return 0, 0, err
		}
	}
	return 0, 0, errors.New("read controller epoch: the znode keeps disappearing")
}

// adoptControllership handles /controller naming this broker and session while
// it is not acting as controller, e.g. after an election whose reply was lost.
// Kafka stalls in this case (KAFKA-13407); we take over. The epoch is read
// between two reads of /controller that see the same znode: while our znode
// exists nobody else can be elected, so that epoch is the one our election
// wrote.
func (s *Session) adoptControllership() error {
	_, before, err := s.zk.get(zkpaths.ControllerPath)
	if err != nil {
		s.view.dirty.controller = true
		return fmt.Errorf("adopt controllership: %w", err)
	}
	epoch, version, err := s.readControllerEpoch()
	if err != nil {
		return fmt.Errorf("adopt controllership: %w", err)
	}
	_, after, err := s.zk.get(zkpaths.ControllerPath)
	if err != nil {
		s.view.dirty.controller = true
		return fmt.Errorf("adopt controllership: %w", err)
	}
	if before.EphemeralOwner != s.sessionID || after.Czxid != before.Czxid {
		s.view.dirty.controller = true
		return nil
	}
	s.log.WithField("epoch", epoch).Info("found this broker already registered as controller; taking over")
	s.view.controllerEpoch = epochZnode{epoch: epoch, version: version}
	s.becomeController(epoch, version)
	return nil
}

func (s *Session) becomeController(epoch, epochZkVersion int32) {
	s.ctrl = controllerState{active: true, epoch: epoch, epochZkVersion: epochZkVersion}
	s.view.changed = true
	s.log.WithField("epoch", epoch).Info("elected controller")
}

func (s *Session) resign(reason string) {
	if !s.ctrl.active {
		return
	}
	s.logTransitions()
	s.log.WithFields(logrus.Fields{"epoch": s.ctrl.epoch, "reason": reason}).Info("resigning as controller")
	s.ctrl = controllerState{}
}

// fencedMulti runs ops in a multi that first checks /controller_epoch, so that
// they fail if another controller was elected since ours (KAFKA-6082). It
// returns the responses of ops.
func (s *Session) fencedMulti(ops ...any) ([]zk.MultiResponse, error) {
	if !s.ctrl.active {
		return nil, errNotController
	}
	all := append([]any{s.zk.checkOp(zkpaths.ControllerEpochPath, s.ctrl.epochZkVersion)}, ops...)
	res, err := s.zk.multi(all...)
	if err != nil {
		if len(res) > 0 && res[0].Error != nil {
			s.resign("controller epoch changed")
			s.view.dirty.controller, s.view.dirty.controllerEpoch = true, true
			return nil, fmt.Errorf("%w: %w", errNotController, err)
		}
		return nil, err
	}
	return res[1:], nil
}

func brokerEpochs(brokers map[int32]Broker) map[int32]int64 {
	epochs := make(map[int32]int64, len(brokers))
	for id, b := range brokers {
		epochs[id] = b.Epoch
	}
	return epochs
}

// reconcile moves every partition toward the state the live brokers call for
// and carries out pending topic deletions. It runs after every change the
// watches report; writes happen only where something is to be done.
func (s *Session) reconcile() error {
	defer s.logTransitions()
	v := s.view
	live := func(id int32) bool { _, ok := v.brokers[id]; return ok }

	// A broker registered under a new epoch restarted in between: handle it as
	// a failure (its leaderships and ISR memberships go) and then as a start.
	bounced := make(map[int32]bool)
	for _, id := range slices.Sorted(maps.Keys(s.ctrl.knownBrokers)) {
		log := s.log.WithField("replica", id)
		switch b, ok := v.brokers[id]; {
		case !ok:
			log.Info("broker failed")
		case b.Epoch != s.ctrl.knownBrokers[id]:
			bounced[id] = true
			log.WithField("broker_epoch", b.Epoch).Info("broker restarted")
		}
	}
	for _, id := range slices.Sorted(maps.Keys(v.brokers)) {
		if _, known := s.ctrl.knownBrokers[id]; !known {
			s.log.WithFields(logrus.Fields{"replica": id, "broker_epoch": v.brokers[id].Epoch}).Info("broker started")
		}
	}
	if len(bounced) > 0 {
		liveBeforeRestart := func(id int32) bool { return live(id) && !bounced[id] }
		if err := s.reconcilePartitions(liveBeforeRestart, true, nil); err != nil {
			return err
		}
	}
	s.ctrl.knownBrokers = brokerEpochs(v.brokers)
	s.purgeChanges()

	var errs []error
	for _, work := range []func() error{
		func() error { return s.reconcileChangedPartitions(live) },
		s.reconcileDeletions,
		s.assignMissingTopicIDs,
		s.reconcileElections,
		s.reconcileReassignments,
	} {
		err := work()
		if errors.Is(err, errNotController) {
			return err
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// plannedWrite is one partition's next write.
type plannedWrite struct {
	partition int32
	plan      partitionPlan
	// then, when set, is the step after plan, written in the same multi:
	// a new partition is created New and made Online at once, so that the
	// brokers see one change rather than two (its partition epoch ends at
	// 1 as if written twice, which it is).
	then *partitionPlan
}

// final is the plan whose state the write leaves.
func (w plannedWrite) final() partitionPlan {
	if w.then != nil {
		return *w.then
	}
	return w.plan
}

// reconcileChangedPartitions plans the partitions of the topics that
// changed since the last pass, or of all topics when something else a plan
// depends on changed (the live brokers and their epochs, those shutting
// down, the controller epoch, the broker-wide unclean election default) or
// the last pass failed. A pass over 100,000 partitions takes tens of
// milliseconds, and a failover makes hundreds of steps, most of them
// reading a few hundred changed state znodes.
func (s *Session) reconcileChangedPartitions(live func(int32) bool) error {
	fingerprint := s.planFingerprint()
	topics := s.view.planTopics
	s.view.planTopics = make(map[string]bool)
	if !s.ctrl.planned || fingerprint != s.ctrl.planFingerprint {
		topics = nil
	}
	err := s.reconcilePartitions(live, false, topics)
	s.ctrl.planned, s.ctrl.planFingerprint = err == nil, fingerprint
	return err
}

// planFingerprint sums up what the plans depend on besides the topics.
func (s *Session) planFingerprint() string {
	v := s.view
	var b strings.Builder
	value, set := v.brokerConfig(s.cfg.BrokerID, uncleanLeaderElectionKey)
	fmt.Fprintf(&b, "%d %q %t", s.ctrl.epoch, value, set)
	for _, id := range slices.Sorted(maps.Keys(v.brokers)) {
		fmt.Fprintf(&b, " %d:%d:%t", id, v.brokers[id].Epoch, v.isShuttingDown(id))
	}
	return b.String()
}

// reconcilePartitions plans and writes the next step of every partition of the
// live topics named in only (all when only is nil): each step of all topics
// at once, in pipelined multis.
func (s *Session) reconcilePartitions(live func(int32) bool, failuresOnly bool, only map[string]bool) error {
	v := s.view
	var errs []error
	// NonExistent -> New -> Online takes two steps.
	for range 3 {
		all := make(map[string][]plannedWrite)
		for name, t := range v.topics {
			if v.deleting[name] || t.replicas == nil || (only != nil && !only[name]) {
				continue
			}
			var writes []plannedWrite
			// One closure per topic: this loop plans every partition of
			// the cluster at each step.
			uncleanAllowed := func() bool { return s.uncleanAllowed(name) }
			for p, replicas := range t.replicas {
				entry, watched := t.states[int32(p)]
				if !watched {
					continue
				}
				in := partitionPlanInput{
					Replicas:        replicas,
					Current:         entry.current(),
					ControllerEpoch: s.ctrl.epoch,
					Live:            live,
					ShuttingDown:    s.view.isShuttingDown,
					UncleanAllowed:  uncleanAllowed,
					FailuresOnly:    failuresOnly,
				}
				plan, ok, err := planPartition(in)
				if err != nil {
					errs = append(errs, fmt.Errorf("partition %s-%d: %w", name, p, err))
					continue
				}
				if !ok {
					continue
				}
				w := plannedWrite{partition: int32(p), plan: plan}
				if plan.From == zkpaths.StateNonExistent {
					in.Current = &plan.Next
					if then, ok, err := planPartition(in); err == nil && ok && then.To == zkpaths.StateOnline {
						w.then = &then
					}
				}
				writes = append(writes, w)
			}
			if len(writes) > 0 {
				all[name] = writes
			}
		}
		if len(all) == 0 {
			break
		}
		if err := s.writeStates(all); err != nil {
			if errors.Is(err, errNotController) {
				return err
			}
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// writeWindow bounds the controller's multis in flight: a failover or a
// controlled shutdown writes a state znode per partition of a broker, and
// one multi at a time would wait a ZooKeeper commit for each 500 of them.
const writeWindow = 8

// writePartitionStates applies planned New, Online and Offline transitions of
// one topic's partitions (see writeStates).
func (s *Session) writePartitionStates(topic string, writes []plannedWrite) error {
	return s.writeStates(map[string][]plannedWrite{topic: writes})
}

// stateBatch is one multi of writeStates: the writes of some partitions of
// one topic, and the ops that carry them out.
type stateBatch struct {
	topic  string
	writes []plannedWrite
	ops    []any
	// last holds, for each write, the index in ops of its last op, whose
	// result has the partition epoch.
	last []int
	// createsPartitions is set when the batch creates the topic's
	// partitions znode.
	createsPartitions bool
}

// writeStates applies planned New, Online and Offline transitions of
// partitions by topic, in fenced multis of up to maxOpsPerMulti partitions,
// each conditional on every partition epoch it writes, with up to
// writeWindow multis in flight. The view takes in what was written. A multi
// that fails leaves its partitions to be read again; the others stand.
func (s *Session) writeStates(writesByTopic map[string][]plannedWrite) error {
	if !s.ctrl.active {
		return errNotController
	}
	var first, rest []stateBatch
	var errs []error
	for _, topic := range slices.Sorted(maps.Keys(writesByTopic)) {
		batches, err := s.topicStateBatches(topic, writesByTopic[topic])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(batches) == 0 {
			continue
		}
		// A batch that creates the topic's partitions znode goes before
		// the others of the topic, whose creations need it.
		if batches[0].createsPartitions {
			first, batches = append(first, batches[0]), batches[1:]
		}
		rest = append(rest, batches...)
	}
	for _, wave := range [][]stateBatch{first, rest} {
		if err := s.writeStateBatches(wave); err != nil {
			if errors.Is(err, errNotController) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// topicStateBatches splits one topic's writes into multis, with the
// creation of the parents that the state znodes created need.
func (s *Session) topicStateBatches(topic string, writes []plannedWrite) ([]stateBatch, error) {
	t := s.view.topics[topic]
	if t == nil {
		return nil, nil
	}
	var parents map[int32]any
	var partitionsOp any
	if slices.ContainsFunc(writes, func(w plannedWrite) bool { return w.plan.From == zkpaths.StateNonExistent }) {
		var err error
		if partitionsOp, parents, err = s.missingPartitionParents(topic, writes); err != nil {
			return nil, fmt.Errorf("write partition states of %s: %w", topic, err)
		}
	}
	return s.stateBatches(topic, t, writes, partitionsOp, parents)
}

// stateBatches splits one topic's writes into multis of up to
// maxOpsPerMulti partitions each: partitionsOp (if any) first in the first,
// then in each the creation of the parents of its partitions (by
// partition) before their state znodes.
func (s *Session) stateBatches(topic string, t *topicEntry, writes []plannedWrite, partitionsOp any, parents map[int32]any) ([]stateBatch, error) {
	var batches []stateBatch
	for chunk := range slices.Chunk(writes, maxOpsPerMulti) {
		b := stateBatch{topic: topic, writes: chunk}
		if partitionsOp != nil {
			b.ops = append(b.ops, partitionsOp)
			b.createsPartitions, partitionsOp = true, nil
		}
		for _, w := range chunk {
			if op, ok := parents[w.partition]; ok {
				b.ops = append(b.ops, op)
			}
		}
		for _, w := range chunk {
			payload, err := w.plan.Next.Marshal()
			if err != nil {
				return nil, fmt.Errorf("partition %s-%d: %w", topic, w.partition, err)
			}
			p := zkpaths.PartitionStatePath(topic, w.partition)
			if w.plan.From == zkpaths.StateNonExistent {
				b.ops = append(b.ops, s.zk.createOp(p, payload, zk.FlagPersistent))
			} else {
				b.ops = append(b.ops, s.zk.setOp(p, payload, t.states[w.partition].version))
			}
			if w.then != nil {
				payload, err := w.then.Next.Marshal()
				if err != nil {
					return nil, fmt.Errorf("partition %s-%d: %w", topic, w.partition, err)
				}
				b.ops = append(b.ops, s.zk.setOp(p, payload, 0))
			}
			b.last = append(b.last, len(b.ops)-1)
		}
		batches = append(batches, b)
	}
	return batches, nil
}

// writeStateBatches runs batches as fenced multis, up to writeWindow at a
// time, and takes in what they wrote.
func (s *Session) writeStateBatches(batches []stateBatch) error {
	if len(batches) == 0 {
		return nil
	}
	check := s.zk.checkOp(zkpaths.ControllerEpochPath, s.ctrl.epochZkVersion)
	results, errs := inFlight(batches, writeWindow, false, func(b stateBatch) ([]zk.MultiResponse, error) {
		return s.zk.multi(append([]any{check}, b.ops...)...)
	})
	var failed []error
	fenced := false
	for i, b := range batches {
		if err := errs[i]; err != nil {
			if res := results[i]; len(res) > 0 && res[0].Error != nil {
				fenced = true
				err = fmt.Errorf("%w: %w", errNotController, err)
			}
			for _, w := range b.writes {
				s.view.dirty.states[zkpaths.TopicPartition{Topic: b.topic, Partition: w.partition}] = true
			}
			failed = append(failed, fmt.Errorf("write partition states of %s: %w", b.topic, err))
			continue
		}
		t := s.view.topics[b.topic]
		res := results[i][1:] // after the epoch check
		for j, w := range b.writes {
			// A create's result has no Stat: the znode is at version 0.
			version := int32(0)
			if stat := res[b.last[j]].Stat; stat != nil {
				version = stat.Version
			}
			previousLeader := int32(zkpaths.NoLeader)
			if old := t.states[w.partition]; old.exists {
				previousLeader = old.state.Leader
			}
			final := w.final()
			tp := zkpaths.TopicPartition{Topic: b.topic, Partition: w.partition}
			s.view.setState(tp, stateEntry{exists: true, state: final.Next, version: version})
			if w.plan.From == zkpaths.StateNonExistent {
				// Nothing watched the znode before it existed (the topic's
				// list of partitions did): a read sets the watch that shows
				// the leader's ISR changes.
				s.view.dirty.states[tp] = true
			}
			steps := []partitionPlan{w.plan}
			if w.then != nil {
				steps = append(steps, *w.then)
			}
			for _, step := range steps {
				s.logTransition(b.topic, w.partition, step)
				s.ctrl.transitions.add(b.topic, step)
			}
			if final.To != zkpaths.StateNonExistent && final.Next.Leader != previousLeader {
				s.ctrl.transitions.newLeader(final.Next.Leader)
			}
		}
	}
	if fenced {
		s.resign("controller epoch changed")
		s.view.dirty.controller, s.view.dirty.controllerEpoch = true, true
	}
	return errors.Join(failed...)
}

// missingPartitionParents returns the ops creating the data-less parents of the
// state znodes about to be created: that of the topic's partitions znode
// (nil when it exists), and that of each partition's znode by partition.
// They go into the multis of the states, which thereby also fail if the
// topic is deleted meanwhile.
func (s *Session) missingPartitionParents(topic string, writes []plannedWrite) (any, map[int32]any, error) {
	var partitionsOp any
	existing, err := s.zk.children(zkpaths.TopicPartitionsPath(topic))
	switch {
	case errors.Is(err, zk.ErrNoNode):
		partitionsOp = s.zk.createOp(zkpaths.TopicPartitionsPath(topic), nil, zk.FlagPersistent)
	case err != nil:
		return nil, nil, err
	}
	parents := make(map[int32]any)
	for _, w := range writes {
		name := fmt.Sprint(w.partition)
		if w.plan.From == zkpaths.StateNonExistent && !slices.Contains(existing, name) {
			parents[w.partition] = s.zk.createOp(zkpaths.PartitionPath(topic, w.partition), nil, zk.FlagPersistent)
		}
	}
	return partitionsOp, parents, nil
}

func (s *Session) logTransition(topic string, partition int32, plan partitionPlan) {
	log := s.log.WithFields(logrus.Fields{
		"topic":        topic,
		"partition":    partition,
		"from":         plan.From,
		"to":           plan.To,
		"leader":       plan.Next.Leader,
		"leader_epoch": plan.Next.LeaderEpoch,
		"isr":          plan.Next.ISR,
		"epoch":        s.ctrl.epoch,
	})
	if plan.Unclean {
		log.Warn("partition state change: unclean leader election, committed records may be lost")
		return
	}
	log.Debug("partition state change")
}

// logTransitions writes one INFO line for the partition state changes since
// the last one, if any.
func (s *Session) logTransitions() {
	c := s.ctrl.transitions
	if c.total == 0 {
		return
	}
	s.ctrl.transitions = transitionCounts{}
	fields := logrus.Fields{"changes": c.total, "topics": len(c.topics), "epoch": s.ctrl.epoch}
	for _, kind := range slices.Sorted(maps.Keys(c.byKind)) {
		fields[kind] = c.byKind[kind]
	}
	if len(c.leaders) > 0 {
		fields["new_leaders"] = fmt.Sprint(c.leaders)
	}
	s.log.WithFields(fields).Info("partition state changes")
}

// uncleanAllowed tells whether a topic allows unclean leader election: its
// override, else the dynamic broker config, else this broker's static config.
func (s *Session) uncleanAllowed(topic string) bool {
	if t := s.view.topics[topic]; t != nil {
		if value, ok := t.configs[uncleanLeaderElectionKey]; ok {
			if allowed, err := configvalue.ParseBool(value); err == nil {
				return allowed
			}
		}
	}
	if value, ok := s.view.brokerConfig(s.cfg.BrokerID, uncleanLeaderElectionKey); ok {
		if allowed, err := configvalue.ParseBool(value); err == nil {
			return allowed
		}
	}
	return s.cfg.UncleanLeaderElection
}

// assignMissingTopicIDs gives an id to topics created without one (by tools
// that write version 2 assignments), as Kafka's controller does.
func (s *Session) assignMissingTopicIDs() error {
	v := s.view
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(v.topics)) {
		t := v.topics[name]
		if t.replicas == nil || !t.assignment.TopicID.IsZero() || v.deleting[name] {
			continue
		}
		id, err := zkpaths.NewRandomUUID(crand.Reader)
		if err != nil {
			return err
		}
		assignment := t.assignment
		assignment.TopicID = id
		payload, err := assignment.Marshal()
		if err != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", name, err))
			continue
		}
		res, err := s.fencedMulti(s.zk.setOp(zkpaths.TopicPath(name), payload, t.version))
		if errors.Is(err, errNotController) {
			return err
		}
		if err != nil {
			v.dirty.topics[name] = true
			errs = append(errs, fmt.Errorf("assign topic id to %s: %w", name, err))
			continue
		}
		t.assignment, t.version = assignment, res[0].Stat.Version
		v.touchTopic(name)
		s.log.WithFields(logrus.Fields{"topic": name, "topic_id": id.String()}).Info("assigned topic id")
	}
	return errors.Join(errs...)
}
