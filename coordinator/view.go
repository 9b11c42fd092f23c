package coordinator

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/zkpaths"
)

// view is the session goroutine's cache of the znodes it watches. Watch events
// mark parts of it dirty; refresh re-reads them, re-arming the watches. It is
// never shared: snapshots are built from it.
type view struct {
	brokers         map[int32]Broker
	controller      controllerZnode
	controllerEpoch epochZnode
	topics          map[string]*topicEntry
	deleting        map[string]bool
	// confirmed holds, per topic being deleted, the brokers that confirmed
	// the removal of their replicas.
	confirmed map[string]map[int32]bool

	// brokerConfigs holds /config/brokers/<entity> by entity.
	brokerConfigs map[string]map[string]string
	// clientQuotas holds every client quota entity's config (see quotas.go).
	clientQuotas map[zkpaths.QuotaEntity]map[string]string
	// scramCredentials holds the users' SCRAM credentials, read from the
	// same znodes as their quotas (see scram.go): user -> mechanism.
	scramCredentials map[string]map[string]scramcred.Credential
	// configChanges is where the view stands in /config/changes.
	configChanges *changeQueue

	// shuttingDown maps the brokers that asked for a controlled shutdown to
	// the broker epoch they asked with.
	shuttingDown map[int32]int64
	// reassignments is the content of /admin/reassign_partitions.
	reassignments adminZnode[map[zkpaths.TopicPartition][]int32]
	// election is the content of /admin/preferred_replica_election.
	election adminZnode[zkpaths.PreferredReplicaElection]
	// acls holds every ACL (see acls.go).
	acls aclView

	dirty dirtySet
	// changed is set when the content differs from the last snapshot.
	changed bool
	// built is the last snapshot built; staleTopics and stalePartitions
	// name what changed in the topics since. The next snapshot rebuilds
	// only those and shares every other *Topic with built, so that its cost
	// follows the change rather than the cluster.
	built           *Snapshot
	staleTopics     map[string]bool
	stalePartitions map[string]map[int32]bool
	// planTopics names the topics whose assignment, configs, deletion or
	// partition states changed since the controller last planned them.
	planTopics map[string]bool
}

type controllerZnode struct {
	exists   bool
	brokerID int32 // -1 when the payload is unreadable
	owner    int64 // ephemeralOwner: the session that created it
	czxid    int64
	version  int32
}

// adminZnode is a watched request znode of /admin.
type adminZnode[T any] struct {
	exists  bool
	version int32
	// valid is false when the payload could not be decoded.
	valid   bool
	request T
}

type epochZnode struct {
	epoch   int32
	version int32 // -1 when the znode does not exist
}

type topicEntry struct {
	czxid      int64 // tells a topic from an earlier one of the same name
	version    int32 // zkVersion of /brokers/topics/<t>
	assignment zkpaths.TopicAssignment
	replicas   [][]int32 // nil when the assignment is malformed
	// states holds every partition whose state znode is watched; an entry with
	// exists=false is watched for creation.
	states map[int32]stateEntry
	// configs holds the topic's overrides; read when the topic appears and
	// when a config change notification names it.
	configs map[string]string
}

type stateEntry struct {
	exists  bool
	state   zkpaths.PartitionState
	version int32 // the partition epoch
}

func (e stateEntry) current() *zkpaths.PartitionState {
	if !e.exists {
		return nil
	}
	s := e.state
	return &s
}

// dirtySet names what must be read again.
type dirtySet struct {
	brokerList, controller, controllerEpoch, topicList, deletions       bool
	configChanges, brokerConfigList, shutdowns, reassignments, election bool
	// quotaEntityList: list every client quota entity again.
	quotaEntityList bool

	brokers map[int32]bool
	topics  map[string]bool
	// partitionLists: list the partition znodes of these topics.
	partitionLists map[string]bool
	states         map[zkpaths.TopicPartition]bool
	topicConfigs   map[string]bool
	brokerConfigs  map[string]bool
	quotaConfigs   map[zkpaths.QuotaEntity]bool
	confirmations  map[string]bool
	acls           aclDirty
}

