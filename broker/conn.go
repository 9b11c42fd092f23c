package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/internal/tlsconf"
)

// maxRetainedFrameBuffer caps the read buffer a connection keeps between
// requests, so an idle connection that once sent a large produce request
// does not hold its memory.
const maxRetainedFrameBuffer = 1 << 20

// conn serves one client connection. Requests are read and answered one at a
// time, in order, as Kafka does; a slow request (long-poll fetch, acks=all
// produce) delays only this connection.
type conn struct {
	srv *Server
	nc  net.Conn
	// listener is the name of the listener the client connected through;
	// brokers' addresses are answered in it.
	listener string
	rd       *bufio.Reader
	wr       *bufio.Writer
	logger   logrus.FieldLogger
	// scratch holds a response header and body while it is encoded.
	scratch []byte
	// namedClient is set once the client sent an ApiVersions request
	// naming its software (v3+, KIP-511).
	namedClient bool
	// sec is how the listener secures its connections; auth is the
	// connection's SASL state on a SASL listener (sasl_conn.go).
	sec  *listenerSecurity
	auth saslState
	// principal is the name of the user the connection authenticated as
	// (ANONYMOUS until then); quotas apply to it, and ACLs to
	// userPrincipal, the same as "User:<name>", made once per
	// authentication rather than per request. setPrincipal sets both.
	principal     string
	userPrincipal string
	// host is the client's IP address, as ACLs name hosts.
	host string
}

// tlsHandshakeTimeout bounds a TLS handshake, so that a client that
// connects and says nothing, or too little, does not hold a connection.
const tlsHandshakeTimeout = 10 * time.Second

func newConn(srv *Server, nc net.Conn, listener string) *conn {
	sec := srv.listenerSecurity[listener]
	if sec == nil {
		sec = &listenerSecurity{name: listener} // a server built without loadSecurity (tests)
	}
	c := &conn{
		srv:      srv,
		nc:       nc,
		listener: listener,
		rd:       bufio.NewReaderSize(nc, 64<<10),
		wr:       bufio.NewWriterSize(nc, 64<<10),
		logger:   srv.logger.WithField("remote", nc.RemoteAddr().String()),
		sec:      sec,
		host:     hostOf(nc.RemoteAddr()),
	}
	c.setPrincipal(anonymousPrincipal)
	return c
}

// setPrincipal makes name the connection's user.
func (c *conn) setPrincipal(name string) {
	c.principal, c.userPrincipal = name, "User:"+name
}

// hostOf is the IP address of addr, as ACLs name hosts.
func hostOf(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// startTLS runs the server side of the TLS handshake and, on an SSL
// listener, takes the principal from the client's certificate.
func (c *conn) startTLS(ctx context.Context) error {
	tc := tls.Server(c.nc, c.sec.tls)
	hsCtx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hsCtx); err != nil {
		if errors.Is(err, io.EOF) {
			// Closed before a word of TLS: a port probe (a health
			// check), not an attempt to authenticate.
			c.logger.WithError(err).Debug("connection closed before the TLS handshake")
			return err
		}
		c.authFailed("SSL", fmt.Errorf("TLS handshake: %w", err))
		return err
	}
	c.nc = tc
	c.rd.Reset(tc)
	c.wr.Reset(tc)
	if c.sec.cfg.UsesSASL() {
		return nil // the SASL user is the principal
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		name, err := c.sec.principals.Map(tlsconf.SubjectName(certs[0]))
		if err != nil {
			c.authFailed("SSL", fmt.Errorf("ssl.principal.mapping.rules: %w", err))
			return err
		}
		c.setPrincipal(name)
	}
	c.srv.securityMetrics.Authenticated(c.listener, "SSL", true)
	return nil
}

// serve reads and answers requests until the client goes away, a protocol
// error closes the connection, or ctx is cancelled.
func (c *conn) serve(ctx context.Context) {
	defer func() { c.nc.Close() }() // the TLS connection, once there is one
	if c.sec.tls != nil {
		if err := c.startTLS(ctx); err != nil {
			return
		}
	}
	var frame []byte
	for {
		if err := c.nc.SetReadDeadline(c.srv.readDeadline()); err != nil {
			return
		}
		if c.auth.phase == rawTokens {
			buf, err := c.serveRawToken(frame)
			if err != nil {
				return
			}
			frame = buf[:0]
			continue
		}
		buf, err := readFrame(c.rd, c.maxFrame(), frame)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				c.logger.WithError(err).Debug("closing connection")
			}
			return
		}
		if cap(buf) <= maxRetainedFrameBuffer {
			frame = buf[:0]
		} else {
			frame = nil
		}
		throttle, err := c.handle(ctx, buf)
		if errors.Is(err, errCloseAfterAnswer) {
			_ = c.wr.Flush() // the answer says why; best effort
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				c.logger.WithError(err).Info("closing connection")
			}
			return
		}
		if throttle > 0 {
			// Over a quota: the answer goes out now, and nothing more is
			// read until the throttle has passed (KIP-219).
			if err := c.wr.Flush(); err != nil {
				return
			}
			c.mute(ctx, throttle)
		}
	}
}

