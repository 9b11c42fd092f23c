package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kzoo/kzoo/internal/tlsconf/tlstest"
)

// result is what both ends of one handshake saw.
type result struct {
	serverErr, clientErr error
	server, client       tls.ConnectionState
}

func (r result) ok() bool { return r.serverErr == nil && r.clientErr == nil }

// handshake runs a TLS handshake over a loopback TCP connection (whose
// buffers, unlike net.Pipe's, let a side write an alert while the other
// is still writing). After it the server writes a byte the client reads,
// so that a failure the server finds after the client's side is done (a
// TLS 1.3 client certificate) reaches the client.
func handshake(t *testing.T, server, client *tls.Config) result {
	t.Helper()
	sc, cc := tcpPair(t)
	deadline := time.Now().Add(10 * time.Second)
	_ = sc.SetDeadline(deadline)
	_ = cc.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	var r result
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sc.Close()
		s := tls.Server(sc, server)
		if r.serverErr = s.HandshakeContext(ctx); r.serverErr != nil {
			return
		}
		r.server = s.ConnectionState()
		_, r.serverErr = s.Write([]byte{'S'})
	}()
	c := tls.Client(cc, client)
	r.clientErr = c.HandshakeContext(ctx)
	if r.clientErr == nil {
		r.client = c.ConnectionState()
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			r.clientErr = err
		}
	}
	cc.Close()
	<-done
	return r
}

// tcpPair returns both ends of a TCP connection on 127.0.0.1.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		client.Close()
		t.Fatal("accept failed")
	}
	return server, client
}

// peerCN is the common name of the first certificate a side was shown.
func peerCN(state tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return ""
	}
	return state.PeerCertificates[0].Subject.CommonName
}

func write(t *testing.T, path string, parts ...[]byte) string {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(parts, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, p Props) *Source {
	t.Helper()
	s, err := Load(p)
	if err != nil {
		t.Fatalf("Load(%v): %v", p, err)
	}
	return s
}

func serverConfig(t *testing.T, s *Source) *tls.Config {
	t.Helper()
	cfg, err := s.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientConfig(t *testing.T, s *Source, name string) *tls.Config {
	t.Helper()
	cfg, err := s.ClientConfig(name)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fixture is a CA, a broker's PEM keystore and a PEM truststore on disk.
type fixture struct {
	dir        string
	ca         *tlstest.CA
	caFile     string
	brokerFile string // cert and key in one PEM file
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "broker", "localhost", "127.0.0.1")
	return &fixture{
		dir:        dir,
		ca:         ca,
		caFile:     write(t, filepath.Join(dir, "ca.pem"), ca.CertPEM()),
		brokerFile: write(t, filepath.Join(dir, "broker.pem"), cert, key),
	}
}

func (f *fixture) serverProps() Props {
	return Props{KeystoreType: "PEM", KeystoreLocation: f.brokerFile, TruststoreType: "PEM", TruststoreLocation: f.caFile}
}

func (f *fixture) clientProps() Props {
	return Props{TruststoreType: "PEM", TruststoreLocation: f.caFile}
}

func TestPEMFiles(t *testing.T) {
	f := newFixture(t)
	server := mustLoad(t, f.serverProps())
	client := mustLoad(t, f.clientProps())
	r := handshake(t, serverConfig(t, server), clientConfig(t, client, "localhost"))
	if !r.ok() {
		t.Fatalf("handshake: server %v, client %v", r.serverErr, r.clientErr)
	}
	if got := peerCN(r.client); got != "broker" {
		t.Errorf("client saw %q; want broker", got)
	}
	if r.client.Version != tls.VersionTLS13 {
		t.Errorf("version %s; want TLS 1.3", tls.VersionName(r.client.Version))
	}
	// The store types may be left out: the files say what they are.
	untyped := mustLoad(t, Props{KeystoreLocation: f.brokerFile, TruststoreLocation: f.caFile})
	if r := handshake(t, serverConfig(t, untyped), clientConfig(t, client, "localhost")); !r.ok() {
		t.Fatalf("untyped stores: server %v, client %v", r.serverErr, r.clientErr)
	}
}

func TestPEMInline(t *testing.T) {
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "broker", "localhost")
	otherCA := tlstest.NewCA(t)
	server := mustLoad(t, Props{KeystoreType: "PEM", KeystoreKey: string(key), KeystoreCertificateChain: string(cert) + string(ca.CertPEM())})
	// Two CAs inline, with text around them as Kafka allows.
	client := mustLoad(t, Props{TruststoreType: "PEM", TruststoreCertificates: "first\n" + string(otherCA.CertPEM()) + "second\n" + string(ca.CertPEM())})
	r := handshake(t, serverConfig(t, server), clientConfig(t, client, "localhost"))
	if !r.ok() {
		t.Fatalf("handshake: server %v, client %v", r.serverErr, r.clientErr)
	}
	if n := len(r.client.PeerCertificates); n != 2 {
		t.Errorf("server sent %d certificates; want the chain of 2", n)
	}
}

func TestPKCS12WrittenByGo(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "broker", "localhost")
	ks := filepath.Join(dir, "ks.p12")
	ts := filepath.Join(dir, "ts.p12")
	tlstest.WritePKCS12(t, ks, "ks-secret", cert, key, ca.CertPEM())
	tlstest.WritePKCS12TrustStore(t, ts, "ts-secret", ca.CertPEM())
	server := mustLoad(t, Props{KeystoreType: "PKCS12", KeystoreLocation: ks, KeystorePassword: "ks-secret"})
	client := mustLoad(t, Props{TruststoreType: "PKCS12", TruststoreLocation: ts, TruststorePassword: "ts-secret"})
	if r := handshake(t, serverConfig(t, server), clientConfig(t, client, "localhost")); !r.ok() || peerCN(r.client) != "broker" {
		t.Fatalf("handshake: server %v, client %v, peer %q", r.serverErr, r.clientErr, peerCN(r.client))
	}
}