func newView() *view {
	v := &view{
		brokers:          make(map[int32]Broker),
		controller:       controllerZnode{brokerID: -1},
		controllerEpoch:  epochZnode{version: -1},
		topics:           make(map[string]*topicEntry),
		deleting:         make(map[string]bool),
		confirmed:        make(map[string]map[int32]bool),
		brokerConfigs:    make(map[string]map[string]string),
		clientQuotas:     make(map[zkpaths.QuotaEntity]map[string]string),
		scramCredentials: make(map[string]map[string]scramcred.Credential),
		shuttingDown:     make(map[int32]int64),
		acls:             newACLView(),
		configChanges:    newChangeQueue(zkpaths.ConfigChangesPath, "config", zkpaths.ParseConfigChangeSequence),
		changed:          true,
		staleTopics:      make(map[string]bool),
		stalePartitions:  make(map[string]map[int32]bool),
		planTopics:       make(map[string]bool),
	}
	v.dirty.reset()
	return v
}

func (d *dirtySet) reset() {
	*d = dirtySet{
		brokers:        make(map[int32]bool),
		topics:         make(map[string]bool),
		partitionLists: make(map[string]bool),
		states:         make(map[zkpaths.TopicPartition]bool),
		topicConfigs:   make(map[string]bool),
		brokerConfigs:  make(map[string]bool),
		quotaConfigs:   make(map[zkpaths.QuotaEntity]bool),
		confirmations:  make(map[string]bool),
		acls:           newACLDirty(),
	}
}

func (d *dirtySet) empty() bool {
	return !d.brokerList && !d.controller && !d.controllerEpoch && !d.topicList && !d.deletions &&
		!d.configChanges && !d.brokerConfigList && !d.shutdowns && !d.reassignments && !d.election &&
		!d.quotaEntityList && len(d.brokers) == 0 && len(d.topics) == 0 && len(d.partitionLists) == 0 && len(d.states) == 0 &&
		len(d.topicConfigs) == 0 && len(d.brokerConfigs) == 0 && len(d.quotaConfigs) == 0 && len(d.confirmations) == 0 &&
		d.acls.empty()
}

// markAll makes the next refresh read everything again, e.g. in a new session,
// where every watch is gone.
func (v *view) markAll() {
	d := &v.dirty
	d.brokerList, d.controller, d.controllerEpoch, d.topicList, d.deletions = true, true, true, true, true
	d.configChanges, d.brokerConfigList, d.shutdowns, d.reassignments, d.election = true, true, true, true, true
	d.quotaEntityList = true
	// Notifications missed while the watch was gone are covered by reading
	// every config again.
	v.configChanges.unprime()
	for id := range v.brokers {
		d.brokers[id] = true
	}
	for name, t := range v.topics {
		d.topics[name] = true
		d.topicConfigs[name] = true
		d.partitionLists[name] = true
		for p, entry := range t.states {
			// The list tells about the others.
			if entry.exists {
				d.states[zkpaths.TopicPartition{Topic: name, Partition: p}] = true
			}
		}
	}
	for name := range v.deleting {
		d.confirmations[name] = true
	}
	v.markAllACLs()
}

// markPath records a watch event on path.
func (v *view) markPath(p string) {
	d := &v.dirty
	switch p {
	case zkpaths.BrokerIDsPath:
		d.brokerList = true
		return
	case zkpaths.ControllerPath:
		d.controller = true
		return
	case zkpaths.ControllerEpochPath:
		d.controllerEpoch = true
		return
	case zkpaths.TopicsPath:
		d.topicList = true
		return
	case zkpaths.DeleteTopicsPath:
		d.deletions = true
		return
	case zkpaths.ConfigChangesPath:
		d.configChanges = true
		return
	case zkpaths.ControlledShutdownPath:
		d.shutdowns = true
		return
	case zkpaths.ReassignPartitionsPath:
		d.reassignments = true
		return
	case zkpaths.PreferredReplicaElectionPath:
		d.election = true
		return
	}
	if v.markACLPath(p) {
		return
	}
	if topic, ok := zkpaths.ParseDeleteTopicPath(p); ok {
		d.confirmations[topic] = true
		return
	}
	if id, ok := zkpaths.ParseBrokerIDPath(p); ok {
		d.brokers[id] = true
	} else if topic, ok := zkpaths.ParseTopicPath(p); ok {
		d.topics[topic] = true
	} else if topic, ok := zkpaths.ParseTopicPartitionsPath(p); ok {
		d.partitionLists[topic] = true
	} else if topic, partition, ok := zkpaths.ParsePartitionStatePath(p); ok {
		d.states[zkpaths.TopicPartition{Topic: topic, Partition: partition}] = true
	}
}

