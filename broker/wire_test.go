package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/quota"
)

// encodeRequest frames req the way a client does.
func encodeRequest(req kmsg.Request, correlationID int32) []byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test"))
	return f.AppendRequest(nil, req, correlationID)
}

func withVersion[T kmsg.Request](req T, v int16) T {
	req.SetVersion(v)
	return req
}

// seedRequests are well-formed requests of every API we serve.
func seedRequests() []kmsg.Request {
	topic := "t"
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	produce.TimeoutMillis = 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte{1, 2, 3}
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.Partitions = append(ft.Partitions, kmsg.NewFetchRequestTopicPartition())
	fetch.Topics = append(fetch.Topics, ft)

	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	meta.Topics = append(meta.Topics, mt)

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic = topic
	create.Topics = append(create.Topics, ct)

	return []kmsg.Request{
		withVersion(kmsg.NewPtrApiVersionsRequest(), 3),
		withVersion(kmsg.NewPtrApiVersionsRequest(), 0),
		withVersion(produce, 3), withVersion(produce, 9),
		withVersion(fetch, 4), withVersion(fetch, 12),
		withVersion(meta, 0), withVersion(meta, 12),
		withVersion(kmsg.NewPtrListOffsetsRequest(), 1),
		withVersion(create, 7),
		withVersion(kmsg.NewPtrDeleteTopicsRequest(), 6),
		withVersion(kmsg.NewPtrInitProducerIDRequest(), 4),
	}
}

func TestParseRequestRoundTrip(t *testing.T) {
	s := &Server{}
	for _, want := range seedRequests() {
		frame := encodeRequest(want, 7)[4:]
		got, err := parseRequest(frame, s.apiRange)
		if err != nil {
			t.Fatalf("%s v%d: %v", kmsg.NameForKey(want.Key()), want.GetVersion(), err)
		}
		if got.key != want.Key() || got.version != want.GetVersion() || got.correlationID != 7 || got.clientID != "test" {
			t.Fatalf("%s: header = %+v", kmsg.NameForKey(want.Key()), got)
		}
		if !bytes.Equal(got.body.AppendTo(nil), want.AppendTo(nil)) {
			t.Fatalf("%s v%d: body differs after decoding", kmsg.NameForKey(want.Key()), want.GetVersion())
		}
	}
}

func TestParseRequestRejects(t *testing.T) {
	s := &Server{}
	valid := encodeRequest(withVersion(kmsg.NewPtrMetadataRequest(), 12), 1)[4:]
	header := func(key, version int16) []byte {
		b := make([]byte, 8, 16)
		binary.BigEndian.PutUint16(b, uint16(key))
		binary.BigEndian.PutUint16(b[2:], uint16(version))
		return append(b, 0xff, 0xff) // null client id
	}
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"too short for a header", []byte{0, 3, 0}, errBadHeader},
		{"unknown key", header(9999, 0), errUnknownAPIKey},
		{"key we do not serve", header(kmsg.Envelope.Int16(), 0), errUnknownAPIKey},
		{"truncated body", valid[:len(valid)-3], nil},
		{"client id longer than the frame", append(header(kmsg.Metadata.Int16(), 1)[:8], 0x7f, 0xff, 'a'), errBadHeader},
	}
	for _, c := range cases {
		_, err := parseRequest(c.frame, s.apiRange)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}

	_, err := parseRequest(header(kmsg.Metadata.Int16(), 99), s.apiRange)
	var verr *versionError
	if !errors.As(err, &verr) || verr.version != 99 {
		t.Errorf("unsupported version: error %v, want a versionError", err)
	}
}

func TestReadFrameRefusesHugeSizeWithoutAllocating(t *testing.T) {
	for _, size := range []uint32{1 << 31, 0xffffffff, 200 << 20, 3} {
		var in bytes.Buffer
		binary.Write(&in, binary.BigEndian, size)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := readFrame(bytes.NewReader(in.Bytes()), 100<<20, nil); err == nil {
			t.Fatalf("size %d accepted", size)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
			t.Errorf("size %d: %d bytes allocated, want no buffer allocated", size, grew)
		}
	}
	if _, err := readFrame(bytes.NewReader([]byte{0, 0, 0, 10, 1, 2}), 100, nil); err == nil {
		t.Error("frame shorter than its size prefix accepted")
	}
}

// pipeServer serves one end of a pipe with a broker that has no cluster
// behind it: enough for the framing, which ApiVersions exercises.
func pipeServer(t *testing.T) net.Conn {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := &Server{cfg: &config.Broker{SocketRequestMaxBytes: 1 << 20}, logger: log, quotas: quota.NewManager(quota.DefaultSettings(), nil)}
	return servePipe(t, s, "PLAINTEXT")
}

