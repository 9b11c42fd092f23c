package cluster

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// ensembleTestPortOffset is TestEnsemble's port offset. It is not 21000, as
// first planned: that overlaps with the coordinator tests' 20000.
const ensembleTestPortOffset = 21500

// TestEnsemble starts a ZooKeeper-only cluster and checks that every node
// serves the same data, that the ensemble keeps taking writes with one node
// stopped, and that the node catches up once restarted.
func TestEnsemble(t *testing.T) {
	c := Start(t, Options{PortOffset: ensembleTestPortOffset})

	if got, want := c.ZKConnect(), "127.0.0.1:23681,127.0.0.1:23682,127.0.0.1:23683"; got != want {
		t.Errorf("ZKConnect() = %q, want %q", got, want)
	}
	if ids := c.BrokerIDs(); len(ids) != 0 {
		t.Errorf("BrokerIDs() = %v for a cluster without brokers", ids)
	}

	conns := make(map[int]*zk.Conn)
	for n := 1; n <= zkNodes; n++ {
		conns[n] = connect(t, c.ZKAddr(n))
	}
	const root = "/harness-test"
	create(t, conns[1], root, "written through zk-1")
	for n := 2; n <= zkNodes; n++ {
		expectData(t, conns[n], root, "written through zk-1")
	}

	conns[2].Close()
	if err := c.StopZK(2); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", c.ZKAddr(2), time.Second); err == nil {
		conn.Close()
		t.Fatal("zk-2 still accepts connections after StopZK")
	}
	// Two of three nodes are a quorum: both still take writes.
	written := map[string]string{
		root + "/via-zk-1": "written through zk-1 while zk-2 was down",
		root + "/via-zk-3": "written through zk-3 while zk-2 was down",
	}
	create(t, conns[1], root+"/via-zk-1", written[root+"/via-zk-1"])
	create(t, conns[3], root+"/via-zk-3", written[root+"/via-zk-3"])
	expectData(t, conns[3], root+"/via-zk-1", written[root+"/via-zk-1"])
	expectData(t, conns[1], root+"/via-zk-3", written[root+"/via-zk-3"])

	if err := c.StartZK(2); err != nil {
		t.Fatal(err)
	}
	restarted := connect(t, c.ZKAddr(2))
	for path, data := range written {
		expectData(t, restarted, path, data)
	}
}

// connect opens a session with the single ZooKeeper server at addr.
func connect(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	conn, events, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogger(discardLogger{}))
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(conn.Close)
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return conn
			}
		case <-timeout:
			t.Fatalf("no session with %s within 30s (state %v)", addr, conn.State())
		}
	}
}

func create(t *testing.T, conn *zk.Conn, path, data string) {
	t.Helper()
	if _, err := conn.Create(path, []byte(data), zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create %s through %s: %v", path, conn.Server(), err)
	}
}

