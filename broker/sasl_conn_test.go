package broker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/broker/sasl"
)

// saslPipeServer serves one end of a pipe as a SASL_PLAINTEXT listener
// with PLAIN user alice (password secret), and returns the other end.
func saslPipeServer(t *testing.T, cfg config.ListenerSecurity) net.Conn {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg.Protocol = config.SASLPlaintextProtocol
	cfg.SASLMechanisms = []string{sasl.Plain}
	if cfg.SASLMaxReceiveSize == 0 {
		cfg.SASLMaxReceiveSize = 512
	}
	s := &Server{
		cfg:    &config.Broker{SocketRequestMaxBytes: 1 << 20},
		logger: log,
		quotas: quota.NewManager(quota.DefaultSettings(), nil),
		listenerSecurity: map[string]*listenerSecurity{"SASL": {
			name: "SASL", cfg: cfg,
			sasl: &sasl.Server{Mechanisms: cfg.SASLMechanisms, PlainUsers: map[string]string{"alice": "secret"}},
		}},
	}
	return servePipe(t, s, "SASL")
}

// exchange sends req and decodes the answer into resp.
func exchange(t *testing.T, c net.Conn, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	if _, err := c.Write(encodeRequest(req, 7)); err != nil {
		t.Fatalf("send %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	body := readResponse(t, c)[4:]
	if resp.IsFlexible() {
		body = body[1:] // no header tags
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %s: %v", kmsg.NameForKey(req.Key()), err)
	}
}

func handshake(t *testing.T, c net.Conn, version int16, mechanism string) *kmsg.SASLHandshakeResponse {
	t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = version, mechanism
	resp := kmsg.NewPtrSASLHandshakeResponse()
	exchange(t, c, req, resp)
	return resp
}

func authenticate(t *testing.T, c net.Conn, version int16, token string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.Version, req.SASLAuthBytes = version, []byte(token)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	exchange(t, c, req, resp)
	return resp
}

func apiVersionsAnswered(t *testing.T, c net.Conn) {
	t.Helper()
	resp := kmsg.NewPtrApiVersionsResponse()
	exchange(t, c, kmsg.NewPtrApiVersionsRequest(), resp)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

func TestSASLAuthenticatesThenServes(t *testing.T) {
	c := saslPipeServer(t, config.ListenerSecurity{MaxReauth: time.Hour})
	apiVersionsAnswered(t, c) // allowed before authentication
	if hs := handshake(t, c, 1, "PLAIN"); hs.ErrorCode != 0 || len(hs.SupportedMechanisms) != 1 {
		t.Fatalf("handshake: %v %v", kerr.ErrorForCode(hs.ErrorCode), hs.SupportedMechanisms)
	}
	auth := authenticate(t, c, 1, "\x00alice\x00secret")
	if auth.ErrorCode != 0 {
		t.Fatalf("authenticate: %v", kerr.ErrorForCode(auth.ErrorCode))
	}
	if auth.SessionLifetimeMillis != time.Hour.Milliseconds() {
		t.Errorf("session lifetime %d ms, want connections.max.reauth.ms", auth.SessionLifetimeMillis)
	}
	apiVersionsAnswered(t, c)
	// Re-authentication (KIP-368): a new exchange on the same connection.
	if hs := handshake(t, c, 1, "PLAIN"); hs.ErrorCode != 0 {
		t.Fatalf("re-authentication handshake: %v", kerr.ErrorForCode(hs.ErrorCode))
	}
	if auth := authenticate(t, c, 1, "\x00alice\x00secret"); auth.ErrorCode != 0 {
		t.Fatalf("re-authentication: %v", kerr.ErrorForCode(auth.ErrorCode))
	}
	apiVersionsAnswered(t, c)
	// A SaslAuthenticate outside an exchange is answered, not served.
	if auth := authenticate(t, c, 1, "x"); auth.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate after authentication: %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(auth.ErrorCode))
	}
}

func TestSASLHandshakeV0CarriesRawTokens(t *testing.T) {
	c := saslPipeServer(t, config.ListenerSecurity{})
	if hs := handshake(t, c, 0, "PLAIN"); hs.ErrorCode != 0 {
		t.Fatalf("handshake v0: %v", kerr.ErrorForCode(hs.ErrorCode))
	}
	token := []byte("\x00alice\x00secret")
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(token)))
	if _, err := c.Write(append(frame, token...)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
		t.Fatalf("PLAIN's answer: size %v, err %v; want an empty token", size, err)
	}
	apiVersionsAnswered(t, c)
}

