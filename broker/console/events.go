package console

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// Event rings: the state machine page shows the last few hundred partition
// changes, the controller page fewer, rarer events.
const (
	maxPartitionEvents  = 500
	maxControllerEvents = 200
)

// diffSnapshots returns the changes from prev to next, partition events
// then controller events, each in a stable order (by topic, partition or
// broker id), stamped with now. The causes are inferred from the two views
// only: the controller does not say why it moved a leader, but the views
// show whether the old leader's broker left, whether the new leader is the
// preferred replica, whether the replicas were being changed.
//
// With prev nil (the console's first view) there is nothing to compare
// with: the view is the baseline, and the only event says so.
//
// The cost follows the change, not the cluster: a topic next shares with
// prev (the same *coordinator.Topic, as the coordinator keeps unchanged
// topics between snapshots) costs one pointer comparison.
func diffSnapshots(prev, next *coordinator.Snapshot, now time.Time) []Event {
	if next == nil || prev == next {
		return nil
	}
	if prev == nil {
		controller := "no controller"
		if next.ControllerID >= 0 {
			controller = fmt.Sprintf("controller %d", next.ControllerID)
		}
		return []Event{controllerEvent(now, fmt.Sprintf("console started: view of %d topics, %d live brokers, %s",
			len(next.Topics), len(next.Brokers), controller))}
	}
	d := differ{prev: prev, next: next, now: now}
	d.controller()
	d.brokers()
	d.topics()
	return append(d.partitions, d.controllers...)
}

// differ collects the events of one diff.
type differ struct {
	prev, next              *coordinator.Snapshot
	now                     time.Time
	partitions, controllers []Event
}

func controllerEvent(now time.Time, text string) Event {
	return Event{Time: now, Kind: EventController, PrevLeader: zkpaths.NoLeader, Leader: zkpaths.NoLeader, LeaderEpoch: -1, Text: text}
}

func (d *differ) say(format string, args ...any) {
	d.controllers = append(d.controllers, controllerEvent(d.now, fmt.Sprintf(format, args...)))
}

func (d *differ) controller() {
	p, n := d.prev, d.next
	switch {
	case p.ControllerID != n.ControllerID && n.ControllerID < 0:
		d.say("controller %d resigned or went away; no controller (epoch %d)", p.ControllerID, n.ControllerEpoch)
	case p.ControllerID != n.ControllerID && p.ControllerID < 0:
		d.say("broker %d became controller (epoch %d)", n.ControllerID, n.ControllerEpoch)
	case p.ControllerID != n.ControllerID:
		d.say("controller moved from broker %d to broker %d (epoch %d)", p.ControllerID, n.ControllerID, n.ControllerEpoch)
	case p.ControllerEpoch != n.ControllerEpoch:
		d.say("controller epoch %d → %d (broker %d)", p.ControllerEpoch, n.ControllerEpoch, n.ControllerID)
	}
}

func brokerAddress(b coordinator.Broker) string {
	addr := fmt.Sprintf("%s:%d", b.Host, b.Port)
	if b.Host == "" && len(b.Endpoints) > 0 {
		e := b.Endpoints[0]
		addr = fmt.Sprintf("%s:%d", e.Host, e.Port)
	}
	if b.Rack != "" {
		addr += " rack " + b.Rack
	}
	return addr
}

func (d *differ) brokers() {
	for _, id := range sortedKeys(d.next.Brokers) {
		nb := d.next.Brokers[id]
		pb, was := d.prev.Brokers[id]
		switch {
		case !was:
			d.say("broker %d registered at %s", id, brokerAddress(nb))
		case pb.Epoch != nb.Epoch:
			d.say("broker %d registered again at %s (it restarted or lost its session)", id, brokerAddress(nb))
		case brokerAddress(pb) != brokerAddress(nb) || pb.Console != nb.Console:
			d.say("broker %d now registered at %s", id, brokerAddress(nb))
		}
	}
	for _, id := range sortedKeys(d.prev.Brokers) {
		if _, ok := d.next.Brokers[id]; !ok {
			d.say("broker %d went away (was at %s)", id, brokerAddress(d.prev.Brokers[id]))
		}
	}
	// Dynamic broker configs: only the keys are named, values may be
	// secrets.
	for _, entity := range sortedKeys(unionKeys(d.prev.BrokerConfigs, d.next.BrokerConfigs)) {
		if changed := changedKeys(d.prev.BrokerConfigs[entity], d.next.BrokerConfigs[entity]); changed != "" {
			d.say("broker config of %s changed: %s", brokerEntity(entity), changed)
		}
	}
}

