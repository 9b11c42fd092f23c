package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// TestRoughEdges drives a real broker the way a hostile client, a broker
// short of resources and a new user at the CLI do, and checks that each
// gets a clear answer and the broker keeps serving.
func TestRoughEdges(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 1, PortOffset: 10200})
	t.Run("huge-tag-counts", func(t *testing.T) { testHugeTagCounts(t, c) })
	t.Run("out-of-descriptors", func(t *testing.T) { testOutOfDescriptors(t, c) })
	t.Run("cli-error-wording", func(t *testing.T) { testCLIErrorWording(t, c) })
}

// testCLIErrorWording runs CLI commands that the broker refuses and pins
// what the CLI prints: one line, the problem said once in words, the Kafka
// error's name once, at the end.
func testCLIErrorWording(t *testing.T, c *cluster.Cluster) {
	const topic = "rough-edges-demo"
	if out, err := kzoo(t, c, "topics", "create", topic, "--partitions", "2", "--replication-factor", "1"); err != nil {
		t.Fatalf("topics create: %v\n%s", err, out)
	}
	waitForLeaders(t, c.Bootstrap(), topic, 2)
	for _, tc := range []struct {
		args []string
		// want is the whole output when exact, else a part of it: the
		// broker's messages other than these are not pinned here.
		want  string
		exact bool
	}{
		{[]string{"topics", "create", topic}, `kzoo: topic "` + topic + `" already exists (TOPIC_ALREADY_EXISTS)`, true},
		{[]string{"topics", "create", "bad/name"}, "(INVALID_TOPIC_EXCEPTION)", false},
		{[]string{"topics", "create", "rough-edges-rf", "--replication-factor", "3"}, "(INVALID_REPLICATION_FACTOR)", false},
		{[]string{"topics", "delete", "rough-edges-missing"}, "kzoo: delete topic rough-edges-missing: this server does not host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)", true},
		{[]string{"topics", "alter", topic, "--partitions", "1"}, "kzoo: alter topic " + topic + ": ", false},
		{[]string{"configs", "alter", "--topic", topic, "--add-config", "no.such.key=1"}, "(INVALID_CONFIG)", false},
		{[]string{"configs", "describe", "--topic", "rough-edges-missing"}, "(UNKNOWN_TOPIC_OR_PARTITION)", false},
	} {
		out, err := kzoo(t, c, tc.args...)
		cmd := strings.Join(tc.args, " ")
		if err == nil {
			t.Errorf("kzoo %s succeeded:\n%s", cmd, out)
			continue
		}
		line := strings.TrimSuffix(out, "\n")
		t.Logf("kzoo %s\n  %s", cmd, line)
		switch {
		case tc.exact && line != tc.want:
			t.Errorf("kzoo %s printed\n  %s\nwant\n  %s", cmd, line, tc.want)
		case !tc.exact && !strings.Contains(line, tc.want):
			t.Errorf("kzoo %s printed\n  %s\nwant it to contain %q", cmd, line, tc.want)
		}
		checkOneErrorLine(t, cmd, line)
	}
}

// kafkaCodeName matches the protocol name of a Kafka error code: words
// joined by underscores.
var kafkaCodeName = regexp.MustCompile(`\b[A-Z]+(?:_[A-Z]+)+\b`)

// checkOneErrorLine fails unless out is one line "kzoo: ... (CODE)" that
// names one error code, once, and none of kafka-go's "[36] Title" text.
func checkOneErrorLine(t *testing.T, cmd, out string) {
	t.Helper()
	names := kafkaCodeName.FindAllString(out, -1)
	switch {
	case strings.Contains(out, "\n") || !strings.HasPrefix(out, "kzoo: "):
		t.Errorf("kzoo %s printed %q, want one line starting kzoo:", cmd, out)
	case len(names) != 1 || !strings.HasSuffix(out, " ("+names[0]+")"):
		t.Errorf("kzoo %s printed %q, naming codes %q; want one, in parentheses at the end", cmd, out, names)
	case regexp.MustCompile(`\[\d+\]`).MatchString(out):
		t.Errorf("kzoo %s printed %q, with kafka-go's numbered code", cmd, out)
	}
}

