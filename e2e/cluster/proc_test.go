package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kzoo/kzoo/internal/poll"
)

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tkzoo-broker\nVmPeak:\t 2000 kB\nVmRSS:\t    123456 kB\nRssAnon:\t 1 kB\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil || got != 123456*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 123456*1024)
	}
	for _, bad := range []string{
		"Name:\tzombie\nState:\tZ (zombie)\n",
		"VmRSS:\t12 MB\n",
		"VmRSS:\tlots kB\n",
		"VmRSS:\n",
	} {
		if got, err := parseVmRSS([]byte(bad)); err == nil {
			t.Errorf("parseVmRSS(%q) = %d, want an error", bad, got)
		}
	}
}

func TestCountUnder(t *testing.T) {
	targets := []string{
		"/data/broker-1/data",
		"/data/broker-1/data/t-0/00000000000000000000.log",
		"/data/broker-1/data/.lock",
		"/data/broker-1/data2/t-0/00000000000000000000.log", // a sibling, not inside
		"/data/broker-1/data.log",
		"socket:[1234]",
		"/dev/null",
	}
	for _, dir := range []string{"/data/broker-1/data", "/data/broker-1/data/"} {
		if got := CountUnder(targets, dir); got != 3 {
			t.Errorf("CountUnder(%q) = %d, want 3", dir, got)
		}
	}
	if got := CountUnder(nil, "/data"); got != 0 {
		t.Errorf("CountUnder(nil) = %d", got)
	}
}

// TestProcessFDsAndRSS reads this test process's own descriptors and
// memory: a file it holds open must show among the descriptors, and its
// resident set cannot be empty.
func TestProcessFDsAndRSS(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "held-open")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds, err := ProcessFDs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// TempDir may lie under a symlink; /proc reports the resolved path.
	resolved, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(fds, resolved) {
		t.Errorf("ProcessFDs(self) lacks %s: %q", resolved, fds)
	}
	if n := CountUnder(fds, filepath.Dir(resolved)); n != 1 {
		t.Errorf("CountUnder(fds, %s) = %d, want 1", filepath.Dir(resolved), n)
	}
	rss, err := ProcessRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 {
		t.Errorf("ProcessRSS(self) = %d bytes, implausibly small for a Go test binary", rss)
	}
}

// TestProcessGone checks that a process that has exited reads as
// fs.ErrNotExist, which the Broker* accessors turn into ErrNotRunning.
func TestProcessGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	pid := cmd.Process.Pid // exited and reaped
	if _, err := ProcessFDs(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ProcessFDs(exited pid %d) = %v, want fs.ErrNotExist", pid, err)
	}
	if _, err := ProcessRSS(pid); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ProcessRSS(exited pid %d) = %v, want fs.ErrNotExist", pid, err)
	}
}

// TestBrokerProcessAccessorsCheckThePid checks that a pid file naming a
// process that is not the broker (here: this test process) is not taken
// for the broker.
func TestBrokerProcessAccessorsCheckThePid(t *testing.T) {
	c := &Cluster{tb: t, home: t.TempDir()}
	if _, err := c.BrokerFDs(1); !errors.Is(err, ErrNotRunning) {
		t.Errorf("BrokerFDs without a pid file = %v, want ErrNotRunning", err)
	}
	dir := filepath.Join(c.home, "broker-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BrokerFDs(1); !errors.Is(err, ErrNotRunning) {
		t.Errorf("BrokerFDs with a foreign pid = %v, want ErrNotRunning", err)
	}
	if _, err := c.BrokerRSS(1); !errors.Is(err, ErrNotRunning) {
		t.Errorf("BrokerRSS with a foreign pid = %v, want ErrNotRunning", err)
	}
	if got, want := c.BrokerLogDir(2), filepath.Join(c.home, "broker-2", "data"); got != want {
		t.Errorf("BrokerLogDir(2) = %s, want %s", got, want)
	}
}

func TestParseFDLimit(t *testing.T) {
	limits := "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max processes             95594                95594                processes \n" +
		"Max open files            20000                20000                files     \n"
	if got, err := parseFDLimit([]byte(limits)); err != nil || got != 20000 {
		t.Errorf("parseFDLimit = %d, %v; want 20000", got, err)
	}
	if got, err := parseFDLimit([]byte("Max open files            unlimited            unlimited            files\n")); err != nil || got != -1 {
		t.Errorf("parseFDLimit(unlimited) = %d, %v; want -1", got, err)
	}
	if _, err := parseFDLimit([]byte("Max processes 1 1 processes\n")); err == nil {
		t.Error("parseFDLimit without the line: no error")
	}
}

func TestProcessAlive(t *testing.T) {
	if !processAlive(os.Getpid()) {
		t.Error("processAlive(self) = false")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	if processAlive(cmd.Process.Pid) {
		t.Errorf("processAlive(exited pid %d) = true", cmd.Process.Pid)
	}
	// A child that has exited but is not reaped yet is a zombie.
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	defer zombie.Wait()
	poll.Until(t, 10*time.Second, "the unreaped child to read as not alive", func() bool {
		return !processAlive(zombie.Process.Pid)
	})
}
