// Package cluster starts a local kzoo cluster for end-to-end tests: a
// three-node ZooKeeper ensemble and kzoo brokers, each a separate process on
// 127.0.0.1. It is a thin wrapper over scripts/cluster, so that tests and
// people at a terminal run the cluster the same way.
//
// Every cluster lives in its own t.TempDir() and is stopped when its test
// ends. Clusters bind fixed ports (see Options.PortOffset), so two clusters
// may run at once only with different offsets: give each test package its
// own offset and do not run its cluster tests in parallel.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	modulePath = "github.com/kzoo/kzoo"

	zkNodes    = 3
	maxBrokers = 5

	// Ports of ZooKeeper node n are base+n, of broker id brokerPortBase+id,
	// of its metrics endpoint metricsPortBase+id and of its web console
	// consolePortBase+id, before the offset, as in scripts/cluster.
	zkClientPortBase   = 2180
	zkQuorumPortBase   = 2887
	zkElectionPortBase = 3887
	brokerPortBase     = 9091
	metricsPortBase    = 9643
	consolePortBase    = 9648
	// The mTLS listener of broker id in a secured cluster.
	sslPortBase = 9300
	// The highest base port scripts/cluster uses.
	maxBasePort = consolePortBase + maxBrokers

	// How long one scripts/cluster command may take. The script has its own,
	// shorter deadlines (60 s to come up, 30 s before SIGKILL); these only
	// make sure that a test never hangs on it.
	upTimeout      = 4 * time.Minute
	commandTimeout = 2 * time.Minute
	buildTimeout   = 10 * time.Minute

	// How many lines of each log a failed test prints.
	logTailLines = 60
)

// settingNames are the scripts/cluster settings that Start derives from
// Options; Options.Env may not set them, and the caller's environment never
// leaks them in.
var settingNames = []string{"KZOO_HOME", "BROKERS", "KZOO_PORT_OFFSET", "KZOO_BIN", "KZOO_SECURE"}

// Options describes the cluster to start.
type Options struct {
	// Brokers is the number of brokers, 0 to 5; with 0 only the ZooKeeper
	// ensemble runs. Brokers get ids 1..Brokers.
	Brokers int
	// PortOffset is added to every port (KZOO_PORT_OFFSET). Each test
	// package uses its own, and the ports of different packages' offsets
	// must not overlap: offsets 1000 apart do, as one cluster's quorum
	// ports are then the other's election ports (TestPortOffsetsDisjoint
	// checks the offsets in the repository). Offsets up to 23100 keep every
	// port below Linux's default ephemeral range (32768 and up), where a
	// port can be taken at any moment by some outgoing connection.
	PortOffset int
	// Env is extra environment for the brokers: KZOO_<KEY> settings such as
	// KZOO_LOG_SEGMENT_BYTES. Variables KZOO_* and BROKERS of the test
	// process itself are not passed on.
	Env map[string]string
	// Secure runs a secured cluster (KZOO_SECURE=1 of scripts/cluster):
	// SASL_SSL with SCRAM on BrokerAddr, mTLS on SSLAddr, the ACL authorizer
	// with super users User:admin and User:broker, and ZooKeeper secured.
	// The Secure* accessors give what clients need.
	Secure bool
}

func (o Options) validate() error {
	if o.Brokers < 0 || o.Brokers > maxBrokers {
		return fmt.Errorf("Brokers must be between 0 and %d, got %d", maxBrokers, o.Brokers)
	}
	if o.PortOffset < 0 || o.PortOffset+maxBasePort > 65535 {
		return fmt.Errorf("PortOffset %d puts ports outside 1-65535", o.PortOffset)
	}
	for name := range o.Env {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return fmt.Errorf("invalid environment variable name %q", name)
		}
		if slices.Contains(settingNames, name) {
			return fmt.Errorf("Env may not set %s; it follows from Options", name)
		}
	}
	return nil
}

// Cluster is a running local cluster. Its methods may be called from the
// test's goroutines; they are safe for concurrent use.
type Cluster struct {
	tb     testing.TB
	opts   Options
	repo   string
	home   string
	script string

	mu      sync.Mutex
	env     []string // environment of scripts/cluster
	bin     string   // KZOO_BIN; empty until a broker is to be started
	brokers []int    // every broker id this cluster has started, ascending

	// What clients of a secured cluster need, read once it is up; nil
	// unless Options.Secure.
	secure *secureMaterial
}

