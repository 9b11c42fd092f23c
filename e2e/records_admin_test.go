package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// TestRecordsAdmin drives DeleteRecords and DescribeLogDirs on a 3-broker
// cluster with topics of replication factor 3: through franz-go (the
// requests kadm sends), through `kzoo records delete` and `kzoo log-dirs
// describe`, and through Kafka's own kafka-delete-records.sh and
// kafka-log-dirs.sh where ../shared/kafka-2.4.1 is at hand. Deleted records
// must be gone on every replica and stay gone across a restart of the
// whole cluster.
func TestRecordsAdmin(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 10400})
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	cl := admin(t, c.Bootstrap())

	// Small segments, so that deleting records deletes whole segments.
	const topic, records = "purged", 120
	createTopic(t, c.Bootstrap(), topic, 2, 3, map[string]string{"segment.bytes": "2048"})
	produceToPartitions(t, c.Bootstrap(), topic, 2, records)

	t.Run("delete-records", func(t *testing.T) { recordsAdminDelete(t, c, cl, topic) })
	t.Run("refusals", func(t *testing.T) { recordsAdminRefusals(t, c, cl, topic) })
	t.Run("describe-log-dirs", func(t *testing.T) { recordsAdminDescribeLogDirs(t, c, cl, topic) })
	t.Run("cli", func(t *testing.T) { recordsAdminCLI(t, c, topic) })
	t.Run("restart", func(t *testing.T) { recordsAdminRestart(t, c, topic) })
	t.Run("kafka-tools", func(t *testing.T) { recordsAdminKafkaTools(t, c, topic) })
}

// produceToPartitions writes n records of 100 bytes to each of partitions,
// a few per batch, and waits for the ISR to have them.
func produceToPartitions(t *testing.T, bootstrap []string, topic string, partitions int32, n int) {
	t.Helper()
	prod, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		// Uncompressed, so that the records fill several segments.
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	value := bytes.Repeat([]byte("r"), 100)
	for i := 0; i < n; i += 3 {
		var batch []*kgo.Record
		for p := range partitions {
			for j := i; j < min(i+3, n); j++ {
				batch = append(batch, &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "k%d", j), Value: value})
			}
		}
		if err := prod.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// deleteRecordsVia sends DeleteRecords for offsets (partition -> offset)
// through cl, which sends each partition to its leader as kadm does, and
// returns each partition's answer.
func deleteRecordsVia(t *testing.T, cl *kgo.Client, topic string, offsets map[int32]int64) map[int32]kmsg.DeleteRecordsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 30_000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out := make(map[int32]kmsg.DeleteRecordsResponseTopicPartition)
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			t.Fatalf("DeleteRecords: %v", sh.Err)
		}
		for _, rt := range sh.Resp.(*kmsg.DeleteRecordsResponse).Topics {
			for _, rp := range rt.Partitions {
				out[rp.Partition] = rp
			}
		}
	}
	if len(out) != len(offsets) {
		t.Fatalf("DeleteRecords answered %d partitions of %d", len(out), len(offsets))
	}
	return out
}

// partitionLeader returns the leader of a partition as Metadata says.
func partitionLeader(t *testing.T, cl *kgo.Client, topic string, partition int32) int32 {
	t.Helper()
	resp := metadataFrom(cl, topic)
	if resp == nil || len(resp.Topics) != 1 || int(partition) >= len(resp.Topics[0].Partitions) {
		t.Fatalf("no metadata for %s-%d", topic, partition)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.Partition == partition {
			return p.Leader
		}
	}
	t.Fatalf("metadata lacks %s-%d", topic, partition)
	return -1
}

