package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hugeTagCount is the largest tag count a uvarint can carry. A decoder that
// trusts it instead of the bytes left loops four billion times.
const hugeTagCount = 0xffffffff

// hostileFrame is a request frame (without its size prefix) that claims
// hugeTagCount tagged fields in one of its tag sections.
type hostileFrame struct {
	name  string
	frame []byte
}

// hugeTagCountFrames returns, for every API in apis at every flexible version
// it serves, two frames: one whose body's top-level tag count is
// hugeTagCount, and one whose request header's is (followed by a well-formed
// body, which the header's tags would swallow).
func hugeTagCountFrames(tb testing.TB) []hostileFrame {
	tb.Helper()
	keys := make([]kmsg.Key, 0, len(apis))
	for key := range apis {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	var out []hostileFrame
	for _, key := range keys {
		rng := apis[key].versions
		for v := rng.min; v <= rng.max; v++ {
			req := kmsg.RequestForKey(int16(key))
			req.SetVersion(v)
			if !req.IsFlexible() {
				continue
			}
			name := fmt.Sprintf("%s v%d", kmsg.NameForKey(int16(key)), v)
			body := req.AppendTo(nil)
			// A default request has no tagged fields: its body ends with
			// the empty top-level tag section, a zero count.
			if len(body) == 0 || body[len(body)-1] != 0 {
				tb.Fatalf("%s: body does not end with an empty tag section: % x", name, body)
			}
			hostileBody := kbin.AppendUvarint(slices.Clip(body[:len(body)-1]), hugeTagCount)

			out = append(out,
				hostileFrame{name + " body tags", appendFlexibleHeader(nil, key, v, 0, hostileBody)},
				hostileFrame{name + " header tags", appendFlexibleHeader(nil, key, v, hugeTagCount, body)},
			)
		}
	}
	return out
}

// appendFlexibleHeader appends a request header v2 for key and version with a
// tag section that claims tags fields (and holds none), then body.
func appendFlexibleHeader(dst []byte, key kmsg.Key, version int16, tags uint32, body []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(version))
	dst = binary.BigEndian.AppendUint32(dst, 1) // correlation id
	dst = kbin.AppendNullableString(dst, nil)   // client id
	dst = kbin.AppendUvarint(dst, tags)
	return append(dst, body...)
}

// hostileInputDeadline bounds how long the broker may take to refuse one
// hostile request: decoding a frame of a few dozen bytes is microseconds of
// work, so only a decoder that loops over the claimed count comes near it.
const hostileInputDeadline = 5 * time.Second

func TestParseRequestRefusesHugeTagCount(t *testing.T) {
	frames := hugeTagCountFrames(t)
	if len(frames) == 0 {
		t.Fatal("no API is served at a flexible version")
	}
	s := &Server{}
	for _, f := range frames {
		done := make(chan error, 1)
		go func() {
			_, err := parseRequest(f.frame, s.apiRange)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: decoded without an error", f.name)
			}
		case <-time.After(hostileInputDeadline):
			// The goroutine spins on; the test binary ends with it.
			t.Fatalf("%s: still decoding after %v", f.name, hostileInputDeadline)
		}
	}
}

func TestConnClosesOnHugeTagCount(t *testing.T) {
	for _, f := range hugeTagCountFrames(t) {
		t.Run(f.name, func(t *testing.T) {
			c := pipeServer(t)
			c.SetDeadline(time.Now().Add(hostileInputDeadline))
			framed := binary.BigEndian.AppendUint32(nil, uint32(len(f.frame)))
			go c.Write(append(framed, f.frame...))
			n, err := c.Read(make([]byte, 1))
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Fatalf("connection neither answered nor closed within %v", hostileInputDeadline)
			case !errors.Is(err, io.EOF):
				t.Fatalf("read %d bytes, error %v; want the connection closed", n, err)
			}
		})
	}
}
