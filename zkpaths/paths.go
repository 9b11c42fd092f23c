// Package zkpaths names every znode kzoo uses and defines every payload stored in
// them, following the layout and JSON of Apache Kafka in ZooKeeper mode so that
// people and tools that know Kafka's znodes find what they expect.
//
// The deliberate additions are: the "state" field of partition state znodes,
// which makes the controller's partition state machine visible in ZooKeeper;
// the "election_type" field of /admin/preferred_replica_election (unclean
// elections on request); and two znodes standing in for controller RPCs that
// ZooKeeper-mode Kafka has, /admin/controlled_shutdown/<id> and the removal
// confirmations /admin/delete_topics/<t>/<id>.
//
// Paths here are logical: they start at the root of the cluster's namespace. A
// chroot given in zookeeper.connect is applied by the ZooKeeper client wrapper,
// never here.
//
// The package is a leaf that does no I/O: coordinator reads and writes the
// znodes through it, and so do the kzoo CLI's cluster report and the
// end-to-end tests. With the payloads come the words they share:
// TopicPartition, the one type naming a partition; PartitionStatus, where a
// partition stands in the controller's state machine; and UUID, Kafka's topic
// and cluster ids.
package zkpaths

import (
	"strconv"
	"strings"
)

// Znodes and folders of the cluster namespace.
const (
	BrokerIDsPath       = "/brokers/ids"
	TopicsPath          = "/brokers/topics"
	BrokerSeqIDPath     = "/brokers/seqid"
	ControllerPath      = "/controller"
	ControllerEpochPath = "/controller_epoch"

	ConfigPath        = "/config"
	ConfigChangesPath = "/config/changes"

	DeleteTopicsPath             = "/admin/delete_topics"
	ReassignPartitionsPath       = "/admin/reassign_partitions"
	PreferredReplicaElectionPath = "/admin/preferred_replica_election"

	// ControlledShutdownPath is not a Kafka znode: Kafka's brokers ask the
	// controller for a controlled shutdown with an RPC. A kzoo broker asks by
	// creating the ephemeral /admin/controlled_shutdown/<id>, holding a
	// ControlledShutdownRequest; the controller watches the children.
	ControlledShutdownPath = "/admin/controlled_shutdown"

	// IsrChangeNotificationPath and LogDirEventNotificationPath are where
	// Kafka's brokers tell the controller about ISR changes and failed log
	// directories. kzoo writes neither, but creates both at start as Kafka
	// does, for the tools that expect them.
	IsrChangeNotificationPath   = "/isr_change_notification"
	LogDirEventNotificationPath = "/log_dir_event_notification"

	ClusterPath         = "/cluster"
	ClusterIDPath       = "/cluster/id"
	ProducerIDBlockPath = "/latest_producer_id_block"

	// ConsumersPath is the pre-0.9 consumer registry. Nothing uses it, but Kafka
	// creates it at start and tools expect it.
	ConsumersPath = "/consumers"
)

// ConfigChangePrefix names the persistent-sequential config change
// notifications; ZooKeeper appends a 10-digit sequence number.
const ConfigChangePrefix = "config_change_"

// Entity types under /config.
const (
	ConfigTypeTopic  = "topics"
	ConfigTypeClient = "clients"
	ConfigTypeUser   = "users"
	ConfigTypeBroker = "brokers"
	ConfigTypeIP     = "ips"

	// DefaultConfigEntity names the entity holding cluster-wide defaults, as in
	// /config/brokers/<default>.
	DefaultConfigEntity = "<default>"
)

// PersistentPaths returns the znodes every broker makes sure exist at start, in an
// order where parents come before children.
func PersistentPaths() []string {
	return []string{
		ConsumersPath,
		BrokerIDsPath,
		TopicsPath,
		BrokerSeqIDPath,
		ConfigChangesPath,
		ConfigEntityTypePath(ConfigTypeTopic),
		ConfigEntityTypePath(ConfigTypeClient),
		ConfigEntityTypePath(ConfigTypeUser),
		ConfigEntityTypePath(ConfigTypeBroker),
		ConfigEntityTypePath(ConfigTypeIP),
		DeleteTopicsPath,
		ControlledShutdownPath,
		IsrChangeNotificationPath,
		LogDirEventNotificationPath,
		ProducerIDBlockPath,
		ClusterPath,
	}
}

// BrokerIDPath is the ephemeral registration znode of a broker.
func BrokerIDPath(id int32) string {
	return BrokerIDsPath + "/" + strconv.FormatInt(int64(id), 10)
}

// TopicPath holds a topic's replica assignment.
func TopicPath(topic string) string {
	return TopicsPath + "/" + topic
}

// TopicPartitionsPath is the data-less parent of a topic's partition znodes.
func TopicPartitionsPath(topic string) string {
	return TopicPath(topic) + "/partitions"
}

// PartitionPath is the data-less parent of a partition's state znode.
func PartitionPath(topic string, partition int32) string {
	return TopicPartitionsPath(topic) + "/" + strconv.FormatInt(int64(partition), 10)
}

