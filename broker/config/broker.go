package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kzoo/kzoo/internal/configvalue"
)

// EnvPrefix starts the environment variable that overrides a key:
// KZOO_LOG_SEGMENT_BYTES overrides log.segment.bytes.
const EnvPrefix = "KZOO_"

// EnvName returns the environment variable that overrides key.
func EnvName(key string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return EnvPrefix + strings.ToUpper(r.Replace(key))
}

// Values is a validated set of broker config values by key name.
type Values map[string]string

// Load reads the YAML file at path (if path is not empty), then applies the
// KZOO_* variables of environ, then overrides ("key=value"), each layer
// winning over the one before. Unknown keys in the file or the overrides are
// errors; environment variables that match no key are ignored, since KZOO_
// is also the prefix of the operator scripts' own settings, and so are empty
// ones, as compose files leave unset variables empty.
func Load(path string, environ []string, overrides []string) (Values, error) {
	vals := Values{}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		var file map[string]any
		if err := yaml.Unmarshal(raw, &file); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", path, err)
		}
		for name, v := range file {
			if err := vals.set(name, scalarString(v)); err != nil {
				return nil, fmt.Errorf("config %s: %w", path, err)
			}
		}
	}
	byEnv := make(map[string]string, len(brokerKeys))
	for _, k := range brokerKeys {
		byEnv[EnvName(k.Name)] = k.Name
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || value == "" || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		if key, known := byEnv[name]; known {
			if err := vals.set(key, value); err != nil {
				return nil, fmt.Errorf("environment %s: %w", name, err)
			}
		}
	}
	for _, o := range overrides {
		name, value, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("override %q: want key=value", o)
		}
		if err := vals.set(strings.TrimSpace(name), value); err != nil {
			return nil, fmt.Errorf("override: %w", err)
		}
	}
	return vals, nil
}

func scalarString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case []any:
		parts := make([]string, len(t))
		for i, p := range t {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(t)
	}
}

func (v Values) set(name, value string) error {
	k, ok := lookupBroker(name)
	if !ok {
		return fmt.Errorf("unknown config key %q", name)
	}
	parsed, err := k.Parse(value)
	if err != nil {
		return err
	}
	v[name] = parsed
	return nil
}

func (v Values) get(name string) (string, bool) {
	if s, ok := v[name]; ok {
		return s, true
	}
	k, _ := lookupBroker(name)
	return k.Default, k.Default != ""
}

// Value returns the value of a key: set explicitly or its default ("" when
// it has neither).
func (v Values) Value(name string) string {
	s, _ := v.get(name)
	return s
}

func (v Values) int64(name string) int64 {
	s, _ := v.get(name)
	n, _ := strconv.ParseInt(s, 10, 64) // validated by set or the default table
	return n
}

func (v Values) bool(name string) bool {
	s, _ := v.get(name)
	b, _ := configvalue.ParseBool(s) // validated by set or the default table
	return b
}

// Listener is one entry of listeners or advertised.listeners.
type Listener struct {
	Name string // PLAINTEXT, or a custom listener name
	Host string
	Port int32
}

func (l Listener) String() string {
	return fmt.Sprintf("%s://%s", l.Name, net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))))
}

// ParseListeners parses "NAME://host:port,..."; an empty host means all interfaces.
func ParseListeners(s string) ([]Listener, error) {
	var out []Listener
	for _, item := range configvalue.SplitList(s) {
		name, addr, ok := strings.Cut(item, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("listener %q: want NAME://host:port", item)
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", item, err)
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("listener %q: bad port %q", item, portStr)
		}
		out = append(out, Listener{Name: strings.ToUpper(name), Host: host, Port: int32(port)})
	}
	if len(out) == 0 {
		return nil, errors.New("no listener given")
	}
	return out, nil
}

