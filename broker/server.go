// Package broker is one kzoo broker's Kafka protocol server: the listeners
// and connections (conn.go, wire.go), the API table and dispatch (this
// file), a thin handler per API in a file named after it (decode, ask the
// package that owns the answer, encode), and applying the coordinator's
// cluster view (apply.go).
//
// It owns no partition itself: broker/replica holds the partitions and is
// the one way in and out of them; broker/group coordinates the consumer
// groups; coordinator talks to ZooKeeper. ARCHITECTURE.md maps the rest.
package broker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/console"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/logging"
	"github.com/kzoo/kzoo/broker/metrics"
	"github.com/kzoo/kzoo/broker/peer"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/broker/txn"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/zkpaths"
)

// Metadata is what the broker needs from the coordinator: the cluster view
// and the topic administration it forwards to ZooKeeper. *coordinator.Session
// implements it.
type Metadata interface {
	Snapshot() *coordinator.Snapshot
	Changes() <-chan *coordinator.Snapshot
	CreateTopic(ctx context.Context, name string, assignment [][]int32, configs map[string]string) error
	DeleteTopic(ctx context.Context, name string) error
	AddPartitions(ctx context.Context, name string, newReplicas [][]int32) error
	SetTopicConfig(ctx context.Context, name string, configs map[string]string) error
	SetBrokerConfig(ctx context.Context, entity string, configs map[string]string) error
	ElectLeaders(ctx context.Context, typ coordinator.ElectionType, partitions []zkpaths.TopicPartition) (map[zkpaths.TopicPartition]error, error)
	AlterReassignments(ctx context.Context, targets map[zkpaths.TopicPartition][]int32) (map[zkpaths.TopicPartition]error, error)
	TopicConfig(ctx context.Context, name string) (map[string]string, error)
	ConfirmReplicasDeleted(ctx context.Context, topic string) error
	AllocateProducerIDBlock(ctx context.Context) (first, last int64, err error)
	// UpdateISR is a partition leader's conditional ISR write; it returns
	// the new partition epoch.
	UpdateISR(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error)
	// AlterClientQuotas changes client quota entities, all or nothing.
	AlterClientQuotas(ctx context.Context, changes []coordinator.QuotaChange) error
	// CreateACLs stores bindings, one error per binding (nil: created).
	CreateACLs(ctx context.Context, bindings []acl.Binding) []error
	// DeleteACLs deletes the bindings each filter matches and returns them,
	// with one error per filter.
	DeleteACLs(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, []error)
	// AlterUserScramCredentials stores or deletes SCRAM credentials, one
	// error per change.
	AlterUserScramCredentials(ctx context.Context, changes []coordinator.ScramChange) []error
}

// Server is one broker's protocol server and partition manager.
type Server struct {
	cfg    *config.Broker
	logger logrus.FieldLogger
	meta   Metadata
	logs   *storage.Manager

	// loggers are the broker loggers DescribeConfigs and
	// IncrementalAlterConfigs show and change; log is one of them.
	loggers *logging.Loggers

	// replicas holds the partitions this broker serves: every read and
	// write of a partition goes through it.
	replicas    *replica.Manager
	producerIDs producerIDAllocator
	health      healthTracker
	// groups is the group coordinator and txns the transaction
	// coordinator; handoffs carries them the partitions of their topics
	// this broker comes to lead or stops leading (see runCoordinators).
	groups   *group.Coordinator
	txns     *txn.Coordinator
	markers  *markerWriter // the transaction coordinator's way to its partitions
	peers    *peerPool     // connections to other brokers for the coordinators' requests
	handoffs handoffQueue
	// creating names the internal topics a FindCoordinator of this broker
	// is creating, so that concurrent ones do not all try.
	creatingMu sync.Mutex
	creating   map[string]bool
	// applied is the cluster view the partition table reflects; requests
	// answer from it, so that Metadata never names this broker leader of
	// a partition it has not started leading yet.
	applied atomic.Pointer[coordinator.Snapshot]
	// appliedView is what the metadata goroutine last gave the replica
	// manager (apply.go).
	appliedView appliedView
	// metaCache is what Metadata answers build from the applied view
	// (metadata_cache.go).
	metaCache atomic.Pointer[metadataCache]
	// drainDeadline is when a stopping server closes idle connections
	// (Unix nanoseconds; 0 while serving).
	drainDeadline atomic.Int64

	// listeners are the bound sockets of cfg.Listeners, in that order.
	listeners []boundListener
	// listenerSecurity is how each listener secures its connections, by
	// name; peerSecurity how this broker connects to the others; and
	// securityMetrics counts authentications and denials (security.go).
	listenerSecurity map[string]*listenerSecurity
	peerSecurity     peer.Security
	securityMetrics  *metrics.Security
	// metricsEndpoint serves /metrics when metrics.listen is set (nil
	// otherwise); see metrics.go.
	metricsEndpoint *metrics.Server
	// console is the web console when console.listen is set (nil
	// otherwise), served by consoleEndpoint; see console.go.
	console         *console.Console
	consoleEndpoint *console.Server
	consoleLogger   logrus.FieldLogger
	// traffic counts requests, topic traffic and ISR changes; see
	// metrics.go.
	traffic *metrics.Traffic
	// acceptErrors counts the failed accepts of each listener.
	acceptErrors *metrics.AcceptErrors
	wg           sync.WaitGroup // connection and background goroutines

	connsMu sync.Mutex
	conns   map[net.Conn]struct{}
	// connLimits applies max.connections and max.connections.per.ip(.overrides).
	connLimits *connLimiter
	// quotas measures clients and topics against their quotas (see
	// quotas.go); topicQuotas is the set of topic quotas it was last given.
	quotas      *quota.Manager
	topicQuotas map[string]quota.TopicQuota
	// authorizer decides what each request's principal may do against the
	// cluster view's ACLs; nil (no authorizer.class.name) allows everything,
	// as Kafka without an authorizer.
	authorizer *acl.Authorizer
	// fetchSessions are the incremental fetch sessions (fetch_sessions.go).
	fetchSessions *fetchSessionCache
}

