package broker

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/internal/tlsconf"
	"github.com/kzoo/kzoo/internal/tlsconf/tlstest"
)

// tlsListenerServer serves one end of a connection as an SSL listener that
// requires client certificates from ca and maps CN=<name>,... to <name>;
// it returns the other end and the connection being served.
func tlsListenerServer(t *testing.T, ca *tlstest.CA) (net.Conn, <-chan *conn) {
	t.Helper()
	certPEM, keyPEM := ca.Issue(t, "broker", "127.0.0.1")
	ls, err := newListenerSecurity("SSL", config.ListenerSecurity{
		Protocol: config.SSLProtocol,
		TLS: map[string]string{
			tlsconf.KeystoreCertificateChain: string(certPEM),
			tlsconf.KeystoreKey:              string(keyPEM),
			tlsconf.TruststoreCertificates:   string(ca.CertPEM()),
			tlsconf.ClientAuth:               "required",
			tlsconf.PrincipalMappingRules:    "RULE:^CN=([^,]*),.*$/$1/L,DEFAULT",
		},
	}, nil, logrus.New())
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := &Server{
		cfg:              &config.Broker{SocketRequestMaxBytes: 1 << 20},
		logger:           log,
		quotas:           quota.NewManager(quota.DefaultSettings(), nil),
		listenerSecurity: map[string]*listenerSecurity{"SSL": ls},
	}
	// Loopback TCP, not a pipe: a TLS alert must not wait for a reader.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan *conn, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := newConn(s, server, "SSL")
		c.serve(t.Context())
		served <- c
	}()
	t.Cleanup(func() {
		client.Close()
		<-done
	})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	return client, served
}

func TestSSLListenerTakesThePrincipalFromTheClientCertificate(t *testing.T) {
	ca := tlstest.NewCA(t)
	raw, served := tlsListenerServer(t, ca)
	certPEM, keyPEM := ca.Issue(t, "Alice")
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
	apiVersionsAnswered(t, c)
	c.Close()
	if got := (<-served).principal; got != "alice" {
		t.Fatalf("principal %q, want alice (CN mapped and lower-cased)", got)
	}
}

func TestSSLListenerRefusesWithoutACertificateOrGarbage(t *testing.T) {
	ca := tlstest.NewCA(t)
	t.Run("no client certificate", func(t *testing.T) {
		raw, _ := tlsListenerServer(t, ca)
		c := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		c.Write(encodeRequest(kmsg.NewPtrApiVersionsRequest(), 1)) // the handshake fails on the server
		expectClosed(t, c)
	})
	t.Run("garbage instead of a handshake", func(t *testing.T) {
		raw, _ := tlsListenerServer(t, ca)
		raw.Write(encodeRequest(kmsg.NewPtrApiVersionsRequest(), 1)) // plaintext Kafka on a TLS port
		expectClosed(t, raw)
	})
}
