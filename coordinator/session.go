package coordinator

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/internal/zksecure"
	"github.com/kzoo/kzoo/zkpaths"
)

// closeTimeout bounds how long Close waits for the session goroutine to resign
// and deregister before it closes the connection under it.
const closeTimeout = 5 * time.Second

// ErrClosed: the Session was closed.
var ErrClosed = errors.New("coordinator session closed")

// Retry delays of the session goroutine after a failed step (ZooKeeper
// unreachable, a conditional write that lost a race, ...).
const (
	minRetryDelay = 50 * time.Millisecond
	maxRetryDelay = 2 * time.Second
)

// Session is a broker's presence in ZooKeeper: its registration, its share in
// the controller election (and the controller's work when elected), and the
// watched metadata view. It is safe for concurrent use.
type Session struct {
	cfg       Config
	log       logrus.FieldLogger
	zk        *zkClient
	events    *eventQueue
	clusterID string

	brokerEpoch atomic.Int64
	snapshot    atomic.Pointer[Snapshot]
	changes     chan *Snapshot
	// published is closed (and replaced) each time a snapshot is published,
	// for the calls that wait for the metadata to reach some state.
	publishedMu sync.Mutex
	published   chan struct{}

	// dials remembers why the last connection attempt failed, for the
	// error of a start that gets no session.
	dials zksecure.DialRecorder

	cancel    context.CancelFunc
	done      chan struct{} // closed when the session goroutine has returned
	closeOnce sync.Once
	closeErr  error

	// calls tracks the ZooKeeper calls of the administration methods, which
	// may outlive a caller that stopped waiting (see await).
	callsMu sync.Mutex
	closed  bool
	calls   sync.WaitGroup

	// Owned by the session goroutine (by Start before it runs).
	view *view
	// sessionID is the ZooKeeper session the view's watches and the
	// registration belong to; a different id on the connection means the old
	// session expired.
	sessionID int64
	// registeredSession is the session that created our registration.
	registeredSession int64
	ctrl              controllerState
	lastStepError     string
}

// Start connects to ZooKeeper, prepares the cluster's persistent znodes and
// /cluster/id, registers the broker and loads the metadata view, then starts the
// session goroutine (controller election, watches, re-registration after session
// expiry) that runs until Close.
//
// Start fails when no ZooKeeper session is established within
// ConnectionTimeout, and with an error wrapping ErrBrokerIDInUse when another
// live session holds the broker id.
func Start(ctx context.Context, cfg Config) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("coordinator config: %w", err)
	}
	servers, chroot, err := zkpaths.ParseConnect(cfg.Connect)
	if err != nil {
		return nil, err
	}
	s := &Session{
		cfg:       cfg,
		log:       cfg.Logger.WithField("broker", cfg.BrokerID),
		events:    newEventQueue(),
		changes:   make(chan *Snapshot, 1),
		published: make(chan struct{}),
		done:      make(chan struct{}),
		view:      newView(),
	}
	conn, _, err := zk.Connect(servers, cfg.SessionTimeout,
		zk.WithEventCallback(s.events.push),
		zk.WithLogger(zkLogger{s.log}),
		zk.WithDialer(s.dials.Wrap(cfg.ZooKeeperSecurity.Dialer())))
	if err != nil {
		return nil, fmt.Errorf("connect to ZooKeeper %s: %w", cfg.Connect, err)
	}
	s.zk = &zkClient{conn: conn, chroot: chroot, security: cfg.ZooKeeperSecurity}
	// ZooKeeper calls take no context: closing the connection is what makes
	// a blocked one return when ctx ends.
	stopWatchingCtx := context.AfterFunc(ctx, conn.Close)
	err = s.start(ctx, servers)
	if !stopWatchingCtx() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		conn.Close()
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(runCtx)
	return s, nil
}

