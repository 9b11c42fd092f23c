// Package peer is a broker's client connection to another broker of its
// cluster: replica fetchers copy their leaders' logs over it, and the lag
// metrics ask leaders for end offsets over it.
package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Security is how a broker secures its connections to the others: those of
// the inter-broker listener's protocol. The zero value is PLAINTEXT.
type Security struct {
	// TLS, when set, wraps the connection in TLS; its ServerName is set
	// to the host dialed.
	TLS *tls.Config
	// SASL, when set, authenticates the connection with this mechanism
	// (SaslHandshake v1 and SaslAuthenticate v1) before any request.
	SASL sasl.Mechanism
}

// Conn is a client connection to another broker. It sends one request at a
// time at the version the caller set: brokers of one cluster speak the same
// versions, so there is no ApiVersions round.
type Conn struct {
	nc            net.Conn
	rd            *bufio.Reader
	clientID      string
	correlationID int32
	timeout       time.Duration
	maxResponse   int32
}

// Dial connects to the broker at addr, secured as sec says. Every request
// on the connection gets timeout; a response larger than maxResponse bytes
// fails it.
func Dial(ctx context.Context, addr, clientID string, timeout time.Duration, maxResponse int32, sec Security) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial broker %s: %w", addr, err)
	}
	if sec.TLS != nil {
		cfg := sec.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(nc, cfg)
		hsCtx, cancel := context.WithTimeout(ctx, timeout)
		err := tc.HandshakeContext(hsCtx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with broker %s: %w", addr, err)
		}
		nc = tc
	}
	c := &Conn{nc: nc, rd: bufio.NewReaderSize(nc, 64<<10), clientID: clientID, timeout: timeout, maxResponse: maxResponse}
	if sec.SASL != nil {
		if err := c.authenticate(ctx, addr, sec.SASL); err != nil {
			nc.Close()
			return nil, fmt.Errorf("authenticate to broker %s with %s: %w", addr, sec.SASL.Name(), err)
		}
	}
	return c, nil
}

// authenticate runs mechanism's exchange over SaslHandshake v1 and
// SaslAuthenticate v1, as Kafka's clients do.
func (c *Conn) authenticate(ctx context.Context, addr string, mechanism sasl.Mechanism) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version = 1
	hs.Mechanism = mechanism.Name()
	hsResp := hs.ResponseKind().(*kmsg.SASLHandshakeResponse)
	if err := c.Request(hs, hsResp); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		return fmt.Errorf("handshake: %w (enabled: %v)", err, hsResp.SupportedMechanisms)
	}
	session, token, err := mechanism.Authenticate(ctx, addr)
	if err != nil {
		return err
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version = 1
		req.SASLAuthBytes = token
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if err := c.Request(req, resp); err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if resp.ErrorMessage != nil {
				return fmt.Errorf("%w: %s", err, *resp.ErrorMessage)
			}
			return err
		}
		done, next, err := session.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		token = next
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Request sends req and decodes its response into resp. Any error leaves
// the connection unusable.
func (c *Conn) Request(req kmsg.Request, resp kmsg.Response) error {
	c.correlationID++
	buf := make([]byte, 4, 64)
	buf = kbin.AppendInt16(buf, req.Key())
	buf = kbin.AppendInt16(buf, req.GetVersion())
	buf = kbin.AppendInt32(buf, c.correlationID)
	buf = kbin.AppendNullableString(buf, &c.clientID)
	if req.IsFlexible() {
		buf = kbin.AppendUvarint(buf, 0) // no header tags
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	if _, err := c.nc.Write(buf); err != nil {
		return fmt.Errorf("send %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	var sizeBuf [4]byte
	if _, err := io.ReadFull(c.rd, sizeBuf[:]); err != nil {
		return fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > c.maxResponse {
		return fmt.Errorf("%s response of %d bytes", kmsg.NameForKey(req.Key()), size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c.rd, body); err != nil {
		return fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	r := kbin.Reader{Src: body}
	if got := r.Int32(); got != c.correlationID {
		return fmt.Errorf("%s response has correlation id %d, want %d", kmsg.NameForKey(req.Key()), got, c.correlationID)
	}
	if resp.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if !r.Ok() {
		return fmt.Errorf("decode %s response header: truncated", kmsg.NameForKey(req.Key()))
	}
	if err := resp.ReadFrom(r.Src); err != nil {
		return fmt.Errorf("decode %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return nil
}
