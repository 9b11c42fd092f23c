// Package config defines the broker's configuration keys (Kafka's names and
// defaults), loads them from YAML, KZOO_* environment variables and
// --override flags, and validates topic-level configs.
//
// Every key is declared once, in brokerKeys or topicKeys, with its type,
// default and documentation; loading, validation and the README's reference
// all come from those tables.
package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kzoo/kzoo/internal/configvalue"
)

// Type is the value type of a config key.
type Type int

// The value types a key can have.
const (
	TypeString Type = iota
	TypeInt
	TypeLong
	TypeBool
	TypeList     // comma-separated strings
	TypeDouble   // floating point, e.g. min.cleanable.dirty.ratio
	TypePassword // a secret: never described, logged or printed
)

func (t Type) String() string {
	switch t {
	case TypeInt:
		return "int"
	case TypeLong:
		return "long"
	case TypeBool:
		return "boolean"
	case TypeList:
		return "list"
	case TypeDouble:
		return "double"
	case TypePassword:
		return "password"
	default:
		return "string"
	}
}

// Key declares one config key.
type Key struct {
	Name string
	Type Type
	// Default is the value of a broker key that is not set, "" meaning
	// none. A topic key's Default is its value when no broker key
	// supplies one ("" then being an empty value, as for Kafka's lists).
	Default string
	Doc     string
	// Min is the smallest accepted value for numeric keys; nil means any.
	Min *int64
	// OneOf lists the accepted values of an enumerated string key.
	OneOf []string
	// Check, when set, validates a value of a structured string key.
	Check func(value string) error
}

func minOf(v int64) *int64 { return &v }

// Parse checks that value is valid for the key and returns it normalized.
func (k Key) Parse(value string) (string, error) {
	value = strings.TrimSpace(value)
	switch k.Type {
	case TypeInt, TypeLong:
		bits := 64
		if k.Type == TypeInt {
			bits = 32
		}
		n, err := strconv.ParseInt(value, 10, bits)
		if err != nil {
			return "", fmt.Errorf("%s: %q is not a valid %s", k.Name, value, k.Type)
		}
		if k.Min != nil && n < *k.Min {
			return "", fmt.Errorf("%s: %d is below the minimum %d", k.Name, n, *k.Min)
		}
		return strconv.FormatInt(n, 10), nil
	case TypeDouble:
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return "", fmt.Errorf("%s: %q is not a valid number", k.Name, value)
		}
		if k.Min != nil && !(f >= float64(*k.Min)) { // NaN is below any minimum
			return "", fmt.Errorf("%s: %s is below the minimum %d", k.Name, value, *k.Min)
		}
	case TypeBool:
		b, err := configvalue.ParseBool(value)
		if err != nil {
			return "", fmt.Errorf("%s: %w", k.Name, err)
		}
		return strconv.FormatBool(b), nil
	case TypeString, TypeList, TypePassword:
		if k.Check != nil {
			if err := k.Check(value); err != nil {
				return "", fmt.Errorf("%s: %w", k.Name, err)
			}
		}
		if len(k.OneOf) > 0 {
			for _, item := range configvalue.SplitList(value) {
				if !slices.Contains(k.OneOf, item) {
					return "", fmt.Errorf("%s: %q is not one of %s", k.Name, item, strings.Join(k.OneOf, ", "))
				}
			}
		}
	}
	return value, nil
}