// refresh re-reads whatever is dirty. On error the parts not yet read stay
// dirty for the next attempt.
func (v *view) refresh(c *zkClient, log logrus.FieldLogger) error {
	d := &v.dirty
	if d.controllerEpoch {
		if err := v.refreshControllerEpoch(c); err != nil {
			return err
		}
		d.controllerEpoch = false
	}
	if d.controller {
		if err := v.refreshController(c, log); err != nil {
			return err
		}
		d.controller = false
	}
	if d.brokerList {
		if err := v.refreshBrokerList(c); err != nil {
			return err
		}
		d.brokerList = false
	}
	for _, id := range slices.Sorted(maps.Keys(d.brokers)) {
		if err := v.refreshBroker(c, id, log); err != nil {
			return err
		}
		delete(d.brokers, id)
	}
	if d.topicList {
		if err := v.refreshTopicList(c); err != nil {
			return err
		}
		d.topicList = false
	}
	if err := v.refreshTopics(c, log); err != nil {
		return err
	}
	if err := v.refreshPartitionLists(c); err != nil {
		return err
	}
	if err := v.refreshStates(c, log); err != nil {
		return err
	}
	if d.deletions {
		if err := v.refreshDeletions(c); err != nil {
			return err
		}
		d.deletions = false
	}
	for _, name := range slices.Sorted(maps.Keys(d.confirmations)) {
		if err := v.refreshConfirmations(c, name); err != nil {
			return err
		}
		delete(d.confirmations, name)
	}
	if err := v.refreshConfigs(c, log); err != nil {
		return err
	}
	if err := v.refreshACLs(c, log); err != nil {
		return err
	}
	if d.shutdowns {
		if err := v.refreshShutdowns(c, log); err != nil {
			return err
		}
		d.shutdowns = false
	}
	if d.reassignments {
		if err := v.refreshReassignments(c, log); err != nil {
			return err
		}
		d.reassignments = false
	}
	if d.election {
		if err := v.refreshElection(c, log); err != nil {
			return err
		}
		d.election = false
	}
	return nil
}

func (v *view) refreshControllerEpoch(c *zkClient) error {
	data, stat, exists, err := c.getOrWatchCreation(zkpaths.ControllerEpochPath)
	if err != nil {
		return err
	}
	next := epochZnode{version: -1}
	if exists {
		epoch, err := zkpaths.UnmarshalControllerEpoch(data)
		if err != nil {
			return fmt.Errorf("read %s: %w", zkpaths.ControllerEpochPath, err)
		}
		next = epochZnode{epoch: epoch, version: stat.Version}
	}
	if next != v.controllerEpoch {
		v.controllerEpoch, v.changed = next, true
	}
	return nil
}

func (v *view) refreshController(c *zkClient, log logrus.FieldLogger) error {
	data, stat, exists, err := c.getOrWatchCreation(zkpaths.ControllerPath)
	if err != nil {
		return err
	}
	next := controllerZnode{brokerID: -1}
	if exists {
		next = controllerZnode{exists: true, brokerID: -1, owner: stat.EphemeralOwner, czxid: stat.Czxid, version: stat.Version}
		if reg, err := zkpaths.UnmarshalControllerRegistration(data); err != nil {
			log.WithError(err).WithField("path", zkpaths.ControllerPath).Warn("unreadable controller registration")
		} else {
			next.brokerID = reg.BrokerID
		}
	}
	v.setController(next)
	return nil
}

func (v *view) setController(next controllerZnode) {
	if next != v.controller {
		v.controller, v.changed = next, true
	}
}

