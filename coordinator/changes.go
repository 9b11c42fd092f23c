package coordinator

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
)

// Change notification folders: as in Kafka, whoever changes a config or an
// ACL also creates a persistent-sequential notification naming what changed
// in a folder every session watches (/config/changes, /kafka-acl-changes,
// /kafka-acl-extended-changes); each session reads the notifications it has
// not applied yet, and the controller deletes those older than
// changeRetention.

// changeRetention is how long notifications are kept: long enough for
// every broker to see them, as Kafka's 15 minutes.
const changeRetention = 15 * time.Minute

// changePurgeInterval spaces the controller's purges of old notifications.
const changePurgeInterval = time.Minute

// changeQueue is where the view stands in one change notification folder.
// It belongs to the session goroutine.
type changeQueue struct {
	folder string
	// kind names what the folder announces changes of, in log messages.
	kind string
	// parse returns the sequence number of a notification's name; other
	// children of the folder are ignored.
	parse func(name string) (int64, bool)
	// last is the sequence number of the newest notification applied (-1
	// for none); primed is false until the first read after unprime, which
	// only records where the sequence stands.
	last   int64
	primed bool
	// times holds the creation time of each notification, for the
	// controller's purge.
	times map[string]time.Time
}

func newChangeQueue(folder, kind string, parse func(string) (int64, bool)) *changeQueue {
	return &changeQueue{folder: folder, kind: kind, parse: parse, last: -1, times: make(map[string]time.Time)}
}

// unprime makes the next read only record where the sequence stands: the
// caller reads everything again (a new session, where notifications may
// have been missed while the watch was gone).
func (q *changeQueue) unprime() {
	q.primed = false
}

// read takes names, the folder's children just listed, and calls apply with
// the path and data of each notification newer than the last one applied,
// in sequence order; it records the creation times of the notifications and
// forgets those no longer listed. The first read after unprime applies
// nothing. missed reports a notification purged between listing and
// reading, which this view had not applied: what it named is unknown, and
// the caller must read everything again.
func (q *changeQueue) read(c *zkClient, names []string, apply func(path string, data []byte)) (missed bool, err error) {
	type notification struct {
		name string
		seq  int64
	}
	var fresh []notification
	present := make(map[string]bool, len(names))
	for _, name := range names {
		seq, ok := q.parse(name)
		if !ok {
			continue
		}
		present[name] = true
		if _, seen := q.times[name]; !seen || seq > q.last {
			fresh = append(fresh, notification{name, seq})
		}
	}
	for name := range q.times {
		if !present[name] {
			delete(q.times, name)
		}
	}
	slices.SortFunc(fresh, func(a, b notification) int { return cmp.Compare(a.seq, b.seq) })
	initial := !q.primed
	q.primed = true
	for _, n := range fresh {
		p := q.folder + "/" + n.name
		data, stat, err := c.get(p)
		if errors.Is(err, zk.ErrNoNode) {
			// Purged between listing and reading: a change this view
			// has not applied, unless it is older than the last one.
			missed = missed || (!initial && n.seq > q.last)
			continue
		}
		if err != nil {
			return false, err
		}
		q.times[n.name] = time.UnixMilli(stat.Ctime)
		if n.seq <= q.last {
			continue
		}
		q.last = n.seq
		if initial {
			continue
		}
		apply(p, data)
	}
	return missed, nil
}

// changeQueues are the view's change notification folders, in the order
// they are purged.
func (v *view) changeQueues() []*changeQueue {
	qs := []*changeQueue{v.configChanges}
	for _, folder := range aclChangeFolders {
		qs = append(qs, v.acls.queues[folder])
	}
	return qs
}

// purgeChanges deletes the change notifications older than changeRetention
// from every folder. Only the controller does it, at most once per
// changePurgeInterval; a failure is retried at the next purge.
func (s *Session) purgeChanges() {
	now := s.cfg.Now()
	if now.Sub(s.ctrl.lastChangePurge) < changePurgeInterval {
		return
	}
	s.ctrl.lastChangePurge = now
	for _, q := range s.view.changeQueues() {
		if err := q.purge(s.zk, now); err != nil {
			s.log.WithError(err).Warn("purge " + q.kind + " change notifications")
		}
	}
}

// purge deletes the notifications created more than changeRetention before
// now, oldest name first; it stops at the first failure, which the next
// purge retries.
func (q *changeQueue) purge(c *zkClient, now time.Time) error {
	for _, name := range slices.Sorted(maps.Keys(q.times)) {
		if now.Sub(q.times[name]) <= changeRetention {
			continue
		}
		err := c.delete(q.folder+"/"+name, -1)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		delete(q.times, name)
	}
	return nil
}
