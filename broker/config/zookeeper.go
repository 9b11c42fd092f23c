package config

import "strings"

// ZooKeeperSecurity is how the broker secures its ZooKeeper session: the
// keys in the "ZooKeeper security" block of brokerKeys, read.
type ZooKeeperSecurity struct {
	// SetACL is zookeeper.set.acl.
	SetACL bool
	// ClientTLS is zookeeper.ssl.client.enable.
	ClientTLS bool
	// TLSProperties holds every zookeeper.ssl.* key (and
	// zookeeper.clientCnxnSocket) that is set or has a default, by its
	// Kafka name: what zksecure.LoadTLS reads, the same keys a Kafka
	// --zk-tls-config-file holds.
	TLSProperties map[string]string
	// DigestUser and DigestPassword are kzoo.zookeeper.digest.username and
	// .password, the broker's digest identity in ZooKeeper ("" for none).
	DigestUser, DigestPassword string
}

// ZooKeeperSecurity returns the broker's ZooKeeper security settings.
func (v Values) ZooKeeperSecurity() ZooKeeperSecurity {
	z := ZooKeeperSecurity{
		SetACL:         v.bool("zookeeper.set.acl"),
		ClientTLS:      v.bool("zookeeper.ssl.client.enable"),
		TLSProperties:  make(map[string]string),
		DigestUser:     v.Value("kzoo.zookeeper.digest.username"),
		DigestPassword: v.Value("kzoo.zookeeper.digest.password"),
	}
	for _, k := range brokerKeys {
		if !strings.HasPrefix(k.Name, "zookeeper.ssl.") && k.Name != "zookeeper.clientCnxnSocket" {
			continue
		}
		// A key set to "" stays in the map: an empty
		// zookeeper.ssl.endpoint.identification.algorithm turns host name
		// checks off rather than taking the default.
		if value, ok := v[k.Name]; ok {
			z.TLSProperties[k.Name] = value
		} else if k.Default != "" {
			z.TLSProperties[k.Name] = k.Default
		}
	}
	return z
}
