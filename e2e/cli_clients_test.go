package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// TestCLIClients drives the console clients and perf tools of the kzoo
// CLI as a user would, through the binary with stdin and stdout: records
// produced with keys and headers come back exactly, a consumer group
// resumes where it stopped, the perf tools move and count 20000 records,
// and wrong input fails with a message that names the problem.
func TestCLIClients(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 1, PortOffset: 12600, Env: map[string]string{
		// So that producing to a missing topic fails, as asked.
		"KZOO_AUTO_CREATE_TOPICS_ENABLE": "false",
		// group.initial.rebalance.delay.ms stays at Kafka's 3 s on
		// purpose: --timeout-ms must count from the group's assignment.
	}})
	const topic = "cli-clients"
	bootstrap := c.Bootstrap()
	// One partition, so the order of records across keys is known.
	createTopic(t, bootstrap, topic, 1, 1, nil)

	t.Run("produce and consume", func(t *testing.T) {
		out := cliClient(t, c, c.BrokerAddr(1), "k1:v1\nk2:v2\r\nk3:hello world\n", 0,
			"produce", topic, "--key-separator", ":", "--header", "h1=a", "--header", "h2=b=c")
		if out.stdout != "" {
			t.Errorf("produce printed %q", out.stdout)
		}

		out = cliClient(t, c, c.BrokerAddr(1), "", 0,
			"consume", topic, "--from-beginning", "--max-messages", "3", "--format", `%k=%v [%h] @%p/%o\n`)
		want := "k1=v1 [h1=a,h2=b=c] @0/0\nk2=v2 [h1=a,h2=b=c] @0/1\nk3=hello world [h1=a,h2=b=c] @0/2\n"
		if out.stdout != want {
			t.Errorf("consume --format printed\n%q\nwant\n%q", out.stdout, want)
		}
		if !strings.Contains(out.stderr, "Processed a total of 3 messages") {
			t.Errorf("consume did not report its count: %q", out.stderr)
		}

		out = cliClient(t, c, c.BrokerAddr(1), "", 0,
			"consume", topic, "--partition", "0", "--offset", "1", "--max-messages", "2", "--print-offset", "--print-headers", "--print-key")
		want = "Offset:1\th1:a,h2:b=c\tk2\tv2\nOffset:2\th1:a,h2:b=c\tk3\thello world\n"
		if out.stdout != want {
			t.Errorf("consume --partition 0 --offset 1 --print-* printed\n%q\nwant\n%q", out.stdout, want)
		}
	})

	t.Run("consumer group resumes", func(t *testing.T) {
		const group = "cli-clients-group"
		consume := func() cliOutput {
			return cliClient(t, c, c.BrokerAddr(1), "", 0,
				"consume", topic, "--group", group, "--from-beginning", "--timeout-ms", "2500")
		}
		if out := consume(); out.stdout != "v1\nv2\nhello world\n" {
			t.Errorf("first group run printed %q, want every value", out.stdout)
		}
		if out := consume(); out.stdout != "" || !strings.Contains(out.stderr, "Processed a total of 0 messages") {
			t.Errorf("second group run printed %q (stderr %q), want nothing: the first committed", out.stdout, out.stderr)
		}
		cliClient(t, c, c.BrokerAddr(1), "k4:v4\n", 0, "produce", topic, "--key-separator", ":")
		if out := consume(); out.stdout != "v4\n" {
			t.Errorf("third group run printed %q, want only the new record", out.stdout)
		}
	})

	t.Run("perf", func(t *testing.T) {
		const perfTopic = "cli-perf"
		createTopic(t, bootstrap, perfTopic, 3, 1, nil)
		out := cliClient(t, c, c.BrokerAddr(1), "", 0,
			"perf", "produce", "--topic", perfTopic, "--num-records", "20000", "--record-size", "100", "--compression", "lz4")
		summary := regexp.MustCompile(`(?m)^20000 records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\), [0-9.]+ ms avg latency, [0-9.]+ ms max latency, [0-9.]+ ms 50th, [0-9.]+ ms 95th, [0-9.]+ ms 99th, [0-9.]+ ms 99.9th\.$`)
		if !summary.MatchString(out.stdout) {
			t.Errorf("perf produce printed no summary of 20000 records:\n%s", out.stdout)
		}
		if hw := highWatermarks(t, bootstrap, perfTopic, 3); hw[0]+hw[1]+hw[2] != 20000 {
			t.Errorf("the topic holds %v records after perf produce, want 20000 in all", hw)
		}

		out = cliClient(t, c, c.BrokerAddr(1), "", 0,
			"perf", "consume", "--topic", perfTopic, "--messages", "20000", "--group", "cli-perf-group", "--timeout-ms", "10000")
		lines := strings.Split(strings.TrimSpace(out.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,") {
			t.Fatalf("perf consume printed\n%s\nwant a header and a row", out.stdout)
		}
		cols := strings.Split(lines[1], ", ")
		// 20000 records of 100 bytes, no keys: 1.9073 MiB.
		if len(cols) != 10 || cols[2] != "1.9073" || cols[4] != "20000" {
			t.Errorf("perf consume row %q, want 1.9073 MB and 20000 records", lines[1])
		}
	})

	t.Run("wrong input", func(t *testing.T) {
		// Broker 2 does not exist: its port, reserved for this cluster, is closed.
		unreachable := c.BrokerAddr(2)
		for _, tc := range []struct {
			name      string
			bootstrap string
			stdin     string
			args      []string
			want      string
		}{
			{"unknown flag", c.BrokerAddr(1), "", []string{"consume", topic, "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
			{"produce without topic", c.BrokerAddr(1), "x\n", []string{"produce"}, "want exactly one topic"},
			{"consume without topic", c.BrokerAddr(1), "", []string{"consume", "--max-messages", "1"}, "want exactly one topic"},
			{"perf without topic", c.BrokerAddr(1), "", []string{"perf", "produce", "--num-records", "1", "--record-size", "1"}, "--topic is required"},
			{"line without key separator", c.BrokerAddr(1), "nokey\n", []string{"produce", topic, "--key-separator", ":"}, `no key separator ":" on line 1`},
			{"unknown topic", c.BrokerAddr(1), "x\n", []string{"produce", "cli-no-such-topic"}, `topic "cli-no-such-topic" or its partition does not exist`},
			{"unreachable producer", unreachable, "x\n", []string{"produce", topic, "--max-block-ms", "2000"}, "cannot reach bootstrap server " + unreachable},
			{"unreachable consumer", unreachable, "", []string{"consume", topic, "--timeout-ms", "2000"}, "cannot reach bootstrap server " + unreachable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := cliClient(t, c, tc.bootstrap, tc.stdin, 1, tc.args...)
				if !strings.Contains(out.stderr, tc.want) {
					t.Errorf("kzoo %s: stderr %q, want it to say %q", strings.Join(tc.args, " "), out.stderr, tc.want)
				}
			})
		}
	})
}

type cliOutput struct{ stdout, stderr string }

// cliClient runs the kzoo CLI against bootstrap with stdin and fails the
// test unless it exits with wantExit.
func cliClient(t *testing.T, c *cluster.Cluster, bootstrap, stdin string, wantExit int, args ...string) cliOutput {
	t.Helper()
	bin, err := c.Binary("kzoo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--bootstrap-server", bootstrap}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	exit := 0
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("kzoo %s: %v", strings.Join(args, " "), err)
		}
		exit = exitErr.ExitCode()
	}
	t.Logf("kzoo %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), exit, stdout.String(), stderr.String())
	if exit != wantExit {
		t.Fatalf("kzoo %s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), exit, wantExit, stdout.String(), stderr.String())
	}
	return cliOutput{stdout: stdout.String(), stderr: stderr.String()}
}
