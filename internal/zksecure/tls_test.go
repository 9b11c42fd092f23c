package zksecure

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/internal/tlsconf/tlstest"
)

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// keystorePEM is a PEM keystore: the certificate, then the key.
func keystorePEM(ca *tlstest.CA, t *testing.T, cn string, hosts ...string) []byte {
	cert, key := ca.Issue(t, cn, hosts...)
	return append(cert, key...)
}

// handshake is what tlsServer saw of one client.
type handshake struct {
	subject string // the client certificate's common name, "" without one
	version uint16
}

// tlsServer accepts TLS connections with serverPEM, asking for a client
// certificate signed by ca, and reports each completed handshake.
func tlsServer(t *testing.T, ca *tlstest.CA, serverPEM []byte) (addr string, seen <-chan handshake) {
	t.Helper()
	cert, err := tls.X509KeyPair(serverPEM, serverPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan handshake, 10)
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
				h := handshake{version: tc.ConnectionState().Version}
				if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
					h.subject = certs[0].Subject.CommonName
				}
				out <- h
			}
			tc.Close()
		}
	}()
	return ln.Addr().String(), out
}

// dial connects through the Settings' dialer and returns what the server saw.
func dial(t *testing.T, tl *TLS, addr string, seen <-chan handshake) handshake {
	t.Helper()
	conn, err := (Settings{TLS: tl}).Dialer()("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if _, ok := conn.(*tls.Conn); !ok {
		t.Fatalf("dialer returned a %T, not a TLS connection", conn)
	}
	select {
	case h := <-seen:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("server saw no handshake")
		return handshake{}
	}
}

func TestDialerTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	trust := writeTemp(t, "ca.pem", ca.CertPEM())
	addr, seen := tlsServer(t, ca, keystorePEM(ca, t, "zookeeper", "127.0.0.1", "localhost"))

	tl, err := LoadTLS(map[string]string{
		PropClientEnable:       "true",
		PropKeystoreLocation:   writeTemp(t, "client.pem", keystorePEM(ca, t, "kafka-broker")),
		PropTruststoreLocation: trust,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tl.HasClientCertificate() {
		t.Fatal("HasClientCertificate = false with a keystore")
	}
	h := dial(t, tl, addr, seen)
	if h.subject != "kafka-broker" {
		t.Errorf("server saw client certificate %q, want kafka-broker", h.subject)
	}
	if h.version != tls.VersionTLS12 {
		t.Errorf("TLS version %x, want 1.2 (Kafka's zookeeper.ssl.protocol default)", h.version)
	}

	// PKCS12 stores, told from their extension, and TLSv1.3.
	dir := t.TempDir()
	cert, key := ca.Issue(t, "kafka-broker-p12")
	tlstest.WritePKCS12(t, filepath.Join(dir, "client.p12"), "ks-secret", cert, key)
	tlstest.WritePKCS12TrustStore(t, filepath.Join(dir, "trust.p12"), "ts-secret", ca.CertPEM())
	tl, err = LoadTLS(map[string]string{
		PropClientEnable:       "true",
		PropKeystoreLocation:   filepath.Join(dir, "client.p12"),
		PropKeystorePassword:   "ks-secret",
		PropTruststoreLocation: filepath.Join(dir, "trust.p12"),
		PropTruststorePassword: "ts-secret",
		PropProtocol:           "TLSv1.3",
	})
	if err != nil {
		t.Fatal(err)
	}
	if h := dial(t, tl, addr, seen); h.subject != "kafka-broker-p12" || h.version != tls.VersionTLS13 {
		t.Errorf("PKCS12, TLSv1.3: server saw %q over %x", h.subject, h.version)
	}
}

func TestDialerTLSHostnameVerification(t *testing.T) {
	ca := tlstest.NewCA(t)
	trust := writeTemp(t, "ca.pem", ca.CertPEM())
	// The server's certificate does not name 127.0.0.1, the address dialled.
	addr, seen := tlsServer(t, ca, keystorePEM(ca, t, "zookeeper", "zk.example"))

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
	dial(t, unchecked, addr, seen)

	// The chain is still checked without endpoint identification.
	other := writeTemp(t, "other.pem", tlstest.NewCA(t).CertPEM())
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
	tl, err := LoadTLS(map[string]string{PropClientEnable: "true"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn, err := (Settings{TLS: tl}).Dialer()("tcp", ln.Addr().String(), 300*time.Millisecond)
	if err == nil {
		conn.Close()
		t.Fatal("handshake with a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}

func TestLoadTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	trust := writeTemp(t, "ca.pem", ca.CertPEM())
	if tl, err := LoadTLS(map[string]string{PropTruststoreLocation: trust}); tl != nil || err != nil {
		t.Errorf("without %s: %v, %v; want nil, nil", PropClientEnable, tl, err)
	}
	if tl, err := LoadTLS(map[string]string{PropClientEnable: "false", PropKeystoreLocation: "/nonexistent"}); tl != nil || err != nil {
		t.Errorf("disabled: %v, %v; want nil, nil", tl, err)
	}
	// A PEM truststore under another name is told from its contents.
	if _, err := LoadTLS(map[string]string{PropClientEnable: "true", PropTruststoreLocation: writeTemp(t, "t.bin", ca.CertPEM())}); err != nil {
		t.Errorf("PEM truststore named .bin: %v", err)
	}
	bad := map[string]map[string]string{
		"bad enable":         {PropClientEnable: "yes please"},
		"JKS by extension":   {PropClientEnable: "true", PropTruststoreLocation: writeTemp(t, "t.jks", []byte("x"))},
		"JKS by type":        {PropClientEnable: "true", PropTruststoreLocation: trust, PropTruststoreType: "JKS"},
		"unknown type":       {PropClientEnable: "true", PropTruststoreLocation: trust, PropTruststoreType: "BKS"},
		"old protocol":       {PropClientEnable: "true", PropProtocol: "TLSv1.1"},
		"old enabled":        {PropClientEnable: "true", PropEnabledProtocols: "TLSv1.2,TLSv1"},
		"bad algorithm":      {PropClientEnable: "true", PropEndpointIdentification: "LDAPS"},
		"missing keystore":   {PropClientEnable: "true", PropKeystoreLocation: filepath.Join(t.TempDir(), "no.pem")},
		"not a keystore":     {PropClientEnable: "true", PropKeystoreLocation: trust},
		"empty truststore":   {PropClientEnable: "true", PropTruststoreLocation: writeTemp(t, "e.pem", []byte("nothing"))},
		"PKCS12 no password": {PropClientEnable: "true", PropTruststoreLocation: trust, PropKeystoreLocation: writeTemp(t, "k.p12", []byte("x"))},
	}
	for name, props := range bad {
		if _, err := LoadTLS(props); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