// expectData checks path's data as seen by conn's server, after syncing that
// server with the leader (a follower may otherwise answer with older data).
func expectData(t *testing.T, conn *zk.Conn, path, want string) {
	t.Helper()
	if _, err := conn.Sync(path); err != nil {
		t.Fatalf("sync %s through %s: %v", path, conn.Server(), err)
	}
	got, _, err := conn.Get(path)
	if err != nil {
		t.Fatalf("get %s through %s: %v", path, conn.Server(), err)
	}
	if string(got) != want {
		t.Fatalf("%s through %s = %q, want %q", path, conn.Server(), got, want)
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func TestOptionsValidate(t *testing.T) {
	valid := []Options{
		{},
		{Brokers: 5, PortOffset: 40000},
		{Brokers: 3, Env: map[string]string{"KZOO_LOG_SEGMENT_BYTES": "1048576"}},
	}
	for _, opts := range valid {
		if err := opts.validate(); err != nil {
			t.Errorf("%+v: %v", opts, err)
		}
	}
	invalid := []Options{
		{Brokers: -1},
		{Brokers: 6},
		{PortOffset: -1},
		{PortOffset: 60000},
		{Env: map[string]string{"KZOO_HOME": "/elsewhere"}},
		{Env: map[string]string{"BROKERS": "2"}},
		{Env: map[string]string{"KZOO_SECURE": "1"}},
		{Env: map[string]string{"A=B": "c"}},
		{Env: map[string]string{"": "c"}},
	}
	for _, opts := range invalid {
		if err := opts.validate(); err == nil {
			t.Errorf("%+v: no error", opts)
		}
	}
}

func TestScriptEnv(t *testing.T) {
	base := []string{"PATH=/usr/bin", "KZOO_LOG_SEGMENT_BYTES=1", "BROKERS=5", "KZOO_HOME=/mine", "HOME=/root"}
	opts := Options{Brokers: 2, PortOffset: 300, Env: map[string]string{"KZOO_NUM_PARTITIONS": "4", "KZOO_AUTO_CREATE_TOPICS_ENABLE": "false"}}
	got := scriptEnv(base, "/tmp/home", "/tmp/bin", opts)
	want := []string{
		"PATH=/usr/bin",
		"HOME=/root",
		"KZOO_HOME=/tmp/home",
		"BROKERS=2",
		"KZOO_PORT_OFFSET=300",
		"KZOO_BIN=/tmp/bin",
		"KZOO_AUTO_CREATE_TOPICS_ENABLE=false",
		"KZOO_NUM_PARTITIONS=4",
	}
	if !slices.Equal(got, want) {
		t.Errorf("scriptEnv() =\n%q\nwant\n%q", got, want)
	}
	if got := scriptEnv(base, "/tmp/home", "", Options{}); slices.ContainsFunc(got, func(kv string) bool {
		return strings.HasPrefix(kv, "KZOO_BIN=") || strings.HasPrefix(kv, "KZOO_SECURE=")
	}) {
		t.Errorf("scriptEnv() without binaries or Secure sets KZOO_BIN or KZOO_SECURE: %q", got)
	}
	if got := scriptEnv(append(base, "KZOO_SECURE=1"), "/tmp/home", "", Options{}); slices.Contains(got, "KZOO_SECURE=1") {
		t.Errorf("scriptEnv() passes the caller's KZOO_SECURE on: %q", got)
	}
	if got := scriptEnv(base, "/tmp/home", "", Options{Secure: true}); !slices.Contains(got, "KZOO_SECURE=1") {
		t.Errorf("scriptEnv() with Secure lacks KZOO_SECURE=1: %q", got)
	}
}

func TestAddresses(t *testing.T) {
	c := &Cluster{opts: Options{PortOffset: 100}, brokers: []int{1, 2}}
	if got, want := c.ZKConnect(), "127.0.0.1:2281,127.0.0.1:2282,127.0.0.1:2283"; got != want {
		t.Errorf("ZKConnect() = %q, want %q", got, want)
	}
	if got, want := c.BrokerAddr(3), "127.0.0.1:9194"; got != want {
		t.Errorf("BrokerAddr(3) = %q, want %q", got, want)
	}
	if got, want := c.Bootstrap(), []string{"127.0.0.1:9192", "127.0.0.1:9193"}; !slices.Equal(got, want) {
		t.Errorf("Bootstrap() = %q, want %q", got, want)
	}
	if got, want := c.MetricsAddr(2), "127.0.0.1:9745"; got != want {
		t.Errorf("MetricsAddr(2) = %q, want %q", got, want)
	}
	if got, want := c.ConsoleAddr(2), "127.0.0.1:9750"; got != want {
		t.Errorf("ConsoleAddr(2) = %q, want %q", got, want)
	}
	if got, want := c.SSLAddr(2), "127.0.0.1:9402"; got != want {
		t.Errorf("SSLAddr(2) = %q, want %q", got, want)
	}
	if got, want := c.SSLBootstrap(), []string{"127.0.0.1:9401", "127.0.0.1:9402"}; !slices.Equal(got, want) {
		t.Errorf("SSLBootstrap() = %q, want %q", got, want)
	}
}

func TestBrokerIDValidation(t *testing.T) {
	c := &Cluster{tb: t}
	for _, id := range []int{0, 6, -1} {
		if err := c.StopBroker(id); err == nil {
			t.Errorf("StopBroker(%d): no error", id)
		}
	}
	for _, n := range []int{0, 4} {
		if err := c.StartZK(n); err == nil {
			t.Errorf("StartZK(%d): no error", n)
		}
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		data string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb"},
		{"a\n\nb\n", 2, "\nb"},
	}
	for _, tt := range tests {
		if got := lastLines([]byte(tt.data), tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.data, tt.n, got, tt.want)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if !declaresModule(filepath.Join(root, "go.mod")) {
		t.Errorf("RepoRoot() = %s, whose go.mod does not declare %s", root, modulePath)
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "cluster")); err != nil {
		t.Errorf("RepoRoot() = %s without scripts/cluster: %v", root, err)
	}
}

func TestRemoveStaleBinDirs(t *testing.T) {
	tmp := t.TempDir()
	stale := filepath.Join(tmp, binDirPrefix+"stale")
	fresh := filepath.Join(tmp, binDirPrefix+"fresh")
	other := filepath.Join(tmp, "unrelated")
	for _, dir := range []string{stale, fresh, other} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleBinDirAge)
	for _, dir := range []string{stale, other} {
		if err := os.Chtimes(dir, old, old); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleBinDirs(tmp, time.Now().Add(-staleBinDirAge))
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale build directory not removed (stat: %v)", err)
	}
	for _, dir := range []string{fresh, other} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s removed: %v", dir, err)
		}
	}
}