// fetchError fetches offset of a partition from its leader and returns the
// partition's error code.
func fetchError(t *testing.T, c *cluster.Cluster, cl *kgo.Client, topic string, partition int32, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = partition, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	leader := partitionLeader(t, cl, topic, partition)
	resp := askBroker[*kmsg.FetchResponse](t, admin(t, []string{c.BrokerAddr(int(leader))}), req)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// logDirSizes returns the size of a partition's log on each broker, and the
// log dir holding it, from DescribeLogDirs sent to every broker (nil
// topics: every partition).
func logDirSizes(t *testing.T, cl *kgo.Client, topic string, partition int32) (sizes map[int32]int64, dirs map[int32]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sizes, dirs = make(map[int32]int64), make(map[int32]string)
	for _, sh := range cl.RequestSharded(ctx, kmsg.NewPtrDescribeLogDirsRequest()) {
		if sh.Err != nil {
			t.Fatalf("DescribeLogDirs to broker %d: %v", sh.Meta.NodeID, sh.Err)
		}
		for _, d := range sh.Resp.(*kmsg.DescribeLogDirsResponse).Dirs {
			for _, dt := range d.Topics {
				for _, dp := range dt.Partitions {
					if dt.Topic == topic && dp.Partition == partition {
						sizes[sh.Meta.NodeID] = dp.Size
						dirs[sh.Meta.NodeID] = d.Dir
					}
				}
			}
		}
	}
	return sizes, dirs
}

func recordsAdminDelete(t *testing.T, c *cluster.Cluster, cl *kgo.Client, topic string) {
	before, _ := logDirSizes(t, cl, topic, 0)
	if len(before) != 3 {
		t.Fatalf("DescribeLogDirs shows %s-0 on brokers %v, want all 3", topic, before)
	}
	// 50 is inside a batch of three records (they start at multiples of 3),
	// so no segment starts there.
	got := deleteRecordsVia(t, cl, topic, map[int32]int64{0: 50})
	if p := got[0]; p.ErrorCode != 0 || p.LowWatermark != 50 {
		t.Fatalf("delete below 50: low watermark %d, %v; want 50", p.LowWatermark, kerr.ErrorForCode(p.ErrorCode))
	}
	if start := logStartOf(t, c.Bootstrap(), topic, 0); start != 50 {
		t.Fatalf("ListOffsets earliest after deleting below 50: %d", start)
	}
	if code := fetchError(t, c, cl, topic, 0, 49); code != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 49, below the log start: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(code))
	}
	if code := fetchError(t, c, cl, topic, 0, 50); code != 0 {
		t.Fatalf("fetch at the log start 50: %v", kerr.ErrorForCode(code))
	}
	// The answer came once every replica had deleted: each dropped the
	// segments below 50.
	after, dirs := logDirSizes(t, cl, topic, 0)
	for id, size := range before {
		if after[id] >= size {
			t.Errorf("broker %d holds %d bytes of %s-0 after the delete, %d before: no segment deleted", id, after[id], topic, size)
		}
		// Each replica has its new start in its log dir's checkpoint, in
		// Kafka's format.
		data, err := os.ReadFile(filepath.Join(dirs[id], "log-start-offset-checkpoint"))
		if err != nil || !slices.Contains(strings.Split(string(data), "\n"), topic+" 0 50") {
			t.Errorf("broker %d: log-start-offset-checkpoint %q (%v) lacks %q", id, data, err, topic+" 0 50")
		}
	}
	// Partition 1 was not touched.
	if start := logStartOf(t, c.Bootstrap(), topic, 1); start != 0 {
		t.Errorf("partition 1 starts at %d after a delete on partition 0", start)
	}

	// Below the current start: a no-op that answers it.
	if p := deleteRecordsVia(t, cl, topic, map[int32]int64{0: 10})[0]; p.ErrorCode != 0 || p.LowWatermark != 50 {
		t.Errorf("delete below 10 after 50: low watermark %d, %v; want 50", p.LowWatermark, kerr.ErrorForCode(p.ErrorCode))
	}
}

