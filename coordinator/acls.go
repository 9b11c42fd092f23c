package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/zkpaths"
)

// ACLs are stored as Kafka's AclAuthorizer stores them (see zkpaths/acl.go):
// one znode per resource pattern, and a notification in
// /kafka-acl-changes or /kafka-acl-extended-changes for every change. As
// with configs, the resource znodes are not watched: every session watches
// both change folders and re-reads only the patterns the new notifications
// name. Everything is read again at start and after a session loss (when
// notifications may have been missed), and when a notification was purged
// before this view read it.

// aclChangeFolders are the two change folders, in the order they are read.
var aclChangeFolders = [...]string{zkpaths.LiteralACLChangesPath, zkpaths.ExtendedACLChangesPath}

// aclView is the view's part for ACLs. It belongs to the session goroutine.
type aclView struct {
	entries map[acl.Resource][]acl.Entry
	// set is the Set of entries; nil when entries changed since it was
	// built.
	set *acl.Set
	// queues holds the state of each change folder by path.
	queues map[string]*changeQueue
}

// aclDirty names the ACL parts of the view to read again.
type aclDirty struct {
	// list: list every resource pattern and read each.
	list bool
	// changes holds the change folders to read.
	changes   map[string]bool
	resources map[acl.Resource]bool
}

func newACLView() aclView {
	v := aclView{entries: make(map[acl.Resource][]acl.Entry), queues: make(map[string]*changeQueue)}
	for _, folder := range aclChangeFolders {
		v.queues[folder] = newChangeQueue(folder, "ACL", zkpaths.ParseACLChangeSequence)
	}
	return v
}

func newACLDirty() aclDirty {
	return aclDirty{changes: make(map[string]bool), resources: make(map[acl.Resource]bool)}
}

func (d *aclDirty) empty() bool {
	return !d.list && len(d.changes) == 0 && len(d.resources) == 0
}

// markAllACLs makes the next refresh read every ACL again; notifications
// missed while the watches were gone are covered by that.
func (v *view) markAllACLs() {
	v.dirty.acls.list = true
	for _, folder := range aclChangeFolders {
		v.dirty.acls.changes[folder] = true
		v.acls.queues[folder].unprime()
	}
}

// markACLPath records a watch event on a change folder; it reports whether
// p is one.
func (v *view) markACLPath(p string) bool {
	if p == zkpaths.LiteralACLChangesPath || p == zkpaths.ExtendedACLChangesPath {
		v.dirty.acls.changes[p] = true
		return true
	}
	return false
}

// aclSet returns the Set of the view's ACLs, built once per change.
func (v *view) aclSet() *acl.Set {
	if v.acls.set == nil {
		v.acls.set = acl.NewSet(v.acls.entries)
	}
	return v.acls.set
}

// aclChangeSeqs returns, per change folder, the newest notification applied.
func (v *view) aclChangeSeqs() map[string]int64 {
	seqs := make(map[string]int64, len(v.acls.queues))
	for folder, q := range v.acls.queues {
		seqs[folder] = q.last
	}
	return seqs
}

// refreshACLs applies new change notifications and reads the resource
// patterns marked dirty.
func (v *view) refreshACLs(c *zkClient, log logrus.FieldLogger) error {
	d := &v.dirty.acls
	for _, folder := range aclChangeFolders {
		if !d.changes[folder] {
			continue
		}
		if err := v.refreshACLChanges(c, folder, log); err != nil {
			return err
		}
		delete(d.changes, folder)
	}
	if d.list {
		present, err := listACLResources(c, log)
		if err != nil {
			return err
		}
		for r := range v.acls.entries {
			if !present[r] {
				v.setACLEntries(r, nil)
			}
		}
		for r := range present {
			d.resources[r] = true
		}
		d.list = false
	}
	for _, r := range slices.SortedFunc(maps.Keys(d.resources), acl.Resource.Compare) {
		if err := v.refreshACLResource(c, r, log); err != nil {
			return err
		}
		delete(d.resources, r)
	}
	return nil
}

