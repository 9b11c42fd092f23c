package coordinator

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/internal/zksecure"
)

var openACL = zk.WorldACL(zk.PermAll)

// zkClient wraps a ZooKeeper connection and is the one place where the chroot is
// applied: its methods take and return paths of the cluster namespace. Watches
// are set through the *W methods; their events arrive through the connection's
// event callback, so the per-call channels are dropped.
//
// It is also the one place that decides the ACL of every znode created
// (security.ACL, Kafka's defaultAcls): open to all unless zookeeper.set.acl.
type zkClient struct {
	conn     *zk.Conn
	chroot   string
	security zksecure.Settings
}

// acl is the ACL a znode created at p, a path of the cluster namespace, gets.
func (c *zkClient) acl(p string) []zk.ACL {
	return c.security.ACL(p)
}

func (c *zkClient) abs(p string) string {
	if c.chroot == "" {
		return p
	}
	if p == "/" {
		return c.chroot
	}
	return c.chroot + p
}

// rel maps a server path back into the cluster namespace; ok is false for paths
// outside the chroot.
func (c *zkClient) rel(p string) (string, bool) {
	if c.chroot == "" {
		return p, true
	}
	if p == c.chroot {
		return "/", true
	}
	r, ok := strings.CutPrefix(p, c.chroot)
	if !ok || !strings.HasPrefix(r, "/") {
		return "", false
	}
	return r, true
}

func (c *zkClient) sessionID() int64 { return c.conn.SessionID() }

func (c *zkClient) get(p string) ([]byte, *zk.Stat, error) {
	data, stat, err := c.conn.Get(c.abs(p))
	if err != nil {
		return nil, nil, fmt.Errorf("zookeeper get %s: %w", p, err)
	}
	return data, stat, nil
}

func (c *zkClient) getW(p string) ([]byte, *zk.Stat, error) {
	data, stat, _, err := c.conn.GetW(c.abs(p))
	if err != nil {
		return nil, nil, fmt.Errorf("zookeeper get %s: %w", p, err)
	}
	return data, stat, nil
}

func (c *zkClient) children(p string) ([]string, error) {
	names, _, err := c.conn.Children(c.abs(p))
	if err != nil {
		return nil, fmt.Errorf("zookeeper children %s: %w", p, err)
	}
	return names, nil
}

func (c *zkClient) childrenW(p string) ([]string, error) {
	names, _, _, err := c.conn.ChildrenW(c.abs(p))
	if err != nil {
		return nil, fmt.Errorf("zookeeper children %s: %w", p, err)
	}
	return names, nil
}

func (c *zkClient) exists(p string) (bool, *zk.Stat, error) {
	ok, stat, err := c.conn.Exists(c.abs(p))
	if err != nil {
		return false, nil, fmt.Errorf("zookeeper exists %s: %w", p, err)
	}
	return ok, stat, nil
}

func (c *zkClient) existsW(p string) (bool, *zk.Stat, error) {
	ok, stat, _, err := c.conn.ExistsW(c.abs(p))
	if err != nil {
		return false, nil, fmt.Errorf("zookeeper exists %s: %w", p, err)
	}
	return ok, stat, nil
}

// existsWatch is an exists call whose watch is returned rather than routed to
// the session goroutine (it reaches both).
func (c *zkClient) existsWatch(p string) (bool, <-chan zk.Event, error) {
	ok, _, ch, err := c.conn.ExistsW(c.abs(p))
	if err != nil {
		return false, nil, fmt.Errorf("zookeeper exists %s: %w", p, err)
	}
	return ok, ch, nil
}

// getOrWatchCreation reads a znode with a data watch or, when it does not exist,
// sets an existence watch so that its creation is seen.
func (c *zkClient) getOrWatchCreation(p string) (data []byte, stat *zk.Stat, exists bool, err error) {
	// A node may vanish between the exists and the get; two rounds settle it
	// unless it is created and deleted continuously.
	for range 3 {
		data, stat, err = c.getW(p)
		if err == nil {
			return data, stat, true, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return nil, nil, false, err
		}
		if exists, _, err = c.existsW(p); err != nil || !exists {
			return nil, nil, false, err
		}
	}
	return nil, nil, false, fmt.Errorf("zookeeper get %s: node keeps appearing and disappearing", p)
}

func (c *zkClient) create(p string, data []byte, flags int32) (string, error) {
	created, err := c.conn.Create(c.abs(p), data, flags, c.acl(p))
	if err != nil {
		return "", fmt.Errorf("zookeeper create %s: %w", p, err)
	}
	r, _ := c.rel(created)
	return r, nil
}

func (c *zkClient) set(p string, data []byte, version int32) (*zk.Stat, error) {
	stat, err := c.conn.Set(c.abs(p), data, version)
	if err != nil {
		return nil, fmt.Errorf("zookeeper set %s: %w", p, err)
	}
	return stat, nil
}

func (c *zkClient) delete(p string, version int32) error {
	if err := c.conn.Delete(c.abs(p), version); err != nil {
		return fmt.Errorf("zookeeper delete %s: %w", p, err)
	}
	return nil
}

// multi runs ops atomically. On failure the error is that of the first failed op.
func (c *zkClient) multi(ops ...any) ([]zk.MultiResponse, error) {
	res, err := c.conn.Multi(ops...)
	if err != nil {
		return res, fmt.Errorf("zookeeper multi: %w", err)
	}
	return res, nil
}

