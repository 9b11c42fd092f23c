package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// cliGroupsScenario drives `kzoo groups` against c, a cluster with
// consumer groups: a franz-go member consumes a topic with a known number
// of records per partition and commits known offsets, and the CLI must
// list the group, describe its members and the exact lag of each
// partition, refuse to delete it or reset its offsets while it has a
// member, reset its offsets and delete it once it has none, and name a
// group that does not exist.
func cliGroupsScenario(t *testing.T, c *cluster.Cluster) {
	const (
		topic    = "cli-groups"
		group    = "cli-groups-app"
		clientID = "cli-groups-consumer"
	)
	produced := []int64{10, 20, 30} // records per partition
	commits := []int64{4, 15, 30}   // what the member commits
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, int32(len(produced)), 2, nil)
	cliGroupsProduce(t, bootstrap, topic, produced)
	if hw := highWatermarks(t, bootstrap, topic, len(produced)); !slices.Equal(hw, produced) {
		t.Fatalf("high watermarks %v after producing %v", hw, produced)
	}

	member, memberID := cliGroupsJoinAndCommit(t, bootstrap, group, topic, clientID, produced, commits)
	memberClosed := false
	defer func() {
		if !memberClosed {
			member.Close()
		}
	}()

	// While the member is in the group, it owns every partition.
	out := mustKzoo(t, c, "groups", "describe", group)
	if !strings.Contains(out, "State:        Stable") || !strings.Contains(out, "Members:      1") {
		t.Errorf("describe of the active group does not show it Stable with one member:\n%s", out)
	}
	if m := cliGroupsRowsStartingWith(out, memberID); len(m) != 1 || m[0][2] != clientID || m[0][4] != topic+":0,1,2" {
		t.Errorf("describe shows member rows %q, want %s with client id %s and partitions %s:0,1,2\n%s", m, memberID, clientID, topic, out)
	}
	cliGroupsCheckLag(t, out, topic, produced, commits, memberID, clientID)
	if row := cliGroupsListed(t, c, group); row == nil || row[1] != "Stable" || row[2] != "consumer" {
		t.Errorf("groups list shows %q for the active group, want it Stable with protocol type consumer", row)
	}
	if out, err := kzoo(t, c, "groups", "delete", group); err == nil || !strings.Contains(out, "active members") {
		t.Errorf("groups delete of the active group: error %v, output %q; want a failure about its active members", err, out)
	}
	if out, err := kzoo(t, c, "groups", "reset-offsets", group, "--topic", topic, "--to-earliest", "--execute"); err == nil || !strings.Contains(out, "active members") {
		t.Errorf("reset-offsets of the active group: error %v, output %q; want a failure about its active members", err, out)
	}

	// Without members the group keeps its offsets.
	member.Close() // leaves the group; auto-commit is off, so it commits nothing
	memberClosed = true
	poll.Until(t, 30*time.Second, "the group to be empty", func() bool {
		out, err := kzoo(t, c, "groups", "describe", group)
		return err == nil && strings.Contains(out, "State:        Empty")
	})
	if row := cliGroupsListed(t, c, group); row == nil || row[1] != "Empty" || row[2] != "consumer" {
		t.Errorf("groups list shows %q for the group without members, want it Empty with protocol type consumer", row)
	}
	out = mustKzoo(t, c, "groups", "describe", group)
	if !strings.Contains(out, "Consumer group '"+group+"' has no active members.") {
		t.Errorf("describe does not say the group has no members:\n%s", out)
	}
	cliGroupsCheckLag(t, out, topic, produced, commits, "-", "-")

	// reset-offsets prints its plan and commits it only with --execute.
	out = mustKzoo(t, c, "groups", "reset-offsets", group, "--topic", topic+":0", "--to-offset", "2")
	if plan := cliGroupsRowsStartingWith(out, group); !slices.EqualFunc(plan, [][]string{{group, topic, "0", "2"}}, slices.Equal) {
		t.Errorf("reset-offsets dry run plans %q, want partition 0 to offset 2:\n%s", plan, out)
	}
	out = mustKzoo(t, c, "groups", "describe", group)
	cliGroupsCheckLag(t, out, topic, produced, commits, "-", "-")
	out = mustKzoo(t, c, "groups", "reset-offsets", group, "--topic", topic+":0", "--to-offset", "2", "--execute")
	if !strings.Contains(out, "Committed the new offsets of 1 partitions") {
		t.Errorf("reset-offsets --execute does not report the commit:\n%s", out)
	}
	reset := slices.Clone(commits)
	reset[0] = 2
	out = mustKzoo(t, c, "groups", "describe", group)
	cliGroupsCheckLag(t, out, topic, produced, reset, "-", "-")

	// --shift-by moves the committed offset; --to-datetime after every
	// record's timestamp lands on the log end.
	mustKzoo(t, c, "groups", "reset-offsets", group, "--topic", topic+":0", "--shift-by", "3", "--execute")
	reset[0] = 5
	cliGroupsCheckLag(t, mustKzoo(t, c, "groups", "describe", group), topic, produced, reset, "-", "-")
	future := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	mustKzoo(t, c, "groups", "reset-offsets", group, "--topic", topic+":1", "--to-datetime", future, "--execute")
	reset[1] = produced[1]
	cliGroupsCheckLag(t, mustKzoo(t, c, "groups", "describe", group), topic, produced, reset, "-", "-")

	// Deleted, the group is gone.
	out = mustKzoo(t, c, "groups", "delete", group)
	if !strings.Contains(out, "Deleted group "+group+".") {
		t.Errorf("groups delete printed %q", out)
	}
	if row := cliGroupsListed(t, c, group); row != nil {
		t.Errorf("groups list still shows the deleted group: %q", row)
	}
	for _, name := range []string{group, "cli-groups-no-such-group"} {
		out, err := kzoo(t, c, "groups", "describe", name)
		if want := "consumer group '" + name + "' does not exist"; err == nil || !strings.Contains(out, want) {
			t.Errorf("groups describe %s: error %v, output %q; want a failure saying %q", name, err, out, want)
		}
	}
}