// Start starts a cluster as described by opts and returns once every
// ZooKeeper node serves and every broker accepts connections. The test
// fails at once if the cluster does not come up. When the test ends the
// cluster is stopped; if the test failed, the end of every process's log is
// printed first.
//
// Start skips the test in -short mode.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipping: starts a ZooKeeper ensemble and broker processes")
	}
	if err := opts.validate(); err != nil {
		tb.Fatalf("cluster.Start: %v", err)
	}
	repo, err := RepoRoot()
	if err != nil {
		tb.Fatalf("cluster.Start: %v", err)
	}
	c := &Cluster{
		tb:     tb,
		opts:   opts,
		repo:   repo,
		home:   tb.TempDir(),
		script: filepath.Join(repo, "scripts", "cluster"),
	}
	c.env = scriptEnv(os.Environ(), c.home, "", opts)
	// A secured cluster writes its SCRAM users with the kzoo CLI before
	// any broker starts.
	if opts.Brokers > 0 || opts.Secure {
		if err := c.ensureBinaries(); err != nil {
			tb.Fatalf("cluster.Start: %v", err)
		}
	}
	for id := 1; id <= opts.Brokers; id++ {
		c.brokers = append(c.brokers, id)
	}
	c.stopLeftover()
	// Registered before `up`, so that whatever a failed start left running is
	// stopped too, and after TempDir, so that it runs before the directory is
	// removed.
	tb.Cleanup(c.cleanup)
	if err := c.run(upTimeout, "up"); err != nil {
		tb.Fatalf("start cluster: %v", err)
	}
	if opts.Secure {
		if c.secure, err = loadSecureMaterial(filepath.Join(c.home, "secure")); err != nil {
			tb.Fatalf("start cluster: %v", err)
		}
	}
	return c
}

// ZKConnect returns the ensemble's connect string, as in zookeeper.connect:
// "127.0.0.1:a,127.0.0.1:b,127.0.0.1:c".
func (c *Cluster) ZKConnect() string {
	addrs := make([]string, 0, zkNodes)
	for n := 1; n <= zkNodes; n++ {
		addrs = append(addrs, c.ZKAddr(n))
	}
	return strings.Join(addrs, ",")
}

// ZKAddr returns the client address of ZooKeeper node n (1-3).
func (c *Cluster) ZKAddr(n int) string {
	return loopback(zkClientPortBase + n + c.opts.PortOffset)
}

// BrokerAddr returns the address of broker id (1-5).
func (c *Cluster) BrokerAddr(id int) string {
	return loopback(brokerPortBase + id + c.opts.PortOffset)
}

// MetricsAddr returns the address of broker id's (1-5) metrics endpoint,
// which serves the Prometheus text format at /metrics.
func (c *Cluster) MetricsAddr(id int) string {
	return loopback(metricsPortBase + id + c.opts.PortOffset)
}

// ConsoleAddr returns the address of broker id's (1-5) web console
// (console.listen), whose pages are at http://ConsoleAddr(id)/.
func (c *Cluster) ConsoleAddr(id int) string {
	return loopback(consolePortBase + id + c.opts.PortOffset)
}

// Bootstrap returns the addresses of the brokers in BrokerIDs.
func (c *Cluster) Bootstrap() []string {
	ids := c.BrokerIDs()
	addrs := make([]string, 0, len(ids))
	for _, id := range ids {
		addrs = append(addrs, c.BrokerAddr(id))
	}
	return addrs
}

// BrokerIDs returns the ids of the cluster's brokers: 1..Options.Brokers and
// any further broker added with StartBroker, whether running or not.
func (c *Cluster) BrokerIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.brokers)
}

// StopBroker sends broker id SIGTERM and waits until it has exited; it is
// killed if it has not exited after 30 s.
func (c *Cluster) StopBroker(id int) error {
	c.tb.Helper()
	return c.runOn("stop-broker", id, checkBrokerID)
}

// KillBroker sends broker id SIGKILL and waits until it is gone.
func (c *Cluster) KillBroker(id int) error {
	c.tb.Helper()
	return c.runOn("kill-broker", id, checkBrokerID)
}

// StartBroker starts broker id and returns once it accepts connections. An
// id beyond Options.Brokers adds a broker to the cluster.
func (c *Cluster) StartBroker(id int) error {
	c.tb.Helper()
	if err := checkBrokerID(id); err != nil {
		return err
	}
	if err := c.ensureBinaries(); err != nil {
		return fmt.Errorf("start broker %d: %w", id, err)
	}
	if err := c.run(commandTimeout, "start-broker", strconv.Itoa(id)); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.brokers, id) {
		c.brokers = append(c.brokers, id)
		slices.Sort(c.brokers)
	}
	return nil
}