// TestPKCS12WrittenByOpenSSL reads what `openssl pkcs12 -export` writes
// (OpenSSL 3: AES-256-CBC and PBKDF2, which x/crypto/pkcs12 cannot read),
// and a truststore made by Java's keytool.
func TestPKCS12WrittenByOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH; PKCS12 from openssl not tested")
	}
	f := newFixture(t)
	ks := filepath.Join(f.dir, "ks.p12")
	run(t, openssl, "pkcs12", "-export", "-in", f.brokerFile, "-inkey", f.brokerFile, "-certfile", f.caFile,
		"-name", "broker", "-out", ks, "-passout", "pass:secret")
	server := mustLoad(t, Props{KeystoreType: "PKCS12", KeystoreLocation: ks, KeystorePassword: "secret"})
	client := mustLoad(t, f.clientProps())
	if r := handshake(t, serverConfig(t, server), clientConfig(t, client, "localhost")); !r.ok() || peerCN(r.client) != "broker" {
		t.Fatalf("handshake: server %v, client %v, peer %q", r.serverErr, r.clientErr, peerCN(r.client))
	}

	// OpenSSL before 3.2 marks no certificate trusted for Java, so Java
	// (and so Kafka) trusts nothing in such a truststore: refused, saying
	// how to make one.
	ts := filepath.Join(f.dir, "openssl-ts.p12")
	run(t, openssl, "pkcs12", "-export", "-nokeys", "-in", f.caFile, "-out", ts, "-passout", "pass:secret")
	_, err = Load(Props{TruststoreType: "PKCS12", TruststoreLocation: ts, TruststorePassword: "secret"})
	if err == nil || !strings.Contains(err.Error(), "not marked trusted") || !strings.Contains(err.Error(), "keytool") {
		t.Errorf("openssl truststore without trust marks: %v; want an error saying how to make one", err)
	}

	keytool, err := exec.LookPath("keytool")
	if err != nil {
		t.Log("keytool is not on PATH; a keytool truststore is not tested")
		return
	}
	kts := filepath.Join(f.dir, "keytool-ts.p12")
	run(t, keytool, "-importcert", "-noprompt", "-alias", "ca", "-file", f.caFile,
		"-keystore", kts, "-storetype", "PKCS12", "-storepass", "secret")
	client = mustLoad(t, Props{TruststoreType: "PKCS12", TruststoreLocation: kts, TruststorePassword: "secret"})
	if r := handshake(t, serverConfig(t, server), clientConfig(t, client, "localhost")); !r.ok() {
		t.Fatalf("keytool truststore: server %v, client %v", r.serverErr, r.clientErr)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func TestJKSRefused(t *testing.T) {
	dir := t.TempDir()
	jks := write(t, filepath.Join(dir, "ks.jks"), []byte{0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 1})
	for _, p := range []Props{
		{KeystoreType: "JKS", KeystoreLocation: jks, KeystorePassword: "secret"},
		{KeystoreType: "jks", KeystoreLocation: jks, KeystorePassword: "secret"},
		{TruststoreType: "JKS", TruststoreLocation: jks, TruststorePassword: "secret"},
		// A JKS file behind another type, or none, is named as JKS too.
		{KeystoreType: "PKCS12", KeystoreLocation: jks, KeystorePassword: "secret"},
		{TruststoreLocation: jks, TruststorePassword: "secret"},
	} {
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), "JKS") || !strings.Contains(err.Error(), "PKCS12") {
			t.Errorf("Load(%v): %v; want an error naming JKS and how to convert to PKCS12", p, err)
		}
	}
	if _, err := Load(Props{KeystoreType: "JCEKS", KeystoreLocation: jks, KeystorePassword: "x"}); err == nil {
		t.Error("JCEKS accepted")
	}
}

