package broker

// The broker's side of the metrics endpoint (package metrics): the registry
// it serves, the gauges read from the Server's state, and the end offsets
// the consumer-group lag is computed against.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/metrics"
	"github.com/kzoo/kzoo/broker/peer"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

const (
	// listOffsetsVersion is the ListOffsets version the lag collector asks
	// other brokers with: the first with the current leader epoch, which
	// every kzoo broker serves.
	listOffsetsVersion = 4
	// maxListOffsetsResponse bounds the answer to one lag scrape's
	// ListOffsets: about 30 bytes per partition.
	maxListOffsetsResponse = 16 << 20
)

// listenMetrics binds the metrics endpoint at addr, serving the broker's
// registry: runtime and process metrics, the broker gauges, the traffic
// counters and the groups this broker coordinates.
func (s *Server) listenMetrics(addr string, logger logrus.FieldLogger) error {
	reg := metrics.NewRegistry()
	collectors := append(s.brokerGauges(), s.replicationThrottleCounters()...)
	collectors = append(collectors, s.logFileMetrics()...)
	collectors = append(collectors, s.traffic, s.acceptErrors, s.securityMetrics,
		metrics.NewGroupCollector(s.groups, lagEndOffsets{s}, metrics.DefaultLagTimeout),
		metrics.NewTransactionCollector(s.txns, s.stableOffsetLags),
		metrics.NewQuotaCollector(s.quotas))
	collectors = append(collectors, s.fetchSessionMetrics()...)
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	endpoint, err := metrics.Listen(addr, reg, logger)
	if err != nil {
		return err
	}
	if s.cfg.PprofEnable {
		endpoint.ServePprof()
	}
	s.metricsEndpoint = endpoint
	return nil
}

// servedAPIKeys lists the API keys the broker serves, whose request series
// the traffic counters export from the start.
func servedAPIKeys() []int16 {
	keys := make([]int16, 0, len(apis))
	for key := range apis {
		keys = append(keys, key.Int16())
	}
	return keys
}

// forgetDeletedTopics drops the traffic series of the topics snap no longer
// has or is deleting.
func (s *Server) forgetDeletedTopics(snap *coordinator.Snapshot) {
	s.traffic.ForgetTopics(func(topic string) bool {
		t := snap.Topics[topic]
		return t != nil && !t.Deleting
	})
}

// serveMetrics serves the metrics endpoint until ctx is done.
func (s *Server) serveMetrics(ctx context.Context) {
	s.logger.WithField("url", "http://"+s.metricsEndpoint.Addr().String()+metrics.Path).Info("serving metrics")
	if err := s.metricsEndpoint.Serve(ctx); err != nil {
		s.logger.WithError(err).Error("metrics endpoint stopped")
	}
}

// brokerGauges are the broker-wide gauges, read from the Server's state
// when scraped; the names follow Kafka's ReplicaManager and KafkaController
// metrics.
func (s *Server) brokerGauges() []prometheus.Collector {
	gauge := func(name, help string, value func() int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(value()) })
	}
	return []prometheus.Collector{
		gauge("kzoo_partition_count",
			"Partition replicas this broker holds, as leader or follower.",
			func() int { return s.replicas.PartitionCount() }),
		gauge("kzoo_leader_count",
			"Partitions this broker leads.",
			func() int { return s.replicas.LeaderCount() }),
		gauge("kzoo_under_replicated_partitions",
			"Partitions this broker leads whose in-sync replicas are fewer than their replicas.",
			func() int { return s.Health().UnderReplicated }),
		gauge("kzoo_offline_partitions",
			"Partitions without a leader. Only the active controller reports them (0 elsewhere), as in Kafka, so that their sum over the brokers counts each once.",
			s.offlinePartitions),
		gauge("kzoo_active_controller",
			"1 on the active controller, 0 on the other brokers.",
			func() int {
				if s.isController() {
					return 1
				}
				return 0
			}),
	}
}

// logFileMetrics describe the storage's descriptor cache (kzoo.max.open.files), read
// when scraped.
func (s *Server) logFileMetrics() []prometheus.Collector {
	gauge := func(name, help string, value func(storage.FileCacheStats) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(value(s.logs.FileCacheStats())) })
	}
	counter := func(name, help string, value func(storage.FileCacheStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(value(s.logs.FileCacheStats())) })
	}
	return []prometheus.Collector{
		gauge("kzoo_log_open_files",
			"Segment and index files the logs hold open now.",
			func(st storage.FileCacheStats) int64 { return st.Open }),
		gauge("kzoo_log_open_files_limit",
			"kzoo.max.open.files in effect: idle segment files beyond it are closed.",
			func(st storage.FileCacheStats) int64 { return st.Limit }),
		counter("kzoo_log_file_opens_total",
			"Segment and index files opened.",
			func(st storage.FileCacheStats) int64 { return st.Opens }),
		counter("kzoo_log_file_evictions_total",
			"Idle segment and index files closed to stay within kzoo.max.open.files.",
			func(st storage.FileCacheStats) int64 { return st.Evictions }),
		counter("kzoo_log_open_files_over_limit_total",
			"Segment and index files opened beyond kzoo.max.open.files because every open one was in use.",
			func(st storage.FileCacheStats) int64 { return st.OverLimit }),
	}
}