// New binds the listeners (so a port conflict fails start-up early) but
// accepts nothing until Serve.
func New(cfg *config.Broker, meta Metadata, logs *storage.Manager, loggers *logging.Loggers) (*Server, error) {
	logger := loggers.Component("server")
	s := &Server{
		cfg:     cfg,
		logger:  logger,
		loggers: loggers,
		meta:    meta,
		logs:    logs,
		conns:   make(map[net.Conn]struct{}),
		traffic: metrics.NewTraffic(servedAPIKeys()),
		quotas:  newQuotaManager(cfg),

		fetchSessions: newFetchSessionCache(cfg.FetchSessionCacheSlots),
	}
	rt := cfg.Values.Runtime()
	s.connLimits = newConnLimiter(cfg.InterBrokerListener, rt.Connections, logger)
	s.acceptErrors = metrics.NewAcceptErrors(listenerNames(cfg.Listeners))
	s.securityMetrics = metrics.NewSecurity(listenerNames(cfg.Listeners))
	var err error
	if s.listenerSecurity, s.peerSecurity, err = loadSecurity(cfg, meta, logger); err != nil {
		return nil, err
	}
	s.groups = newGroupCoordinator(cfg, meta.Snapshot(), loggers.Component("group-coordinator"))
	s.handoffs = newHandoffQueue()
	s.peers = newPeerPool(s)
	s.markers = &markerWriter{s: s, peers: s.peers, logger: loggers.Component("transaction-coordinator")}
	s.txns = s.newTxnCoordinator(cfg, meta.Snapshot(), loggers.Component("transaction-coordinator"))
	s.replicas = replica.New(s.replicaConfig(), rt.NumReplicaFetchers)
	s.producerIDs.meta = meta
	s.authorizer = newAuthorizer(cfg.Authorization)
	for _, l := range cfg.Listeners {
		addr := net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("listen on %s: %w", l, err)
		}
		s.listeners = append(s.listeners, boundListener{name: l.Name, ln: ln})
	}
	if cfg.MetricsListen != "" {
		if err := s.listenMetrics(cfg.MetricsListen, loggers.Component("metrics")); err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	if cfg.ConsoleListen != "" {
		if err := s.listenConsole(cfg.ConsoleListen, loggers.Component("console")); err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	return s, nil
}

// Addrs returns the bound listener addresses.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}

// Serve applies the current cluster view (opening the partitions this broker
// leads, and removing the replicas of topics deleted while it was down),
// then accepts connections and follows metadata changes until ctx is
// cancelled. It returns after every connection has been closed.
func (s *Server) Serve(ctx context.Context) error {
	// Fetchers stop as the server stops; it waits for them on its way out.
	fetchCtx, stopFetchers := context.WithCancel(context.Background())
	s.replicas.StartFetchers(fetchCtx)
	defer func() {
		stopFetchers()
		s.replicas.WaitFetchers()
	}()
	pending := !s.applyMetadata(ctx, s.meta.Snapshot())

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.replicas.RunISRManager(ctx)
	}()

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.followMetadata(ctx, pending)
	}()

	// Stops (closing the coordinators, which answer the requests still
	// waiting in them) as soon as ctx is done, so that drain does not wait
	// for rebalances.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runCoordinators(ctx)
	}()
	for _, l := range s.listeners {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.accept(ctx, l)
		}()
	}
	if s.metricsEndpoint != nil {
		// Stops with ctx, after the scrapes in flight; drain waits for it.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveMetrics(ctx)
		}()
	}
	if s.console != nil {
		// Gathers and serves with ctx, the requests in flight bounded;
		// drain waits for it.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runConsole(ctx)
		}()
	}
	<-ctx.Done()
	// The followers stop at once rather than after the drain: nothing
	// they copy now would be served, and a fetcher that is applying a
	// response over thousands of partitions stops at its end.
	stopFetchers()
	s.closeListeners()
	s.drain()
	s.peers.close()
	s.replicas.Close()
	return nil
}