// TestPortOffsetsDisjoint checks that the clusters of different test
// packages, which run in parallel, never want the same port: it reads every
// `PortOffset: <n>` in the repository's Go files.
func TestPortOffsetsDisjoint(t *testing.T) {
	if shared := intersection(ports(20000), ports(21000)); len(shared) == 0 {
		t.Fatal("offsets 20000 and 21000 share no port; the check below would miss overlaps")
	}
	// Every address the harness hands out is among the ports compared.
	c := &Cluster{opts: Options{PortOffset: 20000}}
	addrs := []string{c.ZKConnect()}
	for id := 1; id <= maxBrokers; id++ {
		addrs = append(addrs, c.BrokerAddr(id), c.MetricsAddr(id), c.ConsoleAddr(id), c.SSLAddr(id))
	}
	for _, addr := range strings.Split(strings.Join(addrs, ","), ",") {
		_, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if port, _ := strconv.Atoi(portStr); !slices.Contains(ports(20000), port) {
			t.Errorf("ports(20000) misses %s", addr)
		}
	}

	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	type use struct {
		dir    string
		offset int
	}
	uses := []use{{filepath.Join("e2e", "cluster"), ensembleTestPortOffset}, {filepath.Join("e2e", "cluster"), runTestPortOffset}}
	literal := regexp.MustCompile(`PortOffset:\s*(\d+)`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			// This package's own literals are unit-test inputs, not clusters.
			if (strings.HasPrefix(d.Name(), ".") && rel != ".") || d.Name() == "testdata" || rel == filepath.Join("e2e", "cluster") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(data), -1) {
			offset, err := strconv.Atoi(m[1])
			if err != nil {
				return err
			}
			uses = append(uses, use{filepath.Dir(rel), offset})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Linux hands out ports from 32768 up to outgoing connections, which
	// could hold a port a cluster is about to (re)bind.
	const ephemeralStart = 32768
	for _, u := range uses {
		if top := slices.Max(ports(u.offset)); top >= ephemeralStart {
			t.Errorf("port offset %d (%s) uses port %d, in the ephemeral range from %d", u.offset, u.dir, top, ephemeralStart)
		}
	}
	for i, a := range uses {
		for _, b := range uses[i+1:] {
			if a.dir == b.dir {
				continue // tests of one package run one after another
			}
			if shared := intersection(ports(a.offset), ports(b.offset)); len(shared) > 0 {
				t.Errorf("port offset %d (%s) and %d (%s) share ports %v", a.offset, a.dir, b.offset, b.dir, shared)
			}
		}
	}
}

func intersection(a, b []int) []int {
	var shared []int
	for _, p := range a {
		if slices.Contains(b, p) {
			shared = append(shared, p)
		}
	}
	return shared
}