// StopZK stops ZooKeeper node n (1-3) and waits until it has exited.
func (c *Cluster) StopZK(n int) error {
	c.tb.Helper()
	return c.runOn("stop-zk", n, checkZKNode)
}

// StartZK starts ZooKeeper node n (1-3) and returns once it serves, or, if
// too few nodes run to form a quorum, once it answers.
func (c *Cluster) StartZK(n int) error {
	c.tb.Helper()
	return c.runOn("start-zk", n, checkZKNode)
}

// BrokerLog returns everything broker id has logged, across restarts; each
// start begins with a line "===== <time>: cluster starting broker-<id> =====".
// It returns "" if the broker has no log.
func (c *Cluster) BrokerLog(id int) string {
	data, err := os.ReadFile(c.logPath(fmt.Sprintf("broker-%d", id)))
	if err != nil {
		return ""
	}
	return string(data)
}

// BrokerPID returns the process id of broker id, as scripts/cluster
// recorded it when it started the broker.
func (c *Cluster) BrokerPID(id int) (int, error) {
	data, err := os.ReadFile(filepath.Join(c.home, fmt.Sprintf("broker-%d", id), "pid"))
	if err != nil {
		return 0, fmt.Errorf("pid of broker %d: %w", id, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file of broker %d holds %q", id, data)
	}
	return pid, nil
}

// Home returns the cluster's state directory (KZOO_HOME): logs, pid files
// and the data of every process.
func (c *Cluster) Home() string {
	return c.home
}

// Binary returns the path of a binary built for the cluster ("kzoo" for
// the CLI, "kzoo-broker"), building them if no broker has needed them yet.
func (c *Cluster) Binary(name string) (string, error) {
	if err := c.ensureBinaries(); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return filepath.Join(c.bin, name), nil
}

// ensureBinaries builds the broker and CLI binaries, once per test process,
// and points the cluster's KZOO_BIN at them.
func (c *Cluster) ensureBinaries() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bin != "" {
		return nil
	}
	bin, err := buildBinaries(c.repo)
	if err != nil {
		return err
	}
	c.bin = bin
	c.env = scriptEnv(os.Environ(), c.home, bin, c.opts)
	return nil
}

func (c *Cluster) cleanup() {
	c.tb.Helper()
	if c.tb.Failed() {
		c.logTails()
	}
	if err := c.run(commandTimeout, "down"); err != nil {
		c.tb.Errorf("stop cluster: %v", err)
		return
	}
	c.forgetHome()
}

// A test process that dies before its cleanup runs (Ctrl-C, a test timeout)
// leaves its cluster running, holding the ports of its offset, and every
// later cluster at that offset would fail to start. So Start notes each
// cluster's home in a file named after the offset, and first stops the
// cluster noted there. scripts/cluster signals only processes whose command
// line names that home, so nothing else is touched.

func (c *Cluster) homeRecord() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("kzoo-e2e-cluster-uid%d-offset%d", os.Getuid(), c.opts.PortOffset))
}

// stopLeftover stops the cluster noted for this offset, if any, and notes
// this cluster instead.
func (c *Cluster) stopLeftover() {
	c.tb.Helper()
	record := c.homeRecord()
	if data, err := os.ReadFile(record); err == nil {
		home := strings.TrimSpace(string(data))
		if _, err := os.Stat(home); err == nil && home != c.home {
			c.tb.Logf("stopping a cluster left running at port offset %d by an earlier test process (home %s)", c.opts.PortOffset, home)
			env := scriptEnv(os.Environ(), home, "", Options{PortOffset: c.opts.PortOffset})
			if err := c.runWithEnv(commandTimeout, env, "down"); err != nil {
				c.tb.Logf("stop leftover cluster: %v", err)
			}
		}
	}
	if err := os.WriteFile(record, []byte(c.home+"\n"), 0o644); err != nil {
		c.tb.Logf("note cluster home: %v", err)
	}
}

// forgetHome removes the note stopLeftover made, unless a later cluster
// has replaced it.
func (c *Cluster) forgetHome() {
	record := c.homeRecord()
	if data, err := os.ReadFile(record); err == nil && strings.TrimSpace(string(data)) == c.home {
		if err := os.Remove(record); err != nil {
			c.tb.Logf("remove %s: %v", record, err)
		}
	}
}