func TestSASLRefusals(t *testing.T) {
	t.Run("request before authentication closes", func(t *testing.T) {
		c := saslPipeServer(t, config.ListenerSecurity{})
		c.Write(encodeRequest(kmsg.NewPtrMetadataRequest(), 1))
		expectClosed(t, c)
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := saslPipeServer(t, config.ListenerSecurity{})
		if hs := handshake(t, c, 1, "GSSAPI"); hs.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(hs.SupportedMechanisms) != 1 {
			t.Fatalf("handshake: %v %v, want UNSUPPORTED_SASL_MECHANISM with PLAIN", kerr.ErrorForCode(hs.ErrorCode), hs.SupportedMechanisms)
		}
		expectClosed(t, c)
	})
	t.Run("wrong password", func(t *testing.T) {
		c := saslPipeServer(t, config.ListenerSecurity{})
		handshake(t, c, 1, "PLAIN")
		auth := authenticate(t, c, 1, "\x00alice\x00wrong")
		if auth.ErrorCode != kerr.SaslAuthenticationFailed.Code || auth.ErrorMessage == nil {
			t.Fatalf("authenticate: %v, want SASL_AUTHENTICATION_FAILED with a message", kerr.ErrorForCode(auth.ErrorCode))
		}
		expectClosed(t, c)
	})
	t.Run("authenticate before handshake", func(t *testing.T) {
		c := saslPipeServer(t, config.ListenerSecurity{})
		req := kmsg.NewPtrSASLAuthenticateRequest()
		c.Write(encodeRequest(req, 1))
		expectClosed(t, c)
	})
	t.Run("second handshake during the exchange", func(t *testing.T) {
		c := saslPipeServer(t, config.ListenerSecurity{})
		handshake(t, c, 1, "PLAIN")
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 1, "PLAIN"
		c.Write(encodeRequest(req, 1))
		expectClosed(t, c)
	})
	t.Run("oversized frame before authentication", func(t *testing.T) {
		c := saslPipeServer(t, config.ListenerSecurity{SASLMaxReceiveSize: 64})
		handshake(t, c, 1, "PLAIN")
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = 1, make([]byte, 100)
		c.Write(encodeRequest(req, 1))
		expectClosed(t, c)
	})
	t.Run("oversized raw token", func(t *testing.T) {
		c := saslPipeServer(t, config.ListenerSecurity{SASLMaxReceiveSize: 64})
		handshake(t, c, 0, "PLAIN")
		c.Write(binary.BigEndian.AppendUint32(nil, 1<<30))
		expectClosed(t, c)
	})
}

func TestSASLSessionExpiryClosesOnTheNextRequest(t *testing.T) {
	c := &conn{sec: &listenerSecurity{}, auth: saslState{phase: authenticated, expires: time.Now().Add(-time.Second), canReauthenticate: true}}
	if _, handled, err := c.saslGate(&request{key: kmsg.Metadata.Int16()}); handled || err == nil {
		t.Fatalf("expired session: handled %v, err %v; want the connection closed", handled, err)
	}
	c.auth.expires = time.Now().Add(time.Hour)
	if _, handled, err := c.saslGate(&request{key: kmsg.Metadata.Int16()}); handled || err != nil {
		t.Fatalf("live session: handled %v, err %v; want the request served", handled, err)
	}
}
