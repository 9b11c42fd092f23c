package broker

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
)

// metadataCache holds what Metadata answers build from one cluster view,
// built on first use and shared by every request until the view changes:
// the sorted topic names and the topic ids (for the requests of every
// topic and by id) and each topic's entry as a listener's clients see it.
// A request naming a few topics thus costs those topics, and one naming
// every topic costs a copy of their cached entries, not a sort of the
// cluster and a rebuild of every partition.
//
// The entries of a topic the next view shares (the same *coordinator.Topic)
// carry over to the next cache while the live brokers stay the same (a
// topic's entry depends on them: the offline replicas, a leader's
// listeners).
type metadataCache struct {
	snap *coordinator.Snapshot
	// prev is the cache of the view before, whose entries this one may
	// take over (nil when the brokers changed, or none).
	prev atomic.Pointer[metadataCache]

	namesOnce sync.Once
	names     []string // of the topics not being deleted, sorted

	idsOnce sync.Once
	byID    map[[16]byte]*coordinator.Topic

	brokers sync.Map // listener -> []kmsg.MetadataResponseBroker
	entries sync.Map // topicEntryKey -> kmsg.MetadataResponseTopic
}

// topicEntryKey names a topic's Metadata entry as a listener's clients see
// it: the leader of a partition without an endpoint of the listener gets
// LISTENER_NOT_FOUND from v6, LEADER_NOT_AVAILABLE before.
type topicEntryKey struct {
	topic    *coordinator.Topic
	listener string
	v6       bool
}

// metadataCacheFor returns the cache of snap, replacing the server's when
// it is of another view.
func (s *Server) metadataCacheFor(snap *coordinator.Snapshot) *metadataCache {
	current := s.metaCache.Load()
	if current != nil && current.snap == snap {
		return current
	}
	next := &metadataCache{snap: snap}
	if current != nil && sameBrokers(current.snap, snap) {
		next.prev.Store(current)
		current.prev.Store(nil) // one view back is enough: drop the older ones
	}
	if s.metaCache.CompareAndSwap(current, next) {
		return next
	}
	// Another request installed one meanwhile; use it if it is of snap.
	if c := s.metaCache.Load(); c != nil && c.snap == snap {
		return c
	}
	return next
}

// sameBrokers reports whether two views have the same live brokers with
// the same endpoints and racks.
func sameBrokers(a, b *coordinator.Snapshot) bool {
	return maps.EqualFunc(a.Brokers, b.Brokers, func(x, y coordinator.Broker) bool {
		return x.ID == y.ID && x.Rack == y.Rack && slices.Equal(x.Endpoints, y.Endpoints)
	})
}

// topicNames returns the names of the topics not being deleted, sorted.
// The slice must not be changed.
func (c *metadataCache) topicNames() []string {
	c.namesOnce.Do(func() {
		c.names = make([]string, 0, len(c.snap.Topics))
		for name, t := range c.snap.Topics {
			if !t.Deleting {
				c.names = append(c.names, name)
			}
		}
		slices.Sort(c.names)
	})
	return c.names
}

// topicByID returns the topic of id, nil if none.
func (c *metadataCache) topicByID(id [16]byte) *coordinator.Topic {
	c.idsOnce.Do(func() {
		c.byID = make(map[[16]byte]*coordinator.Topic, len(c.snap.Topics))
		for _, t := range c.snap.Topics {
			c.byID[t.ID] = t
		}
	})
	return c.byID[id]
}

// brokersOn returns the Metadata entries of the live brokers reachable
// through listener. The slice must not be changed.
func (c *metadataCache) brokersOn(listener string) []kmsg.MetadataResponseBroker {
	if v, ok := c.brokers.Load(listener); ok {
		return v.([]kmsg.MetadataResponseBroker)
	}
	var out []kmsg.MetadataResponseBroker
	for _, b := range brokersOn(c.snap, listener) {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = b.id, b.host, b.port, b.rack
		out = append(out, mb)
	}
	c.brokers.Store(listener, out)
	return out
}

// topicEntry returns t's Metadata entry for a request of version through
// listener. Its partitions are shared with every other request: they must
// not be changed (the entry itself is a copy, free to change).
func (c *metadataCache) topicEntry(t *coordinator.Topic, listener string, version int16) kmsg.MetadataResponseTopic {
	key := topicEntryKey{topic: t, listener: listener, v6: version >= 6}
	if v, ok := c.entries.Load(key); ok {
		return v.(kmsg.MetadataResponseTopic)
	}
	if prev := c.prev.Load(); prev != nil {
		if v, ok := prev.entries.Load(key); ok {
			c.entries.Store(key, v)
			return v.(kmsg.MetadataResponseTopic)
		}
	}
	mt := describeTopic(c.snap, t, listener, version)
	c.entries.Store(key, mt)
	return mt
}