// replicationThrottleCounters count, per side, the bytes of the replicas a
// topic's leader/follower.replication.throttled.replicas name on this
// broker: what its replication quotas measure (Kafka's LeaderReplication and
// FollowerReplication byte-rate), read from the replica manager when
// scraped.
func (s *Server) replicationThrottleCounters() []prometheus.Collector {
	counter := func(side string, of func(leader, follower int64) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kzoo_replication_throttled_bytes_total",
			Help: "Replication bytes of the replicas a topic's leader/follower.replication.throttled.replicas name on this broker, " +
				"counted against its replication quota of that side: sent to followers as leader, received as follower.",
			ConstLabels: prometheus.Labels{"side": side},
		}, func() float64 { return float64(of(s.replicas.ThrottledBytes())) })
	}
	return []prometheus.Collector{
		counter("leader", func(leader, _ int64) int64 { return leader }),
		counter("follower", func(_, follower int64) int64 { return follower }),
	}
}

// stableOffsetLags lists the partitions this broker leads whose last stable
// offset is behind their high watermark.
func (s *Server) stableOffsetLags() []metrics.StableOffsetLag {
	var lags []metrics.StableOffsetLag
	for p := range s.replicas.Partitions() {
		if !p.IsLeader() {
			continue
		}
		if lag := p.HighWatermark() - p.LastStableOffset(); lag > 0 {
			lags = append(lags, metrics.StableOffsetLag{TopicPartition: p.TopicPartition(), Lag: lag})
		}
	}
	return lags
}

func (s *Server) offlinePartitions() int {
	if !s.isController() {
		return 0
	}
	return s.Health().Offline
}

// isController reports whether the cluster view this broker acts on names
// it the controller.
func (s *Server) isController() bool {
	snap := s.snapshot()
	return snap != nil && snap.ControllerID == s.cfg.ID
}

// lagEndOffsets reads end offsets for the lag collector: the high watermark
// of a partition this broker leads, and for the others their leader's
// answer to a ListOffsets for the latest offset (which is the high
// watermark too: consumer lag is measured against what consumers may read).
type lagEndOffsets struct{ srv *Server }

// EndOffsets implements metrics.EndOffsetReader. It asks every leader at
// once, over a connection of its own that lasts the call.
func (r lagEndOffsets) EndOffsets(ctx context.Context, partitions []zkpaths.TopicPartition) map[zkpaths.TopicPartition]int64 {
	s := r.srv
	ends := make(map[zkpaths.TopicPartition]int64, len(partitions))
	var remote []zkpaths.TopicPartition
	for _, tp := range partitions {
		if end, ok := s.localEndOffset(tp); ok {
			ends[tp] = end
		} else {
			remote = append(remote, tp)
		}
	}
	snap := s.snapshot()
	if len(remote) == 0 || snap == nil {
		return ends
	}

	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	clientID := "kzoo-metrics-" + strconv.Itoa(int(s.cfg.ID))
	fallback := s.cfg.ReplicaSocketTimeout
	for leader, tps := range remoteLeaders(snap, s.cfg.ID, remote) {
		addr, ok := brokerAddr(snap, leader, s.interBrokerListener())
		if !ok {
			continue // not live (or not reachable): the partitions stay unread
		}
		wg.Go(func() {
			got, err := listLatestOffsets(ctx, addr, clientID, s.peerSecurity, timeoutOf(ctx, fallback), tps)
			if err != nil {
				// Counted by the collector; a down broker would otherwise
				// log at every scrape.
				s.logger.WithError(err).WithField("leader", leader).Debug("cannot read end offsets for consumer lag")
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for tp, end := range got {
				ends[tp] = end
			}
		})
	}
	wg.Wait()
	return ends
}

// localEndOffset returns the high watermark of tp if this broker leads it.
func (s *Server) localEndOffset(tp zkpaths.TopicPartition) (int64, bool) {
	p := s.replicas.Partition(zkpaths.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	if p == nil || !p.IsLeader() {
		return 0, false
	}
	return p.HighWatermark(), true
}

// remoteLeaders groups partitions by their leader in snap. It leaves out
// the partitions snap does not know, those without a leader, and those it
// names self the leader of (not led here yet: the view is ahead of the
// partition table).
func remoteLeaders(snap *coordinator.Snapshot, self int32, partitions []zkpaths.TopicPartition) map[int32][]zkpaths.TopicPartition {
	byLeader := make(map[int32][]zkpaths.TopicPartition)
	for _, tp := range partitions {
		t := snap.Topics[tp.Topic]
		if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue
		}
		leader := t.Partitions[tp.Partition].Leader
		if leader < 0 || leader == self {
			continue
		}
		byLeader[leader] = append(byLeader[leader], tp)
	}
	return byLeader
}

// timeoutOf returns the time left before ctx's deadline, or fallback when
// it has none.
func timeoutOf(ctx context.Context, fallback time.Duration) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline)
	}
	return fallback
}

// listLatestOffsets asks the broker at addr for the latest offset (the high
// watermark) of partitions, as a consumer does, within timeout or until ctx
// is done. It returns those the broker answered without an error.
func listLatestOffsets(ctx context.Context, addr, clientID string, sec peer.Security, timeout time.Duration, partitions []zkpaths.TopicPartition) (map[zkpaths.TopicPartition]int64, error) {
	pc, err := peer.Dial(ctx, addr, clientID, timeout, maxListOffsetsResponse, sec)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	// The request's own deadline is timeout; closing the connection ends
	// it earlier if ctx is cancelled.
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()

	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = listOffsetsVersion
	req.ReplicaID = -1 // a consumer's view: the high watermark
	topics := make(map[string]int)
	for _, tp := range partitions {
		i, ok := topics[tp.Topic]
		if !ok {
			i = len(req.Topics)
			topics[tp.Topic] = i
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.Timestamp = listLatest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	if err := pc.Request(req, resp); err != nil {
		return nil, fmt.Errorf("list offsets at %s: %w", addr, err)
	}
	ends := make(map[zkpaths.TopicPartition]int64, len(partitions))
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 && p.Offset >= 0 {
				ends[zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.Offset
			}
		}
	}
	return ends, nil
}
