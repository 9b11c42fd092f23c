package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// What a broker process holds, read from Linux's /proc: tests that bound a
// broker's descriptors or memory, and the scale bench, which reports them.

// procRoot is where the process file system is mounted.
const procRoot = "/proc"

// ErrNotRunning is returned by the Broker* process accessors when the broker
// has no live process.
var ErrNotRunning = errors.New("broker not running")

// BrokerLogDir returns broker id's log directory (log.dirs), where its
// partitions live.
func (c *Cluster) BrokerLogDir(id int) string {
	return filepath.Join(c.home, fmt.Sprintf("broker-%d", id), "data")
}

// BrokerFDs returns the targets of broker id's open descriptors: the paths
// of files and directories, "socket:[inode]", "pipe:[inode]", "anon_inode:…".
// Descriptors closed while they are read are left out. It returns an error
// wrapping ErrNotRunning if the broker has no live process.
func (c *Cluster) BrokerFDs(id int) ([]string, error) {
	pid, err := c.runningBrokerPID(id)
	if err != nil {
		return nil, err
	}
	fds, err := ProcessFDs(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("descriptors of broker %d: %w", id, ErrNotRunning)
	}
	return fds, err
}

// BrokerRSS returns the resident set size of broker id's process in bytes.
// It returns an error wrapping ErrNotRunning if the broker has no live
// process.
func (c *Cluster) BrokerRSS(id int) (int64, error) {
	pid, err := c.runningBrokerPID(id)
	if err != nil {
		return 0, err
	}
	rss, err := ProcessRSS(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("memory of broker %d: %w", id, ErrNotRunning)
	}
	return rss, err
}

// runningBrokerPID returns the pid of broker id if that process is alive and
// still the broker: its command line names the broker's log directory, as
// scripts/cluster checks before it signals a pid. A pid file outlives its
// process, and the pid may since belong to something else.
func (c *Cluster) runningBrokerPID(id int) (int, error) {
	pid, err := c.BrokerPID(id)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("broker %d has no pid file: %w", id, ErrNotRunning)
	}
	if err != nil {
		return 0, err
	}
	cmdline, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cmdline"))
	if err != nil || !bytes.Contains(cmdline, []byte("log.dirs="+c.BrokerLogDir(id))) {
		return 0, fmt.Errorf("broker %d (pid %d): %w", id, pid, ErrNotRunning)
	}
	return pid, nil
}

// ProcessFDs returns the targets of process pid's open descriptors, as
// readlink(2) of /proc/<pid>/fd/<n> gives them. Descriptors closed between
// listing and reading are left out; an error wrapping fs.ErrNotExist means
// the process is gone.
func ProcessFDs(pid int) ([]string, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("descriptors of pid %d: %w", pid, err)
	}
	targets := make([]string, 0, len(entries))
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // closed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("descriptor %s of pid %d: %w", e.Name(), pid, err)
		}
		targets = append(targets, target)
	}
	return targets, nil
}

// CountUnder returns how many of the descriptor targets are dir or lie
// inside it. dir must be absolute and free of symlinks, as /proc reports
// resolved paths.
func CountUnder(targets []string, dir string) int {
	n := 0
	dir = filepath.Clean(dir)
	prefix := dir + string(filepath.Separator)
	for _, t := range targets {
		if t == dir || strings.HasPrefix(t, prefix) {
			n++
		}
	}
	return n
}

// ProcessRSS returns the resident set size of process pid in bytes (VmRSS
// of /proc/<pid>/status). An error wrapping fs.ErrNotExist means the process
// is gone.
func ProcessRSS(pid int) (int64, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	rss, err := parseVmRSS(data)
	if err != nil {
		return 0, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	return rss, nil
}

// parseVmRSS returns the VmRSS line of a /proc/<pid>/status file in bytes.
// The kernel writes it as "VmRSS:\t  123456 kB", always in kB (KiB).
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		kib, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kib < 0 {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		return kib << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	// Kernel threads and zombies have no VmRSS line.
	return 0, errors.New("no VmRSS line in status (a zombie or kernel thread?)")
}

// BrokerRunning reports whether broker id has a live process: one that is
// still the broker (see BrokerFDs) and has not exited. A test that signals
// a broker itself waits on it.
func (c *Cluster) BrokerRunning(id int) bool {
	pid, err := c.runningBrokerPID(id)
	if err != nil {
		return false
	}
	return processAlive(pid)
}

// processAlive reports whether process pid exists and is not a zombie:
// one that has exited but whose parent has not reaped it yet.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the command may hold spaces and parentheses, so
	// the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// BrokerFDLimit returns broker id's soft limit on open descriptors (Max
// open files of /proc/<pid>/limits).
func (c *Cluster) BrokerFDLimit(id int) (int64, error) {
	pid, err := c.runningBrokerPID(id)
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "limits"))
	if err != nil {
		return 0, fmt.Errorf("limits of broker %d: %w", id, err)
	}
	return parseFDLimit(data)
}

// parseFDLimit returns the soft limit of the "Max open files" line of a
// /proc/<pid>/limits file, -1 for unlimited.
func parseFDLimit(limits []byte) (int64, error) {
	for line := range strings.Lines(string(limits)) {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // soft, hard, unit
		if len(fields) < 2 {
			return 0, fmt.Errorf("unexpected limits line %q", line)
		}
		if fields[0] == "unlimited" {
			return -1, nil
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected limits line %q", line)
		}
		return n, nil
	}
	return 0, errors.New("no Max open files line in limits")
}