// refreshACLChanges reads the notifications of a change folder newer than the
// last one applied and marks the resource patterns they name, as
// refreshConfigChanges does for configs.
func (v *view) refreshACLChanges(c *zkClient, folder string, log logrus.FieldLogger) error {
	q := v.acls.queues[folder]
	names, err := c.childrenW(folder)
	if errors.Is(err, zk.ErrNoNode) {
		// Removed by hand: watch for it to come back.
		var exists bool
		if exists, _, err = c.existsW(folder); err == nil && exists {
			v.dirty.acls.changes[folder] = true // created meanwhile: list it next time
		}
		names = nil
	}
	if err != nil {
		return err
	}
	last := q.last
	missed, err := q.read(c, names, func(p string, data []byte) {
		r, err := zkpaths.UnmarshalACLChange(folder, data)
		if err != nil {
			log.WithError(err).WithField("path", p).Warn("ignoring an unreadable ACL change notification")
			return
		}
		v.dirty.acls.resources[acl.Resource(r)] = true
	})
	if q.last != last {
		// A new snapshot tells CreateACLs and DeleteACLs waiting for their
		// own notification that this view has applied it.
		v.changed = true
	}
	if err != nil {
		return err
	}
	if missed {
		log.Info("an ACL change notification was purged before it was read; reading every ACL again")
		v.dirty.acls.list = true
	}
	return nil
}

// listACLResources lists every resource pattern that has an ACL znode.
func listACLResources(c *zkClient, log logrus.FieldLogger) (map[acl.Resource]bool, error) {
	present := make(map[acl.Resource]bool)
	for _, pattern := range []kmsg.ACLResourcePatternType{kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed} {
		store, _ := zkpaths.ACLStorePath(pattern)
		typeNames, err := c.children(store)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, typeName := range typeNames {
			typ, ok := zkpaths.ParseACLResourceTypeName(typeName)
			if !ok {
				log.WithField("path", store+"/"+typeName).Warn("ignoring ACLs of an unknown resource type")
				continue
			}
			names, err := c.children(store + "/" + typeName)
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, name := range names {
				present[acl.Resource{Type: typ, Name: name, Pattern: pattern}] = true
			}
		}
	}
	return present, nil
}

// refreshACLResource reads the ACLs of one resource pattern. An unreadable
// znode is logged and leaves what the view knew, as Kafka's authorizer
// keeps its cache when a notification cannot be processed.
func (v *view) refreshACLResource(c *zkClient, r acl.Resource, log logrus.FieldLogger) error {
	p, err := zkpaths.ACLResourcePath(zkpaths.ACLResource(r))
	if err != nil {
		log.WithError(err).Warn("ignoring an ACL change for a resource pattern that has no znode")
		return nil
	}
	data, _, err := c.get(p)
	if errors.Is(err, zk.ErrNoNode) {
		v.setACLEntries(r, nil)
		return nil
	}
	if err != nil {
		return err
	}
	stored, err := zkpaths.UnmarshalACLs(data)
	if err != nil {
		log.WithError(err).WithField("path", p).Warn("unreadable ACLs; keeping the ones read before")
		return nil
	}
	v.setACLEntries(r, normalizeEntries(fromZK(stored)))
	return nil
}

func (v *view) setACLEntries(r acl.Resource, entries []acl.Entry) {
	old, had := v.acls.entries[r]
	switch {
	case len(entries) == 0 && !had:
		return
	case len(entries) == 0:
		delete(v.acls.entries, r)
	case had && slices.Equal(old, entries):
		return
	default:
		v.acls.entries[r] = entries
	}
	v.acls.set = nil
	v.changed = true
}

func fromZK(stored []zkpaths.ACLEntry) []acl.Entry {
	entries := make([]acl.Entry, len(stored))
	for i, e := range stored {
		entries[i] = acl.Entry(e)
	}
	return entries
}

func toZK(entries []acl.Entry) []zkpaths.ACLEntry {
	stored := make([]zkpaths.ACLEntry, len(entries))
	for i, e := range entries {
		stored[i] = zkpaths.ACLEntry(e)
	}
	return stored
}

// normalizeEntries sorts and deduplicates entries (a resource's entries are
// a set, as in Kafka).
func normalizeEntries(entries []acl.Entry) []acl.Entry {
	slices.SortFunc(entries, acl.Entry.Compare)
	return slices.Compact(entries)
}

// aclUpdate is the outcome of one resource pattern's read-modify-write.
type aclUpdate struct {
	before, after []acl.Entry
	// folder and seq name the change notification written; seq is -1 when
	// nothing changed and nothing was written.
	folder string
	seq    int64
}

// aclWaitTimeout bounds how long CreateACLs and DeleteACLs wait for this
// session's snapshot to show their changes when the caller's context has no
// earlier deadline.
const aclWaitTimeout = 30 * time.Second