func TestWrongPasswords(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "broker", "localhost")
	ks := filepath.Join(dir, "ks.p12")
	ts := filepath.Join(dir, "ts.p12")
	tlstest.WritePKCS12(t, ks, "right", cert, key)
	tlstest.WritePKCS12TrustStore(t, ts, "right", ca.CertPEM())

	_, err := Load(Props{KeystoreType: "PKCS12", KeystoreLocation: ks, KeystorePassword: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "ssl.keystore.password is wrong") || !strings.Contains(err.Error(), ks) {
		t.Errorf("wrong keystore password: %v", err)
	}
	_, err = Load(Props{TruststoreType: "PKCS12", TruststoreLocation: ts, TruststorePassword: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "ssl.truststore.password is wrong") {
		t.Errorf("wrong truststore password: %v", err)
	}
	_, err = Load(Props{KeystoreLocation: ks}) // PKCS12 told from the contents
	if err == nil || !strings.Contains(err.Error(), "ssl.keystore.password is needed but not set") {
		t.Errorf("no keystore password: %v", err)
	}
}

// TestEncryptedPEMKey reads a PKCS#8 key encrypted by openssl, with
// ssl.key.password, as Kafka's PEM keystores allow.
func TestEncryptedPEMKey(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH; encrypted PEM keys not tested")
	}
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "broker", "localhost")
	plain := write(t, filepath.Join(dir, "key.pem"), key)
	client := mustLoad(t, Props{TruststoreCertificates: string(ca.CertPEM())})
	for _, args := range [][]string{
		{"-v2", "aes-256-cbc"},
		{"-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"},
		{"-v2", "des3"},
	} {
		enc := filepath.Join(dir, "enc.pem")
		run(t, openssl, append([]string{"pkcs8", "-topk8", "-in", plain, "-out", enc, "-passout", "pass:k3y"}, args...)...)
		encKey, err := os.ReadFile(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(encKey, []byte("ENCRYPTED PRIVATE KEY")) {
			t.Fatalf("openssl wrote no encrypted key: %s", encKey)
		}
		file := write(t, filepath.Join(dir, "ks.pem"), cert, encKey)
		server := mustLoad(t, Props{KeystoreType: "PEM", KeystoreLocation: file, KeyPassword: "k3y"})
		if r := handshake(t, serverConfig(t, server), clientConfig(t, client, "localhost")); !r.ok() {
			t.Fatalf("%v: server %v, client %v", args, r.serverErr, r.clientErr)
		}
		inline := mustLoad(t, Props{KeystoreKey: string(encKey), KeystoreCertificateChain: string(cert), KeyPassword: "k3y"})
		if _, err := inline.ServerConfig(); err != nil {
			t.Fatal(err)
		}
		_, err = Load(Props{KeystoreType: "PEM", KeystoreLocation: file, KeyPassword: "nope"})
		if err == nil || !strings.Contains(err.Error(), "ssl.key.password is wrong") {
			t.Errorf("%v, wrong key password: %v", args, err)
		}
		_, err = Load(Props{KeystoreType: "PEM", KeystoreLocation: file})
		if err == nil || !strings.Contains(err.Error(), "ssl.key.password is not set") {
			t.Errorf("%v, no key password: %v", args, err)
		}
	}
}

