package broker

import (
	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
)

// applyRuntime puts in effect the run-time settings of the configuration
// with the dynamic broker configs applied: the connection limits, the log
// cleaner's threads, I/O limit, key map memory and backoff, the number of
// replica fetchers and the replication quotas. applyMetadata calls it with
// every cluster view, so a dynamic config change takes effect on a broker
// as soon as its view carries it; the topic defaults take effect there too,
// through each partition's config.
func (s *Server) applyRuntime(rt config.Runtime) {
	s.connLimits.setLimits(rt.Connections)
	s.logs.SetCleaner(storage.CleanerSettings{
		Backoff:             rt.Cleaner.Backoff,
		DedupeBufferSize:    rt.Cleaner.DedupeBufferSize,
		Threads:             rt.Cleaner.Threads,
		IOMaxBytesPerSecond: rt.Cleaner.IOMaxBytesPerSecond,
	})
	s.replicas.SetFetcherCount(rt.NumReplicaFetchers)
	s.replicas.SetReplicationThrottle(rt.ReplicationThrottle)
}
