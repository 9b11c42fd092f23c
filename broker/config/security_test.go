package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestListenerSecurityResolvesScopedKeysOverBrokerWide(t *testing.T) {
	b, err := brokerFrom(t,
		"listeners=SASL_SSL://127.0.0.1:9093,SSL://127.0.0.1:9094,PLAINTEXT://127.0.0.1:9092",
		"inter.broker.listener.name=SASL_SSL",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=/etc/kzoo/broker.pem",
		"ssl.client.auth=requested",
		"listener.name.ssl.ssl.client.auth=required",
		"sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
		"sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
		`listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="pw";`,
		"listener.name.sasl_ssl.connections.max.reauth.ms=60000",
		"authorizer.class.name="+AuthorizerClassName,
		"super.users=User:admin; User:broker",
	)
	if err != nil {
		t.Fatal(err)
	}
	saslSSL, ssl, plain := b.Security["SASL_SSL"], b.Security["SSL"], b.Security["PLAINTEXT"]
	if !saslSSL.UsesTLS() || !saslSSL.UsesSASL() || !ssl.UsesTLS() || ssl.UsesSASL() || plain.UsesTLS() || plain.UsesSASL() {
		t.Fatalf("protocols: %+v %+v %+v", saslSSL, ssl, plain)
	}
	if got := ssl.TLS["ssl.client.auth"]; got != "required" {
		t.Errorf("SSL listener's ssl.client.auth = %q, want its own value required", got)
	}
	if got := saslSSL.TLS["ssl.client.auth"]; got != "requested" {
		t.Errorf("SASL_SSL listener's ssl.client.auth = %q, want the broker-wide requested", got)
	}
	if got := saslSSL.TLS["ssl.keystore.location"]; got != "/etc/kzoo/broker.pem" {
		t.Errorf("keystore location %q", got)
	}
	if plain.TLS != nil {
		t.Errorf("PLAINTEXT listener has TLS settings %v", plain.TLS)
	}
	if !slices.Equal(saslSSL.SASLMechanisms, []string{"SCRAM-SHA-512", "PLAIN"}) {
		t.Errorf("mechanisms %v", saslSSL.SASLMechanisms)
	}
	if !strings.Contains(saslSSL.JAAS["SCRAM-SHA-512"], `username="broker"`) {
		t.Errorf("JAAS %v", saslSSL.JAAS)
	}
	if saslSSL.MaxReauth != time.Minute || saslSSL.SASLMaxReceiveSize != 524288 {
		t.Errorf("reauth %v, max receive %d", saslSSL.MaxReauth, saslSSL.SASLMaxReceiveSize)
	}
	if b.InterBrokerSASLMechanism != "SCRAM-SHA-512" {
		t.Errorf("inter-broker mechanism %q", b.InterBrokerSASLMechanism)
	}
	if !b.Authorization.Enabled || !slices.Equal(b.Authorization.SuperUsers, []string{"User:admin", "User:broker"}) {
		t.Errorf("authorization %+v", b.Authorization)
	}
}

func TestSecurityValidation(t *testing.T) {
	const saslInter = "listeners=SASL_PLAINTEXT://127.0.0.1:9093"
	cases := []struct {
		name      string
		overrides []string
		wantErr   string
	}{
		{"unsupported mechanism", []string{saslInter, "inter.broker.listener.name=SASL_PLAINTEXT", "sasl.enabled.mechanisms=OAUTHBEARER"},
			"kzoo does not support OAUTHBEARER"},
		{"inter-broker mechanism not enabled", []string{saslInter, "inter.broker.listener.name=SASL_PLAINTEXT",
			"sasl.enabled.mechanisms=PLAIN", "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256"}, "SCRAM-SHA-256 is not enabled"},
		{"inter-broker mechanism without credentials", []string{saslInter, "inter.broker.listener.name=SASL_PLAINTEXT",
			"sasl.enabled.mechanisms=PLAIN", "sasl.mechanism.inter.broker.protocol=PLAIN"},
			"set listener.name.sasl_plaintext.plain.sasl.jaas.config"},
		{"scoped key of an unknown listener", []string{"listener.name.external.ssl.client.auth=required"},
			"listener EXTERNAL is not one of listeners"},
		{"malformed super user", []string{"super.users=admin"}, "not a principal of the form User:name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := brokerFrom(t, tc.overrides...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecurityKeysRefusedAtLoad(t *testing.T) {
	for override, want := range map[string]string{
		"listener.name.sasl_ssl.log.retention.ms=5":      "unknown config key",
		"listener.name.sasl_ssl.ssl.client.auth=maybe":   `"maybe" is not one of`,
		"authorizer.class.name=com.example.MyAuthorizer": "set kafka.security.authorizer.AclAuthorizer",
		"listener.name..ssl.client.auth=required":        "unknown config key",
	} {
		if _, err := Load("", nil, []string{override}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", override, err, want)
		}
	}
}