// mustKzoo runs the CLI and fails the test unless it succeeds.
func mustKzoo(t *testing.T, c *cluster.Cluster, args ...string) string {
	t.Helper()
	out, err := kzoo(t, c, args...)
	if err != nil {
		t.Fatalf("kzoo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// cliGroupsProduce writes counts[p] records to each partition p of topic.
func cliGroupsProduce(t *testing.T, bootstrap []string, topic string, counts []int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var records []*kgo.Record
	for p, n := range counts {
		for i := range n {
			records = append(records, &kgo.Record{Topic: topic, Partition: int32(p), Value: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// cliGroupsJoinAndCommit starts a member of group that consumes all of
// topic (it is the only member, so it owns every partition) and commits
// commits[p] for each partition p. It returns the member, still in the
// group, and its member id.
func cliGroupsJoinAndCommit(t *testing.T, bootstrap []string, group, topic, clientID string, produced, commits []int64) (*kgo.Client, string) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var total, consumed int64
	for _, n := range produced {
		total += n
	}
	for consumed < total {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			cl.Close()
			t.Fatalf("group %s consumed %d of %d records: %v", group, consumed, total, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			cl.Close()
			t.Fatalf("group %s: fetch: %v", group, errs[0].Err)
		}
		consumed += int64(fetches.NumRecords())
	}

	offsets := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range commits {
		offsets[topic][int32(p)] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					commitErr = errors.Join(commitErr, fmt.Errorf("partition %d: %w", rp.Partition, err))
				}
			}
		}
	})
	if commitErr != nil {
		cl.Close()
		t.Fatalf("group %s: commit %v: %v", group, commits, commitErr)
	}
	memberID, _ := cl.GroupMetadata()
	return cl, memberID
}

// cliGroupsCheckLag checks the partition table of `groups describe`: each
// partition p of topic has committed offset commits[p], log end offset
// produced[p], their exact difference as lag, and the given owner.
func cliGroupsCheckLag(t *testing.T, out, topic string, produced, commits []int64, consumerID, clientID string) {
	t.Helper()
	rows := cliGroupsRowsStartingWith(out, topic)
	if len(rows) != len(produced) {
		t.Errorf("describe shows %d rows for %s, want %d:\n%s", len(rows), topic, len(produced), out)
		return
	}
	for p, row := range rows {
		want := []string{topic, fmt.Sprint(p), fmt.Sprint(commits[p]), fmt.Sprint(produced[p]), fmt.Sprint(produced[p] - commits[p]), consumerID}
		if len(row) != 8 || !slices.Equal(row[:6], want) || row[7] != clientID {
			t.Errorf("describe row %q, want %q and client id %s\n%s", row, want, clientID, out)
		} else if consumerID != "-" && row[6] != "/127.0.0.1" {
			// Kafka's form of a member's host, as its tools show it.
			t.Errorf("describe row %q shows host %q, want /127.0.0.1", row, row[6])
		}
	}
}

// cliGroupsListed returns the fields of group's row in `groups list`, nil
// if it is not listed.
func cliGroupsListed(t *testing.T, c *cluster.Cluster, group string) []string {
	t.Helper()
	rows := cliGroupsRowsStartingWith(mustKzoo(t, c, "groups", "list"), group)
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

// cliGroupsRowsStartingWith returns the whitespace-separated fields of
// every output line whose first field is first.
func cliGroupsRowsStartingWith(out, first string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			rows = append(rows, f)
		}
	}
	return rows
}