func brokerEntity(entity string) string {
	if entity == "<default>" {
		return "every broker (<default>)"
	}
	return "broker " + entity
}

// topics diffs the topics, skipping those next shares with prev. The
// changed ones are diffed in name order, so that events come out in a
// stable order.
func (d *differ) topics() {
	var changed []string
	kept := 0 // topics of next that prev has too
	for name, nt := range d.next.Topics {
		pt, ok := d.prev.Topics[name]
		if ok {
			kept++
		}
		if pt != nt {
			changed = append(changed, name)
		}
	}
	// Only when prev has topics next lacks is it worth a second pass.
	if kept < len(d.prev.Topics) {
		for name := range d.prev.Topics {
			if _, ok := d.next.Topics[name]; !ok {
				changed = append(changed, name)
			}
		}
	}
	slices.Sort(changed)
	for _, name := range changed {
		d.topic(name, d.prev.Topics[name], d.next.Topics[name])
	}
}

// topic diffs one topic that changed (pt or nt nil when it was created or
// deleted).
func (d *differ) topic(name string, pt, nt *coordinator.Topic) {
	var texts []string
	switch {
	case pt == nil:
		texts = append(texts, fmt.Sprintf("topic %s created with %d partitions, replication factor %d", name, len(nt.Partitions), topicReplicationFactor(nt)))
	case nt == nil:
		texts = append(texts, fmt.Sprintf("topic %s deleted", name))
	default:
		// A topic created without an id gets one from the controller
		// later: only a new id replacing another is a new topic.
		if pt.ID != ([16]byte{}) && pt.ID != nt.ID {
			texts = append(texts, fmt.Sprintf("topic %s re-created with %d partitions", name, len(nt.Partitions)))
		}
		if !pt.Deleting && nt.Deleting {
			texts = append(texts, fmt.Sprintf("topic %s marked for deletion", name))
		}
		if len(nt.Partitions) > len(pt.Partitions) && pt.ID == nt.ID {
			texts = append(texts, fmt.Sprintf("topic %s: partitions added, %d → %d", name, len(pt.Partitions), len(nt.Partitions)))
		}
		if changed := changedKeys(pt.Configs, nt.Configs); changed != "" {
			texts = append(texts, fmt.Sprintf("topic %s config changed: %s", name, changed))
		}
	}
	var started, finished []int32
	deleted := nt == nil
	nParts := 0
	if pt != nil {
		nParts = len(pt.Partitions)
	}
	if nt != nil {
		nParts = max(nParts, len(nt.Partitions))
	}
	for i := range nParts {
		var pp, np *coordinator.Partition
		if pt != nil && i < len(pt.Partitions) {
			pp = &pt.Partitions[i]
		}
		if nt != nil && i < len(nt.Partitions) {
			np = &nt.Partitions[i]
		}
		if pp != nil && np != nil {
			wasMoving, moving := reassigning(pp), reassigning(np)
			switch {
			case !wasMoving && moving:
				started = append(started, np.Partition)
			case wasMoving && !moving:
				finished = append(finished, np.Partition)
			}
		}
		if ev, ok := d.partition(name, int32(i), pp, np, deleted, nt != nil && nt.Deleting); ok {
			d.partitions = append(d.partitions, ev)
		}
	}
	if len(started) > 0 {
		texts = append(texts, fmt.Sprintf("reassignment of topic %s started: partitions %s", name, int32List(started)))
	}
	if len(finished) > 0 {
		texts = append(texts, fmt.Sprintf("reassignment of topic %s finished: partitions %s", name, int32List(finished)))
	}
	for _, text := range texts {
		d.say("%s", text)
	}
}

func topicReplicationFactor(t *coordinator.Topic) int {
	if len(t.Partitions) == 0 {
		return 0
	}
	p := &t.Partitions[0]
	return len(p.Replicas) - len(p.RemovingReplicas)
}

func reassigning(p *coordinator.Partition) bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// absent is how a partition that does not exist (yet, or any more) looks.
var absent = coordinator.Partition{Leader: zkpaths.NoLeader, LeaderEpoch: -1, State: zkpaths.StateNonExistent}