func TestPropsRefused(t *testing.T) {
	f := newFixture(t)
	cert, key := f.ca.Issue(t, "x")
	otherCert, _ := f.ca.Issue(t, "y")
	mismatched := write(t, filepath.Join(f.dir, "mismatched.pem"), otherCert, key)
	tests := []struct {
		props Props
		want  string
	}{
		{Props{KeystoreKey: string(key)}, "ssl.keystore.certificate.chain is not"},
		{Props{KeystoreCertificateChain: string(cert)}, "ssl.keystore.key is not"},
		{Props{KeystoreKey: string(key), KeystoreCertificateChain: string(cert), KeystoreType: "PKCS12"}, "only with ssl.keystore.type PEM"},
		{Props{KeystoreKey: string(key), KeystoreCertificateChain: string(cert), KeystoreLocation: f.brokerFile}, "both set"},
		{Props{KeystoreKey: string(key), KeystoreCertificateChain: string(cert), KeystorePassword: "x"}, "ssl.keystore.password cannot"},
		{Props{KeystoreType: "PEM", KeystoreLocation: f.brokerFile, KeystorePassword: "x"}, "ssl.keystore.password cannot"},
		{Props{KeystorePassword: "x"}, "ssl.keystore.location is not"},
		{Props{KeystoreType: "PKCS12", KeystoreLocation: f.brokerFile}, "ssl.keystore.password is not"},
		{Props{KeystoreType: "PEM", KeystoreLocation: filepath.Join(f.dir, "missing.pem")}, "missing.pem"},
		{Props{KeystoreType: "PEM", KeystoreLocation: mismatched}, "does not match"},
		{Props{KeystoreType: "PEM", KeystoreLocation: f.caFile}, "expected one private key, found 0"},
		{Props{KeystoreType: "PEM", KeystoreLocation: write(t, filepath.Join(f.dir, "two.pem"), cert, key, key)}, "found 2"},
		{Props{KeystoreType: "BCFKS"}, "BCFKS is not supported"},
		{Props{TruststoreCertificates: string(cert), TruststoreType: "PKCS12"}, "only with ssl.truststore.type PEM"},
		{Props{TruststoreCertificates: string(cert), TruststoreLocation: f.caFile}, "both set"},
		{Props{TruststoreCertificates: string(cert), TruststorePassword: "x"}, "ssl.truststore.password cannot"},
		{Props{TruststoreType: "PEM", TruststoreLocation: f.caFile, TruststorePassword: "x"}, "ssl.truststore.password cannot"},
		{Props{TruststorePassword: "x"}, "ssl.truststore.location is not"},
		{Props{TruststoreCertificates: "not PEM at all"}, "no CERTIFICATE"},
		{Props{ClientAuth: "sometimes"}, "ssl.client.auth"},
		{Props{EndpointIdentificationAlgorithm: "ldaps"}, "ssl.endpoint.identification.algorithm"},
		{Props{EnabledProtocols: "SSLv3"}, "SSLv3"},
		{Props{EnabledProtocols: "TLSv1.1,TLSv1.3"}, "leaves out TLS 1.2"},
		{Props{CipherSuites: "TLS_NOT_A_SUITE"}, "TLS_NOT_A_SUITE"},
		{Props{PrincipalMappingRules: "RULE:^CN=(.*?)$/$1/X"}, "ssl.principal.mapping.rules"},
	}
	for _, tc := range tests {
		_, err := Load(tc.props)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v): %v; want an error with %q", tc.props, err, tc.want)
		}
	}

	s := mustLoad(t, f.clientProps())
	if m, err := s.PrincipalMapper().Map("CN=x"); err != nil || m != "CN=x" {
		t.Errorf("PrincipalMapper without rules: %q, %v; want the identity", m, err)
	}
	if _, err := s.ServerConfig(); err == nil || !strings.Contains(err.Error(), "keystore") {
		t.Errorf("ServerConfig without a keystore: %v", err)
	}
}