func (c *zkClient) createOp(p string, data []byte, flags int32) *zk.CreateRequest {
	return &zk.CreateRequest{Path: c.abs(p), Data: data, Acl: c.acl(p), Flags: flags}
}

func (c *zkClient) setOp(p string, data []byte, version int32) *zk.SetDataRequest {
	return &zk.SetDataRequest{Path: c.abs(p), Data: data, Version: version}
}

func (c *zkClient) deleteOp(p string, version int32) *zk.DeleteRequest {
	return &zk.DeleteRequest{Path: c.abs(p), Version: version}
}

func (c *zkClient) checkOp(p string, version int32) *zk.CheckVersionRequest {
	return &zk.CheckVersionRequest{Path: c.abs(p), Version: version}
}

// ensurePath creates a persistent znode and its missing parents, without data.
func (c *zkClient) ensurePath(p string) error {
	if p == "/" {
		// The chroot, made at start.
		return nil
	}
	_, err := c.conn.Create(c.abs(p), nil, zk.FlagPersistent, c.acl(p))
	if errors.Is(err, zk.ErrNoNode) {
		if err := c.ensurePath(path.Dir(p)); err != nil {
			return err
		}
		_, err = c.conn.Create(c.abs(p), nil, zk.FlagPersistent, c.acl(p))
	}
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("zookeeper create %s: %w", p, err)
	}
	return nil
}

// ensureAbsPath creates the persistent znode at the server path p and its
// missing parents, without data, each with acl: the chroot and what lies
// above it, which are outside the cluster namespace.
func ensureAbsPath(conn *zk.Conn, p string, acl []zk.ACL) error {
	if p == "/" {
		return nil
	}
	_, err := conn.Create(p, nil, zk.FlagPersistent, acl)
	if errors.Is(err, zk.ErrNoNode) {
		if err := ensureAbsPath(conn, path.Dir(p), acl); err != nil {
			return err
		}
		_, err = conn.Create(p, nil, zk.FlagPersistent, acl)
	}
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("zookeeper create %s: %w", p, err)
	}
	return nil
}

// descendants lists every znode below p, children before their parents, so
// that deleting them in order empties the tree. The children of each level
// are listed with their requests in flight together: a topic's tree holds
// two znodes per partition.
func (c *zkClient) descendants(p string) ([]string, error) {
	var levels [][]string
	for level := []string{p}; len(level) > 0; {
		children, errs := fetchAll(level, func(parent string) ([]string, error) {
			names, err := c.children(parent)
			if errors.Is(err, zk.ErrNoNode) && parent != p {
				return nil, nil // deleted meanwhile: the delete's multi tells
			}
			return names, err
		})
		if err := firstError(errs); err != nil {
			return nil, err
		}
		var next []string
		for i, parent := range level {
			for _, name := range children[i] {
				next = append(next, parent+"/"+name)
			}
		}
		levels = append(levels, next)
		level = next
	}
	var out []string
	for i := len(levels) - 1; i >= 0; i-- {
		out = append(out, levels[i]...)
	}
	return out, nil
}

// eventQueue collects ZooKeeper events from the client's callback, which must
// never block, for the session goroutine.
type eventQueue struct {
	mu     sync.Mutex
	events []zk.Event
	ready  chan struct{} // holds a token while events are queued
}

func newEventQueue() *eventQueue {
	return &eventQueue{ready: make(chan struct{}, 1)}
}

func (q *eventQueue) push(ev zk.Event) {
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *eventQueue) drain() []zk.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	events := q.events
	q.events = nil
	return events
}

// zkLogger routes go-zookeeper's own log to logrus at debug level: it reports
// every connection attempt, which the session already logs in context.
type zkLogger struct{ log logrus.FieldLogger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debugf("zookeeper client: "+format, args...)
}

// readWindow bounds the reads one refresh keeps in flight on its connection:
// enough to hide the round trip (go-zookeeper sends concurrent requests on one
// connection and matches the replies), few enough to stay well below
// ZooKeeper's limit of outstanding requests (globalOutstandingLimit, 1000).
const readWindow = 128

// errNotRead marks the keys fetchAll skipped after another read failed.
var errNotRead = errors.New("not read: an earlier read failed")

// fetchAll calls fetch for every key with up to readWindow calls in flight
// and returns their results and errors in the order of keys. Once a call
// fails, the calls not yet started are skipped (their error is errNotRead):
// the connection is most likely gone, and the caller reads them again later.
func fetchAll[K, T any](keys []K, fetch func(K) (T, error)) ([]T, []error) {
	return inFlight(keys, readWindow, true, fetch)
}

// inFlight calls call for every key with up to window calls in flight (on
// as many goroutines, which return before it does) and returns their results
// and errors in the order of keys. With stopOnError, once a call fails the
// calls not yet started are skipped with errNotRead.
func inFlight[K, T any](keys []K, window int, stopOnError bool, call func(K) (T, error)) ([]T, []error) {
	results := make([]T, len(keys))
	errs := make([]error, len(keys))
	if len(keys) == 1 {
		results[0], errs[0] = call(keys[0])
		return results, errs
	}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(window, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(keys) {
					return
				}
				if failed.Load() {
					errs[i] = errNotRead
					continue
				}
				results[i], errs[i] = call(keys[i])
				if errs[i] != nil && stopOnError {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return results, errs
}