// Broker is the typed configuration of one broker.
type Broker struct {
	ID                  int32
	Rack                string
	Listeners           []Listener
	AdvertisedListeners []Listener
	// ListenerSecurityProtocols maps each listener name to its security
	// protocol (always PLAINTEXT: others are refused at start-up).
	ListenerSecurityProtocols map[string]string
	// InterBrokerListener is inter.broker.listener.name: the listener of
	// other brokers that replica fetchers and other broker-to-broker
	// connections use. It is always one of AdvertisedListeners.
	InterBrokerListener string
	// Security is each listener's TLS and SASL settings, by listener name
	// (the inter-broker listener's too, even when only advertised).
	Security map[string]ListenerSecurity
	// InterBrokerSASLMechanism is the mechanism this broker authenticates
	// to the others with when the inter-broker listener is a SASL one ("" otherwise).
	InterBrokerSASLMechanism string
	// Authorization configures the ACL authorizer.
	Authorization            Authorization
	LogDirs                  []string
	ZooKeeperConnect         string
	ZooKeeperSessionTimeout  time.Duration
	ZooKeeperConnectTimeout  time.Duration
	NumPartitions            int32
	DefaultReplicationFactor int16
	AutoCreateTopics         bool
	DeleteTopicEnable        bool
	SocketRequestMaxBytes    int32
	ConnectionsMaxIdle       time.Duration
	RetentionCheckInterval   time.Duration
	FlushCheckpointInterval  time.Duration
	UncleanLeaderElection    bool
	// ControlledShutdown is controlled.shutdown.enable; ControlledShutdownTimeout
	// bounds it: max.retries attempts of retry.backoff.ms each (at least one).
	ControlledShutdown        bool
	ControlledShutdownTimeout time.Duration
	// Replication: the replica.* keys.
	ReplicaLagTimeMax                  time.Duration
	ReplicaFetchMaxBytes               int32
	ReplicaFetchWaitMax                time.Duration
	ReplicaFetchMinBytes               int32
	ReplicaSocketTimeout               time.Duration
	AutoLeaderRebalance                bool
	LeaderImbalanceCheckInterval       time.Duration
	LeaderImbalancePerBrokerPercentage int
	LogLevel                           string
	LogFormat                          string
	MetricsListen                      string // metrics.listen; "" when disabled
	Values                             Values // every key, for topic defaults and DescribeConfigs
	TopicDefaults                      map[string]string

	// ConsoleListen is console.listen ("" when the console is off) and
	// ConsoleAdvertised console.advertised.address, resolved: where the
	// other brokers' consoles reach this one ("" when off).
	ConsoleListen, ConsoleAdvertised string

	// PprofEnable is kzoo.pprof.enable: Go's profiles on the metrics
	// endpoint.
	PprofEnable bool
	// FetchSessionCacheSlots is max.incremental.fetch.session.cache.slots.
	FetchSessionCacheSlots int

	// Group coordinator and __consumer_offsets: the offsets.* and group.*
	// keys.
	OffsetsTopicPartitions        int32
	OffsetsTopicReplicationFactor int16
	OffsetsTopicSegmentBytes      int32
	OffsetsRetention              time.Duration
	OffsetsRetentionCheckInterval time.Duration
	OffsetsCommitTimeout          time.Duration
	OffsetMetadataMaxBytes        int
	GroupMinSessionTimeout        time.Duration
	GroupMaxSessionTimeout        time.Duration
	GroupInitialRebalanceDelay    time.Duration
	GroupMaxSize                  int

	// Transaction coordinator and __transaction_state: the transaction.*
	// keys.
	TransactionStateTopicPartitions        int32
	TransactionStateTopicReplicationFactor int16
	TransactionStateTopicMinISR            int32
	TransactionStateTopicSegmentBytes      int32
	TransactionMaxTimeout                  time.Duration
	TransactionalIDExpiration              time.Duration
	TransactionAbortTimedOutInterval       time.Duration
	TransactionRemoveExpiredInterval       time.Duration
}

