package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kzoo/kzoo/internal/zksecure"
)

// The ZooKeeper security flags of every command that talks to ZooKeeper
// itself (cluster, zk-secure), and their environment defaults.
const (
	zkDigestEnv        = "KZOO_ZK_DIGEST"
	zkTLSConfigFileEnv = "KZOO_ZK_TLS_CONFIG_FILE"

	zkSecurityFlagsHelp = `  --zk-digest USER:PASSWORD
      authenticate to ZooKeeper with this digest identity (default $` + zkDigestEnv + `)
  --zk-tls-config-file FILE
      connect to ZooKeeper over TLS with the zookeeper.ssl.* properties in FILE, as
      Kafka's tools take them: zookeeper.ssl.client.enable=true,
      zookeeper.ssl.keystore.location, zookeeper.ssl.truststore.location, ... (default
      $` + zkTLSConfigFileEnv + `); the connect string then names ZooKeeper's secureClientPorts
`
)

// zkSecurityFlags holds the values of the ZooKeeper security flags.
type zkSecurityFlags struct {
	digest        string
	tlsConfigFile string
}

// addZKSecurityFlags registers --zk-digest and --zk-tls-config-file on fs.
func addZKSecurityFlags(fs *flag.FlagSet) *zkSecurityFlags {
	f := &zkSecurityFlags{}
	fs.StringVar(&f.digest, "zk-digest", os.Getenv(zkDigestEnv), "")
	fs.StringVar(&f.tlsConfigFile, "zk-tls-config-file", os.Getenv(zkTLSConfigFileEnv), "")
	return f
}

// settings returns the client's ZooKeeper security. As with Kafka's tools
// (kafka-configs --zookeeper, zookeeper-security-migration), a client with
// a ZooKeeper identity creates znodes with the secure ACLs, so that what it
// writes is as protected as what the brokers write.
func (f *zkSecurityFlags) settings() (zksecure.Settings, error) {
	var s zksecure.Settings
	if f.digest != "" {
		d, err := zksecure.ParseDigest(f.digest)
		if err != nil {
			return s, fmt.Errorf("--zk-digest: %w", err)
		}
		s.Digest = d
	}
	if f.tlsConfigFile != "" {
		tls, err := loadZKTLSConfigFile(f.tlsConfigFile)
		if err != nil {
			return s, err
		}
		s.TLS = tls
	}
	s.SetACL = !s.Digest.IsZero() || (s.TLS != nil && s.TLS.HasClientCertificate())
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

// loadZKTLSConfigFile reads a ZooKeeper TLS client config file: a
// .properties file of which only the zookeeper.ssl.* keys (and
// zookeeper.clientCnxnSocket) count, as for Kafka's --zk-tls-config-file.
func loadZKTLSConfigFile(path string) (*zksecure.TLS, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--zk-tls-config-file: %w", err)
	}
	all, err := parseProperties(data)
	if err != nil {
		return nil, fmt.Errorf("--zk-tls-config-file %s: %w", path, err)
	}
	props := make(map[string]string)
	for _, key := range zksecure.TLSPropertyNames() {
		if v, ok := all[key]; ok {
			props[key] = v
		}
	}
	tls, err := zksecure.LoadTLS(props)
	if err != nil {
		return nil, fmt.Errorf("--zk-tls-config-file %s: %w", path, err)
	}
	if tls == nil {
		return nil, fmt.Errorf("--zk-tls-config-file %s: %s is not true", path, zksecure.PropClientEnable)
	}
	return tls, nil
}