func recordsAdminRefusals(t *testing.T, c *cluster.Cluster, cl *kgo.Client, topic string) {
	hw := highWatermarks(t, c.Bootstrap(), topic, 2)
	if p := deleteRecordsVia(t, cl, topic, map[int32]int64{1: hw[1] + 1})[1]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LowWatermark != -1 {
		t.Errorf("delete past the high watermark %d: low watermark %d, %v; want OFFSET_OUT_OF_RANGE", hw[1], p.LowWatermark, kerr.ErrorForCode(p.ErrorCode))
	}
	if p := deleteRecordsVia(t, cl, topic, map[int32]int64{1: -5})[1]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Errorf("delete below -5: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(p.ErrorCode))
	}

	// A partition the broker does not lead, and one that does not exist.
	leader := partitionLeader(t, cl, topic, 1)
	follower := int32(1)
	if leader == follower {
		follower = 2
	}
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 5_000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for _, p := range []int32{1, 7} {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, 1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := askBroker[*kmsg.DeleteRecordsResponse](t, admin(t, []string{c.BrokerAddr(int(follower))}), req)
	codes := map[int32]int16{}
	for _, p := range resp.Topics[0].Partitions {
		codes[p.Partition] = p.ErrorCode
	}
	if codes[1] != kerr.NotLeaderForPartition.Code || codes[7] != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("DeleteRecords to follower %d: partition 1 %v, partition 7 %v; want NOT_LEADER_OR_FOLLOWER and UNKNOWN_TOPIC_OR_PARTITION",
			follower, kerr.ErrorForCode(codes[1]), kerr.ErrorForCode(codes[7]))
	}

	// A compacted topic's records go only through compaction.
	const compacted = "purged-compacted"
	createTopic(t, c.Bootstrap(), compacted, 1, 3, map[string]string{"cleanup.policy": "compact"})
	produceToPartitions(t, c.Bootstrap(), compacted, 1, 3)
	if p := deleteRecordsVia(t, cl, compacted, map[int32]int64{0: 1})[0]; p.ErrorCode != kerr.PolicyViolation.Code {
		t.Errorf("delete on a compacted topic: %v, want POLICY_VIOLATION", kerr.ErrorForCode(p.ErrorCode))
	}
}

func recordsAdminDescribeLogDirs(t *testing.T, c *cluster.Cluster, cl *kgo.Client, topic string) {
	// One broker, asked for one partition and one it lacks.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{1, 9}
	req.Topics = append(req.Topics, rt)
	resp := askBroker[*kmsg.DescribeLogDirsResponse](t, admin(t, []string{c.BrokerAddr(2)}), req)
	if resp.ErrorCode != 0 || len(resp.Dirs) != 1 {
		t.Fatalf("DescribeLogDirs: error %v, %d dirs; want one dir", kerr.ErrorForCode(resp.ErrorCode), len(resp.Dirs))
	}
	d := resp.Dirs[0]
	if d.ErrorCode != 0 || !strings.Contains(d.Dir, "broker-2") || !filepath.IsAbs(d.Dir) {
		t.Errorf("dir %q, error %v: want broker 2's absolute data dir", d.Dir, kerr.ErrorForCode(d.ErrorCode))
	}
	if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Errorf("dir %s: total %d, usable %d bytes", d.Dir, d.TotalBytes, d.UsableBytes)
	}
	if len(d.Topics) != 1 || d.Topics[0].Topic != topic || len(d.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeLogDirs for %s-1 and -9 lists %+v, want %s-1 only", topic, d.Topics, topic)
	}
	p := d.Topics[0].Partitions[0]
	if p.Partition != 1 || p.Size <= 0 || p.OffsetLag != 0 || p.IsFuture {
		t.Errorf("partition %+v: want partition 1 with a size, no lag, not future", p)
	}

	// Every broker, through kgo's routing (kadm's DescribeAllLogDirs).
	sizes, _ := logDirSizes(t, cl, topic, 1)
	if len(sizes) != 3 {
		t.Fatalf("DescribeLogDirs to every broker shows %s-1 on %v, want all 3", topic, sizes)
	}
	for id, size := range sizes {
		if size <= 0 {
			t.Errorf("broker %d: %s-1 has size %d", id, topic, size)
		}
	}

	// Every version answers: v0, the first flexible one (v2) and the last.
	for _, v := range []int16{0, 2, 5} {
		versions := kversion.Stable()
		versions.SetMaxKeyVersion(kmsg.DescribeLogDirs.Int16(), v)
		pinned, err := kgo.NewClient(kgo.SeedBrokers(c.BrokerAddr(1)), kgo.MaxVersions(versions))
		if err != nil {
			t.Fatal(err)
		}
		resp := askBroker[*kmsg.DescribeLogDirsResponse](t, pinned, kmsg.NewPtrDescribeLogDirsRequest())
		pinned.Close()
		if resp.Version != v || len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) == 0 {
			t.Errorf("DescribeLogDirs v%d: answered v%d with %+v", v, resp.Version, resp.Dirs)
		}
		if wantBytes := v >= 4; (resp.Dirs[0].TotalBytes > 0) != wantBytes {
			t.Errorf("DescribeLogDirs v%d: total bytes %d", v, resp.Dirs[0].TotalBytes)
		}
	}
}

