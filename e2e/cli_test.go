package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// kzoo runs the CLI against the cluster and returns its output and error.
func kzoo(t *testing.T, c *cluster.Cluster, args ...string) (string, error) {
	t.Helper()
	bin, err := c.Binary("kzoo")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--bootstrap-server", c.BrokerAddr(1)}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func testCLITopics(t *testing.T, c *cluster.Cluster) {
	if out, err := kzoo(t, c, "topics", "create", "cli-topic", "--partitions", "4", "--replication-factor", "2", "--config", "retention.ms=60000"); err != nil {
		t.Fatalf("topics create: %v\n%s", err, out)
	}
	waitForLeaders(t, c.Bootstrap(), "cli-topic", 4)
	out, err := kzoo(t, c, "topics", "list")
	if err != nil || !strings.Contains(out, "cli-topic\n") {
		t.Fatalf("topics list: %v\n%s", err, out)
	}
	out, err = kzoo(t, c, "topics", "describe", "cli-topic")
	if err != nil || strings.Count(out, "cli-topic ") != 4 {
		t.Fatalf("topics describe: %v\n%s", err, out)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"topics", "create", "cli-topic"}, "already exists"},
		{[]string{"topics", "create", "bad/name"}, `"bad/name" contains '/'`},
		{[]string{"topics", "create", "rf", "--replication-factor", "9"}, "replication factor"},
		{[]string{"topics", "describe", "no-such-topic"}, "no-such-topic"},
		{[]string{"topics", "shred"}, "unknown subcommand"},
		{[]string{"nonsense"}, "unknown command"},
	} {
		out, err := kzoo(t, c, bad.args...)
		if err == nil || !strings.Contains(strings.ToLower(out), strings.ToLower(bad.want)) {
			t.Errorf("kzoo %v: error %v, output %q; want a failure mentioning %q", bad.args, err, out, bad.want)
		}
	}
	if out, err := kzoo(t, c, "topics", "delete", "cli-topic"); err != nil || !strings.Contains(out, "Deleted topic cli-topic") {
		t.Fatalf("topics delete: %v\n%s", err, out)
	}
}