// Broker resolves the typed configuration, checking that required keys are
// present and that the values fit together.
func (v Values) Broker() (*Broker, error) {
	if _, ok := v["broker.id"]; !ok {
		return nil, fmt.Errorf("broker.id is required (set it in the config file, %s or --override broker.id=N)", EnvName("broker.id"))
	}
	b := &Broker{
		ID:                       int32(v.int64("broker.id")),
		NumPartitions:            int32(v.int64("num.partitions")),
		DefaultReplicationFactor: int16(v.int64("default.replication.factor")),
		AutoCreateTopics:         v.bool("auto.create.topics.enable"),
		DeleteTopicEnable:        v.bool("delete.topic.enable"),
		SocketRequestMaxBytes:    int32(v.int64("socket.request.max.bytes")),
		ConnectionsMaxIdle:       time.Duration(v.int64("connections.max.idle.ms")) * time.Millisecond,
		RetentionCheckInterval:   time.Duration(v.int64("log.retention.check.interval.ms")) * time.Millisecond,
		FlushCheckpointInterval:  time.Duration(v.int64("log.flush.offset.checkpoint.interval.ms")) * time.Millisecond,
		UncleanLeaderElection:    v.bool("unclean.leader.election.enable"),
		ZooKeeperSessionTimeout:  time.Duration(v.int64("zookeeper.session.timeout.ms")) * time.Millisecond,
		ControlledShutdown:       v.bool("controlled.shutdown.enable"),
		ControlledShutdownTimeout: time.Duration(max(v.int64("controlled.shutdown.max.retries"), 1)*
			v.int64("controlled.shutdown.retry.backoff.ms")) * time.Millisecond,
		ReplicaLagTimeMax:                  time.Duration(v.int64("replica.lag.time.max.ms")) * time.Millisecond,
		ReplicaFetchMaxBytes:               int32(v.int64("replica.fetch.max.bytes")),
		ReplicaFetchWaitMax:                time.Duration(v.int64("replica.fetch.wait.max.ms")) * time.Millisecond,
		ReplicaFetchMinBytes:               int32(v.int64("replica.fetch.min.bytes")),
		ReplicaSocketTimeout:               time.Duration(v.int64("replica.socket.timeout.ms")) * time.Millisecond,
		AutoLeaderRebalance:                v.bool("auto.leader.rebalance.enable"),
		LeaderImbalanceCheckInterval:       time.Duration(v.int64("leader.imbalance.check.interval.seconds")) * time.Second,
		LeaderImbalancePerBrokerPercentage: int(v.int64("leader.imbalance.per.broker.percentage")),
		OffsetsTopicPartitions:             int32(v.int64("offsets.topic.num.partitions")),
		OffsetsTopicReplicationFactor:      int16(min(v.int64("offsets.topic.replication.factor"), math.MaxInt16)),
		OffsetsTopicSegmentBytes:           int32(v.int64("offsets.topic.segment.bytes")),
		OffsetsRetention:                   time.Duration(v.int64("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionCheckInterval:      time.Duration(v.int64("offsets.retention.check.interval.ms")) * time.Millisecond,
		OffsetsCommitTimeout:               time.Duration(v.int64("offsets.commit.timeout.ms")) * time.Millisecond,
		OffsetMetadataMaxBytes:             int(v.int64("offset.metadata.max.bytes")),
		GroupMinSessionTimeout:             time.Duration(v.int64("group.min.session.timeout.ms")) * time.Millisecond,
		GroupMaxSessionTimeout:             time.Duration(v.int64("group.max.session.timeout.ms")) * time.Millisecond,
		GroupInitialRebalanceDelay:         time.Duration(v.int64("group.initial.rebalance.delay.ms")) * time.Millisecond,
		GroupMaxSize:                       int(v.int64("group.max.size")),
		Values:                             v,

		TransactionStateTopicPartitions:        int32(v.int64("transaction.state.log.num.partitions")),
		TransactionStateTopicReplicationFactor: int16(min(v.int64("transaction.state.log.replication.factor"), math.MaxInt16)),
		TransactionStateTopicMinISR:            int32(v.int64("transaction.state.log.min.isr")),
		TransactionStateTopicSegmentBytes:      int32(v.int64("transaction.state.log.segment.bytes")),
		TransactionMaxTimeout:                  time.Duration(v.int64("transaction.max.timeout.ms")) * time.Millisecond,
		TransactionalIDExpiration:              time.Duration(v.int64("transactional.id.expiration.ms")) * time.Millisecond,
		TransactionAbortTimedOutInterval:       time.Duration(v.int64("transaction.abort.timed.out.transaction.cleanup.interval.ms")) * time.Millisecond,
		TransactionRemoveExpiredInterval:       time.Duration(v.int64("transaction.remove.expired.transaction.cleanup.interval.ms")) * time.Millisecond,
	}
	if b.GroupMinSessionTimeout > b.GroupMaxSessionTimeout {
		return nil, fmt.Errorf("group.min.session.timeout.ms (%d) is larger than group.max.session.timeout.ms (%d)",
			b.GroupMinSessionTimeout.Milliseconds(), b.GroupMaxSessionTimeout.Milliseconds())
	}
	b.Rack, _ = v.get("broker.rack")
	b.LogLevel, _ = v.get("log.level")
	b.LogFormat, _ = v.get("log.format")
	b.MetricsListen, _ = v.get("metrics.listen")
	b.PprofEnable = v.bool("kzoo.pprof.enable")
	b.FetchSessionCacheSlots = int(v.int64("max.incremental.fetch.session.cache.slots"))
	if b.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(b.MetricsListen); err != nil {
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
	}
	b.ZooKeeperConnect, _ = v.get("zookeeper.connect")
	b.ZooKeeperConnectTimeout = b.ZooKeeperSessionTimeout
	if _, ok := v["zookeeper.connection.timeout.ms"]; ok {
		b.ZooKeeperConnectTimeout = time.Duration(v.int64("zookeeper.connection.timeout.ms")) * time.Millisecond
	}

	listeners, _ := v.get("listeners")
	var err error
	if b.Listeners, err = ParseListeners(listeners); err != nil {
		return nil, fmt.Errorf("listeners: %w", err)
	}
	if adv, ok := v.get("advertised.listeners"); ok {
		if b.AdvertisedListeners, err = ParseListeners(adv); err != nil {
			return nil, fmt.Errorf("advertised.listeners: %w", err)
		}
	} else {
		b.AdvertisedListeners = append([]Listener(nil), b.Listeners...)
	}
	for i, l := range b.AdvertisedListeners {
		if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
			host, _ := os.Hostname()
			b.AdvertisedListeners[i].Host = host
		}
	}
	if err := v.resolveListeners(b); err != nil {
		return nil, err
	}
	if err := v.resolveConsole(b); err != nil {
		return nil, err
	}
	if err := v.resolveSecurity(b); err != nil {
		return nil, err
	}

	if dirs, ok := v["log.dirs"]; ok {
		b.LogDirs = configvalue.SplitList(dirs)
	} else if dir, ok := v["log.dir"]; ok {
		b.LogDirs = []string{dir}
	} else {
		def, _ := v.get("log.dirs")
		b.LogDirs = configvalue.SplitList(def)
	}
	if len(b.LogDirs) == 0 {
		return nil, errors.New("log.dirs: no directory given")
	}

	b.TopicDefaults = v.topicDefaults()
	return b, nil
}

// topicDefaults maps every topic key to its broker-supplied default.
func (v Values) topicDefaults() map[string]string {
	out := make(map[string]string, len(topicKeys))
	for _, tk := range topicKeys {
		if s, ok := v.get(tk.BrokerDefault); ok {
			out[tk.Name] = s
		} else {
			out[tk.Name] = tk.Default
		}
	}
	out["retention.ms"] = strconv.FormatInt(v.retentionMs(), 10)
	out["segment.ms"] = strconv.FormatInt(v.rollMs(), 10)
	out["segment.jitter.ms"] = strconv.FormatInt(v.rollJitterMs(), 10)
	return out
}

// retentionMs applies Kafka's precedence: ms over minutes over hours.
func (v Values) retentionMs() int64 {
	pick := func(n, unit int64) int64 {
		if n < 0 {
			return -1
		}
		return n * unit
	}
	switch {
	case has(v, "log.retention.ms"):
		return v.int64("log.retention.ms")
	case has(v, "log.retention.minutes"):
		return pick(v.int64("log.retention.minutes"), int64(time.Minute/time.Millisecond))
	default:
		return pick(v.int64("log.retention.hours"), int64(time.Hour/time.Millisecond))
	}
}

func (v Values) rollMs() int64 {
	if has(v, "log.roll.ms") {
		return v.int64("log.roll.ms")
	}
	return v.int64("log.roll.hours") * int64(time.Hour/time.Millisecond)
}

// rollJitterMs applies Kafka's precedence: ms over hours.
func (v Values) rollJitterMs() int64 {
	if has(v, "log.roll.jitter.ms") {
		return v.int64("log.roll.jitter.ms")
	}
	return v.int64("log.roll.jitter.hours") * int64(time.Hour/time.Millisecond)
}

func has(v Values, name string) bool { _, ok := v[name]; return ok }

// SortedKeys returns the keys set explicitly, sorted (for logging the effective config).
func (v Values) SortedKeys() []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// resolveConsole checks console.listen and works out the address the other
// brokers reach the console at: console.advertised.address, or
// console.listen with an unspecified host replaced by the first advertised
// listener's host (which is itself never unspecified by now).
func (v Values) resolveConsole(b *Broker) error {
	b.ConsoleListen, _ = v.get("console.listen")
	adv, _ := v.get("console.advertised.address")
	if b.ConsoleListen == "" {
		if adv != "" {
			return errors.New("console.advertised.address is set but console.listen is not: set console.listen to serve the console")
		}
		return nil
	}
	host, port, err := splitHostPort(b.ConsoleListen)
	if err != nil {
		return fmt.Errorf("console.listen: %w", err)
	}
	if adv != "" {
		advHost, advPort, err := splitHostPort(adv)
		if err != nil {
			return fmt.Errorf("console.advertised.address: %w", err)
		}
		if advHost == "" || isUnspecifiedHost(advHost) || advPort == "0" {
			return fmt.Errorf("console.advertised.address %q: want a host and a port the other brokers can reach", adv)
		}
		b.ConsoleAdvertised = adv
		return nil
	}
	if isUnspecifiedHost(host) && len(b.AdvertisedListeners) > 0 {
		host = b.AdvertisedListeners[0].Host
	}
	b.ConsoleAdvertised = net.JoinHostPort(host, port)
	return nil
}

// splitHostPort splits a host:port and checks that the port is a number of
// 0-65535.
func splitHostPort(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", err
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return "", "", fmt.Errorf("address %q: port %q is not a number of 0-65535", addr, port)
	}
	return host, port, nil
}

// isUnspecifiedHost reports whether a listen host means every interface.
func isUnspecifiedHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}
