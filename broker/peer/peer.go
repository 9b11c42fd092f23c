// Package peer is a broker's client connection to another broker of its
// cluster: replica fetchers copy their leaders' logs over it, and the lag
// metrics ask leaders for end offsets over it.
package peer

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

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

// Dial connects to the broker at addr. Every request on the connection
// gets timeout; a response larger than maxResponse bytes fails it.
func Dial(ctx context.Context, addr, clientID string, timeout time.Duration, maxResponse int32) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial broker %s: %w", addr, err)
	}
	return &Conn{nc: nc, rd: bufio.NewReaderSize(nc, 64<<10), clientID: clientID, timeout: timeout, maxResponse: maxResponse}, nil
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