func recordsAdminCLI(t *testing.T, c *cluster.Cluster, topic string) {
	out := mustKzoo(t, c, "records", "delete", topic, "--partition", "0", "--offset", "80")
	if !strings.Contains(out, topic+"-0: low watermark 80") {
		t.Errorf("records delete printed:\n%s", out)
	}
	if start := logStartOf(t, c.Bootstrap(), topic, 0); start != 80 {
		t.Errorf("earliest offset after records delete to 80: %d", start)
	}

	// kafka-delete-records.sh's offset file; -1 is the high watermark.
	hw := highWatermarks(t, c.Bootstrap(), topic, 2)
	file := filepath.Join(t.TempDir(), "offsets.json")
	writeOffsetFile(t, file, topic, map[int32]int64{1: -1})
	out = mustKzoo(t, c, "records", "delete", "--offset-json-file", file)
	if want := fmt.Sprintf("%s-1: low watermark %d", topic, hw[1]); !strings.Contains(out, want) {
		t.Errorf("records delete --offset-json-file printed:\n%s\nwant %q", out, want)
	}
	if start := logStartOf(t, c.Bootstrap(), topic, 1); start != hw[1] {
		t.Errorf("earliest offset after deleting every record of partition 1: %d, want %d", start, hw[1])
	}

	kzooFails(t, c, "OFFSET_OUT_OF_RANGE", "records", "delete", topic, "--partition", "0", "--offset", "100000")
	kzooFails(t, c, "give --offset", "records", "delete", topic)

	// log-dirs describe: every broker, then one, as a table and as JSON.
	out = mustKzoo(t, c, "log-dirs", "describe", "--topic", topic)
	for id := 1; id <= 3; id++ {
		for p := 0; p < 2; p++ {
			if !hasRow(out, fmt.Sprint(id), topic, fmt.Sprint(p)) {
				t.Errorf("log-dirs describe lacks %s-%d on broker %d:\n%s", topic, p, id, out)
			}
		}
	}
	out = mustKzoo(t, c, "log-dirs", "describe", "--broker", "3", "--json")
	var doc logDirsJSON
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("log-dirs describe --json printed %q: %v", out, err)
	}
	if len(doc.Brokers) != 1 || doc.Brokers[0].Broker != 3 || !doc.hasSizedPartition(3, topic+"-0") {
		t.Errorf("log-dirs describe --broker 3 --json: %s", out)
	}
	kzooFails(t, c, "broker 9 is not in the cluster", "log-dirs", "describe", "--broker", "9")
}

// hasRow reports whether some line of a table starts with the fields want
// in its BROKER, DIR-skipped, TOPIC and PARTITION columns.
func hasRow(table string, broker, topic, partition string) bool {
	for line := range strings.Lines(table) {
		if f := strings.Fields(line); len(f) == 7 && f[0] == broker && f[2] == topic && f[3] == partition {
			return true
		}
	}
	return false
}