// drainGrace is how long a stopping broker keeps answering connections it
// has already accepted. Closing one between its connect and its first
// answer would look to the client like a TLS or SASL mismatch (franz-go
// gives up on it); with the listeners closed, clients instead get a refused
// dial, which they retry elsewhere.
const drainGrace = 500 * time.Millisecond

// drain lets every connection finish the request it is reading or handling,
// closes idle ones once drainGrace has passed, and waits for all of them
// (and the other goroutines of Serve), closing whatever still hangs on.
func (s *Server) drain() {
	deadline := time.Now().Add(drainGrace)
	s.drainDeadline.Store(deadline.UnixNano())
	s.connsMu.Lock()
	for nc := range s.conns {
		_ = nc.SetReadDeadline(deadline) // a closed connection is fine
	}
	s.connsMu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	hardStop := time.NewTimer(2 * drainGrace)
	defer hardStop.Stop()
	select {
	case <-done:
	case <-hardStop.C:
		// A client that does not read its responses, or a request that
		// does not end: close the sockets under them.
		s.connsMu.Lock()
		for nc := range s.conns {
			nc.Close()
		}
		s.connsMu.Unlock()
		<-done
	}
}

// readDeadline is the read deadline for a connection's next request: the
// drain deadline once the server is stopping, the idle timeout otherwise.
func (s *Server) readDeadline() time.Time {
	if d := s.drainDeadline.Load(); d != 0 {
		return time.Unix(0, d)
	}
	if idle := s.cfg.ConnectionsMaxIdle; idle > 0 {
		return time.Now().Add(idle)
	}
	return time.Time{}
}

// snapshot returns the cluster view the broker currently acts on.
func (s *Server) snapshot() *coordinator.Snapshot { return s.applied.Load() }

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		l.ln.Close()
	}
}

// accept serves the connections of one listener until it is closed; they
// are answered in that listener's name. A listener out of descriptors keeps
// trying (see acceptLoop), so that the broker serves again once some are
// freed.
func (s *Server) accept(ctx context.Context, l boundListener) {
	logger := s.logger.WithField("listener", l.name)
	backoff := newAcceptBackoff(logger, s.acceptErrors.Listener(l.name))
	acceptLoop(ctx, l.ln, backoff, func(nc net.Conn) bool {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true) // best effort: latency, not correctness
		}
		if nc = s.connLimits.admit(nc, l.name); nc == nil {
			return true // beyond max.connections or max.connections.per.ip: closed
		}
		s.connsMu.Lock()
		if ctx.Err() != nil {
			s.connsMu.Unlock()
			nc.Close()
			return false
		}
		s.conns[nc] = struct{}{}
		s.connsMu.Unlock()

		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			newConn(s, nc, l.name).serve(ctx)
			s.connsMu.Lock()
			delete(s.conns, nc)
			s.connsMu.Unlock()
		}()
		return true
	})
}

// answers adapts the handler of one API to the table: the handler gets the
// decoded request and the empty response of the request's version to fill
// in, and returns what to send (nil for nothing).
func answers[Req kmsg.Request, Resp kmsg.Response](handle func(*Server, context.Context, *request, Req, Resp) any) handlerFunc {
	return func(s *Server, ctx context.Context, req *request) any {
		in := req.body.(Req)
		return handle(s, ctx, req, in, in.ResponseKind().(Resp))
	}
}

// apiRange is the range of versions we advertise for one API.
type apiRange struct{ min, max int16 }