func (s *Session) start(ctx context.Context, servers []string) error {
	if err := s.awaitSession(ctx, servers); err != nil {
		return err
	}
	s.sessionID = s.zk.sessionID()
	s.log.WithField("session", sessionIDString(s.sessionID)).Info("ZooKeeper session established")
	// Before any other request; the client repeats it after each reconnect.
	if err := s.cfg.ZooKeeperSecurity.Authenticate(s.zk.conn); err != nil {
		return err
	}

	if s.zk.chroot != "" {
		if err := ensureAbsPath(s.zk.conn, s.zk.chroot, s.zk.acl("/")); err != nil {
			return fmt.Errorf("create chroot: %w", err)
		}
	} else if s.cfg.ZooKeeperSecurity.SetACL {
		if err := secureRoot(s.zk.conn, s.cfg.ZooKeeperSecurity, s.log); err != nil {
			return err
		}
	}
	for _, p := range append(zkpaths.PersistentPaths(), zkpaths.ACLPaths()...) {
		if err := s.zk.ensurePath(p); err != nil {
			return fmt.Errorf("create persistent paths: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	clusterID, err := s.loadClusterID()
	if err != nil {
		return err
	}
	s.clusterID = clusterID
	if err := s.registerAtStart(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.view.markAll()
	if err := s.view.refresh(s.zk, s.log); err != nil {
		return fmt.Errorf("load metadata: %w", err)
	}
	s.publish()
	return nil
}

// awaitSession waits for the connection's first session.
func (s *Session) awaitSession(ctx context.Context, servers []string) error {
	timeout := time.NewTimer(s.cfg.ConnectionTimeout)
	defer timeout.Stop()
	for {
		for _, ev := range s.events.drain() {
			if ev.Type == zk.EventSession && ev.State == zk.StateHasSession {
				return nil
			}
		}
		select {
		case <-s.events.ready:
		case <-timeout.C:
			err := fmt.Errorf("connect to ZooKeeper %s: no session established within %s",
				strings.Join(servers, ","), s.cfg.ConnectionTimeout)
			if dialErr := s.dials.Err(); dialErr != nil {
				err = fmt.Errorf("%w (last attempt: %w)", err, dialErr)
			}
			return err
		case <-ctx.Done():
			return fmt.Errorf("connect to ZooKeeper %s: %w", strings.Join(servers, ","), ctx.Err())
		}
	}
}

// loadClusterID reads /cluster/id, creating it when absent.
func (s *Session) loadClusterID() (string, error) {
	for range 3 {
		data, _, err := s.zk.get(zkpaths.ClusterIDPath)
		if err == nil {
			id, err := zkpaths.UnmarshalClusterID(data)
			if err != nil {
				return "", fmt.Errorf("read cluster id: %w", err)
			}
			return id.ID, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return "", fmt.Errorf("read cluster id: %w", err)
		}
		uuid, err := zkpaths.NewRandomUUID(crand.Reader)
		if err != nil {
			return "", fmt.Errorf("create cluster id: %w", err)
		}
		payload, err := zkpaths.ClusterID{ID: uuid.String()}.Marshal()
		if err != nil {
			return "", fmt.Errorf("create cluster id: %w", err)
		}
		_, err = s.zk.create(zkpaths.ClusterIDPath, payload, zk.FlagPersistent)
		if err == nil {
			s.log.WithField("cluster_id", uuid.String()).Info("created cluster id")
			return uuid.String(), nil
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			return "", fmt.Errorf("create cluster id: %w", err)
		}
		// Another broker created it first: read theirs.
	}
	return "", errors.New("read cluster id: /cluster/id keeps disappearing")
}

// register creates our ephemeral registration as Kafka does: one multi that
// creates the znode empty and sets its data, whose czxid is the broker epoch.
func (s *Session) register(initial bool) error {
	p := zkpaths.BrokerIDPath(s.cfg.BrokerID)
	endpoints := make([]zkpaths.BrokerEndpoint, len(s.cfg.Endpoints))
	for i, e := range s.cfg.Endpoints {
		endpoints[i] = zkpaths.BrokerEndpoint(e)
	}
	reg := zkpaths.NewBrokerRegistration(endpoints, s.cfg.Rack, s.cfg.Now())
	reg.Console = s.cfg.Console
	payload, err := reg.Marshal()
	if err != nil {
		return fmt.Errorf("register broker %d: %w", s.cfg.BrokerID, err)
	}
	res, err := s.zk.multi(
		s.zk.createOp(p, []byte{}, zk.FlagEphemeral),
		s.zk.setOp(p, payload, 0))
	if err == nil {
		s.registered(res[1].Stat.Czxid)
		return nil
	}
	if !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("register broker %d: %w", s.cfg.BrokerID, err)
	}

	// The watch wakes the session goroutine when the znode goes away.
	exists, stat, err := s.zk.existsW(p)
	if err != nil {
		return fmt.Errorf("register broker %d: %w", s.cfg.BrokerID, err)
	}
	switch owner := stat.EphemeralOwner; {
	case !exists:
		return fmt.Errorf("register broker %d at %s: %w", s.cfg.BrokerID, p, errRegistrationVanished)
	case owner == s.sessionID:
		// Ours: an earlier attempt succeeded but its reply was lost.
		s.registered(stat.Czxid)
		return nil
	case !initial && owner != 0 && owner == s.registeredSession:
		// Our expired session's znode, which the ensemble has not removed
		// yet (KAFKA-7165): wait for it rather than give the id up.
		return fmt.Errorf("register broker %d: waiting for the registration of expired session %s to go away",
			s.cfg.BrokerID, sessionIDString(owner))
	default:
		return fmt.Errorf("register broker %d at %s: %w (held by session %s)",
			s.cfg.BrokerID, p, ErrBrokerIDInUse, sessionIDString(owner))
	}
}

// errRegistrationVanished: the znode that refused our registration was gone
// by the time we looked at it; the next attempt can succeed.
var errRegistrationVanished = errors.New("the registration holding the id went away; trying again")

// registerAtStart registers the broker, waiting for a registration of the
// same id held by another session to go away. A broker that was killed and
// restarted at once finds its previous session's znode still there until
// ZooKeeper expires that session; a live broker holding the id keeps it. So
// the id is given up as in use only once it has been held for longer than a
// session timeout (with half of one again for the ensemble's expiry ticks).
func (s *Session) registerAtStart(ctx context.Context) error {
	deadline := time.Now().Add(s.cfg.SessionTimeout * 3 / 2)
	retry := time.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	logged := false
	for {
		err := s.register(true)
		if errors.Is(err, errRegistrationVanished) && time.Now().Before(deadline) {
			continue // the holder's session just ended: try again at once
		}
		if err == nil || !errors.Is(err, ErrBrokerIDInUse) || time.Now().After(deadline) {
			return err
		}
		if !logged {
			s.log.WithError(err).Warn("broker id is registered by another session; waiting for it to expire")
			logged = true
		}
		select {
		case <-ctx.Done():
			return err
		case <-retry.C:
		}
	}
}

func (s *Session) registered(epoch int64) {
	s.brokerEpoch.Store(epoch)
	s.registeredSession = s.sessionID
	s.log.WithFields(logrus.Fields{"path": zkpaths.BrokerIDPath(s.cfg.BrokerID), "epoch": epoch}).Info("registered broker")
}

func sessionIDString(id int64) string {
	return fmt.Sprintf("0x%x", id)
}

// ClusterID returns the id stored in /cluster/id.
func (s *Session) ClusterID() string { return s.clusterID }

// BrokerEpoch returns the czxid of the current registration; it changes when
// the broker registers again in a new ZooKeeper session.
func (s *Session) BrokerEpoch() int64 { return s.brokerEpoch.Load() }

// Snapshot returns the latest metadata snapshot. Callers must not modify it.
func (s *Session) Snapshot() *Snapshot { return s.snapshot.Load() }

// Changes delivers each new snapshot, starting with the one Start loaded. A
// slow reader may miss intermediate snapshots but always receives the latest.
// The channel is closed by Close.
func (s *Session) Changes() <-chan *Snapshot { return s.changes }

// Close resigns as controller if this broker is, deletes the registration, stops
// the session goroutine and closes the ZooKeeper connection. It is safe to call
// more than once.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.callsMu.Lock()
		s.closed = true
		s.callsMu.Unlock()

		s.cancel()
		timeout := time.NewTimer(closeTimeout)
		defer timeout.Stop()
		select {
		case <-s.done:
		case <-timeout.C:
			// ZooKeeper does not answer: closing the connection fails the
			// pending requests, and the ephemeral znodes go with the session.
			s.log.Warn("ZooKeeper does not answer; closing without deregistering")
			s.zk.conn.Close()
			<-s.done
		}
		s.zk.conn.Close()
		s.calls.Wait()
		close(s.changes)
	})
	return s.closeErr
}

