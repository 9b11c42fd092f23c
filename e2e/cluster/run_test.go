package cluster

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kzoo/kzoo/internal/poll"
)

// runTestPortOffset is TestRunStopsItsClusterHoweverItEnds's port offset.
const runTestPortOffset = 10300

// runReady is what `scripts/cluster run` prints once the cluster is up.
const runReady = "running; press Ctrl-C to stop"

// TestRunStopsItsClusterHoweverItEnds runs `scripts/cluster run` with its
// output (standard error too) into a pipe, as `make run |& tee run.log`
// does, ends it the ways a terminal user does, and checks that every
// process it started is gone and every port closed.
func TestRunStopsItsClusterHoweverItEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: starts a ZooKeeper ensemble and a broker process")
	}
	for _, tc := range []struct {
		name string
		// shell runs the script; its output goes where the case needs.
		shell string
		end   func(t *testing.T, r *runProcess)
	}{
		{
			// The terminal sends SIGINT to the whole foreground job: the
			// script, and tee, whose end closes the pipe the script is
			// about to report its stopping on.
			name:  "ctrl-c through tee",
			shell: `exec bash scripts/cluster run 2>&1 | tee "$KZOO_HOME/run.out" >/dev/null`,
			end:   func(t *testing.T, r *runProcess) { r.signalGroup(t, syscall.SIGINT) },
		},
		{
			name:  "terminal closed",
			shell: `exec bash scripts/cluster run 2>&1 | tee "$KZOO_HOME/run.out" >/dev/null`,
			end:   func(t *testing.T, r *runProcess) { r.signalGroup(t, syscall.SIGHUP) },
		},
		{
			// `run | head`: the reader exits; the script learns it on its
			// next write, which a line of the broker's log brings. The
			// reader waits on a FIFO before it exits, so that the test
			// reads the pid files before the script starts stopping.
			name: "reader exits",
			shell: `mkfifo "$KZOO_HOME/` + readerRelease + `" && exec bash scripts/cluster run 2>&1 | ` +
				`{ grep -m 1 -F "` + runReady + `" >"$KZOO_HOME/run.out"; read -r _ <"$KZOO_HOME/` + readerRelease + `"; }`,
			end: func(t *testing.T, r *runProcess) {
				r.releaseReader(t)
				r.provokeLogLines(t)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRun(t, tc.shell)
			pids := r.recordedPIDs(t)
			tc.end(t, r)
			r.waitExited(t)
			t.Logf("run's output ends:\n%s", lastLines([]byte(r.output()), 8))
			r.checkAllGone(t, pids)
		})
	}
}

// runProcess is a `scripts/cluster run` pipeline in its own process group,
// as a shell with job control runs a foreground job.
type runProcess struct {
	c   *Cluster
	cmd *exec.Cmd
	// exited is closed once the pipeline has exited, with waitErr set.
	exited  chan struct{}
	waitErr error
}

func startRun(t *testing.T, shell string) *runProcess {
	repo, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{
		tb:     t,
		opts:   Options{Brokers: 1, PortOffset: runTestPortOffset},
		repo:   repo,
		home:   t.TempDir(),
		script: filepath.Join(repo, "scripts", "cluster"),
	}
	c.brokers = []int{1}
	if err := c.ensureBinaries(); err != nil {
		t.Fatal(err)
	}
	c.stopLeftover()
	// Whatever the test leaves running, down stops; it runs after the
	// checks, so it does not hide what run left behind.
	t.Cleanup(c.cleanup)

	cmd := exec.Command("bash", "-c", shell)
	cmd.Dir = repo
	cmd.Env = c.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	restoreSignals := unignoreForChildren(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	err = cmd.Start()
	restoreSignals()
	if err != nil {
		t.Fatal(err)
	}
	r := &runProcess{c: c, cmd: cmd, exited: make(chan struct{})}
	go func() {
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		// A pipeline the test could not end: kill the group, so that the
		// test process does not wait on it.
		select {
		case <-r.exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-r.exited
		}
	})

	poll.UntilSaw(t, upTimeout, "run to report the cluster up", func() (bool, string) {
		if strings.Contains(r.output(), runReady) {
			return true, ""
		}
		select {
		case <-r.exited:
			t.Fatalf("run exited before the cluster was up: %v\n%s%s", r.waitErr, r.output(), stderr.String())
		default:
		}
		return false, "\n" + r.output()
	})
	return r
}

// output is what the pipeline's reader saved of run's output.
func (r *runProcess) output() string {
	data, _ := os.ReadFile(filepath.Join(r.c.home, "run.out"))
	return string(data)
}