// partition diffs one partition; pp or np is nil when it did not or does
// no longer exist. It reports false when nothing an operator looks at
// changed (a new controller epoch or zkVersion alone).
//
// topicDeleted says np is nil because the topic is gone; deleting that the
// topic is being deleted (its partitions are taken offline first).
func (d *differ) partition(topic string, index int32, pp, np *coordinator.Partition, topicDeleted, deleting bool) (Event, bool) {
	p, n := &absent, &absent
	if pp != nil {
		p = pp
	}
	if np != nil {
		n = np
	}
	from, to := status(p), status(n)
	sameReplicas := slices.Equal(p.Replicas, n.Replicas) && slices.Equal(p.AddingReplicas, n.AddingReplicas) &&
		slices.Equal(p.RemovingReplicas, n.RemovingReplicas)
	if from == zkpaths.StateNonExistent && to == zkpaths.StateNonExistent {
		// Assigned but not started yet, or never started: the state
		// machine has nothing to show until it is.
		return Event{}, false
	}
	if from == to && p.Leader == n.Leader && p.LeaderEpoch == n.LeaderEpoch && slices.Equal(p.ISR, n.ISR) && sameReplicas {
		return Event{}, false
	}
	ev := Event{
		Time:        d.now,
		Kind:        EventPartition,
		Partition:   zkpaths.TopicPartition{Topic: topic, Partition: index},
		From:        from,
		To:          to,
		PrevLeader:  p.Leader,
		Leader:      n.Leader,
		LeaderEpoch: n.LeaderEpoch,
	}
	if np == nil {
		ev.LeaderEpoch = p.LeaderEpoch
	}
	// Reasons come first (why), then the changes they explain (what):
	// "broker 3 went away; leader 3 → 2; ISR 3,2,1 → 2,1".
	var reasons, changes []string
	reason := func(r string) {
		if r != "" && !slices.Contains(reasons, r) {
			reasons = append(reasons, r)
		}
	}
	switch {
	case np == nil && topicDeleted:
		reason("topic deleted")
	case np == nil:
		reason("partition removed")
	case from == zkpaths.StateNonExistent || from == zkpaths.StateNew && to != zkpaths.StateNew:
		reason("new partition")
	case deleting && to == zkpaths.StateOffline:
		reason("topic being deleted")
	case from == zkpaths.StateOnline && to == zkpaths.StateOffline:
		reason(d.wentAway(p.Leader))
		reason("no live replica in the ISR")
		changes = append(changes, fmt.Sprintf("leader %s → %s", leaderName(p.Leader), leaderName(n.Leader)))
	default:
		if p.Leader != n.Leader {
			unclean := uncleanElection(p, n)
			if unclean != "" {
				reason(unclean)
				d.say("%s for %s", unclean, ev.Partition)
			}
			if cause := d.leaderCause(p, n); unclean == "" || cause != "leader elected" {
				reason(cause)
			}
			changes = append(changes, fmt.Sprintf("leader %s → %s", leaderName(p.Leader), leaderName(n.Leader)))
		}
		if !sameReplicas {
			reason(reassignmentCause(p, n))
		}
		if isr := isrChange(p.ISR, n.ISR); isr != "" {
			// Why a replica left the ISR, when the views tell.
			for _, id := range p.ISR {
				if !slices.Contains(n.ISR, id) {
					reason(d.wentAway(id))
				}
			}
			changes = append(changes, isr)
		}
		if len(reasons) == 0 && len(changes) == 0 && p.LeaderEpoch != n.LeaderEpoch {
			changes = append(changes, fmt.Sprintf("leader epoch %d → %d", p.LeaderEpoch, n.LeaderEpoch))
		}
	}
	causes := append(reasons, changes...)
	ev.Cause = strings.Join(causes, "; ")
	return ev, true
}

func status(p *coordinator.Partition) zkpaths.PartitionStatus {
	if p.State == "" {
		return zkpaths.StateNonExistent
	}
	return p.State
}

// wentAway says why broker id is not live in next: "broker N went away"
// when it was live in prev, "broker N is down" when it was not either
// ("" when it is live).
func (d *differ) wentAway(id int32) string {
	if id < 0 {
		return ""
	}
	if _, live := d.next.Brokers[id]; live {
		return ""
	}
	if _, was := d.prev.Brokers[id]; was {
		return fmt.Sprintf("broker %d went away", id)
	}
	return fmt.Sprintf("broker %d is down", id)
}