func TestClientAuth(t *testing.T) {
	f := newFixture(t)
	cert, key := f.ca.Issue(t, "alice")
	stranger := tlstest.NewCA(t)
	sCert, sKey := stranger.Issue(t, "mallory")
	withCert := mustLoad(t, Props{KeystoreKey: string(key), KeystoreCertificateChain: string(cert), TruststoreLocation: f.caFile})
	withStrangerCert := mustLoad(t, Props{KeystoreKey: string(sKey), KeystoreCertificateChain: string(sCert), TruststoreLocation: f.caFile})
	noCert := mustLoad(t, f.clientProps())

	tests := []struct {
		auth     string
		client   *Source
		ok       bool
		serverCN string // the client certificate the server saw
	}{
		{"", withCert, true, ""},
		{"none", withCert, true, ""},
		{"none", noCert, true, ""},
		{"requested", noCert, true, ""},
		{"requested", withCert, true, "alice"},
		{"requested", withStrangerCert, false, ""},
		{"required", noCert, false, ""},
		{"REQUIRED", withCert, true, "alice"},
		{"required", withStrangerCert, false, ""},
	}
	for _, tc := range tests {
		p := f.serverProps()
		p[ClientAuth] = tc.auth
		p[PrincipalMappingRules] = "RULE:^CN=(.*?),OU=kzoo,.*$/User-$1/U, DEFAULT"
		server := mustLoad(t, p)
		r := handshake(t, serverConfig(t, server), clientConfig(t, tc.client, "localhost"))
		if r.ok() != tc.ok {
			t.Errorf("ssl.client.auth=%q, client %p: server %v, client %v; want ok=%v", tc.auth, tc.client, r.serverErr, r.clientErr, tc.ok)
			continue
		}
		if got := peerCN(r.server); tc.ok && got != tc.serverCN {
			t.Errorf("ssl.client.auth=%q: server saw client certificate %q; want %q", tc.auth, got, tc.serverCN)
		}
		if tc.ok && tc.serverCN != "" {
			if got, want := SubjectName(r.server.PeerCertificates[0]), "CN="+tc.serverCN+",OU=kzoo,O=kzoo,C=US"; got != want {
				t.Errorf("SubjectName of the client = %s; want %s", got, want)
			}
			dn := SubjectName(r.server.PeerCertificates[0])
			if got, err := server.PrincipalMapper().Map(dn); err != nil || got != "USER-"+strings.ToUpper(tc.serverCN) {
				t.Errorf("the listener's mapper gives %q, %v for %s", got, err, dn)
			}
		}
	}
}

