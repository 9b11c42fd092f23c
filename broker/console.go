package broker

// The broker's side of the web console (package console): the Source the
// console reads this broker through, and the console's lifetime, which is
// the server's (like the metrics endpoint's).
//
// Everything here answers from state the broker keeps anyway -- the traffic
// counters, the replica manager, the group coordinator, the cluster view --
// through the code the Kafka handlers use: DescribeConfigs' resolution for
// a topic's configs, the ElectLeaders path for a preferred election, the
// metrics' lag computation and end offset reader for a group's lag.

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/console"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/metrics"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/zkpaths"
)

// Versions of the group requests the console's report asks the group
// coordinator in process: ListGroups v4 lists every state with no filter,
// DescribeGroups v5 gives static members' instance ids and describes a
// group it does not hold as Dead rather than as an error.
const (
	consoleListGroupsVersion     = 4
	consoleDescribeGroupsVersion = 5
)

// consoleGroups is what the console's report reads of the group
// coordinator; *group.Coordinator implements it (tests use a fixed one).
type consoleGroups interface {
	ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse
	DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse
	CommittedOffsets() []group.CommittedOffset
}

// zooKeeperStatuser is the part of *coordinator.Session the console's
// ZooKeeper panel reads. It is not part of Metadata: the broker itself
// never needs it, and test metadata need not fake it.
type zooKeeperStatuser interface {
	ZooKeeperStatus() coordinator.ZooKeeperStatus
}

// consoleSource is this broker as the console sees it (console.Source).
type consoleSource struct {
	s      *Server
	groups consoleGroups
	// ends reads the end offsets a group's lag is computed against, within
	// endsTimeout: lagEndOffsets, the metrics' reader.
	ends        metrics.EndOffsetReader
	endsTimeout time.Duration
	now         func() time.Time
}

var _ console.Source = (*consoleSource)(nil)

// newConsoleSource returns the console's view of s.
func newConsoleSource(s *Server) *consoleSource {
	src := &consoleSource{s: s, ends: lagEndOffsets{s}, endsTimeout: metrics.DefaultLagTimeout, now: time.Now}
	if s.groups != nil { // a nil *group.Coordinator in the interface would not read as nil
		src.groups = s.groups
	}
	return src
}

// listenConsole makes the console and binds its endpoint at addr, so that
// a port already taken fails start-up with the key that names it.
func (s *Server) listenConsole(addr string, logger logrus.FieldLogger) error {
	s.console = console.New(newConsoleSource(s), console.Config{Logger: logger})
	s.consoleLogger = logger
	endpoint, err := console.Listen(addr, s.console.Handler(), logger)
	if err != nil {
		return fmt.Errorf("console.listen: %w", err)
	}
	s.consoleEndpoint = endpoint
	return nil
}

// runConsole gathers the console's figures and serves its pages until ctx
// is done; Serve starts it and the drain waits for it.
func (s *Server) runConsole(ctx context.Context) {
	logger := s.consoleLogger
	logger.WithField("url", "http://"+s.consoleEndpoint.Addr().String()+"/").Info("serving the web console")
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.console.Run(ctx)
	}()
	if err := s.consoleEndpoint.Serve(ctx); err != nil {
		logger.WithError(err).Error("web console stopped")
	}
	<-done
}

// observeConsole hands the console a cluster view the broker applied. The
// console's Observe never blocks, so the metadata goroutine may call it.
func (s *Server) observeConsole(snap *coordinator.Snapshot) {
	if s.console != nil && snap != nil {
		s.console.Observe(snap)
	}
}

// BrokerID implements console.Source.
func (c *consoleSource) BrokerID() int32 { return c.s.cfg.ID }

// ZooKeeper implements console.Source: the session's view of the ensemble,
// read from the ZooKeeper client without asking the ensemble.
func (c *consoleSource) ZooKeeper() coordinator.ZooKeeperStatus {
	zs, ok := c.s.meta.(zooKeeperStatuser)
	if !ok {
		return coordinator.ZooKeeperStatus{}
	}
	return zs.ZooKeeperStatus()
}

