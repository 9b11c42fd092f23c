package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kzoo/kzoo/broker/quota"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Framing of the Kafka protocol: every request and response is a 4-byte
// big-endian size followed by that many bytes. kmsg encodes and decodes the
// bodies; the header and size checks are ours.

var (
	errFrameTooLarge = errors.New("request frame larger than socket.request.max.bytes")
	errBadFrameSize  = errors.New("request frame size is negative or too small for a header")
	errUnknownAPIKey = errors.New("unknown API key")
	errBadHeader     = errors.New("malformed request header")
)

// minRequestHeader is api key, api version and correlation id.
const minRequestHeader = 2 + 2 + 4

// readFrame reads one size-prefixed frame into buf (grown as needed) and
// returns it. A size outside [minRequestHeader, max] is an error before any
// allocation, so a hostile size prefix cannot make the broker allocate it.
func readFrame(r io.Reader, max int32, buf []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	switch {
	case n < minRequestHeader:
		return nil, fmt.Errorf("%w: %d", errBadFrameSize, n)
	case n > max:
		return nil, fmt.Errorf("%w: %d > %d", errFrameTooLarge, n, max)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return buf, nil
}

// request is a decoded request with its header.
type request struct {
	key           int16
	version       int16
	correlationID int32
	clientID      string
	body          kmsg.Request
	// listener is the name of the listener the request came through.
	listener string
	// namedClient is set once the client named its software on this
	// connection (ApiVersions v3+, KIP-511); see handleFetch.
	namedClient bool
	// principal is who sent the request ("User:alice", "User:ANONYMOUS"),
	// as the authorizer sees it, and host the client's IP address.
	principal string
	host      string
	// who is charged for the request under the client quotas.
	who quota.Identity
	// throttle is what the handler's byte quotas (Produce, Fetch) or
	// controller mutation quota charged; dispatch adds the request time.
	throttle time.Duration
	// parked is how long the handler waited for something to happen (a
	// long poll), which the request time quota does not charge.
	parked time.Duration
}

// versionError reports a request whose version is outside what we
// advertise; ApiVersions answers it, every other API closes the connection.
type versionError struct {
	key, version int16
}

func (e *versionError) Error() string {
	return fmt.Sprintf("unsupported version %d of %s", e.version, kmsg.NameForKey(e.key))
}

// parseRequest decodes a frame's header and body. It returns the header even
// when the body cannot be decoded, so that the caller can answer a version
// error with the right correlation id.
func parseRequest(frame []byte, supported func(key int16) (apiRange, bool)) (*request, error) {
	if len(frame) < minRequestHeader {
		return nil, errBadHeader
	}
	req := &request{
		key:           int16(binary.BigEndian.Uint16(frame[0:])),
		version:       int16(binary.BigEndian.Uint16(frame[2:])),
		correlationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	rng, ok := supported(req.key)
	if !ok {
		return req, fmt.Errorf("%w %d", errUnknownAPIKey, req.key)
	}
	body := kmsg.RequestForKey(req.key)
	if body == nil {
		return req, fmt.Errorf("%w %d", errUnknownAPIKey, req.key)
	}
	highest := max(rng.max, brokerOnlyVersions[kmsg.Key(req.key)])
	if req.version < rng.min || req.version > highest || req.version > body.MaxVersion() {
		if req.key == kmsg.ApiVersions.Int16() && req.version >= 0 && req.version <= body.MaxVersion() {
			// Answered with v0 and our versions (KIP-511), but the
			// client named its software in it: keep what decodes.
			_ = decodeBody(req, body, frame)
		}
		return req, &versionError{req.key, req.version}
	}
	if err := decodeBody(req, body, frame); err != nil {
		return req, err
	}
	return req, nil
}

// decodeBody decodes the client id of frame's header and the body, at
// req.version, into req.
func decodeBody(req *request, body kmsg.Request, frame []byte) error {
	body.SetVersion(req.version)
	// Request header v1 has a nullable client id; v2 (flexible versions)
	// adds tagged fields after it.
	rd := kbin.Reader{Src: frame[minRequestHeader:]}
	if id := rd.NullableString(); id != nil {
		req.clientID = *id
	}
	if body.IsFlexible() {
		skipTags(&rd)
	}
	if !rd.Ok() {
		return errBadHeader
	}
	if err := body.ReadFrom(rd.Src); err != nil {
		return fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(req.key), req.version, err)
	}
	req.body = body
	return nil
}

// appendResponseHeader appends the response header for req: the correlation
// id, plus an empty tag section for flexible versions -- except for
// ApiVersions, whose response header is always v0 so that a client that does
// not know our versions yet can read it (KIP-511).
func appendResponseHeader(dst []byte, req *request, flexible bool) []byte {
	dst = kbin.AppendInt32(dst, req.correlationID)
	if flexible && req.key != kmsg.ApiVersions.Int16() {
		dst = kbin.AppendUvarint(dst, 0)
	}
	return dst
}

// skipTags skips a tagged-field section, stopping at the first malformed
// field rather than looping over a hostile count.
func skipTags(rd *kbin.Reader) {
	for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
		rd.Uvarint() // tag
		rd.Span(int(rd.Uvarint()))
	}
}