func TestHostNameCheck(t *testing.T) {
	f := newFixture(t) // the broker's certificate names localhost and 127.0.0.1
	server := mustLoad(t, f.serverProps())
	check := mustLoad(t, f.clientProps())
	p := f.clientProps()
	p[EndpointIdentificationAlgorithm] = ""
	noCheck := mustLoad(t, p)
	p[EndpointIdentificationAlgorithm] = "HTTPS"
	explicit := mustLoad(t, p)
	stranger := tlstest.NewCA(t)
	noCheckStranger := mustLoad(t, Props{TruststoreCertificates: string(stranger.CertPEM()), EndpointIdentificationAlgorithm: ""})

	tests := []struct {
		name   string
		client *Source
		host   string
		ok     bool
	}{
		{"check, right name", check, "localhost", true},
		{"check, right IP", check, "127.0.0.1", true},
		{"check, wrong name", check, "broker.example.com", false},
		{"check, wrong IP", check, "127.0.0.2", false},
		{"HTTPS, wrong name", explicit, "broker.example.com", false},
		{"no check, wrong name", noCheck, "broker.example.com", true},
		{"no check, no name", noCheck, "", true},
		{"no check, untrusted CA", noCheckStranger, "localhost", false},
	}
	for _, tc := range tests {
		r := handshake(t, serverConfig(t, server), clientConfig(t, tc.client, tc.host))
		if r.ok() != tc.ok {
			t.Errorf("%s: server %v, client %v; want ok=%v", tc.name, r.serverErr, r.clientErr, tc.ok)
		}
		if !tc.ok && r.clientErr == nil {
			t.Errorf("%s: the client did not refuse the server", tc.name)
		}
	}
}

func TestProtocols(t *testing.T) {
	f := newFixture(t)
	p := f.serverProps()
	p[EnabledProtocols] = "TLSv1.2"
	p[CipherSuites] = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
	tls12 := mustLoad(t, p)
	p[EnabledProtocols] = "TLSv1.3"
	tls13 := mustLoad(t, p)
	client := mustLoad(t, f.clientProps())

	r := handshake(t, serverConfig(t, tls12), clientConfig(t, client, "localhost"))
	if !r.ok() || r.client.Version != tls.VersionTLS12 || r.client.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("TLSv1.2 server: %v %v, version %s, suite %s", r.serverErr, r.clientErr,
			tls.VersionName(r.client.Version), tls.CipherSuiteName(r.client.CipherSuite))
	}
	cp := f.clientProps()
	cp[EnabledProtocols] = "TLSv1.2"
	client12 := mustLoad(t, cp)
	if r := handshake(t, serverConfig(t, tls13), clientConfig(t, client12, "localhost")); r.ok() {
		t.Error("a TLSv1.2-only client and a TLSv1.3-only server agreed")
	}
}

// fakeClock is a Source's clock in tests.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration)    { c.ns.Add(int64(d)) }
func newFakeClock() *fakeClock                  { c := &fakeClock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (s *Source) useClock(c *fakeClock) *Source { s.now = c.now; s.checked = c.now(); return s }

func TestReload(t *testing.T) {
	f := newFixture(t)
	clock := newFakeClock()
	server := mustLoad(t, f.serverProps()).useClock(clock)
	var mu sync.Mutex
	var reported []error
	server.OnReloadError(func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() })
	reports := func() []error { mu.Lock(); defer mu.Unlock(); return append([]error(nil), reported...) }
	scfg := serverConfig(t, server) // one config for the listener's life
	client := mustLoad(t, f.clientProps())
	presented := func() string {
		t.Helper()
		r := handshake(t, scfg, clientConfig(t, client, "localhost"))
		if !r.ok() {
			t.Fatalf("handshake: server %v, client %v", r.serverErr, r.clientErr)
		}
		return peerCN(r.client)
	}
	if got := presented(); got != "broker" {
		t.Fatalf("presented %q; want broker", got)
	}

	cert, key := f.ca.Issue(t, "broker-2", "localhost")
	write(t, f.brokerFile, cert, key)
	if got := presented(); got != "broker" {
		t.Errorf("within a second of the last look: presented %q; want the old broker", got)
	}
	clock.advance(time.Second)
	if got := presented(); got != "broker-2" {
		t.Errorf("after the rewrite: presented %q; want broker-2", got)
	}

	// A broken rewrite keeps the old certificate and is reported once.
	write(t, f.brokerFile, cert) // the key is missing
	clock.advance(time.Second)
	if got := presented(); got != "broker-2" {
		t.Errorf("after a broken rewrite: presented %q; want broker-2 kept", got)
	}
	clock.advance(time.Second)
	presented()
	if errs := reports(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "private key") || !strings.Contains(errs[0].Error(), "keeping") {
		t.Errorf("reported %v; want one error about the private key", errs)
	}
	// A key that is not the certificate's is refused the same way.
	_, otherKey := f.ca.Issue(t, "other")
	write(t, f.brokerFile, cert, otherKey)
	clock.advance(time.Second)
	if got := presented(); got != "broker-2" {
		t.Errorf("after a mismatched rewrite: presented %q; want broker-2 kept", got)
	}
	if errs := reports(); len(errs) != 2 || !strings.Contains(errs[1].Error(), "does not match") {
		t.Errorf("reported %v; want a second error about the mismatch", errs)
	}

	cert3, key3 := f.ca.Issue(t, "broker-3", "localhost")
	write(t, f.brokerFile, cert3, key3)
	clock.advance(time.Second)
	if got := presented(); got != "broker-3" {
		t.Errorf("after a good rewrite: presented %q; want broker-3", got)
	}
	// A file that goes missing is reported, and the certificate kept.
	if err := os.Remove(f.brokerFile); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	if got := presented(); got != "broker-3" {
		t.Errorf("after the file went: presented %q; want broker-3 kept", got)
	}
	if errs := reports(); len(errs) != 3 || !errors.Is(errs[2], os.ErrNotExist) {
		t.Errorf("reported %v; want a third error, the missing file", errs)
	}
}