// recordedPIDs returns the pid files of every process run started.
func (r *runProcess) recordedPIDs(t *testing.T) map[string]int {
	t.Helper()
	names := []string{"broker-1"}
	for n := 1; n <= zkNodes; n++ {
		names = append(names, fmt.Sprintf("zk-%d", n))
	}
	pids := make(map[string]int)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(r.c.home, name, "pid"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || !alive(pid) {
			t.Fatalf("%s: pid file %q names no running process", name, data)
		}
		pids[name] = pid
	}
	return pids
}

// readerRelease is the FIFO, in the cluster's home, on which the "reader
// exits" case's reader waits before it exits.
const readerRelease = "release-reader"

// releaseReader lets the reader waiting on readerRelease exit.
func (r *runProcess) releaseReader(t *testing.T) {
	t.Helper()
	opened := make(chan error, 1)
	go func() {
		// Opening a FIFO to write blocks until its reader opens it.
		f, err := os.OpenFile(filepath.Join(r.c.home, readerRelease), os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString("exit\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("release the reader: %v", err)
		}
	case <-r.exited:
		t.Fatal("run exited before its reader was released")
	case <-time.After(commandTimeout):
		t.Fatalf("the reader did not open %s within %v", readerRelease, commandTimeout)
	}
}

// signalGroup sends sig to the pipeline's process group, as a terminal does.
func (r *runProcess) signalGroup(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(-r.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("signal the pipeline: %v", err)
	}
}

// provokeLogLines makes the broker log a line now and then, by sending it
// requests it refuses, until the pipeline has exited.
func (r *runProcess) provokeLogLines(t *testing.T) {
	t.Helper()
	// A frame with an API key nobody serves: the broker closes the
	// connection and logs why.
	frame := []byte{0, 0, 0, 10, 0x7f, 0x7f, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	deadline := time.Now().Add(commandTimeout)
	for {
		if conn, err := net.DialTimeout("tcp", r.c.BrokerAddr(1), time.Second); err == nil {
			_, _ = conn.Write(frame)
			conn.Close()
		}
		select {
		case <-r.exited:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("run still running %v after its reader exited", commandTimeout)
		}
	}
}

// waitExited waits for the pipeline to end, and every process of its
// group: the shell may exit at once (on SIGHUP) while the script stops the
// cluster (its own stop timeout is 30 s) and its log followers end.
func (r *runProcess) waitExited(t *testing.T) {
	t.Helper()
	told := time.Now()
	select {
	case <-r.exited:
	case <-time.After(commandTimeout):
		t.Fatalf("run still running %v after it was told to end:\n%s", commandTimeout, lastLines([]byte(r.output()), logTailLines))
	}
	var left []string
	if _, ok := poll.Wait(commandTimeout-time.Since(told), func() (bool, string) {
		left = groupMembers(t, r.cmd.Process.Pid)
		return len(left) == 0, ""
	}); !ok {
		t.Fatalf("processes of run's group still running %v after it was told to end: %s", commandTimeout, strings.Join(left, "; "))
	}
}

// checkAllGone fails unless every process run started (pids) has exited
// and no port of the cluster accepts connections.
func (r *runProcess) checkAllGone(t *testing.T, pids map[string]int) {
	t.Helper()
	for name, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still running after run ended", name, pid)
		}
	}
	for _, port := range ports(runTestPortOffset) {
		if conn, err := net.DialTimeout("tcp", loopback(port), time.Second); err == nil {
			conn.Close()
			t.Errorf("port %d still accepts connections after run ended", port)
		}
	}
}

// alive reports whether pid is a process that has not exited (a zombie has).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, ok := bytes.Cut(stat, []byte(") "))
	return ok && len(after) > 0 && after[0] != 'Z'
}

// groupMembers lists the live processes of process group pgid, as
// "pid command".
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var members []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the command: state, ppid, pgrp, ...
		_, after, _ := bytes.Cut(stat, []byte(") "))
		fields := strings.Fields(string(after))
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		members = append(members, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
	}
	return members
}

// unignoreForChildren makes the processes started until restore is called
// begin with the default disposition of those of sigs this process
// ignores, and returns restore, which ignores them again.
//
// A terminal's foreground job ignores none of them, but this test may run
// where some are: under nohup (SIGHUP) or as a non-interactive shell's
// background job (SIGINT). A signal ignored when bash starts stays ignored
// and cannot be trapped, so the script would not see the signals the test
// sends. Exec resets a handled signal to its default, so handling them here
// while the pipeline starts is enough.
func unignoreForChildren(sigs ...os.Signal) (restore func()) {
	var ignored []os.Signal
	for _, sig := range sigs {
		if signal.Ignored(sig) {
			ignored = append(ignored, sig)
		}
	}
	if len(ignored) == 0 {
		return func() {}
	}
	discard := make(chan os.Signal, 1)
	signal.Notify(discard, ignored...)
	return func() {
		signal.Stop(discard)
		signal.Ignore(ignored...)
	}
}