func (v *view) refreshBrokerList(c *zkClient) error {
	names, err := c.childrenW(zkpaths.BrokerIDsPath)
	if err != nil {
		return err
	}
	present := make(map[int32]bool, len(names))
	for _, name := range names {
		id, ok := zkpaths.ParseBrokerID(name)
		if !ok {
			continue
		}
		present[id] = true
		if _, known := v.brokers[id]; !known {
			v.dirty.brokers[id] = true
		}
	}
	for id := range v.brokers {
		if !present[id] {
			delete(v.brokers, id)
			v.changed = true
		}
	}
	return nil
}

func (v *view) refreshBroker(c *zkClient, id int32, log logrus.FieldLogger) error {
	p := zkpaths.BrokerIDPath(id)
	data, stat, err := c.getW(p)
	if errors.Is(err, zk.ErrNoNode) {
		if _, known := v.brokers[id]; known {
			delete(v.brokers, id)
			v.changed = true
		}
		return nil
	}
	if err != nil {
		return err
	}
	b := Broker{ID: id, Port: -1, Epoch: stat.Czxid}
	if reg, err := zkpaths.UnmarshalBrokerRegistration(data); err != nil {
		// The broker is alive whatever its payload says; keep it, unreachable.
		log.WithError(err).WithField("path", p).Warn("unreadable broker registration")
	} else {
		b.Host, b.Port, b.Rack, b.Console = reg.Host, reg.Port, reg.Rack, reg.Console
		for _, e := range reg.Endpoints {
			b.Endpoints = append(b.Endpoints, Endpoint(e))
		}
	}
	if old, known := v.brokers[id]; !known || !equalBroker(old, b) {
		v.brokers[id] = b
		v.changed = true
	}
	return nil
}

func equalBroker(a, b Broker) bool {
	return a.ID == b.ID && a.Host == b.Host && a.Port == b.Port && a.Rack == b.Rack && a.Epoch == b.Epoch &&
		a.Console == b.Console && slices.Equal(a.Endpoints, b.Endpoints)
}

func (v *view) refreshTopicList(c *zkClient) error {
	names, err := c.childrenW(zkpaths.TopicsPath)
	if err != nil {
		return err
	}
	present := make(map[string]bool, len(names))
	for _, name := range names {
		present[name] = true
		if _, known := v.topics[name]; !known {
			v.dirty.topics[name] = true
		}
	}
	for name := range v.topics {
		if !present[name] {
			v.removeTopic(name)
		}
	}
	return nil
}

func (v *view) removeTopic(name string) {
	if _, known := v.topics[name]; known {
		delete(v.topics, name)
		v.touchTopic(name)
	}
}

// touchTopic records that a topic's snapshot must be built again (its
// assignment, id, configs or deletion changed, or it came or went).
func (v *view) touchTopic(name string) {
	v.staleTopics[name] = true
	v.planTopics[name] = true
	v.changed = true
}

// touchPartition records that one partition's snapshot must be built again.
func (v *view) touchPartition(tp zkpaths.TopicPartition) {
	parts := v.stalePartitions[tp.Topic]
	if parts == nil {
		parts = make(map[int32]bool)
		v.stalePartitions[tp.Topic] = parts
	}
	parts[tp.Partition] = true
	v.planTopics[tp.Topic] = true
	v.changed = true
}

// znodeRead is one znode as read: exists is false when there is none.
type znodeRead struct {
	data   []byte
	stat   *zk.Stat
	exists bool
}

// firstError returns the first error of errs that is not errNotRead, or
// errNotRead, or nil.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, errNotRead)) {
			first = err
		}
	}
	return first
}

// refreshTopics reads the dirty topic assignments, with their reads in
// flight together.
func (v *view) refreshTopics(c *zkClient, log logrus.FieldLogger) error {
	if len(v.dirty.topics) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(v.dirty.topics))
	reads, errs := fetchAll(names, func(name string) (znodeRead, error) {
		data, stat, err := c.getW(zkpaths.TopicPath(name))
		if errors.Is(err, zk.ErrNoNode) {
			return znodeRead{}, nil
		}
		return znodeRead{data: data, stat: stat, exists: err == nil}, err
	})
	for i, name := range names {
		if errs[i] == nil {
			v.applyTopic(name, reads[i], log)
			delete(v.dirty.topics, name)
		}
	}
	return firstError(errs)
}

