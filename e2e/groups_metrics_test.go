package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// testLagMetric checks the consumer lag metric of the group's coordinator:
// it follows the committed offsets against the partitions' end offsets,
// including a partition led by another broker, and falls to 0 once the
// group has committed everything.
func testLagMetric(t *testing.T, c *cluster.Cluster) {
	const (
		topic = "lag-metric"
		group = "lag-metric-app"
	)
	produced := []int64{10, 20, 30}
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, int32(len(produced)), 2, nil)
	cliGroupsProduce(t, bootstrap, topic, produced)

	cl := admin(t, bootstrap)
	commitOffsets(t, cl, group, topic, []int64{4, 20, 0})
	coordinator, err := findCoordinator(cl, group)
	if err != nil {
		t.Fatal(err)
	}
	addr := c.MetricsAddr(int(coordinator))
	waitLag(t, addr, group, topic, []int64{6, 0, 30})

	commitOffsets(t, cl, group, topic, produced)
	waitLag(t, addr, group, topic, []int64{0, 0, 0})
}

// commitOffsets commits offsets[p] for each partition p of topic as a
// client outside the group (generation -1), as admin tools do.
func commitOffsets(t *testing.T, cl *kgo.Client, group, topic string, offsets []int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Offset = o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("OffsetCommit %s: %v", group, err)
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				t.Fatalf("OffsetCommit %s %s/%d: %v", group, tp.Topic, p.Partition, err)
			}
		}
	}
}

// waitLag waits until the metrics at addr show lag want[p] for each
// partition p of topic in group.
func waitLag(t *testing.T, addr, group, topic string, want []int64) {
	t.Helper()
	var got map[int32]int64
	var lastErr error
	poll.Until(t, 30*time.Second, fmt.Sprintf("lag %v of %s on %s at %s (last seen %v, error %v)", want, group, topic, addr, got, lastErr), func() bool {
		got, lastErr = scrapeLag(addr, group, topic)
		if lastErr != nil || len(got) != len(want) {
			return false
		}
		for p, lag := range want {
			if v, ok := got[int32(p)]; !ok || v != lag {
				return false
			}
		}
		return true
	})
}

// scrapeLag reads kzoo_consumer_group_lag of group's partitions of topic
// from the Prometheus text at addr.
func scrapeLag(addr, group, topic string) (map[int32]int64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /metrics: %s: %s", resp.Status, body)
	}
	prefix := "kzoo_consumer_group_lag{"
	lags := make(map[int32]int64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		labels, value, ok := strings.Cut(line[len(prefix):], "} ")
		if !ok {
			return nil, fmt.Errorf("malformed sample %q", line)
		}
		l := parseLabels(labels)
		if l["group"] != group || l["topic"] != topic {
			continue
		}
		p, err := strconv.ParseInt(l["partition"], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("sample %q: partition: %w", line, err)
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("sample %q: value: %w", line, err)
		}
		lags[int32(p)] = int64(v)
	}
	return lags, sc.Err()
}

// parseLabels splits `a="x",b="y"` (values without quotes or commas, as
// group, topic and partition names here are) into a map.
func parseLabels(s string) map[string]string {
	labels := make(map[string]string)
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			labels[k] = strings.Trim(v, `"`)
		}
	}
	return labels
}

// testDeletedTopicOffsets checks that deleting a topic removes the offsets
// groups committed for it, as Kafka does: a topic created again under the
// same name does not start from the old topic's positions.
func testDeletedTopicOffsets(t *testing.T, c *cluster.Cluster) {
	const (
		topic = "deleted-topic-offsets"
		group = "deleted-topic-offsets-app"
	)
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, 2, 2, nil)
	cl := admin(t, bootstrap)
	commitOffsets(t, cl, group, topic, []int64{3, 4})
	waitCommitted(t, cl, group, topic, []int64{3, 4})

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.TopicNames = []string{topic}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("delete %s: %v", topic, err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("delete %s: %v", topic, kerr.ErrorForCode(code))
	}
	// -1: no committed offset.
	waitCommitted(t, cl, group, topic, []int64{-1, -1})
}
