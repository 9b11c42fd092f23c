package config

import (
	"maps"
	"testing"
)

func TestZooKeeperSecurityDefaults(t *testing.T) {
	vals, err := Load("", nil, []string{"broker.id=1"})
	if err != nil {
		t.Fatal(err)
	}
	z := vals.ZooKeeperSecurity()
	if z.SetACL || z.ClientTLS || z.DigestUser != "" || z.DigestPassword != "" {
		t.Fatalf("security on by default: %+v", z)
	}
	want := map[string]string{
		"zookeeper.ssl.client.enable":                     "false",
		"zookeeper.ssl.protocol":                          "TLSv1.2",
		"zookeeper.ssl.endpoint.identification.algorithm": "HTTPS",
	}
	if !maps.Equal(z.TLSProperties, want) {
		t.Fatalf("TLS properties %v, want Kafka's defaults %v", z.TLSProperties, want)
	}
}

func TestZooKeeperSecuritySet(t *testing.T) {
	path := writeFile(t, `
broker.id: 1
zookeeper.set.acl: true
zookeeper.ssl.client.enable: true
zookeeper.clientCnxnSocket: org.apache.zookeeper.ClientCnxnSocketNetty
zookeeper.ssl.keystore.location: /k.pem
zookeeper.ssl.keystore.type: PEM
zookeeper.ssl.truststore.location: /t.p12
zookeeper.ssl.truststore.password: secret
zookeeper.ssl.endpoint.identification.algorithm: ""
`)
	env := []string{"KZOO_KZOO_ZOOKEEPER_DIGEST_USERNAME=kafka", "KZOO_KZOO_ZOOKEEPER_DIGEST_PASSWORD=pw"}
	vals, err := Load(path, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := vals.ZooKeeperSecurity()
	if !z.SetACL || !z.ClientTLS || z.DigestUser != "kafka" || z.DigestPassword != "pw" {
		t.Fatalf("got %+v", z)
	}
	want := map[string]string{
		"zookeeper.ssl.client.enable":                     "true",
		"zookeeper.clientCnxnSocket":                      "org.apache.zookeeper.ClientCnxnSocketNetty",
		"zookeeper.ssl.keystore.location":                 "/k.pem",
		"zookeeper.ssl.keystore.type":                     "PEM",
		"zookeeper.ssl.truststore.location":               "/t.p12",
		"zookeeper.ssl.truststore.password":               "secret",
		"zookeeper.ssl.protocol":                          "TLSv1.2",
		"zookeeper.ssl.endpoint.identification.algorithm": "", // set empty: no host name check, not the default
	}
	if !maps.Equal(z.TLSProperties, want) {
		t.Fatalf("TLS properties\n got %v\nwant %v", z.TLSProperties, want)
	}
}

func TestZooKeeperSecurityRejectsBadValues(t *testing.T) {
	for _, o := range []string{
		"zookeeper.set.acl=maybe",
		"zookeeper.ssl.keystore.type=P12",
		"zookeeper.ssl.protocol=SSLv3",
		"zookeeper.ssl.enabled.protocols=TLSv1.2,TLSv1",
	} {
		if _, err := Load("", nil, []string{"broker.id=1", o}); err == nil {
			t.Errorf("%s accepted", o)
		}
	}
}