// refuseDeadline bounds how long the broker may take to close a connection
// whose request it cannot decode: a few dozen bytes of work, unless the
// decoder believes a count the bytes do not hold.
const refuseDeadline = 5 * time.Second

// testHugeTagCounts sends, for every API the broker advertises at every
// flexible version it advertises, a request whose body's tag count is
// 0xffffffff, and one whose header's is, each on its own connection, and
// wants each connection closed without an answer.
func testHugeTagCounts(t *testing.T, c *cluster.Cluster) {
	addr := c.BrokerAddr(1)
	versions := askBroker[*kmsg.ApiVersionsResponse](t, admin(t, c.Bootstrap()), kmsg.NewPtrApiVersionsRequest())
	sent := 0
	for _, k := range versions.ApiKeys {
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			req := kmsg.RequestForKey(k.ApiKey)
			if req == nil {
				t.Fatalf("the broker advertises API key %d, which kmsg does not know", k.ApiKey)
			}
			req.SetVersion(v)
			if !req.IsFlexible() {
				continue
			}
			name := fmt.Sprintf("%s v%d", kmsg.NameForKey(k.ApiKey), v)
			body := req.AppendTo(nil)
			if len(body) == 0 || body[len(body)-1] != 0 {
				t.Fatalf("%s: default body does not end with an empty tag section", name)
			}
			hostileBody := kbin.AppendUvarint(body[:len(body)-1:len(body)-1], 0xffffffff)
			expectRefused(t, addr, name+" with a huge body tag count", rawRequest(k.ApiKey, v, 0, hostileBody))
			expectRefused(t, addr, name+" with a huge header tag count", rawRequest(k.ApiKey, v, 0xffffffff, body))
			sent += 2
		}
	}
	if sent == 0 {
		t.Fatal("the broker advertises no flexible version")
	}
	t.Logf("%d hostile requests refused", sent)
	// And it still answers.
	if md := metadataFrom(admin(t, c.Bootstrap())); md == nil || len(md.Brokers) != 1 {
		t.Fatalf("Metadata after the hostile requests: %+v", md)
	}
}

// rawRequest frames a request with header v2 (flexible), whose tag section
// claims headerTags fields and holds none.
func rawRequest(key, version int16, headerTags uint32, body []byte) []byte {
	msg := binary.BigEndian.AppendUint32(nil, 0) // size, set below
	msg = binary.BigEndian.AppendUint16(msg, uint16(key))
	msg = binary.BigEndian.AppendUint16(msg, uint16(version))
	msg = binary.BigEndian.AppendUint32(msg, 1) // correlation id
	msg = kbin.AppendNullableString(msg, nil)   // client id
	msg = kbin.AppendUvarint(msg, headerTags)
	msg = append(msg, body...)
	binary.BigEndian.PutUint32(msg, uint32(len(msg)-4))
	return msg
}

// expectRefused sends msg on a new connection to addr and wants the broker
// to close it, without an answer, within refuseDeadline.
func expectRefused(t *testing.T, addr, what string, msg []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(refuseDeadline))
	if _, err := conn.Write(msg); err != nil {
		t.Fatalf("%s: send: %v", what, err)
	}
	n, err := conn.Read(make([]byte, 1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Errorf("%s: connection neither answered nor closed within %v", what, refuseDeadline)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		t.Errorf("%s: read %d bytes, error %v; want the connection closed", what, n, err)
	}
}