// Report implements console.Source: with topic "", this broker's traffic
// and log sizes by topic and the groups it coordinates with their lag;
// with a topic, that topic's local replicas. It fails only when ctx is
// done before the groups are listed.
func (c *consoleSource) Report(ctx context.Context, topic string) (console.BrokerReport, error) {
	s := c.s
	rep := console.BrokerReport{Broker: s.cfg.ID, Time: c.now()}
	if topic != "" {
		rep.Partitions = c.topicReplicas(topic)
		return rep, nil
	}
	rep.Topics = []console.TopicReport{}
	byTopic := make(map[string]*console.TopicReport)
	topicReport := func(name string) *console.TopicReport {
		tr := byTopic[name]
		if tr == nil {
			tr = &console.TopicReport{Topic: name}
			byTopic[name] = tr
		}
		return tr
	}
	for name, total := range s.traffic.TopicTotals() {
		tr := topicReport(name)
		tr.BytesIn, tr.BytesOut = total.BytesIn, total.BytesOut
		rep.BytesIn += total.BytesIn
		rep.BytesOut += total.BytesOut
	}
	if s.replicas != nil {
		for p := range s.replicas.Partitions() {
			topicReport(p.TopicPartition().Topic).SizeBytes += p.Log().Size()
		}
	}
	for _, tr := range byTopic {
		rep.Topics = append(rep.Topics, *tr)
	}
	slices.SortFunc(rep.Topics, func(a, b console.TopicReport) int { return cmp.Compare(a.Topic, b.Topic) })
	// A request that went away before the groups were listed gets no
	// report; past that point the report answers, its unread end offsets
	// shown as such (see groupReports).
	if err := ctx.Err(); err != nil {
		return console.BrokerReport{}, fmt.Errorf("broker %d report: %w", s.cfg.ID, err)
	}
	rep.Groups = c.groupReports(ctx)
	return rep, nil
}

// topicReplicas reports this broker's replicas of topic, ordered by
// partition.
func (c *consoleSource) topicReplicas(topic string) []console.PartitionReport {
	var out []console.PartitionReport
	if c.s.replicas == nil {
		return out
	}
	for p := range c.s.replicas.Partitions() {
		if p.TopicPartition().Topic != topic {
			continue
		}
		log := p.Log()
		out = append(out, console.PartitionReport{
			TopicPartition: p.TopicPartition(),
			Leader:         p.IsLeader(),
			LogStart:       log.LogStartOffset(),
			LogEnd:         log.LogEndOffset(),
			HighWatermark:  p.HighWatermark(),
			SizeBytes:      log.Size(),
		})
	}
	slices.SortFunc(out, func(a, b console.PartitionReport) int { return a.TopicPartition.Compare(b.TopicPartition) })
	return out
}

// endsTimeoutFor bounds the end offset reads of a report asked for with ctx:
// the metrics' bound, and at most half the time ctx has left, so that a
// slow leader costs the asking console those partitions' lag (-1) rather
// than this whole report.
func (c *consoleSource) endsTimeoutFor(ctx context.Context) time.Duration {
	timeout := c.endsTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline)/2)
	}
	return max(timeout, 0)
}