// PartitionStatePath holds a partition's leader, ISR and state.
func PartitionStatePath(topic string, partition int32) string {
	return PartitionPath(topic, partition) + "/state"
}

// ConfigEntityTypePath is the parent of every entity of one config type.
func ConfigEntityTypePath(entityType string) string {
	return ConfigPath + "/" + entityType
}

// ConfigEntityPath holds the dynamic configuration of one entity.
func ConfigEntityPath(entityType, name string) string {
	return ConfigEntityTypePath(entityType) + "/" + name
}

// TopicConfigPath holds a topic's configuration overrides.
func TopicConfigPath(topic string) string {
	return ConfigEntityPath(ConfigTypeTopic, topic)
}

// ConfigChangeSequencePath is the path given to a persistent-sequential create of
// a config change notification.
func ConfigChangeSequencePath() string {
	return ConfigChangesPath + "/" + ConfigChangePrefix
}

// DeleteTopicPath marks a topic for deletion.
func DeleteTopicPath(topic string) string {
	return DeleteTopicsPath + "/" + topic
}

// DeleteTopicConfirmationPath is not a Kafka znode: Kafka's controller learns
// that a replica's files are gone from the StopReplica response. A kzoo broker
// that has removed its replicas of a topic being deleted creates
// /admin/delete_topics/<t>/<id> (persistent, holding its broker epoch as plain
// text); the controller finishes the deletion once every broker holding a
// replica has, and removes these znodes with the request.
func DeleteTopicConfirmationPath(topic string, brokerID int32) string {
	return DeleteTopicPath(topic) + "/" + strconv.FormatInt(int64(brokerID), 10)
}

// ControlledShutdownBrokerPath is the ephemeral controlled-shutdown request of a
// broker (see ControlledShutdownPath).
func ControlledShutdownBrokerPath(id int32) string {
	return ControlledShutdownPath + "/" + strconv.FormatInt(int64(id), 10)
}

// ParseConfigEntityPath splits the entity_path of a config change notification,
// "<type>/<name>", e.g. "topics/foo" or "brokers/<default>".
func ParseConfigEntityPath(entityPath string) (entityType, name string, ok bool) {
	entityType, name, ok = strings.Cut(entityPath, "/")
	if !ok || entityType == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return entityType, name, true
}

// ParseConfigChangeSequence returns the sequence number of a child name of
// /config/changes, "config_change_0000000042".
func ParseConfigChangeSequence(name string) (int64, bool) {
	return parseSequence(name, ConfigChangePrefix)
}

// parseSequence returns the sequence number ZooKeeper appended to prefix in
// the name of a persistent-sequential znode.
func parseSequence(name, prefix string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, prefix)
	if !ok || digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}

// ParseDeleteTopicPath returns the topic of a path of the form
// /admin/delete_topics/<t>.
func ParseDeleteTopicPath(path string) (string, bool) {
	return childOf(path, DeleteTopicsPath)
}

// ParseBrokerIDPath returns the broker id of a path of the form /brokers/ids/<id>.
func ParseBrokerIDPath(path string) (int32, bool) {
	rest, ok := childOf(path, BrokerIDsPath)
	if !ok {
		return 0, false
	}
	return ParseBrokerID(rest)
}

// ParseBrokerID parses a child name of /brokers/ids.
func ParseBrokerID(name string) (int32, bool) {
	return parseNonNegativeInt32(name)
}

// ParsePartition parses a child name of /brokers/topics/<t>/partitions, or a
// partition key of an assignment.
func ParsePartition(name string) (int32, bool) {
	return parseNonNegativeInt32(name)
}

// ParseTopicPath returns the topic of a path of the form /brokers/topics/<t>.
func ParseTopicPath(path string) (string, bool) {
	return childOf(path, TopicsPath)
}

// ParseTopicPartitionsPath returns the topic of a path of the form
// /brokers/topics/<t>/partitions.
func ParseTopicPartitionsPath(path string) (string, bool) {
	rest, ok := strings.CutSuffix(path, "/partitions")
	if !ok {
		return "", false
	}
	return ParseTopicPath(rest)
}

// ParsePartitionStatePath returns the topic and partition of a path of the form
// /brokers/topics/<t>/partitions/<p>/state.
func ParsePartitionStatePath(path string) (topic string, partition int32, ok bool) {
	rest, ok := strings.CutPrefix(path, TopicsPath+"/")
	if !ok {
		return "", 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] == "" || parts[1] != "partitions" || parts[3] != "state" {
		return "", 0, false
	}
	p, ok := ParsePartition(parts[2])
	if !ok {
		return "", 0, false
	}
	return parts[0], p, true
}

// childOf returns the name of path's last element when path is a direct child of
// parent.
func childOf(path, parent string) (string, bool) {
	rest, ok := strings.CutPrefix(path, parent+"/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	return rest, true
}

// parseNonNegativeInt32 accepts only canonical decimal numbers, so that every
// number has exactly one znode name.
func parseNonNegativeInt32(s string) (int32, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}