// testOutOfDescriptors lowers the broker's descriptor limit to a little
// above what it uses, opens connections until the broker cannot accept the
// next one, frees them, and wants that connection (and a new one) served.
func testOutOfDescriptors(t *testing.T, c *cluster.Cluster) {
	const acceptFailure = "cannot accept connections; retrying"
	pid := brokerPID(t, c, 1)
	addr := c.BrokerAddr(1)
	failuresLogged := strings.Count(c.BrokerLog(1), acceptFailure)

	inUse := openDescriptors(t, pid)
	var limit, old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatalf("read the broker's descriptor limit: %v", err)
	}
	const headroom = 16
	limit = unix.Rlimit{Cur: uint64(inUse + headroom), Max: old.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &limit, nil); err != nil {
		t.Fatalf("lower the broker's descriptor limit to %d: %v", limit.Cur, err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil); err != nil {
				t.Errorf("restore the broker's descriptor limit: %v", err)
			}
		}
	}
	defer restore()
	t.Logf("broker uses %d descriptors; limit lowered to %d", inUse, limit.Cur)

	// Open connections until the broker logs that it cannot accept. Linux
	// takes the descriptor before it looks for a pending connection, so
	// that happens as soon as the last descriptor is taken, whether or not
	// a connection waits; each connection is served until then.
	var held []net.Conn
	defer func() {
		for _, conn := range held {
			conn.Close()
		}
	}()
	outOfDescriptors := func() bool { return strings.Count(c.BrokerLog(1), acceptFailure) > failuresLogged }
	for !outOfDescriptors() {
		if len(held) > 4*headroom {
			t.Fatalf("%d connections served under a limit of %d descriptors", len(held), limit.Cur)
		}
		conn := sendAPIVersions(t, addr)
		held = append(held, conn)
		deadline := time.Now().Add(30 * time.Second)
		for !outOfDescriptors() {
			conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if answered(t, conn) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("connection %d neither served nor refused for want of descriptors", len(held))
			}
		}
	}
	t.Logf("broker out of descriptors after %d connections", len(held))

	// This one waits in the listen backlog while the others are held.
	pending := sendAPIVersions(t, addr)
	defer pending.Close()
	for _, conn := range held {
		conn.Close()
	}
	held = nil
	pending.SetReadDeadline(time.Now().Add(30 * time.Second))
	if !answered(t, pending) {
		t.Fatal("a connection made while the broker was out of descriptors was not served once they were freed")
	}
	restore()
	fresh := sendAPIVersions(t, addr)
	defer fresh.Close()
	fresh.SetReadDeadline(time.Now().Add(30 * time.Second))
	if !answered(t, fresh) {
		t.Fatal("a new connection was not served after the broker ran out of descriptors")
	}
	series := `kzoo_listener_accept_errors_total{listener="PLAINTEXT"}`
	if got := scrapeMetrics(t, c.MetricsAddr(1))[series]; got < 1 {
		t.Errorf("%s = %v, want the failed accepts counted", series, got)
	}
}

// openDescriptors counts the open file descriptors of process pid.
func openDescriptors(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("list the broker's descriptors: %v", err)
	}
	return len(fds)
}

// sendAPIVersions connects to addr and sends an ApiVersions v3 request.
func sendAPIVersions(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName = "kzoo-e2e"
	req.ClientSoftwareVersion = "1"
	msg := kmsg.NewRequestFormatter(kmsg.FormatterClientID("e2e")).AppendRequest(nil, req, 1)
	if _, err := conn.Write(msg); err != nil {
		conn.Close()
		t.Fatalf("send ApiVersions: %v", err)
	}
	return conn
}

// answered reads the ApiVersions response on conn: true once it has
// arrived, false if conn's read deadline passed first. Any other outcome
// fails the test.
func answered(t *testing.T, conn net.Conn) bool {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		t.Fatalf("read ApiVersions response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatalf("read ApiVersions response: %v", err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3)
	if err := resp.ReadFrom(body[4:]); err != nil { // header v0: correlation id only
		t.Fatalf("decode ApiVersions response: %v", err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions answered error code %d", resp.ErrorCode)
	}
	return true
}
