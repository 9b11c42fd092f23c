package e2e

// The one way the e2e tests run the command-line tools of the reference
// Kafka 2.4.1 (bin/*.sh): where the distribution is, the skip where it is
// not, the JVM's environment and a deadline on every run.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// kafkaTools runs the command-line tools of the reference Kafka 2.4.1.
type kafkaTools struct {
	bin       string   // the distribution's bin/
	env       []string // every tool's environment
	bootstrap string   // the cluster's brokers, comma-separated
}

// kafkaHomeEnv names the environment variable that overrides where the
// reference Kafka is found, for checkouts that do not have shared/ beside
// them (such as git worktrees).
const kafkaHomeEnv = "KZOO_TEST_KAFKA_HOME"

// newKafkaTools finds Kafka 2.4.1 in ../shared/kafka-2.4.1 beside the
// repository, or in $KZOO_TEST_KAFKA_HOME, and skips the test where it is
// absent.
func newKafkaTools(t *testing.T) *kafkaTools {
	t.Helper()
	home := os.Getenv(kafkaHomeEnv)
	if home == "" {
		repo, err := cluster.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		home = filepath.Join(repo, "..", "shared", "kafka-2.4.1")
	}
	bin := filepath.Join(home, "bin")
	if _, err := os.Stat(filepath.Join(bin, "kafka-run-class.sh")); err != nil {
		t.Skipf("skipping: no Kafka 2.4.1 tools (%v); set %s to a Kafka 2.4.1 distribution", err, kafkaHomeEnv)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Fatalf("Kafka's tools need java: %v (make deps installs a JRE with zookeeper)", err)
	}
	// The distribution may be read-only (it is in CI): its scripts write
	// their logs to LOG_DIR, which defaults to a folder inside it.
	env := []string{
		"LOG_DIR=" + t.TempDir(),
		// JVM start-up dominates each tool's run: a small heap and the
		// client compiler make it cheaper on a busy machine.
		"KAFKA_HEAP_OPTS=-Xmx256m",
		"KAFKA_JVM_PERFORMANCE_OPTS=-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		// Settings the scripts read that would change the tools' behaviour.
		if strings.HasPrefix(name, "KAFKA_") || name == "LOG_DIR" || name == "JMX_PORT" || name == "CLASSPATH" {
			continue
		}
		env = append(env, kv)
	}
	return &kafkaTools{bin: bin, env: env}
}

type toolOutput struct {
	stdout, stderr string
	exit           int
}

// run runs bin/<tool>.sh with args and stdin and returns its output and
// exit status; it fails the test only if the tool cannot be run at all or
// takes longer than two minutes.
func (k *kafkaTools) run(t *testing.T, stdin, tool string, args ...string) toolOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(k.bin, tool+".sh"), args...)
	cmd.Env = k.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	out := toolOutput{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: no exit within 2 minutes\nstdout:\n%s\nstderr:\n%s", tool, strings.Join(args, " "), out.stdout, out.stderr)
	case errors.As(err, &exitErr):
		out.exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", tool, strings.Join(args, " "), err)
	}
	t.Logf("%s %s: exit %d after %v\nstdout:\n%s\nstderr:\n%s", tool, strings.Join(args, " "), out.exit, took, out.stdout, out.stderr)
	return out
}

// text is what the tool printed, its standard output then its standard error.
func (o toolOutput) text() string { return o.stdout + o.stderr }

// runOK runs bin/<tool>.sh as run does, fails the test unless the tool
// exits 0, and returns what it printed.
func (k *kafkaTools) runOK(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out := k.run(t, "", tool, args...)
	if out.exit != 0 {
		t.Fatalf("%s %s: exit %d, want 0", tool, strings.Join(args, " "), out.exit)
	}
	return out.text()
}
