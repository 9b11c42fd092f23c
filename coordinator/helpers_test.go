package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// waitTimeout bounds every wait for the cluster to react; changes normally show
// within a second.
const waitTimeout = 20 * time.Second

// waitFor is poll.UntilSaw with waitTimeout: it polls cond until it holds,
// failing the test with the last description cond gave of what it saw.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	poll.UntilSaw(t, waitTimeout, what, cond)
}

// waitForTopicGone waits until a deleted topic's znodes are all gone: its
// assignment, its config and the deletion request.
func waitForTopicGone(t *testing.T, in *inspector, topic string) {
	t.Helper()
	waitFor(t, "every znode of "+topic+" to go", func() (bool, string) {
		for _, p := range []string{zkpaths.TopicPath(topic), zkpaths.TopicConfigPath(topic), zkpaths.DeleteTopicPath(topic)} {
			if in.exists(p) {
				return false, p + " exists"
			}
		}
		return true, ""
	})
}

// waitForController waits until broker id is the controller.
func waitForController(t *testing.T, in *inspector, id int32) {
	t.Helper()
	waitFor(t, fmt.Sprintf("broker %d to be controller", id), func() (bool, string) {
		controller, _ := in.controller()
		return controller == id, fmt.Sprint(controller)
	})
}

// testLogWriter sends log lines to the test log until the test ends; the
// ZooKeeper client's goroutines may outlive it by a moment.
type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t *testing.T) logrus.FieldLogger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	log := logrus.New()
	log.Out = w
	log.Level = logrus.InfoLevel
	return log
}

// zkEnv is one test's namespace in the shared ensemble: a chroot of its own, so
// that tests do not see each other's brokers, controller or topics.
type zkEnv struct {
	servers []string
	chroot  string
	log     logrus.FieldLogger
}

func newEnv(t *testing.T, connect string) *zkEnv {
	return &zkEnv{
		servers: strings.Split(connect, ","),
		chroot:  "/" + strings.ReplaceAll(t.Name(), "/", "-"),
		log:     testLogger(t),
	}
}

func (e *zkEnv) config(id int32) Config {
	return Config{
		BrokerID:          id,
		Connect:           strings.Join(e.servers, ",") + e.chroot,
		SessionTimeout:    6 * time.Second,
		ConnectionTimeout: 15 * time.Second,
		Endpoints:         []Endpoint{{"PLAINTEXT", "PLAINTEXT", "127.0.0.1", 9000 + id}},
		Logger:            e.log.WithField("test_broker", id),
	}
}

// start starts a session that the test closes when it ends (tests may close it
// earlier).
func (e *zkEnv) start(t *testing.T, cfg Config) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start broker %d: %v", cfg.BrokerID, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close broker %d: %v", cfg.BrokerID, err)
		}
	})
	return s
}

// startBrokers starts brokers 1 to n, as start does.
func (e *zkEnv) startBrokers(t *testing.T, n int32) map[int32]*Session {
	t.Helper()
	sessions := make(map[int32]*Session, n)
	for id := int32(1); id <= n; id++ {
		sessions[id] = e.start(t, e.config(id))
	}
	return sessions
}

// inspector reads the test's namespace with a plain ZooKeeper client, to check
// what the sessions wrote.
type inspector struct {
	t      *testing.T
	conn   *zk.Conn
	chroot string
}