// brokerOnlyVersions are the highest versions of APIs served above what
// ApiVersions advertises: versions only brokers send each other
// (AddPartitionsToTxn v4, KIP-890), which clients must not pick.
var brokerOnlyVersions = map[kmsg.Key]int16{kmsg.AddPartitionsToTxn: 4}

type handlerFunc func(s *Server, ctx context.Context, req *request) any

type api struct {
	versions apiRange
	handle   handlerFunc
}

// apis lists every API we serve, with the versions we advertise. The ranges
// start low where clients (librdkafka in particular) enable features only
// when an old version is advertised, and stop where a later version would
// need something we do not implement yet (topic ids in Fetch v13+).
// It is filled in init because ApiVersions' handler reads it.
var apis map[kmsg.Key]api

func init() {
	apis = map[kmsg.Key]api{
		kmsg.Produce:        {apiRange{3, 9}, answers((*Server).handleProduce)},
		kmsg.Fetch:          {apiRange{4, 12}, (*Server).handleFetch},
		kmsg.ListOffsets:    {apiRange{0, 6}, answers((*Server).handleListOffsets)},
		kmsg.Metadata:       {apiRange{0, 12}, (*Server).handleMetadata},
		kmsg.ApiVersions:    {apiRange{0, 3}, (*Server).handleAPIVersions},
		kmsg.CreateTopics:   {apiRange{0, 7}, answers((*Server).handleCreateTopics)},
		kmsg.DeleteTopics:   {apiRange{0, 6}, answers((*Server).handleDeleteTopics)},
		kmsg.InitProducerID: {apiRange{0, 4}, answers((*Server).handleInitProducerID)},
		// Followers use the diverging epoch in Fetch instead; clients
		// (KIP-320) ask it after a leader change.
		kmsg.OffsetForLeaderEpoch: {apiRange{0, 4}, answers((*Server).handleOffsetForLeaderEpoch)},
		// Admin APIs: v0 for old tools, up to what kmsg knows.
		kmsg.CreatePartitions:        {apiRange{0, 3}, answers((*Server).handleCreatePartitions)},
		kmsg.DescribeCluster:         {apiRange{0, 1}, answers((*Server).handleDescribeCluster)},
		kmsg.DescribeConfigs:         {apiRange{0, 4}, answers((*Server).handleDescribeConfigs)},
		kmsg.AlterConfigs:            {apiRange{0, 2}, answers((*Server).handleAlterConfigs)},
		kmsg.IncrementalAlterConfigs: {apiRange{0, 1}, answers((*Server).handleIncrementalAlterConfigs)},
		kmsg.ElectLeaders:            {apiRange{0, 2}, answers((*Server).handleElectLeaders)},
		kmsg.DeleteRecords:           {apiRange{0, 2}, answers((*Server).handleDeleteRecords)},
		kmsg.DescribeLogDirs:         {apiRange{0, 5}, answers((*Server).handleDescribeLogDirs)},
		// v1 adds AllowReplicationFactorChange, which we do not implement.
		kmsg.AlterPartitionAssignments:  {apiRange{0, 0}, answers((*Server).handleAlterPartitionAssignments)},
		kmsg.ListPartitionReassignments: {apiRange{0, 0}, answers((*Server).handleListPartitionReassignments)},
		// Client quotas (KIP-546), over the entities in ZooKeeper.
		kmsg.DescribeClientQuotas: {apiRange{0, 1}, answers((*Server).handleDescribeClientQuotas)},
		kmsg.AlterClientQuotas:    {apiRange{0, 1}, answers((*Server).handleAlterClientQuotas)},
		// Groups: the broker finds coordinators itself; the group
		// coordinator answers the rest. v0 up for librdkafka; the tops
		// stop before KIP-848's consumer protocol fields.
		kmsg.FindCoordinator: {apiRange{0, 4}, answers((*Server).handleFindCoordinator)},
		kmsg.JoinGroup: {apiRange{0, 9}, memberAPI((*group.Coordinator).JoinGroup,
			func(r *kmsg.JoinGroupRequest) string { return r.Group }, func(r *kmsg.JoinGroupResponse, c int16) { r.ErrorCode = c })},
		kmsg.SyncGroup: {apiRange{0, 5}, memberAPI((*group.Coordinator).SyncGroup,
			func(r *kmsg.SyncGroupRequest) string { return r.Group }, func(r *kmsg.SyncGroupResponse, c int16) { r.ErrorCode = c })},
		kmsg.Heartbeat: {apiRange{0, 4}, memberAPI((*group.Coordinator).Heartbeat,
			func(r *kmsg.HeartbeatRequest) string { return r.Group }, func(r *kmsg.HeartbeatResponse, c int16) { r.ErrorCode = c })},
		kmsg.LeaveGroup: {apiRange{0, 5}, memberAPI((*group.Coordinator).LeaveGroup,
			func(r *kmsg.LeaveGroupRequest) string { return r.Group }, func(r *kmsg.LeaveGroupResponse, c int16) { r.ErrorCode = c })},
		kmsg.OffsetCommit:   {apiRange{0, 8}, answers((*Server).handleOffsetCommit)},
		kmsg.OffsetFetch:    {apiRange{0, 8}, answers((*Server).handleOffsetFetch)},
		kmsg.OffsetDelete:   {apiRange{0, 0}, answers((*Server).handleOffsetDelete)},
		kmsg.DescribeGroups: {apiRange{0, 5}, answers((*Server).handleDescribeGroups)},
		kmsg.ListGroups:     {apiRange{0, 4}, answers((*Server).handleListGroups)},
		kmsg.DeleteGroups:   {apiRange{0, 2}, answers((*Server).handleDeleteGroups)},
		// Transactions: the transaction coordinator answers; the broker
		// writes the markers it sends.
		kmsg.AddPartitionsToTxn: {apiRange{0, 3}, answers((*Server).handleAddPartitionsToTxn)},
		kmsg.AddOffsetsToTxn:    {apiRange{0, 3}, answers((*Server).handleAddOffsetsToTxn)},
		kmsg.EndTxn: {apiRange{0, 3}, refuseUnless(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId,
			func(r *kmsg.EndTxnRequest) string { return r.TransactionalID }, kerr.TransactionalIDAuthorizationFailed,
			func(r *kmsg.EndTxnResponse, c int16) { r.ErrorCode = c }, txnAPI((*txn.Coordinator).EndTxn))},
		kmsg.WriteTxnMarkers:      {apiRange{0, 1}, answers((*Server).handleWriteTxnMarkers)},
		kmsg.DescribeTransactions: {apiRange{0, 0}, answers((*Server).handleDescribeTransactions)},
		kmsg.ListTransactions:     {apiRange{0, 1}, answers((*Server).handleListTransactions)},
		kmsg.DescribeProducers:    {apiRange{0, 0}, answers((*Server).handleDescribeProducers)},
		kmsg.TxnOffsetCommit:      {apiRange{0, 3}, answers((*Server).handleTxnOffsetCommit)},
		// ACLs (served by any broker) and SCRAM credentials (KIP-554).
		kmsg.CreateACLs:                   {apiRange{0, 3}, answers((*Server).handleCreateACLs)},
		kmsg.DescribeACLs:                 {apiRange{0, 3}, answers((*Server).handleDescribeACLs)},
		kmsg.DeleteACLs:                   {apiRange{0, 3}, answers((*Server).handleDeleteACLs)},
		kmsg.DescribeUserSCRAMCredentials: {apiRange{0, 0}, answers((*Server).handleDescribeUserSCRAMCredentials)},
		kmsg.AlterUserSCRAMCredentials:    {apiRange{0, 0}, answers((*Server).handleAlterUserSCRAMCredentials)},
		// SASL: a SASL listener's connection answers these itself while
		// it authenticates (sasl_conn.go); the table answers the rest.
		kmsg.SASLHandshake:    {apiRange{0, 1}, answers((*Server).handleSaslHandshake)},
		kmsg.SASLAuthenticate: {apiRange{0, 2}, answers((*Server).handleSaslAuthenticate)},
	}
}

func (s *Server) apiRange(key int16) (apiRange, bool) {
	a, ok := apis[kmsg.Key(key)]
	return a.versions, ok
}

// dispatch runs the handler of req; it returns the response to send, or nil
// for none, with the throttle time the quotas give the client, which is also
// set in the response.
func (s *Server) dispatch(ctx context.Context, c *conn, req *request) (any, time.Duration) {
	a := apis[kmsg.Key(req.key)]
	if req.key == kmsg.JoinGroup.Int16() {
		// The coordinator keeps who each member is, for DescribeGroups.
		ctx = group.WithClient(ctx, req.clientID, clientHost(c.nc.RemoteAddr()))
	}
	start := time.Now()
	resp := a.handle(s, ctx, req)
	took := time.Since(start)
	s.traffic.ObserveRequest(req.key, took)
	throttle := max(req.throttle, s.throttleRequestTime(req, took-req.parked))
	if throttle > 0 && resp != nil {
		setThrottle(resp, throttle)
	}
	return resp, throttle
}