// servePipe serves one end of a pipe as a connection of s's listener and
// returns the other end, closed when the test ends.
func servePipe(t *testing.T, s *Server, listener string) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		newConn(s, server, listener).serve(t.Context())
	}()
	t.Cleanup(func() {
		client.Close()
		<-done
	})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	return client
}

func readResponse(t *testing.T, c net.Conn) []byte {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return body
}

func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open, want it closed")
	}
}

func TestConnAnswersApiVersions(t *testing.T) {
	c := pipeServer(t)
	c.Write(encodeRequest(withVersion(kmsg.NewPtrApiVersionsRequest(), 3), 42))
	body := readResponse(t, c)
	if id := int32(binary.BigEndian.Uint32(body)); id != 42 {
		t.Fatalf("correlation id %d, want 42", id)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if err := resp.ReadFrom(body[4:]); err != nil { // response header v0: no tags
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
		t.Fatalf("error %d, %d keys; want 0, %d", resp.ErrorCode, len(resp.ApiKeys), len(apis))
	}
}

func TestConnAnswersUnknownApiVersionsVersionWithV0(t *testing.T) {
	c := pipeServer(t)
	req := make([]byte, 0, 16)
	req = binary.BigEndian.AppendUint32(req, 10)
	req = binary.BigEndian.AppendUint16(req, uint16(kmsg.ApiVersions.Int16()))
	req = binary.BigEndian.AppendUint16(req, 77)
	req = binary.BigEndian.AppendUint32(req, 5)
	req = append(req, 0xff, 0xff)
	c.Write(req)
	body := readResponse(t, c)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d with %d keys; want UNSUPPORTED_VERSION with our keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestConnClosesOnBadInput(t *testing.T) {
	cases := map[string][]byte{
		"2 GiB size prefix":   {0x7f, 0xff, 0xff, 0xff},
		"negative size":       {0xff, 0xff, 0xff, 0xfe},
		"size above the max":  {0x00, 0x20, 0x00, 0x00},
		"unknown key":         append([]byte{0, 0, 0, 10, 0x27, 0x0f, 0, 0, 0, 0, 0, 1}, 0xff, 0xff),
		"unsupported version": append([]byte{0, 0, 0, 10, 0, 3, 0, 99, 0, 0, 0, 1}, 0xff, 0xff),
		"garbage body":        append(append([]byte{0, 0, 0, 14}, encodeRequest(withVersion(kmsg.NewPtrMetadataRequest(), 12), 1)[4:12]...), 0x7f, 0xff, 0xff, 0xff, 0x01, 0x02),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			c := pipeServer(t)
			go c.Write(in)
			expectClosed(t, c)
		})
	}
}

// FuzzParseRequest decodes arbitrary frames: it must never panic. The seed
// corpus (every API we serve, plus broken frames) runs in `go test`.
func FuzzParseRequest(f *testing.F) {
	for _, req := range seedRequests() {
		frame := encodeRequest(req, 1)[4:]
		f.Add(frame)
		f.Add(frame[:len(frame)/2])
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	// Tag counts far beyond the input, in the header and in the body, for
	// every flexible version we serve.
	for _, h := range hugeTagCountFrames(f) {
		f.Add(h.frame)
	}
	s := &Server{}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := parseRequest(frame, s.apiRange)
		if err == nil && req.body == nil {
			t.Fatal("no error and no body")
		}
	})
}

// A client names its software in ApiVersions v3+ (KIP-511), also in a
// version above ours, which is answered with v0 and our key list: the name
// is kept either way, and decides how it reads transactional partitions.
func TestApiVersionsNamesTheClientSoftwareInAnyVersion(t *testing.T) {
	for _, version := range []int16{3, kmsg.NewPtrApiVersionsRequest().MaxVersion()} {
		in := withVersion(kmsg.NewPtrApiVersionsRequest(), version)
		in.ClientSoftwareName, in.ClientSoftwareVersion = "kgo", "1.0"
		frame := encodeRequest(in, 7)[4:]
		req, err := parseRequest(frame, (&Server{}).apiRange)
		if version > apis[kmsg.ApiVersions].versions.max {
			var verr *versionError
			if !errors.As(err, &verr) {
				t.Fatalf("v%d: %v, want a version error", version, err)
			}
		} else if err != nil {
			t.Fatalf("v%d: %v", version, err)
		}
		if !namesItsSoftware(req) {
			t.Errorf("v%d: the software name was lost", version)
		}
	}
	anonymous := withVersion(kmsg.NewPtrApiVersionsRequest(), 3)
	req, err := parseRequest(encodeRequest(anonymous, 8)[4:], (&Server{}).apiRange)
	if err != nil || namesItsSoftware(req) {
		t.Errorf("an ApiVersions without a name: %v, named %v", err, namesItsSoftware(req))
	}
}