// applyTopic takes in what a read of /brokers/topics/<name> found.
func (v *view) applyTopic(name string, read znodeRead, log logrus.FieldLogger) {
	if !read.exists {
		v.removeTopic(name)
		return
	}
	data, stat := read.data, read.stat
	p := zkpaths.TopicPath(name)
	t := v.topics[name]
	if t == nil || t.czxid != stat.Czxid {
		// New, or deleted and created again: nothing of the old one applies.
		t = &topicEntry{czxid: stat.Czxid, version: -1, states: make(map[int32]stateEntry)}
		v.topics[name] = t
		v.dirty.topicConfigs[name] = true
	} else if t.version == stat.Version {
		return
	}
	t.version = stat.Version
	v.touchTopic(name)

	assignment, err := zkpaths.UnmarshalTopicAssignment(data)
	if err == nil {
		t.assignment = assignment
		t.replicas, err = assignment.Replicas()
	}
	if err != nil {
		log.WithError(err).WithField("path", p).Warn("unreadable topic assignment; the topic is left out of the metadata")
		t.assignment, t.replicas = zkpaths.TopicAssignment{}, nil
		return
	}
	for partition := range t.replicas {
		if _, watched := t.states[int32(partition)]; !watched {
			// The list of partition znodes tells which to read.
			v.dirty.partitionLists[name] = true
			break
		}
	}
}

// refreshPartitionLists lists the partition znodes of the dirty topics, with
// one watch per topic on the list (or on its creation). A partition without
// a znode has no state znode either (the controller creates both in one
// multi): it is NonExistent, and the list's watch tells when it appears, so
// no watch per partition is needed until then. The state znodes of the
// partitions listed are read (and watched) if not known yet.
func (v *view) refreshPartitionLists(c *zkClient) error {
	if len(v.dirty.partitionLists) == 0 {
		return nil
	}
	var names []string
	for name := range v.dirty.partitionLists {
		if t := v.topics[name]; t == nil || t.replicas == nil {
			delete(v.dirty.partitionLists, name)
			continue
		}
		names = append(names, name)
	}
	lists, errs := fetchAll(names, func(name string) ([]string, error) {
		p := zkpaths.TopicPartitionsPath(name)
		for range 3 {
			children, err := c.childrenW(p)
			if !errors.Is(err, zk.ErrNoNode) {
				return children, err
			}
			exists, _, err := c.existsW(p)
			if err != nil || !exists {
				return nil, err
			}
		}
		return nil, fmt.Errorf("zookeeper children %s: node keeps appearing and disappearing", p)
	})
	for i, name := range names {
		if errs[i] != nil {
			continue
		}
		delete(v.dirty.partitionLists, name)
		t := v.topics[name]
		listed := make(map[int32]bool, len(lists[i]))
		for _, child := range lists[i] {
			if p, ok := zkpaths.ParsePartition(child); ok {
				listed[p] = true
			}
		}
		for p := range int32(len(t.replicas)) {
			tp := zkpaths.TopicPartition{Topic: name, Partition: p}
			entry, watched := t.states[p]
			switch {
			case listed[p] && (!watched || !entry.exists):
				// Created since, or not read yet.
				v.dirty.states[tp] = true
			case !listed[p] && !watched:
				v.setState(tp, stateEntry{})
			case !listed[p] && entry.exists:
				// Gone: its state znode's watch tells too.
				v.dirty.states[tp] = true
			}
		}
	}
	return firstError(errs)
}

// refreshStates reads the dirty partition state znodes (watching them, or
// their creation), with up to readWindow reads in flight: a new topic, a
// failover or a broker start makes thousands of them dirty at once.
func (v *view) refreshStates(c *zkClient, log logrus.FieldLogger) error {
	if len(v.dirty.states) == 0 {
		return nil
	}
	tps := make([]zkpaths.TopicPartition, 0, len(v.dirty.states))
	for tp := range v.dirty.states {
		if v.topics[tp.Topic] == nil {
			delete(v.dirty.states, tp)
			continue
		}
		tps = append(tps, tp)
	}
	entries, errs := fetchAll(tps, func(tp zkpaths.TopicPartition) (stateEntry, error) {
		return readState(c, tp, log)
	})
	for i, tp := range tps {
		if errs[i] == nil {
			v.setState(tp, entries[i])
			delete(v.dirty.states, tp)
		}
	}
	return firstError(errs)
}