// groupReports describes the groups this broker coordinates: those its
// coordinator lists and those it holds committed offsets of, with their
// members' assignments and the lag of each committed offset, computed as
// the metrics compute it (metrics.ComputeLag over lagEndOffsets' reads).
// A group whose coordinator moved away meanwhile is left out.
func (c *consoleSource) groupReports(ctx context.Context) []console.GroupReport {
	out := []console.GroupReport{}
	if c.groups == nil {
		return out
	}
	committed := c.groups.CommittedOffsets()
	list := kmsg.NewPtrListGroupsRequest()
	list.Version = consoleListGroupsVersion
	ids := make([]string, 0)
	for _, g := range c.groups.ListGroups(ctx, list).Groups {
		ids = append(ids, g.Group)
	}
	for _, o := range committed {
		ids = append(ids, o.Group)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return out
	}
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Version = consoleDescribeGroupsVersion
	describe.Groups = ids
	index := make(map[string]int, len(ids))
	for _, d := range c.groups.DescribeGroups(ctx, describe).Groups {
		if d.ErrorCode != 0 {
			continue // not coordinated here (any more), or still loading
		}
		index[d.Group] = len(out)
		out = append(out, console.GroupReport{
			Group:        d.Group,
			State:        d.State,
			ProtocolType: d.ProtocolType,
			Protocol:     d.Protocol,
			Coordinator:  c.s.cfg.ID,
			Members:      memberReports(d),
			Offsets:      []console.OffsetReport{},
		})
	}

	var ends map[zkpaths.TopicPartition]int64
	var wanted []group.CommittedOffset
	for _, o := range committed {
		if _, ok := index[o.Group]; ok && o.Offset >= 0 {
			wanted = append(wanted, o)
		}
	}
	if len(wanted) > 0 {
		endsCtx, cancel := context.WithTimeout(ctx, c.endsTimeoutFor(ctx))
		ends = c.ends.EndOffsets(endsCtx, committedPartitions(wanted))
		cancel()
	}
	withLag := make(map[group.CommittedOffset]bool, len(wanted))
	for _, l := range metrics.ComputeLag(wanted, ends) {
		g := &out[index[l.Group]]
		g.Offsets = append(g.Offsets, console.OffsetReport{TopicPartition: l.TopicPartition, Committed: l.Committed, End: l.End, Lag: l.Lag})
		withLag[group.CommittedOffset{Group: l.Group, Topic: l.Topic, Partition: l.Partition, Offset: l.Committed}] = true
	}
	// The offsets whose end offset could not be read in time are shown
	// without a lag (-1), as the contract says.
	for _, o := range wanted {
		if withLag[o] {
			continue
		}
		g := &out[index[o.Group]]
		tp := zkpaths.TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if slices.ContainsFunc(g.Offsets, func(r console.OffsetReport) bool { return r.TopicPartition == tp }) {
			continue // a repeated offset, which ComputeLag keeps once
		}
		g.Offsets = append(g.Offsets, console.OffsetReport{TopicPartition: tp, Committed: o.Offset, End: -1, Lag: -1})
	}
	for i := range out {
		slices.SortFunc(out[i].Offsets, func(a, b console.OffsetReport) int { return a.TopicPartition.Compare(b.TopicPartition) })
	}
	return out
}

// memberReports lists a described group's members; a consumer group's
// assignments are decoded (kmsg.ConsumerMemberAssignment), others' and
// undecodable ones are left empty.
func memberReports(d kmsg.DescribeGroupsResponseGroup) []console.MemberReport {
	out := make([]console.MemberReport, 0, len(d.Members))
	for _, m := range d.Members {
		mr := console.MemberReport{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: []zkpaths.TopicPartition{}}
		if m.InstanceID != nil {
			mr.InstanceID = *m.InstanceID
		}
		if d.ProtocolType == "consumer" && len(m.MemberAssignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(m.MemberAssignment); err == nil {
				for _, t := range a.Topics {
					for _, p := range t.Partitions {
						mr.Assignment = append(mr.Assignment, zkpaths.TopicPartition{Topic: t.Topic, Partition: p})
					}
				}
				slices.SortFunc(mr.Assignment, zkpaths.TopicPartition.Compare)
			}
		}
		out = append(out, mr)
	}
	slices.SortFunc(out, func(a, b console.MemberReport) int { return cmp.Compare(a.MemberID, b.MemberID) })
	return out
}

// committedPartitions returns the distinct partitions of committed.
func committedPartitions(committed []group.CommittedOffset) []zkpaths.TopicPartition {
	tps := make([]zkpaths.TopicPartition, 0, len(committed))
	for _, o := range committed {
		tps = append(tps, zkpaths.TopicPartition{Topic: o.Topic, Partition: o.Partition})
	}
	slices.SortFunc(tps, zkpaths.TopicPartition.Compare)
	return slices.Compact(tps)
}

// TopicConfigs implements console.Source with DescribeConfigs' resolution
// of a topic's configs (describeResource). An unknown topic's error wraps
// coordinator.ErrUnknownTopic.
func (c *consoleSource) TopicConfigs(ctx context.Context, topic string) ([]console.ConfigEntry, error) {
	snap := c.s.snapshot()
	if snap == nil || snap.Topics[topic] == nil || snap.Topics[topic].Deleting {
		return nil, fmt.Errorf("%w: %q", coordinator.ErrUnknownTopic, topic)
	}
	entries, err := c.s.describeResource(ctx, snap, kmsg.ConfigResourceTypeTopic, topic)
	if err != nil {
		return nil, err
	}
	out := make([]console.ConfigEntry, 0, len(entries))
	for _, e := range entries {
		ce := console.ConfigEntry{Name: e.Name, Value: e.Value, Source: consoleConfigSource(e.Source), Sensitive: e.Sensitive}
		if e.Sensitive {
			ce.Value = nil // never shown, as DescribeConfigs never sends it
		}
		out = append(out, ce)
	}
	return out, nil
}

