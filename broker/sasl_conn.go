package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/sasl"
)

// A connection of a SASL listener authenticates before anything else, as in
// Kafka's SaslServerAuthenticator:
//
//	awaitHandshake --SaslHandshake v1--> awaitAuthenticate --SaslAuthenticate...--> authenticated
//	awaitHandshake --SaslHandshake v0--> rawTokens (size-prefixed tokens, no headers) --> authenticated
//
// Before it is authenticated a client may send only ApiVersions and those;
// anything else closes the connection, as does a failed exchange (after its
// answer) or an unknown mechanism. An authenticated client that speaks
// SaslAuthenticate v1+ may re-authenticate (KIP-368) with a new
// SaslHandshake, with the same mechanism and as the same user; once its
// session (connections.max.reauth.ms) has expired, any other request closes
// the connection.

type saslPhase int

const (
	awaitHandshake saslPhase = iota
	awaitAuthenticate
	rawTokens
	authenticated
)

// saslState is a connection's place in the exchange.
type saslState struct {
	phase     saslPhase
	mechanism string
	exchange  sasl.Exchange
	// reauthenticating is set while an authenticated client runs a new
	// exchange; its principal may not change.
	reauthenticating bool
	// canReauthenticate: the client authenticated with SaslAuthenticate
	// v1+, which carries the session lifetime.
	canReauthenticate bool
	// expires is the end of the session (zero: never).
	expires time.Time
}

// errCloseAfterAnswer closes a connection once the answer to its request has
// been written: an authentication that failed, a mechanism not enabled.
var errCloseAfterAnswer = errors.New("authentication failed")

// errSASLState closes a connection that sent a request its SASL state does
// not allow.
var errSASLState = errors.New("request out of order in the SASL exchange")

// maxFrame is the largest frame the connection accepts next: before a
// SASL client has authenticated, sasl.server.max.receive.size.
func (c *conn) maxFrame() int32 {
	limit := c.srv.cfg.SocketRequestMaxBytes
	if c.sec.sasl != nil && c.auth.phase != authenticated {
		limit = min(limit, c.sec.cfg.SASLMaxReceiveSize)
	}
	return limit
}

// saslGate decides what happens to req on a SASL listener. It answers the
// SASL requests of an exchange itself (handled true), lets every other
// allowed request through to dispatch (handled false), and closes the
// connection on one that is not allowed (an error).
func (c *conn) saslGate(req *request) (resp kmsg.Response, handled bool, err error) {
	key := kmsg.Key(req.key)
	if c.auth.phase == authenticated && !c.auth.reauthenticating {
		if key == kmsg.SASLHandshake && c.auth.canReauthenticate {
			c.auth.reauthenticating = true
			return c.saslHandshake(req.body.(*kmsg.SASLHandshakeRequest))
		}
		if !c.auth.expires.IsZero() && time.Now().After(c.auth.expires) {
			return nil, false, fmt.Errorf("%s request after the SASL session expired (connections.max.reauth.ms): %w", key.Name(), errSASLState)
		}
		return nil, false, nil // served as on any listener
	}
	switch {
	case key == kmsg.ApiVersions:
		return nil, false, nil
	case key == kmsg.SASLHandshake && c.auth.phase == awaitHandshake:
		return c.saslHandshake(req.body.(*kmsg.SASLHandshakeRequest))
	case key == kmsg.SASLAuthenticate && c.auth.phase == awaitAuthenticate:
		return c.saslAuthenticate(req)
	}
	return nil, false, fmt.Errorf("unexpected %s request during SASL authentication: %w", key.Name(), errSASLState)
}

func (c *conn) saslHandshake(in *kmsg.SASLHandshakeRequest) (kmsg.Response, bool, error) {
	resp := in.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.sec.cfg.SASLMechanisms
	if c.auth.reauthenticating && in.Mechanism != c.auth.mechanism {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.authFailed(in.Mechanism, fmt.Errorf("re-authentication with %s, not %s as before", in.Mechanism, c.auth.mechanism))
		return resp, true, errCloseAfterAnswer
	}
	ex, err := c.sec.sasl.Start(in.Mechanism)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.authFailed(in.Mechanism, err)
		return resp, true, errCloseAfterAnswer
	}
	c.auth.exchange, c.auth.mechanism = ex, in.Mechanism
	c.auth.phase = awaitAuthenticate
	if in.Version == 0 {
		c.auth.phase = rawTokens
	}
	return resp, true, nil
}