// CreateACLs adds bindings, returning one error per binding (nil when it is
// stored, or was already). Invalid bindings (acl.ValidateBinding) get an
// error wrapping acl.ErrInvalid and are not stored. The entries of each
// resource pattern are added in one write conditional on the znode version
// read, retried when another writer got there first, together with the
// change notification (in the same multi). Once written, CreateACLs waits
// for this session's snapshot to show the change, so that a DescribeAcls
// that follows on the same broker sees it.
func (s *Session) CreateACLs(ctx context.Context, bindings []acl.Binding) []error {
	errs := make([]error, len(bindings))
	byResource := make(map[acl.Resource][]int)
	for i, b := range bindings {
		if err := acl.ValidateBinding(b); err != nil {
			errs[i] = fmt.Errorf("create ACL %s: %w", b, err)
			continue
		}
		byResource[b.Resource] = append(byResource[b.Resource], i)
	}
	written := make(map[string]int64)
	for _, r := range slices.SortedFunc(maps.Keys(byResource), acl.Resource.Compare) {
		indexes := byResource[r]
		add := make([]acl.Entry, len(indexes))
		for j, i := range indexes {
			add[j] = bindings[i].Entry
		}
		u, err := await(ctx, s, func() (aclUpdate, error) {
			return s.updateACLs(r, func(current []acl.Entry) []acl.Entry {
				return append(slices.Clone(current), add...)
			})
		})
		if err != nil {
			for _, i := range indexes {
				errs[i] = fmt.Errorf("create ACLs for %s: %w", r, err)
			}
			continue
		}
		if u.seq >= 0 {
			written[u.folder] = max(written[u.folder], u.seq)
			s.log.WithFields(logrus.Fields{"resource": r.String(), "acls": fmt.Sprint(add)}).Info("created ACLs")
		}
	}
	s.awaitACLChanges(ctx, written)
	return errs
}

// DeleteACLs deletes the bindings each filter matches and returns, per
// filter, the bindings it deleted (sorted) and an error: one wrapping
// acl.ErrInvalid for an invalid filter (acl.ValidateFilter), or that of a
// failed write. A binding matched by several filters is reported under the
// first of them, as Kafka does.
//
// The candidates are read from ZooKeeper rather than from the snapshot, so
// that ACLs created through another broker whose notification this one has
// not applied yet are deleted too. Each resource pattern's entries are
// rewritten (or its znode deleted when none remain) conditionally on the
// version read, with the change notification in the same multi.
func (s *Session) DeleteACLs(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, []error) {
	deleted := make([][]acl.Binding, len(filters))
	errs := make([]error, len(filters))
	var valid []int
	candidates := make(map[acl.Resource]bool)
	list := false
	for i, f := range filters {
		if err := acl.ValidateFilter(f); err != nil {
			errs[i] = fmt.Errorf("delete ACLs: %w", err)
			continue
		}
		valid = append(valid, i)
		exact := f.ExactResources()
		list = list || exact == nil
		for _, r := range exact {
			// A name that cannot be a znode has no ACLs to delete.
			if _, err := zkpaths.ACLResourcePath(zkpaths.ACLResource(r)); err == nil {
				candidates[r] = true
			}
		}
	}
	if len(valid) == 0 {
		return deleted, errs
	}
	if list {
		present, err := await(ctx, s, func() (map[acl.Resource]bool, error) { return listACLResources(s.zk, s.log) })
		if err != nil {
			for _, i := range valid {
				errs[i] = fmt.Errorf("delete ACLs: list ACLs: %w", err)
			}
			return deleted, errs
		}
		maps.Copy(candidates, present)
	}

	written := make(map[string]int64)
	for _, r := range slices.SortedFunc(maps.Keys(candidates), acl.Resource.Compare) {
		var matching []int
		for _, i := range valid {
			if filters[i].MatchesResource(r) {
				matching = append(matching, i)
			}
		}
		if len(matching) == 0 {
			continue
		}
		// firstMatch is the first filter matching an entry of r, or -1.
		firstMatch := func(e acl.Entry) int {
			for _, i := range matching {
				if filters[i].MatchesEntry(e) {
					return i
				}
			}
			return -1
		}
		u, err := await(ctx, s, func() (aclUpdate, error) {
			return s.updateACLs(r, func(current []acl.Entry) []acl.Entry {
				return slices.DeleteFunc(slices.Clone(current), func(e acl.Entry) bool { return firstMatch(e) >= 0 })
			})
		})
		if err != nil {
			for _, i := range matching {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("delete ACLs of %s: %w", r, err)
				}
			}
			continue
		}
		for _, e := range u.before {
			if _, kept := slices.BinarySearchFunc(u.after, e, acl.Entry.Compare); kept {
				continue
			}
			if i := firstMatch(e); i >= 0 {
				deleted[i] = append(deleted[i], acl.Binding{Resource: r, Entry: e})
			}
		}
		if u.seq >= 0 {
			written[u.folder] = max(written[u.folder], u.seq)
			s.log.WithFields(logrus.Fields{"resource": r.String(), "remaining": len(u.after)}).Info("deleted ACLs")
		}
	}
	for i := range deleted {
		slices.SortFunc(deleted[i], acl.Binding.Compare)
	}
	s.awaitACLChanges(ctx, written)
	return deleted, errs
}