// readState reads a partition state znode with a watch, or watches for its
// creation. It runs on fetchAll's goroutines, so it touches no view.
func readState(c *zkClient, tp zkpaths.TopicPartition, log logrus.FieldLogger) (stateEntry, error) {
	p := zkpaths.PartitionStatePath(tp.Topic, tp.Partition)
	data, stat, exists, err := c.getOrWatchCreation(p)
	if err != nil {
		return stateEntry{}, err
	}
	next := stateEntry{}
	if exists {
		state, err := zkpaths.UnmarshalPartitionState(data)
		if err != nil {
			// Treat it as having no leader: the controller's next conditional
			// write replaces it.
			log.WithError(err).WithField("path", p).Warn("unreadable partition state")
			state = zkpaths.PartitionState{Leader: zkpaths.NoLeader, LeaderEpoch: -1, State: zkpaths.StateOffline}
		}
		next = stateEntry{exists: true, state: state, version: stat.Version}
	}
	return next, nil
}

func (v *view) setState(tp zkpaths.TopicPartition, next stateEntry) {
	t := v.topics[tp.Topic]
	if t == nil {
		return
	}
	if old, watched := t.states[tp.Partition]; watched && equalState(old, next) {
		return
	}
	t.states[tp.Partition] = next
	v.touchPartition(tp)
}

func equalState(a, b stateEntry) bool {
	return a.exists == b.exists && a.version == b.version && a.state.State == b.state.State &&
		a.state.Leader == b.state.Leader && a.state.LeaderEpoch == b.state.LeaderEpoch &&
		a.state.ControllerEpoch == b.state.ControllerEpoch && slices.Equal(a.state.ISR, b.state.ISR)
}

func (v *view) refreshDeletions(c *zkClient) error {
	names, err := c.childrenW(zkpaths.DeleteTopicsPath)
	if err != nil {
		return err
	}
	next := make(map[string]bool, len(names))
	for _, name := range names {
		next[name] = true
		if !v.deleting[name] {
			v.dirty.confirmations[name] = true
		}
	}
	for name := range v.confirmed {
		if !next[name] {
			delete(v.confirmed, name)
		}
	}
	v.setDeleting(next)
	return nil
}

// setDeleting takes in the topics whose deletion is requested.
func (v *view) setDeleting(next map[string]bool) {
	if maps.Equal(next, v.deleting) {
		return
	}
	for name := range v.deleting {
		if !next[name] {
			v.touchTopic(name)
		}
	}
	for name := range next {
		if !v.deleting[name] {
			v.touchTopic(name)
		}
	}
	v.deleting, v.changed = next, true
}

// refreshConfirmations reads (and watches) the brokers that confirmed the
// removal of their replicas of a topic being deleted.
func (v *view) refreshConfirmations(c *zkClient, topic string) error {
	if !v.deleting[topic] {
		delete(v.confirmed, topic)
		return nil
	}
	names, err := c.childrenW(zkpaths.DeleteTopicPath(topic))
	if errors.Is(err, zk.ErrNoNode) {
		// The request is gone; the list's watch tells.
		v.dirty.deletions = true
		return nil
	}
	if err != nil {
		return err
	}
	next := make(map[int32]bool, len(names))
	for _, name := range names {
		if id, ok := zkpaths.ParseBrokerID(name); ok {
			next[id] = true
		}
	}
	if !maps.Equal(next, v.confirmed[topic]) {
		v.confirmed[topic], v.changed = next, true
	}
	return nil
}