func (e *zkEnv) inspector(t *testing.T) *inspector {
	t.Helper()
	conn, events, err := zk.Connect(e.servers, 10*time.Second, zk.WithLogger(zkLogger{e.log}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	deadline := time.After(waitTimeout)
	for connected := false; !connected; {
		select {
		case ev := <-events:
			connected = ev.State == zk.StateHasSession
		case <-deadline:
			t.Fatal("inspector: no ZooKeeper session")
		}
	}
	if err := ensureAbsPath(conn, e.chroot, openACL); err != nil {
		t.Fatal(err)
	}
	return &inspector{t: t, conn: conn, chroot: e.chroot}
}

// sync makes the inspector's server catch up with the ensemble's leader, so
// that a read sees every write the sessions made before it (ZooKeeper orders
// each client's view, but different clients may talk to servers that lag).
func (in *inspector) sync() {
	in.t.Helper()
	// The inspector's server may be the one a test just stopped: the
	// client moves to another, and the sync is tried again there.
	var err error
	poll.Wait(waitTimeout, func() (bool, string) {
		_, err = in.conn.Sync(in.chroot)
		return err == nil || !isConnectionLoss(err), ""
	})
	if err != nil {
		in.t.Fatalf("sync: %v", err)
	}
}

func (in *inspector) get(p string) ([]byte, *zk.Stat, error) {
	in.sync()
	return in.conn.Get(in.chroot + p)
}

func (in *inspector) children(p string) []string {
	in.t.Helper()
	in.sync()
	names, _, err := in.conn.Children(in.chroot + p)
	if err != nil {
		in.t.Fatalf("children %s: %v", p, err)
	}
	return names
}

func (in *inspector) mustGet(p string) ([]byte, *zk.Stat) {
	in.t.Helper()
	data, stat, err := in.get(p)
	if err != nil {
		in.t.Fatalf("get %s: %v", p, err)
	}
	return data, stat
}

func (in *inspector) exists(p string) bool {
	in.t.Helper()
	in.sync()
	ok, _, err := in.conn.Exists(in.chroot + p)
	if err != nil {
		in.t.Fatalf("exists %s: %v", p, err)
	}
	return ok
}

func (in *inspector) partitionState(topic string, partition int32) (zkpaths.PartitionState, *zk.Stat, bool) {
	in.t.Helper()
	data, stat, err := in.get(zkpaths.PartitionStatePath(topic, partition))
	if errors.Is(err, zk.ErrNoNode) {
		return zkpaths.PartitionState{}, nil, false
	}
	if err != nil {
		in.t.Fatalf("get state of %s-%d: %v", topic, partition, err)
	}
	s, err := zkpaths.UnmarshalPartitionState(data)
	if err != nil {
		in.t.Fatalf("state of %s-%d: %v", topic, partition, err)
	}
	return s, stat, true
}

func (in *inspector) controller() (id int32, epoch int32) {
	in.t.Helper()
	id = -1
	if data, _, err := in.get(zkpaths.ControllerPath); err == nil {
		reg, err := zkpaths.UnmarshalControllerRegistration(data)
		if err != nil {
			in.t.Fatal(err)
		}
		id = reg.BrokerID
	}
	if data, _, err := in.get(zkpaths.ControllerEpochPath); err == nil {
		if epoch, err = zkpaths.UnmarshalControllerEpoch(data); err != nil {
			in.t.Fatal(err)
		}
	}
	return id, epoch
}

// tcpProxy forwards connections to one ZooKeeper server and can cut the
// client off, so that its session really expires on the server.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

func newProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: make(map[net.Conn]bool)}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(client) {
			client.Close()
			continue
		}
		p.wg.Add(1)
		go p.forward(client)
	}
}

// track registers a connection unless the proxy is blocked.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *tcpProxy) forward(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(server) {
		return
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(server, client)
		server.Close()
	}()
	_, _ = io.Copy(client, server)
	client.Close()
	<-copied
}

// setBlocked cuts every connection and refuses new ones while blocked.
func (p *tcpProxy) setBlocked(blocked bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = blocked
	if blocked {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *tcpProxy) close() {
	p.ln.Close()
	p.setBlocked(true)
	p.wg.Wait()
}

// startBehindProxy starts a broker that talks to the ZooKeeper node at zkAddr
// through a proxy the test can cut, with a session timeout short enough for
// a cut to expire the session soon.
func (e *zkEnv) startBehindProxy(t *testing.T, id int32, zkAddr string) (*Session, *tcpProxy) {
	t.Helper()
	proxy := newProxy(t, zkAddr)
	cfg := e.config(id)
	cfg.Connect = proxy.addr() + e.chroot
	cfg.SessionTimeout = 2 * time.Second
	return e.start(t, cfg), proxy
}

// viewPartition is a partition in s's snapshot, or a zero Partition with
// leader -2 (matching no expected state) while the topic is not in view yet.
func viewPartition(s *Session, topic string, partition int32) Partition {
	t := s.Snapshot().Topics[topic]
	if t == nil || int(partition) >= len(t.Partitions) {
		return Partition{Topic: topic, Partition: partition, Leader: -2}
	}
	return t.Partitions[partition]
}

// waitForState waits until a partition's state znode matches.
func waitForState(t *testing.T, in *inspector, topic string, partition int32, want zkpaths.PartitionState) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s-%d to be %+v", topic, partition, want), func() (bool, string) {
		got, _, ok := in.partitionState(topic, partition)
		if !ok {
			return false, "no state znode"
		}
		if want.ControllerEpoch == 0 {
			got.ControllerEpoch = 0
		}
		return reflect.DeepEqual(got, want), fmt.Sprintf("%+v", got)
	})
}
