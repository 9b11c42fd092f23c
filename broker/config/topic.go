package config

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/internal/configvalue"
)

// ValidateTopicConfigs checks a topic's configs, as CreateTopics gives them or
// an alter leaves them: every key must be a known topic key with a valid
// value, and an internal topic (__consumer_offsets, __transaction_state)
// takes no quota key. The error names the key.
func ValidateTopicConfigs(configs map[string]string, internal bool) error {
	for _, name := range sortedNames(configs) {
		k, ok := topicKey(name)
		if !ok {
			return fmt.Errorf("unknown topic config %q", name)
		}
		if internal && isTopicQuotaKey(name) {
			return fmt.Errorf("%s: internal topics take no quota", name)
		}
		if _, err := k.Parse(configs[name]); err != nil {
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
	return lookup(topicQuotaKeys, name)
}

func isTopicQuotaKey(name string) bool {
	_, ok := lookup(topicQuotaKeys, name)
	return ok
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

// UncleanLeaderElection is unclean.leader.election.enable, read as the
// controller reads it (configvalue.ParseBool).
func (t Topic) UncleanLeaderElection() bool {
	allowed, _ := configvalue.ParseBool(t["unclean.leader.election.enable"])
	return allowed
}

// TimestampDifferenceMax is message.timestamp.difference.max.ms when the
// topic keeps its producers' timestamps (CreateTime) and it bounds them;
// ok is false otherwise.
func (t Topic) TimestampDifferenceMax() (ms int64, ok bool) {
	ms = t.int64("message.timestamp.difference.max.ms", math.MaxInt64)
	return ms, t["message.timestamp.type"] != "LogAppendTime" && ms != math.MaxInt64
}

// Compacted reports whether cleanup.policy includes compact.
func (t Topic) Compacted() bool { return strings.Contains(t["cleanup.policy"], "compact") }

// Storage returns the settings of the topic's partition logs.
func (t Topic) Storage() storage.Config {
	c := storage.DefaultConfig()
	c.SegmentBytes = t.int64("segment.bytes", c.SegmentBytes)
	c.SegmentMs = t.int64("segment.ms", c.SegmentMs)
	c.SegmentJitterMs = t.int64("segment.jitter.ms", c.SegmentJitterMs)
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
		policies := configvalue.SplitList(policy)
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

// QuotaWindow returns quota.window.num and quota.window.size.seconds: how
// many sample windows of what length client and topic quota rates are
// measured over (quota.Settings' Samples and SampleWindow). They are static,
// as in Kafka, because changing them would change every rate kept.
func (v Values) QuotaWindow() (samples int, size time.Duration) {
	return int(v.int64("quota.window.num")), time.Duration(v.int64("quota.window.size.seconds")) * time.Second
}

// Runtime holds the broker settings, other than topic defaults, that
// dynamic broker configs change while the broker runs. The broker applies
// them again on every change of the cluster view.
type Runtime struct {
	Cleaner            LogCleaner
	NumReplicaFetchers int // num.replica.fetchers
	Connections        ConnectionLimits
	// ReplicationThrottle is the broker's replication quotas (KIP-73).
	ReplicationThrottle ReplicationThrottle
}

// ConnectionLimits bound the client connections open at once.
type ConnectionLimits struct {
	Total int // max.connections
	PerIP int // max.connections.per.ip
	// PerIPOverrides is max.connections.per.ip.overrides: the limits of
	// particular addresses, by their canonical text form (net.IP.String).
	PerIPOverrides map[string]int
}

// Runtime returns the run-time settings of v.
func (v Values) Runtime() Runtime {
	overrides, _ := parseConnectionOverrides(v.Value("max.connections.per.ip.overrides")) // validated by set
	return Runtime{
		Cleaner:            v.LogCleaner(),
		NumReplicaFetchers: int(v.int64("num.replica.fetchers")),
		Connections: ConnectionLimits{
			Total:          int(v.int64("max.connections")),
			PerIP:          int(v.int64("max.connections.per.ip")),
			PerIPOverrides: overrides,
		},
		ReplicationThrottle: v.ReplicationThrottle(),
	}
}

func checkConnectionOverrides(value string) error {
	_, err := parseConnectionOverrides(value)
	return err
}

// parseConnectionOverrides reads "ip:count,ip:count" (an IPv6 address in
// brackets, or bare: the count follows its last colon).
func parseConnectionOverrides(value string) (map[string]int, error) {
	out := make(map[string]int)
	for _, item := range configvalue.SplitList(value) {
		i := strings.LastIndexByte(item, ':')
		if i < 0 {
			return nil, fmt.Errorf("%q: want ip:count", item)
		}
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(item[:i]), "["), "]")
		ip := net.ParseIP(host)
		if ip == nil {
			return nil, fmt.Errorf("%q: %q is not an IP address (kzoo does not resolve host names here)", item, host)
		}
		n, err := strconv.Atoi(strings.TrimSpace(item[i+1:]))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q: the count must be a non-negative integer", item)
		}
		out[ip.String()] = n
	}
	return out, nil
}

// messageFormatVersions are the record format versions Kafka 2.4 knows
// (its inter-broker protocol versions); each is also accepted without its
// -IV suffix.
var messageFormatVersions = []string{
	"0.8.0", "0.8.1", "0.8.2", "0.9.0", "0.10.0-IV0", "0.10.0-IV1", "0.10.1-IV0", "0.10.1-IV1",
	"0.10.1-IV2", "0.10.2-IV0", "0.11.0-IV0", "0.11.0-IV1", "0.11.0-IV2", "1.0-IV0", "1.1-IV0",
	"2.0-IV0", "2.0-IV1", "2.1-IV0", "2.1-IV1", "2.1-IV2", "2.2-IV0", "2.2-IV1", "2.3-IV0",
	"2.3-IV1", "2.4-IV0", "2.4-IV1",
}

// checkMessageFormatVersion accepts a version as Kafka does: its release
// part (three numbers for 0.x releases, two after) must name a known
// version, with or without an -IV suffix, and further parts are ignored
// ("2.4.1" is 2.4).
func checkMessageFormatVersion(value string) error {
	parts := strings.Split(value, ".")
	n := 2
	if strings.HasPrefix(value, "0.") {
		n = 3
	}
	release := strings.Join(parts[:min(n, len(parts))], ".")
	for _, v := range messageFormatVersions {
		if release == v || release == strings.Split(v, "-")[0] {
			return nil
		}
	}
	return fmt.Errorf("%q is not a Kafka message format version (such as 2.4-IV1, 2.4 or 0.11.0)", value)
}