func (c *conn) saslAuthenticate(req *request) (kmsg.Response, bool, error) {
	in := req.body.(*kmsg.SASLAuthenticateRequest)
	resp := in.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	challenge, done, err := c.saslStep(in.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := fmt.Sprintf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", c.auth.mechanism)
		resp.ErrorMessage = &msg
		return resp, true, errCloseAfterAnswer
	}
	resp.SASLAuthBytes = challenge
	if done {
		c.auth.canReauthenticate = req.version >= 1
		if lifetime := c.sec.cfg.MaxReauth; lifetime > 0 && req.version >= 1 {
			resp.SessionLifetimeMillis = lifetime.Milliseconds()
		}
	}
	return resp, true, nil
}

// saslStep feeds the exchange one token; when it completes, the connection
// is authenticated as its user.
func (c *conn) saslStep(token []byte) (challenge []byte, done bool, err error) {
	challenge, done, err = c.auth.exchange.Step(token)
	if err == nil && done && c.auth.reauthenticating && c.auth.exchange.Principal() != c.principal {
		err = fmt.Errorf("%w: re-authenticated as %q, not %q", sasl.ErrAuthenticationFailed, c.auth.exchange.Principal(), c.principal)
	}
	if err != nil {
		c.authFailed(c.auth.mechanism, err)
		return nil, false, err
	}
	if !done {
		return challenge, false, nil
	}
	c.setPrincipal(c.auth.exchange.Principal())
	c.auth.phase, c.auth.exchange, c.auth.reauthenticating = authenticated, nil, false
	c.auth.expires = time.Time{}
	if lifetime := c.sec.cfg.MaxReauth; lifetime > 0 {
		c.auth.expires = time.Now().Add(lifetime)
	}
	c.srv.securityMetrics.Authenticated(c.listener, c.auth.mechanism, true)
	c.logger.WithFields(logrus.Fields{"principal": c.userPrincipal, "mechanism": c.auth.mechanism}).Debug("authenticated")
	return challenge, true, nil
}

// serveRawToken reads one token of a SaslHandshake v0 exchange, which
// carries the mechanism's tokens in bare size-prefixed frames, and answers
// it the same way (an empty frame included, as clients of v0 read one).
func (c *conn) serveRawToken(buf []byte) ([]byte, error) {
	token, err := readToken(c.rd, c.maxFrame(), buf)
	if err != nil {
		return token, err
	}
	challenge, _, err := c.saslStep(token)
	if err != nil {
		return token, errCloseAfterAnswer
	}
	out := append(c.scratch[:0], 0, 0, 0, 0)
	out = append(out, challenge...)
	putSize(out)
	if cap(out) <= maxRetainedFrameBuffer {
		c.scratch = out[:0]
	}
	if _, err := c.wr.Write(out); err != nil {
		return token, err
	}
	return token, c.wr.Flush()
}

// readToken reads one bare size-prefixed SASL token into buf (grown as
// needed); unlike a request frame, a token may be empty.
func readToken(r io.Reader, max int32, buf []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(uint32(size[0])<<24 | uint32(size[1])<<16 | uint32(size[2])<<8 | uint32(size[3]))
	if n < 0 || n > max {
		return nil, fmt.Errorf("SASL token of %d bytes (at most %d before authentication): %w", n, max, errFrameTooLarge)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read SASL token: %w", err)
	}
	return buf, nil
}

// authFailed counts and logs a failed authentication: who tried from where
// and why, never a password or a key (the exchanges' errors hold neither).
func (c *conn) authFailed(mechanism string, err error) {
	c.srv.securityMetrics.Authenticated(c.listener, mechanism, false)
	c.logger.WithError(err).WithFields(logrus.Fields{"listener": c.listener, "mechanism": mechanism}).Info("failed authentication")
}

// handleSaslHandshake and handleSaslAuthenticate answer the SASL requests
// that reach dispatch: on a listener without SASL, or from a client already
// authenticated that cannot re-authenticate, as Kafka's KafkaApis does.
func (s *Server) handleSaslHandshake(_ context.Context, _ *request, _ *kmsg.SASLHandshakeRequest, resp *kmsg.SASLHandshakeResponse) any {
	resp.ErrorCode = kerr.IllegalSaslState.Code
	return resp
}

func (s *Server) handleSaslAuthenticate(_ context.Context, _ *request, _ *kmsg.SASLAuthenticateRequest, resp *kmsg.SASLAuthenticateResponse) any {
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := "SaslAuthenticate request received after successful authentication, or on a listener without SASL"
	resp.ErrorMessage = &msg
	return resp
}