func (v *view) refreshShutdowns(c *zkClient, log logrus.FieldLogger) error {
	names, err := c.childrenW(zkpaths.ControlledShutdownPath)
	if errors.Is(err, zk.ErrNoNode) {
		// A cluster whose persistent paths predate controlled shutdown.
		_, _, _, err = c.getOrWatchCreation(zkpaths.ControlledShutdownPath)
		names = nil
	}
	if err != nil {
		return err
	}
	next := make(map[int32]int64, len(names))
	for _, name := range names {
		id, ok := zkpaths.ParseBrokerID(name)
		if !ok {
			continue
		}
		data, _, err := c.get(zkpaths.ControlledShutdownBrokerPath(id))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return err
		}
		req, err := zkpaths.UnmarshalControlledShutdownRequest(data)
		if err != nil || req.BrokerID != id {
			log.WithError(err).WithField("broker", id).Warn("ignoring an unreadable controlled shutdown request")
			continue
		}
		next[id] = req.BrokerEpoch
	}
	if !maps.Equal(next, v.shuttingDown) {
		v.shuttingDown, v.changed = next, true
	}
	return nil
}

func (v *view) refreshReassignments(c *zkClient, log logrus.FieldLogger) error {
	data, stat, exists, err := c.getOrWatchCreation(zkpaths.ReassignPartitionsPath)
	if err != nil {
		return err
	}
	next := adminZnode[map[zkpaths.TopicPartition][]int32]{exists: exists}
	if exists {
		next.version = stat.Version
		req, err := zkpaths.UnmarshalReassignPartitions(data)
		if err != nil {
			log.WithError(err).Warn("unreadable partition reassignment request")
		} else {
			next.valid = true
			next.request = make(map[zkpaths.TopicPartition][]int32, len(req.Partitions))
			for _, r := range req.Partitions {
				next.request[zkpaths.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Replicas
			}
		}
	}
	v.reassignments = next
	return nil
}

func (v *view) refreshElection(c *zkClient, log logrus.FieldLogger) error {
	data, stat, exists, err := c.getOrWatchCreation(zkpaths.PreferredReplicaElectionPath)
	if err != nil {
		return err
	}
	next := adminZnode[zkpaths.PreferredReplicaElection]{exists: exists}
	if exists {
		next.version = stat.Version
		req, err := zkpaths.UnmarshalPreferredReplicaElection(data)
		if err != nil {
			log.WithError(err).Warn("unreadable leader election request")
		} else {
			next.valid, next.request = true, req
		}
	}
	v.election = next
	return nil
}

// snapshot builds an immutable Snapshot of the view. Topics that did not
// change since the last snapshot are shared with it (the same *Topic), so the
// cost is that of the change plus a copy of the topic map; the small parts
// (brokers, configs, quotas, deletions) are built again each time.
func (v *view) snapshot(clusterID string) *Snapshot {
	snap := v.buildSnapshot(clusterID, v.built)
	v.built = snap
	clear(v.staleTopics)
	clear(v.stalePartitions)
	return snap
}

// buildSnapshot builds a snapshot from prev, the snapshot built before the
// changes recorded in staleTopics and stalePartitions, or from scratch when
// prev is nil.
func (v *view) buildSnapshot(clusterID string, prev *Snapshot) *Snapshot {
	snap := &Snapshot{
		ClusterID:       clusterID,
		ControllerID:    -1,
		ControllerEpoch: v.controllerEpoch.epoch,
		Brokers:         make(map[int32]Broker, len(v.brokers)),
		Topics:          make(map[string]*Topic, len(v.topics)),
		BrokerConfigs:   make(map[string]map[string]string, len(v.brokerConfigs)),
		PendingDeletion: make(map[string][]int32),
		ACLs:            v.aclSet(),
		aclChangeSeqs:   v.aclChangeSeqs(),
		shuttingDown:    make(map[int32]bool),
	}
	for entity, configs := range v.brokerConfigs {
		snap.BrokerConfigs[entity] = maps.Clone(configs)
	}
	snap.ClientQuotas = make(map[zkpaths.QuotaEntity]map[string]string, len(v.clientQuotas))
	for entity, configs := range v.clientQuotas {
		snap.ClientQuotas[entity] = maps.Clone(configs)
	}
	snap.ScramCredentials = make(map[string]map[string]scramcred.Credential, len(v.scramCredentials))
	for user, credentials := range v.scramCredentials {
		snap.ScramCredentials[user] = maps.Clone(credentials)
	}
	for id := range v.shuttingDown {
		if v.isShuttingDown(id) {
			snap.shuttingDown[id] = true
		}
	}
	if v.controller.exists {
		snap.ControllerID = v.controller.brokerID
	}
	for id, b := range v.brokers {
		b.Endpoints = slices.Clone(b.Endpoints)
		snap.Brokers[id] = b
	}
	for name := range v.deleting {
		if t := v.topics[name]; t != nil && t.replicas != nil {
			snap.PendingDeletion[name] = v.unconfirmedReplicas(name, t)
		}
	}

	if prev == nil {
		for name, t := range v.topics {
			if topic := v.buildTopic(name, t); topic != nil {
				snap.Topics[name] = topic
			}
		}
		return snap
	}
	maps.Copy(snap.Topics, prev.Topics)
	for name := range v.staleTopics {
		delete(snap.Topics, name)
		if t := v.topics[name]; t != nil {
			if topic := v.buildTopic(name, t); topic != nil {
				snap.Topics[name] = topic
			}
		}
	}
	for name, partitions := range v.stalePartitions {
		old, t := snap.Topics[name], v.topics[name]
		if v.staleTopics[name] || old == nil || t == nil {
			// Built whole above, or not in the snapshot at all.
			continue
		}
		topic := *old
		topic.Partitions = slices.Clone(old.Partitions)
		for p := range partitions {
			if int(p) < len(topic.Partitions) {
				topic.Partitions[p] = buildPartition(name, t, int(p))
			}
		}
		snap.Topics[name] = &topic
	}
	return snap
}

// buildTopic builds a topic's snapshot; nil when its assignment is unreadable.
func (v *view) buildTopic(name string, t *topicEntry) *Topic {
	if t.replicas == nil {
		return nil
	}
	topic := &Topic{
		Name:       name,
		ID:         t.assignment.TopicID,
		Partitions: make([]Partition, len(t.replicas)),
		Deleting:   v.deleting[name],
		Configs:    maps.Clone(t.configs),
	}
	if topic.Configs == nil {
		topic.Configs = map[string]string{}
	}
	for p := range t.replicas {
		topic.Partitions[p] = buildPartition(name, t, p)
	}
	return topic
}

// buildPartition builds the snapshot of partition p of a topic.
func buildPartition(name string, t *topicEntry, p int) Partition {
	part := Partition{
		Topic:            name,
		Partition:        int32(p),
		Replicas:         slices.Clone(t.replicas[p]),
		Leader:           zkpaths.NoLeader,
		LeaderEpoch:      -1,
		State:            zkpaths.StateNonExistent,
		ControllerEpoch:  -1,
		PartitionEpoch:   -1,
		AddingReplicas:   slices.Clone(t.assignment.AddingReplicas[int32(p)]),
		RemovingReplicas: slices.Clone(t.assignment.RemovingReplicas[int32(p)]),
	}
	if s := t.states[int32(p)]; s.exists {
		part.Leader = s.state.Leader
		part.LeaderEpoch = s.state.LeaderEpoch
		part.ISR = slices.Clone(s.state.ISR)
		part.State = s.state.State
		part.ControllerEpoch = s.state.ControllerEpoch
		part.PartitionEpoch = s.version
	}
	return part
}

// isShuttingDown tells whether a live broker asked for a controlled shutdown
// in its current registration.
func (v *view) isShuttingDown(id int32) bool {
	epoch, asked := v.shuttingDown[id]
	b, live := v.brokers[id]
	return asked && live && b.Epoch == epoch
}

// unconfirmedReplicas lists the brokers holding a replica of a topic being
// deleted that have not confirmed its removal.
func (v *view) unconfirmedReplicas(name string, t *topicEntry) []int32 {
	var pending []int32
	for _, replicas := range t.replicas {
		for _, r := range replicas {
			if !v.confirmed[name][r] && !slices.Contains(pending, r) {
				pending = append(pending, r)
			}
		}
	}
	slices.Sort(pending)
	return pending
}