// updateACLs rewrites the entries of one resource pattern to what modify
// makes of the current ones, conditionally on the znode's version, with a
// change notification in the same multi; nothing is written when the entries
// do not change. A pattern left without entries loses its znode, as in
// Kafka.
func (s *Session) updateACLs(r acl.Resource, modify func(current []acl.Entry) []acl.Entry) (aclUpdate, error) {
	zr := zkpaths.ACLResource(r)
	p, err := zkpaths.ACLResourcePath(zr)
	if err != nil {
		return aclUpdate{}, err
	}
	notification, err := zkpaths.MarshalACLChange(zr)
	if err != nil {
		return aclUpdate{}, err
	}
	folder := zkpaths.ACLChangesPath(r.Pattern)
	for range maxConditionalAttempts {
		data, stat, err := s.zk.get(p)
		exists := err == nil
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return aclUpdate{}, err
		}
		var current []acl.Entry
		if exists {
			stored, err := zkpaths.UnmarshalACLs(data)
			if err != nil {
				// Rewriting it could lose ACLs another tool wrote.
				return aclUpdate{}, fmt.Errorf("%s: %w", p, err)
			}
			current = normalizeEntries(fromZK(stored))
		}
		next := normalizeEntries(modify(current))
		u := aclUpdate{before: current, after: next, folder: folder, seq: -1}
		if slices.Equal(current, next) {
			return u, nil
		}
		var write any
		switch {
		case len(next) == 0:
			write = s.zk.deleteOp(p, stat.Version)
		default:
			payload, err := zkpaths.MarshalACLs(toZK(next))
			if err != nil {
				return aclUpdate{}, fmt.Errorf("%s: %w", p, err)
			}
			if exists {
				write = s.zk.setOp(p, payload, stat.Version)
			} else {
				write = s.zk.createOp(p, payload, zk.FlagPersistent)
			}
		}
		res, err := s.zk.multi(write, s.zk.createOp(zkpaths.ACLChangeSequencePath(r.Pattern), notification, zk.FlagSequence))
		switch {
		case err == nil:
			seq, ok := zkpaths.ParseACLChangeSequence(path.Base(res[1].String))
			if !ok {
				return aclUpdate{}, fmt.Errorf("ZooKeeper created the ACL change notification %q", res[1].String)
			}
			u.seq = seq
			return u, nil
		case errors.Is(err, zk.ErrNoNode):
			// The znode went away under us, or a folder is missing
			// (created at start, but anyone may remove it).
			for _, folder := range []string{path.Dir(p), folder} {
				if err := s.zk.ensurePath(folder); err != nil {
					return aclUpdate{}, err
				}
			}
		case errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNodeExists):
			// Another writer got there between the read and the multi.
		default:
			return aclUpdate{}, err
		}
	}
	return aclUpdate{}, fmt.Errorf("%s kept changing under %d attempts", p, maxConditionalAttempts)
}

// awaitACLChanges waits until this session's snapshot has applied the
// notifications written (their sequence numbers by folder), or until ctx
// ends or aclWaitTimeout passes: the changes are stored either way, and the
// snapshot shows them soon after.
func (s *Session) awaitACLChanges(ctx context.Context, written map[string]int64) {
	if len(written) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, aclWaitTimeout)
	defer cancel()
	err := s.awaitSnapshot(ctx, func(snap *Snapshot) bool {
		for folder, seq := range written {
			if snap.aclChangeSeqs[folder] < seq {
				return false
			}
		}
		return true
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		s.log.WithError(err).Debug("ACL changes stored, but not yet in this broker's snapshot")
	}
}