// logTails prints the end of every log in the cluster's home.
func (c *Cluster) logTails() {
	c.tb.Helper()
	names := make([]string, 0, zkNodes+maxBrokers)
	for n := 1; n <= zkNodes; n++ {
		names = append(names, fmt.Sprintf("zk-%d", n))
	}
	for id := 1; id <= maxBrokers; id++ {
		names = append(names, fmt.Sprintf("broker-%d", id))
	}
	for _, name := range names {
		data, err := os.ReadFile(c.logPath(name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			c.tb.Logf("read log of %s: %v", name, err)
			continue
		}
		c.tb.Logf("---- last lines of %s ----\n%s", name, lastLines(data, logTailLines))
	}
}

func (c *Cluster) logPath(name string) string {
	kind, _, _ := strings.Cut(name, "-")
	return filepath.Join(c.home, name, kind+".log")
}

// run runs scripts/cluster with args. The script's output is logged, so that
// a failing test shows what the cluster did.
func (c *Cluster) run(timeout time.Duration, args ...string) error {
	c.tb.Helper()
	c.mu.Lock()
	env := c.env
	c.mu.Unlock()
	return c.runWithEnv(timeout, env, args...)
}

// runOn runs a scripts/cluster command on one process, broker id or
// ZooKeeper node n, once check has accepted the number.
func (c *Cluster) runOn(command string, n int, check func(int) error) error {
	c.tb.Helper()
	if err := check(n); err != nil {
		return err
	}
	return c.run(commandTimeout, command, strconv.Itoa(n))
}

func (c *Cluster) runWithEnv(timeout time.Duration, env []string, args ...string) error {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{c.script}, args...)...)
	cmd.Dir = c.repo
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// The processes the script starts write to their own log files and never
	// hold its output open; this bounds the wait should one ever do so.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	command := strings.Join(append([]string{"scripts/cluster"}, args...), " ")
	c.tb.Logf("%s:\n%s", command, strings.TrimRight(out.String(), "\n"))
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no result within %v:\n%s", command, timeout, out.String())
	}
	if err != nil {
		return fmt.Errorf("%s: %w:\n%s", command, err, out.String())
	}
	return nil
}

// scriptEnv is the environment for scripts/cluster: base without any KZOO_*
// or BROKERS variable (a developer's shell settings must not change what a
// test runs), plus the cluster's settings and opts.Env in a fixed order.
func scriptEnv(base []string, home, bin string, opts Options) []string {
	env := make([]string, 0, len(base)+len(settingNames)+len(opts.Env))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "KZOO_") || name == "BROKERS" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"KZOO_HOME="+home,
		"BROKERS="+strconv.Itoa(opts.Brokers),
		"KZOO_PORT_OFFSET="+strconv.Itoa(opts.PortOffset),
	)
	if opts.Secure {
		env = append(env, "KZOO_SECURE=1")
	}
	if bin != "" {
		env = append(env, "KZOO_BIN="+bin)
	}
	names := make([]string, 0, len(opts.Env))
	for name := range opts.Env {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		env = append(env, name+"="+opts.Env[name])
	}
	return env
}

func checkBrokerID(id int) error {
	if id < 1 || id > maxBrokers {
		return fmt.Errorf("broker id must be between 1 and %d, got %d", maxBrokers, id)
	}
	return nil
}

func checkZKNode(n int) error {
	if n < 1 || n > zkNodes {
		return fmt.Errorf("ZooKeeper node must be between 1 and %d, got %d", zkNodes, n)
	}
	return nil
}

// ports returns every port a cluster at offset may listen on.
func ports(offset int) []int {
	var ps []int
	for n := 1; n <= zkNodes; n++ {
		ps = append(ps, zkClientPortBase+n+offset, zkQuorumPortBase+n+offset, zkElectionPortBase+n+offset, zkSecurePortBase+n+offset)
	}
	for id := 1; id <= maxBrokers; id++ {
		ps = append(ps, brokerPortBase+id+offset, metricsPortBase+id+offset, consolePortBase+id+offset, sslPortBase+id+offset)
	}
	return ps
}

func loopback(port int) string {
	return "127.0.0.1:" + strconv.Itoa(port)
}

// lastLines returns the last n lines of data.
func lastLines(data []byte, n int) string {
	data = bytes.TrimRight(data, "\n")
	end := len(data)
	for i := 0; i < n; i++ {
		j := bytes.LastIndexByte(data[:end], '\n')
		if j < 0 {
			return string(data)
		}
		end = j
	}
	return string(data[end+1:])
}

// RepoRoot returns the root of the kzoo module: the nearest directory above
// this source file, or else above the working directory, whose go.mod
// declares the module.
func RepoRoot() (string, error) {
	var starts []string
	// Without -trimpath the compiler records this file's absolute path.
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			if declaresModule(filepath.Join(dir, "go.mod")) {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", fmt.Errorf("no go.mod of module %s above %s", modulePath, strings.Join(starts, " or "))
}

// declaresModule reports whether the go.mod file at path declares modulePath.
func declaresModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}
