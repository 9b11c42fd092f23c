package broker

import (
	"context"
	"fmt"
	"strconv"

	"github.com/kzoo/kzoo/broker/replica"
)

// replicaConfig is the configuration of the broker's replica manager,
// wired to the coordinator session for ISR writes and liveness, to the group
// coordinator for the leadership of __consumer_offsets partitions, and to
// the metrics.
func (s *Server) replicaConfig() replica.Config {
	return replica.Config{
		BrokerID:          s.cfg.ID,
		Logs:              s.logs,
		Cluster:           replicaCluster{s},
		ReplicaLagTimeMax: s.cfg.ReplicaLagTimeMax,
		Fetch: replica.FetchConfig{
			ClientID:         "kzoo-replica-fetcher-" + strconv.Itoa(int(s.cfg.ID)),
			Security:         s.peerSecurity,
			WaitMax:          s.cfg.ReplicaFetchWaitMax,
			MinBytes:         s.cfg.ReplicaFetchMinBytes,
			MaxBytes:         s.cfg.ReplicaFetchMaxBytes,
			SocketTimeout:    s.cfg.ReplicaSocketTimeout,
			MaxResponseBytes: max(s.cfg.SocketRequestMaxBytes, s.cfg.ReplicaFetchMaxBytes*4, 100<<20),
		},
		Logger:             s.logger, // the "server" broker logger, which replication has always logged to
		OnLeadershipChange: s.onCoordinatorLeadership,
		OnISRChange:        s.traffic.ISRChanged,
		OnISRPass:          func() { s.health.update(s) },
	}
}

// replicaCluster is the cluster as the replica manager sees it, through the
// broker's coordinator session.
type replicaCluster struct{ s *Server }

func (c replicaCluster) UpdateISR(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error) {
	return c.s.meta.UpdateISR(ctx, topic, partition, leaderEpoch, partitionEpoch, isr)
}

// Live reads the session's freshest view rather than the applied one: a
// broker that just died must not rejoin an ISR, nor be fetched from.
func (c replicaCluster) Live(id int32) bool {
	snap := c.s.meta.Snapshot()
	if snap == nil {
		return false
	}
	_, live := snap.Brokers[id]
	return live
}

func (c replicaCluster) ReplicationAddr(id int32) (string, error) {
	snap := c.s.meta.Snapshot()
	if snap == nil {
		return "", fmt.Errorf("broker %d: no cluster view yet", id)
	}
	listener := c.s.interBrokerListener()
	addr, ok := brokerAddr(snap, id, listener)
	if !ok {
		return "", fmt.Errorf("broker %d has no endpoint for inter-broker listener %s", id, listener)
	}
	return addr, nil
}