// brokerKeys are the broker-level keys kzoo understands, with Kafka's names
// and defaults. Keys marked as topic defaults are listed in topicDefaults.
var brokerKeys = []Key{
	{Name: "broker.id", Type: TypeInt, Doc: "This broker's id, unique in the cluster (required).", Min: minOf(0)},
	{Name: "broker.rack", Type: TypeString, Doc: "Rack of this broker, reported in Metadata."},
	{Name: "listeners", Type: TypeList, Default: "PLAINTEXT://127.0.0.1:9092", Doc: "Addresses to listen on, as NAME://host:port."},
	{Name: "advertised.listeners", Type: TypeList, Doc: "Addresses published in ZooKeeper for clients; defaults to listeners."},
	{Name: "listener.security.protocol.map", Type: TypeList, Default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", Doc: "Security protocol of each listener name, as NAME:PROTOCOL; kzoo serves only PLAINTEXT listeners."},
	{Name: "inter.broker.listener.name", Type: TypeString, Doc: "Listener other brokers connect to (replication); defaults to PLAINTEXT and must be one of advertised.listeners."},
	{Name: "log.dirs", Type: TypeList, Default: "/tmp/kzoo-logs", Doc: "Directories holding the partition logs."},
	{Name: "log.dir", Type: TypeString, Doc: "A single log directory, used when log.dirs is not set."},
	{Name: "zookeeper.connect", Type: TypeString, Default: "127.0.0.1:2181", Doc: "ZooKeeper servers host:port,... with an optional /chroot."},
	{Name: "zookeeper.session.timeout.ms", Type: TypeInt, Default: "18000", Doc: "ZooKeeper session timeout.", Min: minOf(1)},
	{Name: "zookeeper.connection.timeout.ms", Type: TypeInt, Doc: "How long to wait for a ZooKeeper session at start; defaults to the session timeout.", Min: minOf(1)},
	// ZooKeeper security.
	{Name: "zookeeper.set.acl", Type: TypeBool, Default: "false", Doc: "Create znodes with secure ACLs: only the brokers' ZooKeeper identity (kzoo.zookeeper.digest.username, or the TLS client certificate) may change them, everyone may read them except /config/users, /config/brokers and their children. `kzoo zk-secure` applies them to an existing cluster."},
	{Name: "zookeeper.ssl.client.enable", Type: TypeBool, Default: "false", Doc: "Connect to ZooKeeper over TLS (its secureClientPort)."},
	{Name: "zookeeper.clientCnxnSocket", Type: TypeString, Doc: "Accepted for Kafka configs and ignored: a Java class; kzoo needs no socket class for TLS."},
	{Name: "zookeeper.ssl.keystore.location", Type: TypeString, Doc: "Client certificate and key for ZooKeeper TLS (PEM or PKCS12); its subject is the broker's x509 identity in ZooKeeper."},
	{Name: "zookeeper.ssl.keystore.password", Type: TypePassword, Doc: "Password of zookeeper.ssl.keystore.location."},
	{Name: "zookeeper.ssl.keystore.type", Type: TypeString, Doc: "PEM or PKCS12 (JKS is refused); taken from the file name's extension when not set.", OneOf: []string{"PEM", "PKCS12", "JKS"}},
	{Name: "zookeeper.ssl.truststore.location", Type: TypeString, Doc: "Certificates trusted to sign ZooKeeper's server certificate (PEM or PKCS12); the system's roots when not set."},
	{Name: "zookeeper.ssl.truststore.password", Type: TypePassword, Doc: "Password of zookeeper.ssl.truststore.location."},
	{Name: "zookeeper.ssl.truststore.type", Type: TypeString, Doc: "PEM or PKCS12 (JKS is refused); taken from the file name's extension when not set.", OneOf: []string{"PEM", "PKCS12", "JKS"}},
	{Name: "zookeeper.ssl.protocol", Type: TypeString, Default: "TLSv1.2", Doc: "TLS version of the ZooKeeper connection when zookeeper.ssl.enabled.protocols is not set.", OneOf: []string{"TLSv1.2", "TLSv1.3", "TLS"}},
	{Name: "zookeeper.ssl.enabled.protocols", Type: TypeList, Doc: "TLS versions allowed for the ZooKeeper connection.", OneOf: []string{"TLSv1.2", "TLSv1.3"}},
	{Name: "zookeeper.ssl.endpoint.identification.algorithm", Type: TypeString, Default: "HTTPS", Doc: "HTTPS: ZooKeeper's certificate must name the host (or IP address) in zookeeper.connect; empty: it need not."},
	{Name: "kzoo.zookeeper.digest.username", Type: TypeString, Doc: "User of the digest identity the broker authenticates to ZooKeeper with (kzoo's own key: Kafka's SASL JAAS Client section has no Go ZooKeeper client)."},
	{Name: "kzoo.zookeeper.digest.password", Type: TypePassword, Doc: "Password of kzoo.zookeeper.digest.username."},
	{Name: "num.partitions", Type: TypeInt, Default: "1", Doc: "Partitions of an auto-created topic.", Min: minOf(1)},
	{Name: "default.replication.factor", Type: TypeInt, Default: "1", Doc: "Replication factor of an auto-created topic.", Min: minOf(1)},
	{Name: "auto.create.topics.enable", Type: TypeBool, Default: "true", Doc: "Create unknown topics on Metadata and Produce requests."},
	{Name: "delete.topic.enable", Type: TypeBool, Default: "true", Doc: "Allow DeleteTopics."},
	{Name: "message.max.bytes", Type: TypeInt, Default: "1048588", Doc: "Largest record batch accepted (topic default of max.message.bytes).", Min: minOf(0)},
	{Name: "socket.request.max.bytes", Type: TypeInt, Default: "104857600", Doc: "Largest request frame accepted; larger frames close the connection.", Min: minOf(1)},
	{Name: "max.connections", Type: TypeInt, Default: "2147483647", Doc: "Client connections the broker keeps open at once, over all listeners; more are closed as they are accepted.", Min: minOf(0)},
	{Name: "max.connections.per.ip", Type: TypeInt, Default: "2147483647", Doc: "Client connections the broker keeps open at once from one IP address.", Min: minOf(0)},
	{Name: "max.connections.per.ip.overrides", Type: TypeString, Doc: "Exceptions to max.connections.per.ip, as ip:count,...; kzoo takes IP addresses, not host names.", Check: checkConnectionOverrides},
	{Name: "connections.max.idle.ms", Type: TypeLong, Default: "600000", Doc: "Close connections idle for longer than this.", Min: minOf(1)},
	{Name: "log.segment.bytes", Type: TypeInt, Default: "1073741824", Doc: "Segment size (topic default of segment.bytes).", Min: minOf(14)},
	{Name: "log.roll.ms", Type: TypeLong, Doc: "Roll a segment after this long (topic default of segment.ms); overrides log.roll.hours.", Min: minOf(1)},
	{Name: "log.roll.hours", Type: TypeInt, Default: "168", Doc: "Roll a segment after this many hours.", Min: minOf(1)},
	{Name: "log.roll.jitter.ms", Type: TypeLong, Doc: "Largest random amount taken off a segment's roll time, so that partitions do not all roll together (topic default of segment.jitter.ms); overrides log.roll.jitter.hours.", Min: minOf(0)},
	{Name: "log.roll.jitter.hours", Type: TypeInt, Default: "0", Doc: "log.roll.jitter.ms in hours.", Min: minOf(0)},
	{Name: "log.retention.ms", Type: TypeLong, Doc: "Delete segments older than this (topic default of retention.ms); -1 keeps forever; overrides minutes and hours.", Min: minOf(-1)},
	{Name: "log.retention.minutes", Type: TypeInt, Doc: "Retention in minutes; overrides log.retention.hours.", Min: minOf(-1)},
	{Name: "log.retention.hours", Type: TypeInt, Default: "168", Doc: "Retention in hours.", Min: minOf(-1)},
	{Name: "log.retention.bytes", Type: TypeLong, Default: "-1", Doc: "Delete old segments beyond this partition size (topic default of retention.bytes); -1 unlimited.", Min: minOf(-1)},
	{Name: "log.retention.check.interval.ms", Type: TypeLong, Default: "300000", Doc: "How often retention runs.", Min: minOf(1)},
	{Name: "log.index.interval.bytes", Type: TypeInt, Default: "4096", Doc: "Bytes of log between offset index entries (topic default of index.interval.bytes).", Min: minOf(0)},
	{Name: "log.index.size.max.bytes", Type: TypeInt, Default: "10485760", Doc: "Largest offset index; the segment rolls when full (topic default of segment.index.bytes).", Min: minOf(4)},
	{Name: "log.flush.interval.messages", Type: TypeLong, Default: "9223372036854775807", Doc: "fsync after this many messages (topic default of flush.messages).", Min: minOf(1)},
	{Name: "log.flush.interval.ms", Type: TypeLong, Doc: "fsync when the last flush is older than this (topic default of flush.ms).", Min: minOf(0)},
	{Name: "log.flush.offset.checkpoint.interval.ms", Type: TypeInt, Default: "60000", Doc: "How often the recovery point is checkpointed.", Min: minOf(0)},
	{Name: "kzoo.max.open.files", Type: TypeInt, Default: "0", Doc: "Segment and index files the broker keeps open while idle (kzoo's own key); files are opened on demand and the least recently used idle ones closed beyond this. 0 = half the process's open-file limit (RLIMIT_NOFILE), leaving the other half to connections. Files in use are never closed: when all are, the broker opens more, logs a warning and counts them in kzoo_log_open_files_over_limit_total.", Min: minOf(0)},
	{Name: "log.segment.delete.delay.ms", Type: TypeLong, Default: "60000", Doc: "How long a deleted segment stays open for readers (topic default of file.delete.delay.ms).", Min: minOf(0)},
	{Name: "log.cleanup.policy", Type: TypeList, Default: "delete", Doc: "Topic default of cleanup.policy.", OneOf: []string{"delete", "compact"}},
	{Name: "log.message.timestamp.type", Type: TypeString, Default: "CreateTime", Doc: "Topic default of message.timestamp.type.", OneOf: []string{"CreateTime", "LogAppendTime"}},
	{Name: "log.message.timestamp.difference.max.ms", Type: TypeLong, Default: "9223372036854775807", Doc: "Topic default of message.timestamp.difference.max.ms.", Min: minOf(0)},
	{Name: "log.message.format.version", Type: TypeString, Default: "2.4-IV1", Doc: "Topic default of message.format.version; accepted, but kzoo always stores batches in the v2 format.", Check: checkMessageFormatVersion},
	{Name: "log.message.downconversion.enable", Type: TypeBool, Default: "true", Doc: "Topic default of message.downconversion.enable."},
	{Name: "log.preallocate", Type: TypeBool, Default: "false", Doc: "Topic default of preallocate; accepted, but kzoo does not preallocate segment files."},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", Doc: "Topic default of min.insync.replicas.", Min: minOf(1)},
	{Name: "unclean.leader.election.enable", Type: TypeBool, Default: "false", Doc: "Topic default of unclean.leader.election.enable."},
	{Name: "compression.type", Type: TypeString, Default: "producer", Doc: "Topic default of compression.type; kzoo stores batches as the producer sent them.", OneOf: compressionTypes},
	{Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: "86400000", Doc: "Topic default of delete.retention.ms.", Min: minOf(0)},
	{Name: "log.cleaner.enable", Type: TypeBool, Default: "true", Doc: "Run the log cleaner, which compacts topics whose cleanup.policy includes compact."},
	{Name: "log.cleaner.backoff.ms", Type: TypeLong, Default: "15000", Doc: "Pause between the log cleaner's passes over the compacted logs.", Min: minOf(1)},
	{Name: "log.cleaner.dedupe.buffer.size", Type: TypeLong, Default: "134217728", Doc: "Memory for the key maps of the cleaner threads, shared between them; a larger dirty part is cleaned over several passes.", Min: minOf(1)},
	{Name: "log.cleaner.threads", Type: TypeInt, Default: "1", Doc: "Logs the cleaner compacts at the same time.", Min: minOf(1)},
	{Name: "log.cleaner.io.max.bytes.per.second", Type: TypeDouble, Default: "1.7976931348623157E308", Doc: "Bytes per second the cleaner threads together read from the logs; the default is unlimited.", Min: minOf(1)},
	{Name: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, Default: "0.5", Doc: "Topic default of min.cleanable.dirty.ratio (clamped to [0, 1])."},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, Default: "0", Doc: "Topic default of min.compaction.lag.ms.", Min: minOf(0)},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, Default: "9223372036854775807", Doc: "Topic default of max.compaction.lag.ms.", Min: minOf(1)},
	{Name: "controlled.shutdown.enable", Type: TypeBool, Default: "true", Doc: "On SIGTERM, ask the controller to move this broker's leaderships elsewhere before stopping."},
	{Name: "controlled.shutdown.max.retries", Type: TypeInt, Default: "3", Doc: "Attempts of a controlled shutdown; with the backoff they bound how long it may take.", Min: minOf(0)},
	{Name: "controlled.shutdown.retry.backoff.ms", Type: TypeLong, Default: "5000", Doc: "Time allowed for each controlled shutdown attempt.", Min: minOf(0)},
	{Name: "replica.lag.time.max.ms", Type: TypeLong, Default: "30000", Doc: "A follower that has not caught up with the leader for this long leaves the ISR.", Min: minOf(1)},
	{Name: "replica.fetch.max.bytes", Type: TypeInt, Default: "1048576", Doc: "Bytes a follower asks for per partition in each fetch (at least one batch is always returned).", Min: minOf(1)},
	{Name: "replica.fetch.wait.max.ms", Type: TypeInt, Default: "500", Doc: "How long the leader may hold a follower's fetch waiting for data.", Min: minOf(0)},
	{Name: "replica.fetch.min.bytes", Type: TypeInt, Default: "1", Doc: "Bytes the leader waits for before answering a follower's fetch.", Min: minOf(1)},
	{Name: "replica.socket.timeout.ms", Type: TypeInt, Default: "30000", Doc: "Network timeout of a follower's fetch requests.", Min: minOf(1)},
	{Name: "num.replica.fetchers", Type: TypeInt, Default: "1", Doc: "Fetcher connections per source broker; a partition is fetched by the one its topic and number hash to.", Min: minOf(1)},
	{Name: "leader.replication.throttled.rate", Type: TypeLong, Default: "9223372036854775807", Doc: "Bytes per second this broker sends, as leader, to followers outside the ISR of the replicas that leader.replication.throttled.replicas names on it (a dynamic broker config, as in Kafka); the default is unlimited.", Min: minOf(0)},
	{Name: "follower.replication.throttled.rate", Type: TypeLong, Default: "9223372036854775807", Doc: "Bytes per second this broker copies, as follower outside the ISR, of the replicas that follower.replication.throttled.replicas names on it (a dynamic broker config, as in Kafka); the default is unlimited.", Min: minOf(0)},
	{Name: "auto.leader.rebalance.enable", Type: TypeBool, Default: "true", Doc: "Let the controller give leadership back to preferred replicas when leadership is out of balance."},
	{Name: "leader.imbalance.check.interval.seconds", Type: TypeLong, Default: "300", Doc: "How often the controller checks leader balance.", Min: minOf(1)},
	{Name: "leader.imbalance.per.broker.percentage", Type: TypeInt, Default: "10", Doc: "Share of a broker's preferred partitions it may not lead before the controller rebalances.", Min: minOf(0)},
	{Name: "offsets.topic.num.partitions", Type: TypeInt, Default: "50", Doc: "Partitions of __consumer_offsets when it is created; a group's coordinator is the leader of the partition its id hashes to.", Min: minOf(1)},
	{Name: "offsets.topic.replication.factor", Type: TypeInt, Default: "3", Doc: "Replication factor of __consumer_offsets when it is created (never more than the live brokers then).", Min: minOf(1)},
	{Name: "offsets.topic.segment.bytes", Type: TypeInt, Default: "104857600", Doc: "Segment size of __consumer_offsets, kept small so that compaction and loading are fast.", Min: minOf(14)},
	{Name: "offsets.retention.minutes", Type: TypeInt, Default: "10080", Doc: "Committed offsets of a group that has been empty for this long are deleted.", Min: minOf(1)},
	{Name: "offsets.retention.check.interval.ms", Type: TypeLong, Default: "600000", Doc: "How often expired committed offsets are looked for.", Min: minOf(1)},
	{Name: "offsets.commit.timeout.ms", Type: TypeInt, Default: "5000", Doc: "How long an offset commit (or any group coordinator write) waits for the in-sync replicas of __consumer_offsets.", Min: minOf(1)},
	{Name: "offset.metadata.max.bytes", Type: TypeInt, Default: "4096", Doc: "Largest metadata string a committed offset may carry.", Min: minOf(0)},
	{Name: "group.min.session.timeout.ms", Type: TypeInt, Default: "6000", Doc: "Smallest session timeout a group member may ask for.", Min: minOf(0)},
	{Name: "group.max.session.timeout.ms", Type: TypeInt, Default: "1800000", Doc: "Largest session timeout a group member may ask for.", Min: minOf(0)},
	{Name: "group.initial.rebalance.delay.ms", Type: TypeInt, Default: "3000", Doc: "How long the first rebalance of an empty group waits for more members to join.", Min: minOf(0)},
	{Name: "group.max.size", Type: TypeInt, Default: "2147483647", Doc: "Most members a group may have.", Min: minOf(1)},
	{Name: "transaction.state.log.num.partitions", Type: TypeInt, Default: "50", Doc: "Partitions of __transaction_state when it is created; a transactional id's coordinator is the leader of the partition its id hashes to.", Min: minOf(1)},
	{Name: "transaction.state.log.replication.factor", Type: TypeInt, Default: "3", Doc: "Replication factor of __transaction_state when it is created (never more than the live brokers then).", Min: minOf(1)},
	{Name: "transaction.state.log.min.isr", Type: TypeInt, Default: "2", Doc: "min.insync.replicas of __transaction_state (never more than its replication factor).", Min: minOf(1)},
	{Name: "transaction.state.log.segment.bytes", Type: TypeInt, Default: "104857600", Doc: "Segment size of __transaction_state, kept small so that compaction and loading are fast.", Min: minOf(1)},
	{Name: "transaction.max.timeout.ms", Type: TypeInt, Default: "900000", Doc: "Largest transaction timeout a producer may ask for; InitProducerId refuses larger ones.", Min: minOf(1)},
	{Name: "transactional.id.expiration.ms", Type: TypeInt, Default: "604800000", Doc: "A transactional id without a transaction for this long is forgotten.", Min: minOf(1)},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: TypeInt, Default: "10000", Doc: "How often the coordinator looks for transactions past their timeout, to abort them.", Min: minOf(1)},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: TypeInt, Default: "3600000", Doc: "How often the coordinator looks for expired transactional ids.", Min: minOf(1)},
	{Name: "quota.window.num", Type: TypeInt, Default: "11", Doc: "Samples a client or topic quota's rate is measured over: the rate is the bytes (or handler time) of the last quota.window.num windows over their time, so a burst is averaged over about 10 s by default.", Min: minOf(1)},
	{Name: "quota.window.size.seconds", Type: TypeInt, Default: "1", Doc: "Length of each quota sample window.", Min: minOf(1)},
	// Security: TLS and SASL of the listeners (each also as
	// listener.name.<listener>.<key>, see listenerScopedKeys), the
	// authorizer.
	{Name: "ssl.keystore.type", Type: TypeString, Doc: "Format of the keystore: PEM or PKCS12; unset, it is told from the file (Kafka's default is JKS, which kzoo cannot read: convert it with keytool -importkeystore -deststoretype PKCS12).", OneOf: []string{"JKS", "PKCS12", "PEM"}},
	{Name: "ssl.keystore.location", Type: TypeString, Doc: "File holding the listener's certificate chain and private key (PEM or PKCS12); re-read when it changes."},
	{Name: "ssl.keystore.password", Type: TypePassword, Doc: "Password of a PKCS12 keystore."},
	{Name: "ssl.key.password", Type: TypePassword, Doc: "Password of an encrypted PEM private key."},
	{Name: "ssl.keystore.certificate.chain", Type: TypePassword, Doc: "The certificate chain in PEM, inline (with ssl.keystore.type=PEM and ssl.keystore.key)."},
	{Name: "ssl.keystore.key", Type: TypePassword, Doc: "The private key in PEM, inline (with ssl.keystore.type=PEM)."},
	{Name: "ssl.truststore.type", Type: TypeString, Doc: "Format of the truststore: PEM or PKCS12; unset, it is told from the file.", OneOf: []string{"JKS", "PKCS12", "PEM"}},
	{Name: "ssl.truststore.location", Type: TypeString, Doc: "File holding the certificate authorities that client (and peer broker) certificates are checked against; re-read when it changes."},
	{Name: "ssl.truststore.password", Type: TypePassword, Doc: "Password of a PKCS12 truststore."},
	{Name: "ssl.truststore.certificates", Type: TypePassword, Doc: "Trusted certificates in PEM, inline (with ssl.truststore.type=PEM)."},
	{Name: "ssl.client.auth", Type: TypeString, Default: "none", Doc: "Whether clients of a TLS listener must present a certificate: required, requested or none.", OneOf: []string{"required", "requested", "none"}},
	{Name: "ssl.endpoint.identification.algorithm", Type: TypeString, Default: "https", Doc: "https checks a peer broker's host name against its certificate when this broker connects to it; empty turns the check off."},
	{Name: "ssl.enabled.protocols", Type: TypeList, Default: "TLSv1.2,TLSv1.3", Doc: "TLS versions a listener accepts.", OneOf: []string{"TLSv1.2", "TLSv1.3"}},
	{Name: "ssl.cipher.suites", Type: TypeList, Doc: "TLS 1.2 cipher suites accepted, by their IANA names (as Java names them); empty: Go's defaults. TLS 1.3 suites are Go's."},
	{Name: "ssl.principal.mapping.rules", Type: TypeString, Default: "DEFAULT", Doc: "How a TLS client certificate's subject becomes a principal name, in Kafka's syntax: RULE:pattern/replacement/[LU],...,DEFAULT."},
	{Name: "sasl.enabled.mechanisms", Type: TypeList, Default: "GSSAPI", Doc: "SASL mechanisms a SASL listener accepts: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (kzoo has no GSSAPI or OAUTHBEARER; Kafka's default GSSAPI must be replaced)."},
	{Name: "sasl.mechanism.inter.broker.protocol", Type: TypeString, Default: "GSSAPI", Doc: "SASL mechanism brokers authenticate to each other with, when the inter-broker listener is a SASL one."},
	{Name: "sasl.server.max.receive.size", Type: TypeInt, Default: "524288", Doc: "Largest frame accepted from a client before it has authenticated.", Min: minOf(1)},
	{Name: "connections.max.reauth.ms", Type: TypeLong, Default: "0", Doc: "Longest SASL session: a client must re-authenticate within it (KIP-368) or its connection is closed; 0 means sessions never expire.", Min: minOf(0)},
	{Name: "authorizer.class.name", Type: TypeString, Doc: "Turns ACL authorization on: kafka.security.authorizer.AclAuthorizer (or Kafka's older kafka.security.auth.SimpleAclAuthorizer); empty turns it off.", Check: checkAuthorizer},
	{Name: "super.users", Type: TypeString, Doc: "Principals allowed everything, as User:name;User:other (semicolon-separated, as Kafka's)."},
	{Name: "allow.everyone.if.no.acl.found", Type: TypeBool, Default: "false", Doc: "Allow an operation on a resource that no ACL names at all."},
	{Name: "log.level", Type: TypeString, Default: "info", Doc: "Log level of the broker's own log.", OneOf: []string{"trace", "debug", "info", "warn", "error"}},
	{Name: "log.format", Type: TypeString, Default: "text", Doc: "Format of the broker's own log.", OneOf: []string{"text", "json"}},
	{Name: "metrics.listen", Type: TypeString, Doc: "host:port of the HTTP endpoint serving Prometheus metrics at /metrics, consumer-group lag included (kzoo's own key); empty disables it."},
	{Name: "console.listen", Type: TypeString, Doc: "host:port of the web console: live pages of the cluster, topics, partition states, consumer groups, reassignments and controller events (kzoo's own key); empty disables it. Off by default; scripts/cluster and docker-compose turn it on."},
	{Name: "console.advertised.address", Type: TypeString, Doc: "host:port the other brokers' consoles reach this broker's console at, registered in ZooKeeper as kzoo_console (kzoo's own key); empty: console.listen, its unspecified host (empty, 0.0.0.0 or ::) replaced by the host of the first advertised listener."},
	{Name: "kzoo.pprof.enable", Type: TypeBool, Default: "false", Doc: "Also serve Go's profiles (net/http/pprof) at /debug/pprof/ on the metrics.listen endpoint (kzoo's own key); for diagnosis only: a profile costs CPU while it runs."},
	{Name: "max.incremental.fetch.session.cache.slots", Type: TypeInt, Default: "1000", Doc: "Most incremental fetch sessions (KIP-227) the broker keeps; a fetcher without one sends every partition in every fetch.", Min: minOf(0)},
}

