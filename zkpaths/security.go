package zkpaths

import "strings"

// Which znodes ZooKeeper ACLs protect, as Kafka's ZkData has it
// (zookeeper.set.acl): every znode of the cluster is writable only by the
// brokers, readable by everyone except the sensitive ones, and the old
// consumer registry stays open to all.

// SecureRootPaths returns the top-level znodes whose trees carry the
// brokers' ACLs: what `kzoo zk-secure` (Kafka's
// zookeeper-security-migration) walks. The list is Kafka's, including the
// roots kzoo itself does not use (delegation tokens, features, the KRaft
// migration), so that a namespace a Kafka cluster once used is secured
// whole. /consumers is not among them: old consumers write under it.
func SecureRootPaths() []string {
	return []string{
		"/admin",
		"/brokers",
		ClusterPath,
		ConfigPath,
		ControllerPath,
		ControllerEpochPath,
		IsrChangeNotificationPath,
		ProducerIDBlockPath,
		LogDirEventNotificationPath,
		"/delegation_token",
		"/kafka-acl-extended",
		"/migration",
		"/feature",
		"/kafka-acl",
		"/kafka-acl-changes",
		"/kafka-acl-extended-changes",
	}
}

// sensitiveRootPaths hold secrets: SCRAM credentials (/config/users),
// broker configs that may carry passwords (/config/brokers), and delegation
// tokens. With ACLs on, no one but the brokers may read them.
var sensitiveRootPaths = []string{
	ConfigEntityTypePath(ConfigTypeUser),
	ConfigEntityTypePath(ConfigTypeBroker),
	"/delegation_token/tokens",
}

// SensitivePath reports whether the znode at p (a path of the cluster
// namespace) or one of its ancestors is a sensitive root, whose tree is not
// world-readable when ACLs are on.
func SensitivePath(p string) bool {
	for _, root := range sensitiveRootPaths {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

// OpenPath reports whether the znode at p stays open to everyone even when
// ACLs are on: only the old consumer registry itself, where consumers of
// any identity create their nodes (its children are theirs to protect).
func OpenPath(p string) bool {
	return p == ConsumersPath
}
