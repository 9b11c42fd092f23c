package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kzoo/kzoo/broker/storage"
)

// ValidateTopicConfigs checks the configs of a CreateTopics request: every key
// must be a known topic key with a valid value. The error names the key.
func ValidateTopicConfigs(configs map[string]string) error {
	for name, value := range configs {
		k, ok := topicKey(name)
		if !ok {
			return fmt.Errorf("unknown topic config %q", name)
		}
		if _, err := k.Parse(value); err != nil {
			return err
		}
	}
	return nil
}

func topicKey(name string) (Key, bool) {
	for _, tk := range topicKeys {
		if tk.Name == name {
			return tk.Key, true
		}
	}
	return Key{}, false
}

// Topic is the effective configuration of one topic: the broker's defaults
// with the topic's own overrides on top.
type Topic map[string]string

// ResolveTopic merges a topic's overrides over the broker defaults. Invalid
// overrides (which ValidateTopicConfigs keeps out of ZooKeeper, but a tool
// may have written) are ignored in favour of the default.
func (b *Broker) ResolveTopic(overrides map[string]string) Topic {
	t := make(Topic, len(b.TopicDefaults)+len(overrides))
	for k, v := range b.TopicDefaults {
		t[k] = v
	}
	for name, value := range overrides {
		if k, ok := topicKey(name); ok {
			if parsed, err := k.Parse(value); err == nil {
				t[name] = parsed
			}
		}
	}
	return t
}

func (t Topic) int64(name string, fallback int64) int64 {
	n, err := strconv.ParseInt(t[name], 10, 64)
	if err != nil {
		return fallback
	}
	return n
}

// MinInsyncReplicas is min.insync.replicas.
func (t Topic) MinInsyncReplicas() int { return int(t.int64("min.insync.replicas", 1)) }

// UncleanLeaderElection is unclean.leader.election.enable.
func (t Topic) UncleanLeaderElection() bool { return t["unclean.leader.election.enable"] == "true" }

// Compacted reports whether cleanup.policy includes compact.
func (t Topic) Compacted() bool { return strings.Contains(t["cleanup.policy"], "compact") }

// Storage returns the settings of the topic's partition logs.
func (t Topic) Storage() storage.Config {
	c := storage.DefaultConfig()
	c.SegmentBytes = t.int64("segment.bytes", c.SegmentBytes)
	c.SegmentMs = t.int64("segment.ms", c.SegmentMs)
	c.RetentionMs = t.int64("retention.ms", c.RetentionMs)
	c.RetentionBytes = t.int64("retention.bytes", c.RetentionBytes)
	c.IndexIntervalBytes = int32(t.int64("index.interval.bytes", int64(c.IndexIntervalBytes)))
	c.MaxIndexBytes = int32(t.int64("segment.index.bytes", int64(c.MaxIndexBytes)))
	c.FlushMessages = t.int64("flush.messages", math.MaxInt64)
	c.FlushMs = t.int64("flush.ms", math.MaxInt64)
	c.FileDeleteDelayMs = t.int64("file.delete.delay.ms", c.FileDeleteDelayMs)
	c.MaxMessageBytes = int32(t.int64("max.message.bytes", int64(c.MaxMessageBytes)))
	c.LogAppendTime = t["message.timestamp.type"] == "LogAppendTime"
	if policy, ok := t["cleanup.policy"]; ok {
		policies := splitList(policy)
		c.Delete = slices.Contains(policies, "delete")
		c.Compact = slices.Contains(policies, "compact")
	}
	c.DeleteRetentionMs = t.int64("delete.retention.ms", c.DeleteRetentionMs)
	c.MinCleanableDirtyRatio = t.ratio("min.cleanable.dirty.ratio", c.MinCleanableDirtyRatio)
	c.MinCompactionLagMs = t.int64("min.compaction.lag.ms", c.MinCompactionLagMs)
	c.MaxCompactionLagMs = t.int64("max.compaction.lag.ms", c.MaxCompactionLagMs)
	return c
}

// ratio reads a share between 0 and 1. Kafka refuses values outside that range; the key
// table can only check that they are numbers, so they are clamped here rather than let
// the log refuse to open.
func (t Topic) ratio(name string, fallback float64) float64 {
	f, err := strconv.ParseFloat(t[name], 64)
	if err != nil || math.IsNaN(f) {
		return fallback
	}
	return min(max(f, 0), 1)
}

// LogCleaner holds the broker-wide settings of the log cleaner. All but
// Enabled can change at run time.
type LogCleaner struct {
	Enabled          bool          // log.cleaner.enable
	Backoff          time.Duration // log.cleaner.backoff.ms
	DedupeBufferSize int64         // log.cleaner.dedupe.buffer.size, shared by the threads
	Threads          int           // log.cleaner.threads
	// IOMaxBytesPerSecond is log.cleaner.io.max.bytes.per.second, +Inf
	// when unlimited (Kafka's default, Double.MAX_VALUE, is taken as that).
	IOMaxBytesPerSecond float64
}

// LogCleaner returns the log cleaner's settings.
func (v Values) LogCleaner() LogCleaner {
	rate, _ := strconv.ParseFloat(v.Value("log.cleaner.io.max.bytes.per.second"), 64) // validated by set or the default table
	if rate >= math.MaxFloat64 {
		rate = math.Inf(1)
	}
	return LogCleaner{
		Enabled:             v.bool("log.cleaner.enable"),
		Backoff:             time.Duration(v.int64("log.cleaner.backoff.ms")) * time.Millisecond,
		DedupeBufferSize:    v.int64("log.cleaner.dedupe.buffer.size"),
		Threads:             int(v.int64("log.cleaner.threads")),
		IOMaxBytesPerSecond: rate,
	}
}

// Runtime holds the broker settings, other than topic defaults, that
// dynamic broker configs change while the broker runs. The broker applies
// them again on every change of the cluster view.
type Runtime struct {
	Cleaner            LogCleaner
	NumReplicaFetchers int // num.replica.fetchers
	// MaxConnections and MaxConnectionsPerIP bound the client
	// connections open at once (max.connections, max.connections.per.ip).
	MaxConnections      int
	MaxConnectionsPerIP int
}

// Runtime returns the run-time settings of v.
func (v Values) Runtime() Runtime {
	return Runtime{
		Cleaner:             v.LogCleaner(),
		NumReplicaFetchers:  int(v.int64("num.replica.fetchers")),
		MaxConnections:      int(v.int64("max.connections")),
		MaxConnectionsPerIP: int(v.int64("max.connections.per.ip")),
	}
}
