package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A cluster started with Options.Env{"KZOO_ZK_SECURE": "1"} has a secured
// ZooKeeper (scripts/cluster's KZOO_ZK_SECURE): every node also serves TLS
// on its secure port, the brokers connect there, authenticate with a digest
// identity and create znodes with Kafka's secure ACLs. These accessors give
// what a test's own ZooKeeper clients need.

// zkSecurePortBase: the TLS client port of ZooKeeper node n is
// zkSecurePortBase+n, before the offset, as in scripts/cluster.
const zkSecurePortBase = 2160

// ZKSecureEnv is the Options.Env setting that secures ZooKeeper.
const ZKSecureEnv = "KZOO_ZK_SECURE"

// ZKSecureAddr returns the TLS client address of ZooKeeper node n (1-3).
func (c *Cluster) ZKSecureAddr(n int) string {
	return loopback(zkSecurePortBase + n + c.opts.PortOffset)
}

// ZKSecureConnect returns the ensemble's TLS client addresses, as in
// zookeeper.connect.
func (c *Cluster) ZKSecureConnect() string {
	addrs := make([]string, 0, zkNodes)
	for n := 1; n <= zkNodes; n++ {
		addrs = append(addrs, c.ZKSecureAddr(n))
	}
	return strings.Join(addrs, ",")
}

// ZKDigest returns the brokers' ZooKeeper digest identity, "user:password".
func (c *Cluster) ZKDigest() (string, error) {
	data, err := os.ReadFile(filepath.Join(c.home, "zk-secure", "digest"))
	if err != nil {
		return "", fmt.Errorf("ZooKeeper digest of the cluster (is %s=1 set?): %w", ZKSecureEnv, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// ZKTLSConfigFile returns the path of the cluster's ZooKeeper TLS client
// settings, Kafka's --zk-tls-config-file format, with the brokers' client
// certificate.
func (c *Cluster) ZKTLSConfigFile() string {
	return filepath.Join(c.home, "zk-secure", "zk-client.properties")
}