// awaitSnapshot waits until the published snapshot satisfies cond, or ctx ends,
// or the session is closed.
func (s *Session) awaitSnapshot(ctx context.Context, cond func(*Snapshot) bool) error {
	for {
		s.publishedMu.Lock()
		next := s.published
		s.publishedMu.Unlock()
		if cond(s.Snapshot()) {
			return nil
		}
		select {
		case <-next:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// await runs a ZooKeeper operation for a caller and waits for it or for ctx to
// end. go-zookeeper calls take no context, so an abandoned operation finishes on
// its own, or fails when Close closes the connection; Close waits for it.
func await[T any](ctx context.Context, s *Session, op func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	s.callsMu.Lock()
	if s.closed {
		s.callsMu.Unlock()
		return zero, ErrClosed
	}
	s.calls.Add(1)
	s.callsMu.Unlock()

	type result struct {
		value T
		err   error
	}
	done := make(chan result, 1)
	go func() {
		defer s.calls.Done()
		value, err := op()
		// A request caught by a lost connection is tried again once the
		// client has reconnected (to another server of the ensemble), as
		// Kafka's ZooKeeper client does, until ctx ends.
		for backoff := 50 * time.Millisecond; isConnectionLoss(err) && ctx.Err() == nil; backoff = min(2*backoff, time.Second) {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			value, err = op()
		}
		done <- result{value, err}
	}()
	select {
	case r := <-done:
		return r.value, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// isConnectionLoss reports an error of a request the connection dropped
// under, which may succeed on the next connection.
func isConnectionLoss(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrSessionMoved)
}

// run is the session goroutine: it applies ZooKeeper events and repeats its
// step until it succeeds, then waits for the next event.
func (s *Session) run(ctx context.Context) {
	defer close(s.done)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	delay := minRetryDelay
	rebalance, stopRebalance := s.rebalanceTicker()
	defer stopRebalance()
	for {
		s.handleEvents(s.events.drain())
		if err := s.step(); err != nil {
			s.logStepError(err)
			retry.Reset(delay)
			delay = min(2*delay, maxRetryDelay)
		} else {
			s.lastStepError = ""
			delay = minRetryDelay
		}
		select {
		case <-ctx.Done():
			s.closeErr = s.shutdown()
			return
		case <-s.events.ready:
		case <-retry.C:
		case <-rebalance:
			s.ctrl.rebalanceDue = s.ctrl.active
		}
	}
}

// errStale: a step left parts of the view to be read again.
var errStale = errors.New("parts of the metadata view are stale")

// logStepError logs a failure once at warning level, and its repetitions (the
// retries while ZooKeeper is away) at debug level.
func (s *Session) logStepError(err error) {
	if errors.Is(err, errStale) {
		s.log.Debug("re-reading stale metadata")
		return
	}
	if msg := err.Error(); msg != s.lastStepError {
		s.lastStepError = msg
		s.log.WithError(err).Warn("ZooKeeper work failed; retrying")
		return
	}
	s.log.WithError(err).Debug("ZooKeeper work failed again; retrying")
}

func (s *Session) handleEvents(events []zk.Event) {
	for _, ev := range events {
		switch ev.Type {
		case zk.EventSession:
			switch ev.State {
			case zk.StateExpired:
				s.log.WithField("session", sessionIDString(s.sessionID)).Warn("ZooKeeper session expired")
				s.resign("ZooKeeper session expired")
			case zk.StateDisconnected:
				s.log.WithField("server", ev.Server).Debug("disconnected from ZooKeeper")
			case zk.StateHasSession:
				s.log.WithField("server", ev.Server).Debug("connected to ZooKeeper")
			}
		case zk.EventNotWatching:
			// The session that held the watches is gone.
			s.view.markAll()
		default:
			if p, ok := s.zk.rel(ev.Path); ok {
				s.view.markPath(p)
			}
		}
	}
}

// step brings everything up to date: a new session's registration, the view,
// the controller election and the controller's work. It is repeated until it
// succeeds.
func (s *Session) step() error {
	if s.zk.conn.State() != zk.StateHasSession {
		// Requests would only queue up; the reconnection's event brings us back.
		return nil
	}
	if id := s.zk.sessionID(); id != s.sessionID {
		s.log.WithFields(logrus.Fields{"session": sessionIDString(id), "previous": sessionIDString(s.sessionID)}).
			Warn("new ZooKeeper session: registering again and reloading metadata")
		s.resign("ZooKeeper session expired")
		s.sessionID = id
		s.view.markAll()
	}
	if s.registeredSession != s.sessionID {
		if err := s.register(false); err != nil {
			return err
		}
	}
	err := s.view.refresh(s.zk, s.log)
	if err == nil {
		err = s.controllerStep()
	}
	s.publish()
	if err == nil && !s.view.dirty.empty() {
		// Something found stale on the way (a lost race, a conditional write
		// that failed) is read again shortly rather than on the next event,
		// which might never come.
		return errStale
	}
	return err
}

// publish makes a new snapshot of the view if it changed.
func (s *Session) publish() {
	if !s.view.changed {
		return
	}
	s.view.changed = false
	snap := s.view.snapshot(s.clusterID)
	s.snapshot.Store(snap)
	s.publishedMu.Lock()
	close(s.published)
	s.published = make(chan struct{})
	s.publishedMu.Unlock()
	// This goroutine is the only sender, so after the drain the send cannot
	// block.
	select {
	case <-s.changes:
	default:
	}
	s.changes <- snap
}

// shutdown gives up controllership and the registration before the connection
// closes, so that other brokers react at once rather than after the session
// timeout.
func (s *Session) shutdown() error {
	if s.zk.conn.State() != zk.StateHasSession {
		s.resign("closing")
		return nil
	}
	var errs []error
	if s.ctrl.active {
		s.resign("closing")
		if err := s.deleteOwnedZnode(zkpaths.ControllerPath); err != nil {
			errs = append(errs, fmt.Errorf("resign as controller: %w", err))
		}
	}
	if err := s.deleteOwnedZnode(zkpaths.BrokerIDPath(s.cfg.BrokerID)); err != nil {
		errs = append(errs, fmt.Errorf("deregister broker %d: %w", s.cfg.BrokerID, err))
	}
	return errors.Join(errs...)
}

// deleteOwnedZnode deletes an ephemeral znode if our current session owns it.
func (s *Session) deleteOwnedZnode(p string) error {
	exists, stat, err := s.zk.exists(p)
	if err != nil || !exists || stat.EphemeralOwner != s.zk.sessionID() {
		return err
	}
	if err := s.zk.delete(p, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	return nil
}

// secureRoot gives ZooKeeper's root the cluster's ACL when the brokers keep
// their znodes there (no chroot) and the root still lets anyone create and
// delete: deleting a znode takes the DELETE permission of its parent, so
// with an open root anyone could delete /controller or /brokers, whatever
// their own ACLs. Kafka leaves the root to zookeeper-security-migration;
// kzoo does it at start, as kzoo zk-secure --enable would. A cluster that
// shares its ensemble should use a chroot instead.
func secureRoot(conn *zk.Conn, security zksecure.Settings, log logrus.FieldLogger) error {
	acls, stat, err := conn.GetACL("/")
	if err != nil {
		return fmt.Errorf("read the ACL of ZooKeeper's root: %w", err)
	}
	open := slices.ContainsFunc(acls, func(a zk.ACL) bool {
		return a.Scheme == "world" && a.Perms&(zk.PermCreate|zk.PermDelete|zk.PermWrite|zk.PermAdmin) != 0
	})
	if !open {
		return nil
	}
	if _, err := conn.SetACL("/", security.ACL("/"), stat.Aversion); err != nil && !errors.Is(err, zk.ErrBadVersion) {
		return fmt.Errorf("secure ZooKeeper's root (zookeeper.set.acl=true without a chroot): %w", err)
	}
	log.Info("secured ZooKeeper's root: only the brokers may create or delete top-level znodes (use a chroot to share the ensemble)")
	return nil
}

// ZooKeeperStatus is the ensemble as a Session sees it, for operators (the
// web console's cluster page).
type ZooKeeperStatus struct {
	// Servers and Chroot are zookeeper.connect's.
	Servers []string
	Chroot  string
	// Connected is the server the session is connected to, "" while the
	// connection has no session.
	Connected string
	// State is the connection's state as the ZooKeeper client names it
	// ("StateHasSession", "StateConnecting", ...).
	State string
	// SessionID is the current session's id (0 before the first).
	SessionID int64
}

// ZooKeeperStatus returns the ensemble and the session's state in it. It
// asks the ZooKeeper client only, never the ensemble, so it does not block.
func (s *Session) ZooKeeperStatus() ZooKeeperStatus {
	// Start parsed the same string; it cannot fail here.
	servers, chroot, _ := zkpaths.ParseConnect(s.cfg.Connect)
	st := ZooKeeperStatus{Servers: servers, Chroot: chroot}
	if s.zk == nil || s.zk.conn == nil {
		return st
	}
	state := s.zk.conn.State()
	st.State = state.String()
	st.SessionID = s.zk.conn.SessionID()
	if state == zk.StateHasSession {
		st.Connected = s.zk.conn.Server()
	}
	return st
}