// writeOffsetFile writes kafka-delete-records.sh's offset JSON.
func writeOffsetFile(t *testing.T, path, topic string, offsets map[int32]int64) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"partitions": [`)
	first := true
	for p, o := range offsets {
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, `{"topic": %q, "partition": %d, "offset": %d}`, topic, p, o)
	}
	b.WriteString(`], "version": 1}`)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// logDirsJSON is kafka-log-dirs.sh's output (and kzoo log-dirs --json's).
type logDirsJSON struct {
	Version int `json:"version"`
	Brokers []struct {
		Broker  int32 `json:"broker"`
		LogDirs []struct {
			LogDir     string  `json:"logDir"`
			Error      *string `json:"error"`
			Partitions []struct {
				Partition string `json:"partition"`
				Size      *int64 `json:"size"`
				OffsetLag int64  `json:"offsetLag"`
				IsFuture  bool   `json:"isFuture"`
			} `json:"partitions"`
		} `json:"logDirs"`
	} `json:"brokers"`
}

// hasSizedPartition reports whether broker lists partition ("topic-p") in
// a dir without error, with a size.
func (d logDirsJSON) hasSizedPartition(broker int32, partition string) bool {
	for _, b := range d.Brokers {
		if b.Broker != broker {
			continue
		}
		for _, dir := range b.LogDirs {
			for _, p := range dir.Partitions {
				if dir.Error == nil && p.Partition == partition && p.Size != nil && *p.Size > 0 && !p.IsFuture {
					return true
				}
			}
		}
	}
	return false
}

// recordsAdminRestart restarts every broker: none can learn the log start
// from another, so each must have kept it.
func recordsAdminRestart(t *testing.T, c *cluster.Cluster, topic string) {
	want := logStartOf(t, c.Bootstrap(), topic, 0)
	if want <= 0 {
		t.Fatalf("log start of %s-0 is %d before the restart: nothing was deleted", topic, want)
	}
	for _, id := range c.BrokerIDs() {
		if err := c.StopBroker(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range c.BrokerIDs() {
		if err := c.StartBroker(id); err != nil {
			t.Fatal(err)
		}
	}
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	waitForLeaders(t, c.Bootstrap(), topic, 2)
	if start := logStartOf(t, c.Bootstrap(), topic, 0); start != want {
		t.Fatalf("after restarting every broker %s-0 starts at %d, want %d", topic, start, want)
	}
	cl := admin(t, c.Bootstrap())
	if code := fetchError(t, c, cl, topic, 0, want-1); code != kerr.OffsetOutOfRange.Code {
		t.Errorf("fetch below the log start after the restart: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(code))
	}
}

func recordsAdminKafkaTools(t *testing.T, c *cluster.Cluster, topic string) {
	tools := newKafkaTools(t)
	produceToPartitions(t, c.Bootstrap(), topic, 2, 30)
	start := logStartOf(t, c.Bootstrap(), topic, 0)
	file := filepath.Join(t.TempDir(), "offsets.json")
	writeOffsetFile(t, file, topic, map[int32]int64{0: start + 10})
	out := tools.runOK(t, "kafka-delete-records", "--bootstrap-server", c.BrokerAddr(1), "--offset-json-file", file)
	if want := fmt.Sprintf("partition: %s-0\tlow_watermark: %d", topic, start+10); !strings.Contains(out, want) {
		t.Errorf("kafka-delete-records.sh printed:\n%s\nwant %q", out, want)
	}
	if got := logStartOf(t, c.Bootstrap(), topic, 0); got != start+10 {
		t.Errorf("earliest offset after kafka-delete-records.sh to %d: %d", start+10, got)
	}

	out = tools.runOK(t, "kafka-log-dirs", "--bootstrap-server", c.BrokerAddr(1), "--describe", "--topic-list", topic)
	var doc logDirsJSON
	found := false
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "{") {
			found = true
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("kafka-log-dirs.sh JSON %q: %v", line, err)
			}
		}
	}
	if !found {
		t.Fatalf("kafka-log-dirs.sh printed no JSON:\n%s", out)
	}
	for id := int32(1); id <= 3; id++ {
		for p := 0; p < 2; p++ {
			if !doc.hasSizedPartition(id, fmt.Sprintf("%s-%d", topic, p)) {
				t.Errorf("kafka-log-dirs.sh lacks a size for %s-%d on broker %d:\n%s", topic, p, id, out)
			}
		}
	}
}
