package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	brokersasl "github.com/kzoo/kzoo/broker/sasl"
	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/internal/tlsconf/tlstest"
)

const (
	testScramJAAS = `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";`
	testPlainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";`
)

// optionsClient builds a client of opts, to read back what they set.
func optionsClient(t *testing.T, opts []kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// mechanismOf returns the one SASL mechanism opts set, or nil.
func mechanismOf(t *testing.T, opts []kgo.Opt) sasl.Mechanism {
	t.Helper()
	v := optionsClient(t, opts).OptValue(kgo.SASL)
	ms, _ := v.([]sasl.Mechanism)
	switch len(ms) {
	case 0:
		return nil
	case 1:
		return ms[0]
	}
	t.Fatalf("%d SASL mechanisms, want at most 1", len(ms))
	return nil
}

// tlsOf returns the TLS config opts dial with, or nil.
func tlsOf(t *testing.T, opts []kgo.Opt) *tls.Config {
	t.Helper()
	cfg, _ := optionsClient(t, opts).OptValue(kgo.DialTLSConfig).(*tls.Config)
	return cfg
}

// logIn runs m's client side of an exchange against kzoo's broker side,
// which knows alice's password only, and returns the principal.
func logIn(t *testing.T, m sasl.Mechanism) (string, error) {
	t.Helper()
	store := scramStore{}
	for _, mech := range scramcred.Mechanisms {
		c, err := scramcred.FromPassword(mech, "alice-secret", 4096)
		if err != nil {
			t.Fatal(err)
		}
		store[mech+"/alice"] = c
	}
	s := &brokersasl.Server{
		Mechanisms: []string{brokersasl.Plain, scramcred.SHA256, scramcred.SHA512},
		PlainUsers: map[string]string{"alice": "alice-secret"},
		Scram:      store,
	}
	return exchange(t, s, m)
}

type scramStore map[string]scramcred.Credential

func (s scramStore) ScramCredential(mechanism, user string) (scramcred.Credential, bool) {
	c, ok := s[mechanism+"/"+user]
	return c, ok
}

// exchange runs m against s to the end.
func exchange(t *testing.T, s *brokersasl.Server, m sasl.Mechanism) (string, error) {
	t.Helper()
	session, msg, err := m.Authenticate(context.Background(), "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.Start(m.Name())
	if err != nil {
		return "", err
	}
	for range 3 {
		challenge, serverDone, err := ex.Step(msg)
		if err != nil {
			return "", err
		}
		if serverDone && m.Name() == brokersasl.Plain {
			return ex.Principal(), nil
		}
		clientDone, next, err := session.Challenge(challenge)
		if err != nil {
			return "", err
		}
		if serverDone && clientDone {
			return ex.Principal(), nil
		}
		msg = next
	}
	t.Fatal("the exchange does not end")
	return "", nil
}

func TestSecurityOptsSASL(t *testing.T) {
	for _, tc := range []struct {
		props     map[string]string
		mechanism string
	}{
		{map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": testPlainJAAS}, "PLAIN"},
		{map[string]string{"security.protocol": "sasl_plaintext", "sasl.mechanism": " SCRAM-SHA-256 ", "sasl.jaas.config": testScramJAAS}, "SCRAM-SHA-256"},
		{map[string]string{"security.protocol": " SASL_PLAINTEXT ", "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": "  " + testScramJAAS}, "SCRAM-SHA-512"},
		// Kafka's clients take either login module for either mechanism.
		{map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": testPlainJAAS}, "SCRAM-SHA-512"},
	} {
		opts, err := securityOpts(tc.props)
		if err != nil {
			t.Errorf("%v: %v", tc.props, err)
			continue
		}
		if tlsOf(t, opts) != nil {
			t.Errorf("%v: dials with TLS", tc.props)
		}
		m := mechanismOf(t, opts)
		if m == nil || m.Name() != tc.mechanism {
			t.Errorf("%v: mechanism %v, want %s", tc.props, m, tc.mechanism)
			continue
		}
		if principal, err := logIn(t, m); err != nil || principal != "alice" {
			t.Errorf("%v: logged in as %q, %v; want alice", tc.props, principal, err)
		}
	}

	// The password is the JAAS config's, not just any: a wrong one fails.
	opts, err := securityOpts(map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
		"sasl.jaas.config": strings.Replace(testScramJAAS, "alice-secret", "guess", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logIn(t, mechanismOf(t, opts)); !errors.Is(err, brokersasl.ErrAuthenticationFailed) {
		t.Errorf("a wrong password: %v, want an authentication failure", err)
	}

	for _, props := range []map[string]string{nil, {"security.protocol": "PLAINTEXT", "sasl.mechanism": "PLAIN", "ssl.truststore.location": "/nonexistent"}} {
		opts, err := securityOpts(props)
		if err != nil || len(opts) != 0 {
			t.Errorf("%v: %d options, %v; want none (PLAINTEXT ignores the SASL and SSL keys)", props, len(opts), err)
		}
	}
}

func TestSecurityOptsErrors(t *testing.T) {
	sasl := func(kv ...string) map[string]string {
		p := map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": testScramJAAS}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(p, kv[i])
			} else {
				p[kv[i]] = kv[i+1]
			}
		}
		return p
	}
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"security.protocol": "TLS"}, `security.protocol "TLS": want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL`},
		{sasl("sasl.mechanism", "<unset>"), "set sasl.mechanism to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (Kafka's default, GSSAPI, is not supported)"},
		{sasl("sasl.mechanism", "GSSAPI"), `sasl.mechanism "GSSAPI": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{sasl("sasl.mechanism", "OAUTHBEARER"), `sasl.mechanism "OAUTHBEARER"`},
		{sasl("sasl.mechanism", "scram-sha-512"), `sasl.mechanism "scram-sha-512"`},
		{sasl("sasl.jaas.config", "<unset>"), "sasl.jaas.config is not set"},
		{sasl("sasl.jaas.config", "  "), "sasl.jaas.config is not set"},
		{sasl("sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret"`), "sasl.jaas.config: JAAS config"},
		{sasl("sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret`), "sasl.jaas.config: JAAS config"},
		{sasl("sasl.jaas.config", testScramJAAS+" "+testPlainJAAS), "sasl.jaas.config: 2 login modules; a client takes exactly 1"},
		{sasl("sasl.jaas.config", `com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;`), "login module com.sun.security.auth.module.Krb5LoginModule is not supported"},
		{sasl("sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required password="alice-secret";`), "has no username"},
		{sasl("sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice";`), "has no password"},
		{sasl("sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="";`), "has no password"},
		{sasl("sasl.mechanism", "PLAIN", "sasl.jaas.config", `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret" tokenauth="true";`), "tokenauth is for SCRAM"},
		{sasl("ssl.truststore.type", "JKS", "ssl.truststore.location", "/etc/kafka/truststore.jks"), "JKS"},
		{sasl("ssl.truststore.location", "/nonexistent/ca.pem"), "/nonexistent/ca.pem"},
		{map[string]string{"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "ldap"}, "ssl.endpoint.identification.algorithm"},
	} {
		_, err := securityOpts(tc.props)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.props, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "alice-secret") {
			t.Errorf("%v: the error %q shows the password", tc.props, err)
		}
	}
}

// A command config file's TLS settings make clients that trust the
// truststore's CA, check the broker's host name unless told not to, and
// present the keystore's certificate.
func TestSecurityOptsTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "broker", "localhost", "127.0.0.1")
	clientCert, clientKey := ca.Issue(t, "client")
	write := func(name string, data ...[]byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(bytesToStrings(data), "")), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caPath := write("ca.pem", ca.CertPEM())
	keystorePath := write("client.pem", clientKey, clientCert)
	server, err := tls.X509KeyPair(serverCert, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	serverConfig := &tls.Config{Certificates: []tls.Certificate{server}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool()}

	// The file as an operator writes it, through commandConfigOpts.
	config := write("client.properties", []byte("# mTLS and SCRAM\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"+
		"sasl.jaas.config="+testScramJAAS+"\n"+
		"ssl.truststore.type=PEM\nssl.truststore.location="+caPath+"\n"+
		"ssl.keystore.type=PEM\nssl.keystore.location="+keystorePath+"\n"))
	opts, err := commandConfigOpts(config)
	if err != nil {
		t.Fatal(err)
	}
	if m := mechanismOf(t, opts); m == nil || m.Name() != scramcred.SHA512 {
		t.Errorf("SASL_SSL: mechanism %v, want SCRAM-SHA-512", m)
	}
	cfg := tlsOf(t, opts)
	if cfg == nil {
		t.Fatal("SASL_SSL does not dial with TLS")
	}
	peer, err := handshake(t, cfg, "localhost", serverConfig)
	if err != nil {
		t.Fatalf("handshake with a broker the CA signed: %v", err)
	}
	if peer != "client" {
		t.Errorf("the broker saw client certificate %q, want the keystore's (CN client)", peer)
	}
	if _, err := handshake(t, cfg, "kafka.example.com", serverConfig); err == nil {
		t.Error("a broker whose certificate does not name its host was trusted")
	}

	// An empty ssl.endpoint.identification.algorithm skips the host name,
	// not the chain.
	opts, err = securityOpts(map[string]string{"security.protocol": "SSL", "ssl.truststore.location": caPath,
		"ssl.endpoint.identification.algorithm": ""})
	if err != nil {
		t.Fatal(err)
	}
	cfg = tlsOf(t, opts)
	if mechanismOf(t, opts) != nil {
		t.Error("SSL logs in with SASL")
	}
	if peer, err := handshake(t, cfg, "kafka.example.com", serverConfig); err != nil || peer != "" {
		t.Errorf("host name checks off: client certificate %q, %v; want a handshake without one", peer, err)
	}
	other := tlstest.NewCA(t)
	otherCert, otherKey := other.Issue(t, "impostor", "localhost")
	impostor, err := tls.X509KeyPair(otherCert, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, cfg, "localhost", &tls.Config{Certificates: []tls.Certificate{impostor}}); err == nil {
		t.Error("host name checks off: a broker of another CA was trusted")
	}
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// handshake runs a TLS handshake of client (with its server name set, as
// franz-go sets it per connection) against server over loopback TCP (whose
// buffers let a side that gave up send its alert), and returns the common
// name of the client certificate the server saw.
func handshake(t *testing.T, client *tls.Config, serverName string, server *tls.Config) (string, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		peer string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(c, server)
		err = s.Handshake()
		var peer string
		if certs := s.ConnectionState().PeerCertificates; len(certs) > 0 {
			peer = certs[0].Subject.CommonName
		}
		done <- result{peer, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cfg := client.Clone()
	cfg.ServerName = serverName
	clientErr := tls.Client(c, cfg).Handshake()
	c.Close()
	r := <-done
	if clientErr != nil {
		return "", clientErr
	}
	return r.peer, r.err
}

func TestCommandConfigFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.properties")
	if _, err := commandConfigOpts(missing); err == nil || !strings.Contains(err.Error(), "--command-config") || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.properties")
	if err := os.WriteFile(bad, []byte("security.protocol=SASL_SSL\nsasl.mechanism=\\u00zz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := commandConfigOpts(bad); err == nil || !strings.Contains(err.Error(), bad+": line 2: malformed") {
		t.Errorf("a malformed file: %v", err)
	}
	unknown := filepath.Join(dir, "unknown.properties")
	if err := os.WriteFile(unknown, []byte("security.protocol=SASL_SSL\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := commandConfigOpts(unknown); err == nil || !strings.Contains(err.Error(), unknown+": security.protocol SASL_SSL: set sasl.mechanism") {
		t.Errorf("no mechanism: %v", err)
	}

	// A command that talks to brokers fails on the file before any request;
	// one that does not, or asks for help, never reads it.
	for _, args := range [][]string{
		{"--command-config", missing, "topics", "list"},
		{"--command-config", missing, "acls", "list"},
		{"--command-config", missing, "produce", "t"},
	} {
		err := run(append([]string{"--bootstrap-server", "127.0.0.1:1"}, args...), &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("%q: %v, want the file's error", args, err)
		}
	}
	t.Setenv("KZOO_COMMAND_CONFIG", missing)
	if err := run([]string{"topics", "list"}, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("KZOO_COMMAND_CONFIG: %v, want the file's error", err)
	}
	if err := run([]string{"acls", "--help"}, &strings.Builder{}); err != nil {
		t.Errorf("acls --help with a missing command config: %v", err)
	}
}