// consoleConfigSource names a config's source as DescribeConfigs does.
func consoleConfigSource(src config.Source) string {
	return kmsg.ConfigSource(src).String()
}

// ElectPreferred implements console.Source: a preferred leader election
// over every partition of topic, through the controller as ElectLeaders
// asks for one. A partition that already has its preferred leader is not
// a failure and is left out of the map.
func (c *consoleSource) ElectPreferred(ctx context.Context, topic string) (map[int32]error, error) {
	snap := c.s.snapshot()
	var t *coordinator.Topic
	if snap != nil {
		t = snap.Topics[topic]
	}
	if t == nil || t.Deleting {
		return nil, fmt.Errorf("%w: %q", coordinator.ErrUnknownTopic, topic)
	}
	tps := make([]zkpaths.TopicPartition, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		tps = append(tps, zkpaths.TopicPartition{Topic: topic, Partition: p.Partition})
	}
	electCtx, cancel := context.WithTimeout(ctx, maxAdminWait)
	defer cancel()
	results, err := c.s.meta.ElectLeaders(electCtx, coordinator.PreferredElection, tps)
	if err != nil {
		return nil, fmt.Errorf("preferred leader election for topic %q: %w", topic, err)
	}
	failed := make(map[int32]error)
	for tp, err := range results {
		if err != nil && !errors.Is(err, coordinator.ErrElectionNotNeeded) && tp.Topic == topic {
			failed[tp.Partition] = err
		}
	}
	return failed, nil
}

// Authorize implements console.Source. With no authorizer configured
// everyone may do everything, as on the Kafka listeners. Otherwise the
// request's Basic credentials must be those of a SASL user of this broker
// -- a PLAIN user of a listener's JAAS config, or a SCRAM user of the
// cluster view -- and the principal needs ALTER on the CLUSTER, as for
// ElectLeaders, from the host the HTTP request came from, as a Kafka
// request is checked from its connection's.
func (c *consoleSource) Authorize(ctx context.Context, creds console.Credentials, action console.Action, topic string) (string, error) {
	if action != console.ActionElectPreferred {
		return "", fmt.Errorf("console: unknown action %q", action)
	}
	s := c.s
	if s.authorizer == nil {
		return "User:" + anonymousPrincipal, nil
	}
	if !creds.Present || creds.User == "" || creds.Password == "" || !c.validPassword(creds.User, creds.Password) {
		return "", console.ErrAuthRequired
	}
	principal := "User:" + creds.User
	if !s.authorizer.Authorize(s.acls(), principal, aclHost(creds.Host), kmsg.ACLOperationAlter, kmsg.ACLResourceTypeCluster, acl.ClusterName) {
		s.logger.WithFields(logrus.Fields{
			"principal": principal, "operation": kmsg.ACLOperationAlter.String(), "resource_type": kmsg.ACLResourceTypeCluster.String(),
			"resource": acl.ClusterName, "console_action": string(action), "topic": topic,
		}).Info("denied operation")
		return principal, console.ErrDenied
	}
	return principal, nil
}

// aclHost is the host an ACL check is made for: the request's, or when it
// is unknown the wildcard, which only ACLs for every host match.
func aclHost(host string) string {
	if host == "" {
		return acl.WildcardHost
	}
	return host
}

// validPassword checks user's password against the PLAIN users of every
// SASL listener and the SCRAM credentials of the cluster view.
func (c *consoleSource) validPassword(user, password string) bool {
	for _, ls := range c.s.listenerSecurity {
		if ls == nil || ls.sasl == nil || ls.sasl.PlainUsers == nil {
			continue
		}
		want, ok := ls.sasl.PlainUsers[user]
		// Compared even for an unknown user, so that timing tells less.
		if subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1 && ok {
			return true
		}
	}
	snap := c.s.snapshot()
	if snap == nil {
		return false
	}
	for _, mechanism := range scramcred.Mechanisms {
		cred, ok := snap.ScramCredential(mechanism, user)
		if !ok {
			continue
		}
		salted, err := scramcred.SaltPassword(mechanism, password, cred.Salt, cred.Iterations)
		if err != nil {
			continue
		}
		got, err := scramcred.FromSaltedPassword(mechanism, cred.Salt, salted, cred.Iterations)
		if err == nil && subtle.ConstantTimeCompare(got.StoredKey, cred.StoredKey) == 1 {
			return true
		}
	}
	return false
}
