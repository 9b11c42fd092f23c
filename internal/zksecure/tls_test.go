package zksecure

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA issues certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM keystore (certificate, then key) for cn, valid for
// hosts (DNS names or IP addresses).
func (ca *testCA) issue(t *testing.T, cn string, hosts ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsServer accepts TLS connections with serverPEM, asking for a client
// certificate signed by ca, and reports each client's certificate subject
// (or "" without one) once its handshake is done.
func tlsServer(t *testing.T, ca *testCA, serverPEM []byte) (addr string, subjects <-chan string) {
	t.Helper()
	cert, err := tls.X509KeyPair(serverPEM, serverPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 10)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			if err := tc.Handshake(); err == nil {
				subject := ""
				if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
					subject = certs[0].Subject.CommonName
				}
				out <- subject
			}
			tc.Close()
		}
	}()
	return ln.Addr().String(), out
}

func TestDialerTLS(t *testing.T) {
	ca := newTestCA(t)
	trust := writeTemp(t, "ca.pem", ca.pem)
	client := writeTemp(t, "client.pem", ca.issue(t, "kafka-broker"))
	addr, subjects := tlsServer(t, ca, ca.issue(t, "zookeeper", "127.0.0.1", "localhost"))

	tlsCfg, err := LoadTLS(map[string]string{
		PropClientEnable:       "true",
		PropKeystoreLocation:   client,
		PropTruststoreLocation: trust,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tlsCfg.HasClientCertificate() {
		t.Fatal("HasClientCertificate = false with a keystore")
	}
	conn, err := (Settings{TLS: tlsCfg}).Dialer()("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	tc, ok := conn.(*tls.Conn)
	if !ok {
		t.Fatalf("dialer returned a %T, not a TLS connection", conn)
	}
	if v := tc.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Errorf("TLS version %x, want 1.2 (Kafka's zookeeper.ssl.protocol default)", v)
	}
	select {
	case s := <-subjects:
		if s != "kafka-broker" {
			t.Errorf("server saw client certificate %q, want kafka-broker", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server saw no handshake")
	}
}

func TestDialerTLSHostnameVerification(t *testing.T) {
	ca := newTestCA(t)
	trust := writeTemp(t, "ca.pem", ca.pem)
	// The server's certificate does not name 127.0.0.1, the address dialled.
	addr, _ := tlsServer(t, ca, ca.issue(t, "zookeeper", "zk.example"))

	checked, err := LoadTLS(map[string]string{PropClientEnable: "true", PropTruststoreLocation: trust})
	if err != nil {
		t.Fatal(err)
	}
	if checked.HasClientCertificate() {
		t.Error("HasClientCertificate = true without a keystore")
	}
	if conn, err := (Settings{TLS: checked}).Dialer()("tcp", addr, 5*time.Second); err == nil {
		conn.Close()
		t.Fatal("handshake succeeded with a certificate for another host")
	} else if !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error does not name the address: %v", err)
	}

	unchecked, err := LoadTLS(map[string]string{PropClientEnable: "true", PropTruststoreLocation: trust, PropEndpointIdentification: ""})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := (Settings{TLS: unchecked}).Dialer()("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("without endpoint identification: %v", err)
	}
	conn.Close()

	// The chain is still checked without endpoint identification.
	other := writeTemp(t, "other.pem", newTestCA(t).pem)
	untrusted, err := LoadTLS(map[string]string{PropClientEnable: "true", PropTruststoreLocation: other, PropEndpointIdentification: ""})
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := (Settings{TLS: untrusted}).Dialer()("tcp", addr, 5*time.Second); err == nil {
		conn.Close()
		t.Fatal("handshake succeeded with a server certificate from an untrusted CA")
	}
}

func TestDialerPlain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := (Settings{}).Dialer()("tcp", ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.(*tls.Conn); ok {
		t.Fatal("TLS without zookeeper.ssl.client.enable")
	}
}

// TestDialerTLSTimeout: a server that never answers the handshake is given
// up on within the timeout.
func TestDialerTLSTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tlsCfg, err := LoadTLS(map[string]string{PropClientEnable: "true"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn, err := (Settings{TLS: tlsCfg}).Dialer()("tcp", ln.Addr().String(), 300*time.Millisecond)
	if err == nil {
		conn.Close()
		t.Fatal("handshake with a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestLoadTLS(t *testing.T) {
	ca := newTestCA(t)
	trust := writeTemp(t, "ca.pem", ca.pem)
	if tl, err := LoadTLS(map[string]string{PropTruststoreLocation: trust}); tl != nil || err != nil {
		t.Errorf("without %s: %v, %v; want nil, nil", PropClientEnable, tl, err)
	}
	if tl, err := LoadTLS(map[string]string{PropClientEnable: "false", PropKeystoreLocation: "/nonexistent"}); tl != nil || err != nil {
		t.Errorf("disabled: %v, %v; want nil, nil", tl, err)
	}
	bad := map[string]map[string]string{
		"bad enable":        {PropClientEnable: "yes please"},
		"JKS":               {PropClientEnable: "true", PropTruststoreLocation: writeTemp(t, "t.jks", []byte("x"))},
		"unknown extension": {PropClientEnable: "true", PropTruststoreLocation: writeTemp(t, "t.bin", ca.pem)},
		"unknown type":      {PropClientEnable: "true", PropTruststoreLocation: trust, PropTruststoreType: "BKS"},
		"old protocol":      {PropClientEnable: "true", PropProtocol: "TLSv1.1"},
		"old enabled":       {PropClientEnable: "true", PropEnabledProtocols: "TLSv1.2,TLSv1"},
		"bad algorithm":     {PropClientEnable: "true", PropEndpointIdentification: "LDAPS"},
		"missing keystore":  {PropClientEnable: "true", PropKeystoreLocation: filepath.Join(t.TempDir(), "no.pem")},
		"not a keystore":    {PropClientEnable: "true", PropKeystoreLocation: trust},
		"empty truststore":  {PropClientEnable: "true", PropTruststoreLocation: writeTemp(t, "e.pem", []byte("nothing"))},
	}
	for name, props := range bad {
		if _, err := LoadTLS(props); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	tl, err := LoadTLS(map[string]string{PropClientEnable: "true", PropEnabledProtocols: "TLSv1.3, TLSv1.2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.versions) != 2 {
		t.Errorf("versions %v, want 1.2 and 1.3", tl.versions)
	}
}