// TestReloadTrustAndClientCertificate: the listener takes a new truststore
// for client certificates, and a client presents its rewritten certificate.
func TestReloadTrustAndClientCertificate(t *testing.T) {
	f := newFixture(t)
	clock := newFakeClock()
	p := f.serverProps()
	p[ClientAuth] = "required"
	server := mustLoad(t, p).useClock(clock)
	scfg := serverConfig(t, server)

	newCA := tlstest.NewCA(t)
	cert, key := newCA.Issue(t, "alice")
	clientKeystore := write(t, filepath.Join(f.dir, "alice.pem"), cert, key)
	client := mustLoad(t, Props{KeystoreLocation: clientKeystore, TruststoreLocation: f.caFile}).useClock(clock)
	ccfg := clientConfig(t, client, "localhost")
	if r := handshake(t, scfg, ccfg); r.ok() {
		t.Fatal("the listener took a client certificate from a CA it does not trust yet")
	}
	write(t, f.caFile, f.ca.CertPEM(), newCA.CertPEM())
	clock.advance(time.Second)
	r := handshake(t, scfg, ccfg)
	if !r.ok() || peerCN(r.server) != "alice" {
		t.Fatalf("after adding the CA: server %v, client %v, client cert %q", r.serverErr, r.clientErr, peerCN(r.server))
	}
	cert2, key2 := newCA.Issue(t, "alice-2")
	write(t, clientKeystore, cert2, key2)
	clock.advance(time.Second)
	if r := handshake(t, scfg, ccfg); !r.ok() || peerCN(r.server) != "alice-2" {
		t.Fatalf("after the client's rewrite: server %v, client %v, client cert %q", r.serverErr, r.clientErr, peerCN(r.server))
	}
}

// TestTLSTestPKCS12 checks tlstest's keystore holds the chain in order.
func TestTLSTestPKCS12(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.Issue(t, "leaf", "localhost")
	ks := filepath.Join(dir, "ks.p12")
	tlstest.WritePKCS12(t, ks, "pw", cert, key, ca.CertPEM())
	data, err := os.ReadFile(ks)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadKeystore(storeSettings{typ: "PKCS12", location: ks, password: "pw", hasPass: true}, "", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificate) != 2 || c.Leaf.Subject.CommonName != "leaf" {
		t.Fatalf("keystore holds %d certificates, leaf %q", len(c.Certificate), c.Leaf.Subject.CommonName)
	}
	caCert, _ := x509.ParseCertificate(c.Certificate[1])
	block, _ := pem.Decode(ca.CertPEM())
	if !bytes.Equal(caCert.Raw, block.Bytes) {
		t.Error("the second certificate is not the CA's")
	}
}
