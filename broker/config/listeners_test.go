package config

import (
	"maps"
	"strings"
	"testing"
)

func brokerFrom(t *testing.T, overrides ...string) (*Broker, error) {
	t.Helper()
	vals, err := Load("", nil, append([]string{"broker.id=1"}, overrides...))
	if err != nil {
		t.Fatal(err)
	}
	return vals.Broker()
}

func TestListenersDefaultToPlaintextInterBroker(t *testing.T) {
	b, err := brokerFrom(t)
	if err != nil {
		t.Fatal(err)
	}
	if b.InterBrokerListener != "PLAINTEXT" {
		t.Errorf("inter-broker listener %q, want PLAINTEXT", b.InterBrokerListener)
	}
	if want := map[string]string{"PLAINTEXT": "PLAINTEXT"}; !maps.Equal(b.ListenerSecurityProtocols, want) {
		t.Errorf("security protocols %v, want %v", b.ListenerSecurityProtocols, want)
	}
}

func TestNamedListeners(t *testing.T) {
	b, err := brokerFrom(t,
		"listeners=internal://0.0.0.0:9092,EXTERNAL://0.0.0.0:19092",
		"advertised.listeners=INTERNAL://broker1:9092,EXTERNAL://127.0.0.1:19091",
		"listener.security.protocol.map=INTERNAL:PLAINTEXT,external:plaintext",
		"inter.broker.listener.name=internal")
	if err != nil {
		t.Fatal(err)
	}
	if b.InterBrokerListener != "INTERNAL" {
		t.Errorf("inter-broker listener %q, want INTERNAL", b.InterBrokerListener)
	}
	if want := map[string]string{"INTERNAL": "PLAINTEXT", "EXTERNAL": "PLAINTEXT"}; !maps.Equal(b.ListenerSecurityProtocols, want) {
		t.Errorf("security protocols %v, want %v", b.ListenerSecurityProtocols, want)
	}
	if got := b.AdvertisedListeners[1].String(); got != "EXTERNAL://127.0.0.1:19091" {
		t.Errorf("advertised %s, want EXTERNAL://127.0.0.1:19091", got)
	}
}

func TestListenerValidation(t *testing.T) {
	const named = "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT"
	cases := []struct {
		name      string
		overrides []string
		wantErr   string
	}{
		{"name missing from the map", []string{"listeners=INTERNAL://127.0.0.1:9092"},
			"listener INTERNAL has no security protocol"},
		{"SASL listener with Kafka's default mechanism", []string{"listeners=PLAINTEXT://127.0.0.1:9092,CLIENTS://127.0.0.1:9093",
			"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CLIENTS:SASL_PLAINTEXT"}, "kzoo does not support GSSAPI"},
		{"unknown protocol in the map", []string{"listener.security.protocol.map=PLAINTEXT:TLS"},
			"unknown security protocol"},
		{"malformed map entry", []string{"listener.security.protocol.map=PLAINTEXT"},
			"want NAME:PROTOCOL"},
		{"name mapped twice", []string{"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,plaintext:SSL"},
			"mapped twice"},
		{"duplicate listener name", []string{"listeners=PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093"},
			"listener name PLAINTEXT is used more than once"},
		{"duplicate advertised name", []string{"advertised.listeners=PLAINTEXT://a:9092,PLAINTEXT://b:9092"},
			"listener name PLAINTEXT is used more than once"},
		{"advertised name not a listener", []string{named, "listeners=INTERNAL://127.0.0.1:9092",
			"advertised.listeners=INTERNAL://a:9092,EXTERNAL://b:9093", "inter.broker.listener.name=INTERNAL"},
			"listener EXTERNAL is not one of listeners"},
		{"no PLAINTEXT listener and no inter-broker name", []string{named,
			"listeners=INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:9093"},
			"listener PLAINTEXT must be one of advertised.listeners"},
		{"inter-broker name not in the map", []string{named,
			"listeners=INTERNAL://127.0.0.1:9092", "inter.broker.listener.name=REPLICATION"},
			"listener REPLICATION is not in listener.security.protocol.map"},
		{"inter-broker name not advertised", []string{named,
			"listeners=INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:9093",
			"advertised.listeners=EXTERNAL://127.0.0.1:9093", "inter.broker.listener.name=INTERNAL"},
			"listener INTERNAL must be one of advertised.listeners"},
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