// uncleanElection says "unclean leader election: N was not in the ISR
// (committed records may be lost)" when n's leader is new and was not in
// p's ISR while p had a leader or an ISR to choose from: the controller
// gave up on the records only the ISR had ("" otherwise).
func uncleanElection(p, n *coordinator.Partition) string {
	if n.Leader < 0 || n.Leader == p.Leader || (p.Leader < 0 && len(p.ISR) == 0) || slices.Contains(p.ISR, n.Leader) {
		return ""
	}
	return fmt.Sprintf("unclean leader election: %d was not in the ISR (committed records may be lost)", n.Leader)
}

// leaderCause says why the leader moved from p's to n's.
func (d *differ) leaderCause(p, n *coordinator.Partition) string {
	if gone := d.wentAway(p.Leader); gone != "" {
		return gone
	}
	if n.Leader < 0 {
		return "no live replica in the ISR"
	}
	if p.Leader >= 0 && !slices.Contains(n.Replicas, p.Leader) {
		return fmt.Sprintf("reassignment moved the partition off broker %d", p.Leader)
	}
	if p.Leader < 0 {
		if _, was := d.prev.Brokers[n.Leader]; !was {
			return fmt.Sprintf("broker %d came back", n.Leader)
		}
		return "leader elected"
	}
	if len(n.Replicas) > 0 && n.Leader == n.Replicas[0] {
		return "preferred leader election"
	}
	return "leader election (controlled shutdown or request)"
}

func reassignmentCause(p, n *coordinator.Partition) string {
	switch wasMoving, moving := reassigning(p), reassigning(n); {
	case !wasMoving && moving:
		return fmt.Sprintf("reassignment started: adding %s, removing %s", idList(n.AddingReplicas), idList(n.RemovingReplicas))
	case wasMoving && !moving:
		return fmt.Sprintf("reassignment completed: replicas %s", idList(n.Replicas))
	case moving:
		return fmt.Sprintf("reassignment in progress: adding %s, removing %s", idList(n.AddingReplicas), idList(n.RemovingReplicas))
	default:
		return fmt.Sprintf("replicas changed: %s → %s", idList(p.Replicas), idList(n.Replicas))
	}
}

// isrChange describes how the ISR changed, spelling the members out:
// "ISR shrank: removed 3 (3,2,1 → 2,1)", "ISR expanded: added 3 (2,1 →
// 2,1,3)", "ISR changed: removed 3, added 4 (...)"; "" when it did not.
func isrChange(prev, next []int32) string {
	var gone, came []int32
	for _, id := range prev {
		if !slices.Contains(next, id) {
			gone = append(gone, id)
		}
	}
	for _, id := range next {
		if !slices.Contains(prev, id) {
			came = append(came, id)
		}
	}
	members := fmt.Sprintf("(%s → %s)", idList(prev), idList(next))
	switch {
	case len(gone) > 0 && len(came) > 0:
		return fmt.Sprintf("ISR changed: removed %s, added %s %s", idList(gone), idList(came), members)
	case len(gone) > 0:
		return fmt.Sprintf("ISR shrank: removed %s %s", idList(gone), members)
	case len(came) > 0:
		return fmt.Sprintf("ISR expanded: added %s %s", idList(came), members)
	case !slices.Equal(prev, next):
		return "ISR reordered " + members
	}
	return ""
}

// idList writes ids as "3,2,1" ("none" for no id).
func idList(ids []int32) string {
	if len(ids) == 0 {
		return "none"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ",")
}

// leaderName is a leader id, "none" for NoLeader.
func leaderName(id int32) string {
	if id < 0 {
		return "none"
	}
	return fmt.Sprint(id)
}

// changedKeys names the keys added, changed or removed between two
// configs, sorted ("" when equal). Values are left out: they may be
// secrets.
func changedKeys(prev, next map[string]string) string {
	if maps.Equal(prev, next) {
		return ""
	}
	var out []string
	for _, k := range sortedKeys(unionKeys(prev, next)) {
		pv, had := prev[k]
		nv, has := next[k]
		switch {
		case !had:
			out = append(out, k+" set")
		case !has:
			out = append(out, k+" removed")
		case pv != nv:
			out = append(out, k+" changed")
		}
	}
	return strings.Join(out, ", ")
}

func unionKeys[K comparable, V any](a, b map[K]V) map[K]struct{} {
	u := make(map[K]struct{}, len(a)+len(b))
	for k := range a {
		u[k] = struct{}{}
	}
	for k := range b {
		u[k] = struct{}{}
	}
	return u
}

func sortedKeys[K interface{ ~int32 | ~string }, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

func int32List(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
