package tlsconf

import (
	"maps"
	"testing"
)

func TestZooKeeperProps(t *testing.T) {
	got, err := ZooKeeperProps(map[string]string{
		"zookeeper.ssl.client.enable":                  "true",
		"zookeeper.ssl.keystore.location":              "/ks.p12",
		"zookeeper.ssl.keystore.password":              "ks",
		"zookeeper.ssl.keystore.type":                  "PKCS12",
		"zookeeper.ssl.truststore.location":            "/ts.pem",
		"zookeeper.ssl.truststore.type":                "PEM",
		"zookeeper.ssl.endpoint.identification.enable": "False",
		"zookeeper.ssl.enabled.protocols":              "TLSv1.3",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Props{
		KeystoreLocation: "/ks.p12", KeystorePassword: "ks", KeystoreType: "PKCS12",
		TruststoreLocation: "/ts.pem", TruststoreType: "PEM",
		EndpointIdentificationAlgorithm: "", EnabledProtocols: "TLSv1.3",
	}
	if !maps.Equal(got, want) {
		t.Errorf("ZooKeeperProps = %v; want %v", got, want)
	}
	if p, err := ZooKeeperProps(map[string]string{}); err != nil || len(p) != 0 {
		t.Errorf("no settings: %v, %v; want none (the host name is checked by default)", p, err)
	}
	if _, err := ZooKeeperProps(map[string]string{"zookeeper.ssl.endpoint.identification.enable": "yes"}); err == nil {
		t.Error(`endpoint identification "yes" accepted`)
	}
}