var compressionTypes = []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}

// topicKeys are the topic-level keys accepted by CreateTopics, each with the
// broker key that supplies its default. They are those of Kafka 2.4's topic
// config. A topic key's own Default applies only when no broker key supplies
// one: Kafka's throttled replica lists have no broker synonym, and flush.ms
// falls back past log.flush.interval.ms, which has no default, to
// log.flush.scheduler.interval.ms (never).
var topicKeys = []struct {
	Key
	BrokerDefault string // "" when no broker key supplies the default
}{
	{Key{Name: "cleanup.policy", Type: TypeList, OneOf: []string{"delete", "compact"}, Doc: "delete or compact (or both)."}, "log.cleanup.policy"},
	{Key{Name: "compression.type", Type: TypeString, OneOf: compressionTypes, Doc: "Compression of stored batches."}, "compression.type"},
	{Key{Name: "delete.retention.ms", Type: TypeLong, Min: minOf(0), Doc: "How long tombstones are kept in compacted topics."}, "log.cleaner.delete.retention.ms"},
	{Key{Name: "file.delete.delay.ms", Type: TypeLong, Min: minOf(0), Doc: "How long a deleted segment stays open for readers."}, "log.segment.delete.delay.ms"},
	{Key{Name: "flush.messages", Type: TypeLong, Min: minOf(1), Doc: "fsync after this many messages."}, "log.flush.interval.messages"},
	{Key{Name: "flush.ms", Type: TypeLong, Default: "9223372036854775807", Min: minOf(0), Doc: "fsync when the last flush is older than this."}, "log.flush.interval.ms"},
	{Key{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", Check: checkThrottledReplicas, Doc: "Replicas (partition:broker,... or *) throttled as followers: while out of the ISR, broker B copies partition P, named as P:B, within B's follower.replication.throttled.rate."}, ""},
	{Key{Name: "index.interval.bytes", Type: TypeInt, Min: minOf(0), Doc: "Bytes between offset index entries."}, "log.index.interval.bytes"},
	{Key{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", Check: checkThrottledReplicas, Doc: "Replicas (partition:broker,... or *) throttled as leaders: broker B, leading partition P named as P:B, sends it to followers outside the ISR within B's leader.replication.throttled.rate."}, ""},
	{Key{Name: "max.compaction.lag.ms", Type: TypeLong, Min: minOf(1), Doc: "Longest a record stays uncompacted, whatever the dirty ratio (compacted topics)."}, "log.cleaner.max.compaction.lag.ms"},
	{Key{Name: "max.message.bytes", Type: TypeInt, Min: minOf(0), Doc: "Largest record batch accepted."}, "message.max.bytes"},
	{Key{Name: "message.downconversion.enable", Type: TypeBool, Doc: "Whether fetches of older versions may down-convert batches; accepted, but kzoo serves record batches as stored."}, "log.message.downconversion.enable"},
	{Key{Name: "message.format.version", Type: TypeString, Check: checkMessageFormatVersion, Doc: "Record format version of the stored batches; accepted, but kzoo always stores the v2 format."}, "log.message.format.version"},
	{Key{Name: "message.timestamp.difference.max.ms", Type: TypeLong, Min: minOf(0), Doc: "Largest difference between a CreateTime batch's timestamps and the broker's clock; a produce beyond it fails with INVALID_TIMESTAMP."}, "log.message.timestamp.difference.max.ms"},
	{Key{Name: "message.timestamp.type", Type: TypeString, OneOf: []string{"CreateTime", "LogAppendTime"}, Doc: "Whose timestamp a record keeps."}, "log.message.timestamp.type"},
	{Key{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Doc: "Share of a compacted log that must be dirty before it is cleaned (clamped to [0, 1])."}, "log.cleaner.min.cleanable.ratio"},
	{Key{Name: "min.compaction.lag.ms", Type: TypeLong, Min: minOf(0), Doc: "Records younger than this are not compacted."}, "log.cleaner.min.compaction.lag.ms"},
	{Key{Name: "min.insync.replicas", Type: TypeInt, Min: minOf(1), Doc: "In-sync replicas an acks=all write needs."}, "min.insync.replicas"},
	{Key{Name: "preallocate", Type: TypeBool, Doc: "Preallocate segment files; accepted, but kzoo does not preallocate."}, "log.preallocate"},
	{Key{Name: "retention.bytes", Type: TypeLong, Min: minOf(-1), Doc: "Partition size beyond which old segments are deleted."}, "log.retention.bytes"},
	{Key{Name: "retention.ms", Type: TypeLong, Min: minOf(-1), Doc: "Age beyond which old segments are deleted."}, "log.retention.ms"},
	{Key{Name: "segment.bytes", Type: TypeInt, Min: minOf(14), Doc: "Segment size."}, "log.segment.bytes"},
	{Key{Name: "segment.index.bytes", Type: TypeInt, Min: minOf(4), Doc: "Largest offset index."}, "log.index.size.max.bytes"},
	{Key{Name: "segment.jitter.ms", Type: TypeLong, Min: minOf(0), Doc: "Largest random amount taken off a segment's roll time (segment.ms)."}, "log.roll.jitter.ms"},
	{Key{Name: "segment.ms", Type: TypeLong, Min: minOf(1), Doc: "Roll a segment after this long."}, "log.roll.ms"},
	{Key{Name: "unclean.leader.election.enable", Type: TypeBool, Doc: "Allow an out-of-sync replica to become leader."}, "unclean.leader.election.enable"},
}

// topicQuotaKeys are kzoo's own topic keys, with no Kafka equivalent: the
// per-topic quotas. They have no default (no quota), and a topic describes
// them only when it sets them, so that a topic without quotas describes as in
// Kafka. The internal topics take none (ValidateTopicConfigs): throttling
// __consumer_offsets or __transaction_state would slow every group or
// transaction.
var topicQuotaKeys = []Key{
	{Name: "producer.byte.rate", Type: TypeLong, Min: minOf(1), Doc: "kzoo's own: the bytes per second that producers may append to the topic on each broker, shared by all clients of the topic; a produce above it is throttled as a client quota is (the larger throttle wins). Unset: no limit. Not on internal topics."},
	{Name: "consumer.byte.rate", Type: TypeLong, Min: minOf(1), Doc: "kzoo's own: the bytes per second that consumers may fetch from the topic on each broker, shared by all clients of the topic; a fetch above it is throttled as a client quota is (the larger throttle wins). Replication is not counted. Unset: no limit. Not on internal topics."},
}

func lookup(keys []Key, name string) (Key, bool) {
	for _, k := range keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// lookupBroker finds a broker key, including a listener-scoped one
// (listener.name.<listener>.<key>), which parses as the key it scopes.
func lookupBroker(name string) (Key, bool) {
	if k, ok := lookup(brokerKeys, name); ok {
		return k, true
	}
	if _, key, ok := splitListenerKey(name); ok {
		k, ok := listenerScopedKey(key)
		if ok {
			k.Name = name
		}
		return k, ok
	}
	return Key{}, false
}

// BrokerKeys returns the broker-level keys (for documentation).
func BrokerKeys() []Key { return append([]Key(nil), brokerKeys...) }

// TopicKeys returns the topic-level keys, kzoo's own quota keys included
// (for documentation).
func TopicKeys() []Key {
	out := make([]Key, len(topicKeys), len(topicKeys)+len(topicQuotaKeys))
	for i, tk := range topicKeys {
		out[i] = tk.Key
	}
	return append(out, topicQuotaKeys...)
}
