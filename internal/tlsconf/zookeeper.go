package tlsconf

import (
	"fmt"
	"strings"
)

// zooKeeperKeys maps the broker's zookeeper.ssl.* keys (KIP-515) to the
// ssl.* names Props uses.
var zooKeeperKeys = map[string]string{
	"zookeeper.ssl.keystore.location":   KeystoreLocation,
	"zookeeper.ssl.keystore.password":   KeystorePassword,
	"zookeeper.ssl.keystore.type":       KeystoreType,
	"zookeeper.ssl.truststore.location": TruststoreLocation,
	"zookeeper.ssl.truststore.password": TruststorePassword,
	"zookeeper.ssl.truststore.type":     TruststoreType,
	"zookeeper.ssl.enabled.protocols":   EnabledProtocols,
	"zookeeper.ssl.cipher.suites":       CipherSuites,
}

// ZooKeeperProps turns a broker's zookeeper.ssl.* settings into Props for
// the ZooKeeper client's TLS: the store keys by their ssl.* names, and
// zookeeper.ssl.endpoint.identification.enable (true by default) as
// ssl.endpoint.identification.algorithm. Keys it does not know are left
// out (zookeeper.ssl.client.enable and zookeeper.clientCnxnSocket are the
// caller's business; zookeeper.ssl.protocol names what Go negotiates
// anyway).
func ZooKeeperProps(zk map[string]string) (Props, error) {
	p := Props{}
	for from, to := range zooKeeperKeys {
		if v, ok := zk[from]; ok {
			p[to] = v
		}
	}
	if v, ok := zk["zookeeper.ssl.endpoint.identification.enable"]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			p[EndpointIdentificationAlgorithm] = "https"
		case "false":
			p[EndpointIdentificationAlgorithm] = ""
		default:
			return nil, fmt.Errorf("tls: zookeeper.ssl.endpoint.identification.enable %q is not true or false", v)
		}
	}
	return p, nil
}