// namesItsSoftware reports whether req is an ApiVersions request in which
// the client names its software (v3+, KIP-511), even one of a version we
// answer with v0.
func namesItsSoftware(req *request) bool {
	av, ok := req.body.(*kmsg.ApiVersionsRequest)
	return ok && av.Version >= 3 && av.ClientSoftwareName != ""
}

// handle decodes, dispatches and answers one request, and returns how long
// the connection is to be muted for the quotas. An error closes the
// connection.
func (c *conn) handle(ctx context.Context, frame []byte) (time.Duration, error) {
	req, err := parseRequest(frame, c.srv.apiRange)
	if req != nil && namesItsSoftware(req) {
		c.namedClient = true
	}
	if err != nil {
		var verr *versionError
		if errors.As(err, &verr) && req.key == kmsg.ApiVersions.Int16() {
			// KIP-511: answer an unknown ApiVersions version with v0 and
			// our key list, so the client can pick a version it knows.
			resp := c.srv.apiVersions(kerr.UnsupportedVersion.Code)
			resp.SetVersion(0)
			return 0, c.writeResponse(req, resp)
		}
		return 0, err
	}
	if c.sec.sasl != nil {
		resp, handled, err := c.saslGate(req)
		if handled {
			if werr := c.writeResponse(req, resp); werr != nil {
				return 0, werr
			}
			return 0, err
		}
		if err != nil {
			return 0, err
		}
	}
	req.listener = c.listener
	req.namedClient = c.namedClient
	req.principal = c.userPrincipal
	req.host = c.host
	req.who = c.quotaIdentity(req.clientID)
	resp, throttle := c.srv.dispatch(ctx, c, req)
	if resp == nil {
		return throttle, nil // acks=0 produce: no response, but muted all the same
	}
	return throttle, c.writeResponse(req, resp)
}

// writeResponse frames and writes resp, which is a kmsg.Response or a
// *fetchResponse whose record data is sent from the segment files.
func (c *conn) writeResponse(req *request, resp any) error {
	switch r := resp.(type) {
	case kmsg.Response:
		buf := append(c.scratch[:0], 0, 0, 0, 0)
		buf = appendResponseHeader(buf, req, r.IsFlexible())
		buf = r.AppendTo(buf)
		putSize(buf)
		if cap(buf) <= maxRetainedFrameBuffer {
			c.scratch = buf[:0]
		}
		if _, err := c.wr.Write(buf); err != nil {
			return fmt.Errorf("write %s response: %w", kmsg.NameForKey(req.key), err)
		}
	case *fetchResponse:
		if err := c.writeParts(req, r); err != nil {
			return fmt.Errorf("write fetch response: %w", err)
		}
	default:
		return fmt.Errorf("internal error: handler for %s returned %T", kmsg.NameForKey(req.key), resp)
	}
	if c.rd.Buffered() > 0 {
		// The client has pipelined more requests: answer them before
		// flushing, saving a syscall per response.
		return nil
	}
	return c.wr.Flush()
}

// putSize writes the frame size into the first four bytes of buf.
func putSize(buf []byte) {
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
}

// writeParts writes a response made of encoded bytes and file slices,
// sending the slices with sendfile.
func (c *conn) writeParts(req *request, r *fetchResponse) error {
	header := appendResponseHeader(nil, req, r.flexible)
	size := int64(len(header))
	for _, p := range r.parts {
		size += int64(len(p.bytes)) + p.slice.Size
	}
	var sizeBuf [4]byte
	binary.BigEndian.PutUint32(sizeBuf[:], uint32(size))
	if _, err := c.wr.Write(sizeBuf[:]); err != nil {
		return err
	}
	if _, err := c.wr.Write(header); err != nil {
		return err
	}
	for _, p := range r.parts {
		if p.slice.Size == 0 {
			if _, err := c.wr.Write(p.bytes); err != nil {
				return err
			}
			continue
		}
		if c.sec.tls != nil {
			// No sendfile through TLS: the records are copied through
			// the write buffer, which encrypts them.
			if _, err := p.slice.WriteTo(c.wr); err != nil {
				return err
			}
			continue
		}
		if err := c.wr.Flush(); err != nil {
			return err
		}
		if _, err := p.slice.WriteTo(c.nc); err != nil { // sendfile
			return err
		}
	}
	return nil
}

// part is a piece of an encoded response: bytes, or a range of a segment file.
type part struct {
	bytes []byte
	slice storage.Slice
}
