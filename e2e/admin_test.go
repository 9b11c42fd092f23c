package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// TestAdminAPIs drives the cluster-changing admin APIs against a 4-broker
// cluster: partition increase, configs taking effect, reassignment and
// deletion with a broker down.
func TestAdminAPIs(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 4, PortOffset: 22400, Env: map[string]string{
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS":    "4000",
		"KZOO_LOG_RETENTION_CHECK_INTERVAL_MS": "300",
	}})
	waitForLiveBrokers(t, c.Bootstrap(), 4)

	t.Run("describe-cluster", func(t *testing.T) { testDescribeCluster(t, c) })
	t.Run("create-partitions", func(t *testing.T) { testCreatePartitions(t, c) })
	t.Run("configs", func(t *testing.T) { testConfigs(t, c) })
	t.Run("elect-leaders", func(t *testing.T) { testElectLeaders(t, c) })
	t.Run("reassignment", func(t *testing.T) { testReassignment(t, c) })
	t.Run("delete-with-broker-down", func(t *testing.T) { testDeleteWithBrokerDown(t, c) })
}

// request sends req through cl and fails the test on a transport error.
func request[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

func testDescribeCluster(t *testing.T, c *cluster.Cluster) {
	for _, addr := range c.Bootstrap() {
		resp := askBroker[*kmsg.DescribeClusterResponse](t, brokerClient(t, addr), kmsg.NewPtrDescribeClusterRequest())
		if resp.ErrorCode != 0 {
			t.Fatalf("DescribeCluster from %s: %v", addr, kerr.ErrorForCode(resp.ErrorCode))
		}
		var ids []int32
		for _, b := range resp.Brokers {
			ids = append(ids, b.NodeID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []int32{1, 2, 3, 4}) || resp.ClusterID == "" || !slices.Contains(ids, resp.ControllerID) {
			t.Errorf("DescribeCluster from %s: brokers %v, controller %d, cluster %q", addr, ids, resp.ControllerID, resp.ClusterID)
		}
	}
}

func createPartitions(t *testing.T, cl *kgo.Client, topic string, count int32, validateOnly bool) kmsg.CreatePartitionsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis, req.ValidateOnly = 30000, validateOnly
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	req.Topics = append(req.Topics, rt)
	return request[*kmsg.CreatePartitionsResponse](t, cl, req).Topics[0]
}

func testCreatePartitions(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	cl := admin(t, bootstrap)
	const topic = "grow"
	createTopic(t, bootstrap, topic, 2, 2, nil)

	if got := createPartitions(t, cl, topic, 4, false); got.ErrorCode != 0 {
		t.Fatalf("increase to 4: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	waitForLeaders(t, bootstrap, topic, 4)
	leaders := map[int32]bool{}
	for _, p := range metadata(t, bootstrap, topic).Topics[0].Partitions {
		if len(p.Replicas) != 2 {
			t.Errorf("partition %d has replicas %v, want the topic's replication factor 2", p.Partition, p.Replicas)
		}
		leaders[p.Replicas[0]] = true
	}
	if len(leaders) != 4 {
		t.Errorf("preferred leaders of 4 partitions over 4 brokers: %v, want all four", leaders)
	}

	for _, count := range []int32{4, 3} {
		got := createPartitions(t, cl, topic, count, false)
		if got.ErrorCode != kerr.InvalidPartitions.Code || got.ErrorMessage == nil {
			t.Errorf("count %d: error %v (message %v), want INVALID_PARTITIONS with a message", count, kerr.ErrorForCode(got.ErrorCode), got.ErrorMessage)
		}
	}
	if got := createPartitions(t, cl, topic, 6, true); got.ErrorCode != 0 {
		t.Errorf("validate-only increase: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := createPartitions(t, cl, "no-such-topic", 6, false); got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(got.ErrorCode))
	}
	if n := len(metadata(t, bootstrap, topic).Topics[0].Partitions); n != 4 {
		t.Errorf("%d partitions after the refused and validate-only requests, want 4", n)
	}
}

// describeConfig returns one config of a resource, as cl's first seed
// broker sees it.
func describeConfig(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name, key string) (kmsg.DescribeConfigsResponseResourceConfig, bool) {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, []string{key}
	req.Resources = append(req.Resources, rr)
	res := askBroker[*kmsg.DescribeConfigsResponse](t, cl, req).Resources[0]
	if res.ErrorCode != 0 {
		t.Fatalf("DescribeConfigs %s: %v", name, kerr.ErrorForCode(res.ErrorCode))
	}
	if len(res.Configs) != 1 {
		return kmsg.DescribeConfigsResponseResourceConfig{}, false
	}
	return res.Configs[0], true
}

func incrementalAlter(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = typ, name, ops
	req.Resources = append(req.Resources, rr)
	return request[*kmsg.IncrementalAlterConfigsResponse](t, cl, req).Resources[0]
}

func setOp(key, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(value)
	return c
}

func testConfigs(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	cl := admin(t, bootstrap)
	const topic = "configured"
	createTopic(t, bootstrap, topic, 1, 1, map[string]string{"segment.bytes": "4096"})
	for range 5 {
		produceFranz(t, bootstrap, topic, newWorkload(200, 10, "cfg"))
	}
	if start := logStartOf(t, bootstrap, topic, 0); start != 0 {
		t.Fatalf("log start %d before any retention change, want 0", start)
	}

	// Refused: an unknown key, a bad value, a read-only broker key.
	if res := incrementalAlter(t, cl, kmsg.ConfigResourceTypeTopic, topic, setOp("retention.mss", "1")); res.ErrorCode != kerr.InvalidConfig.Code {
		t.Errorf("unknown topic key: %v, want INVALID_CONFIG", kerr.ErrorForCode(res.ErrorCode))
	}
	if res := incrementalAlter(t, cl, kmsg.ConfigResourceTypeTopic, topic, setOp("retention.ms", "soon")); res.ErrorCode != kerr.InvalidConfig.Code {
		t.Errorf("bad value: %v, want INVALID_CONFIG", kerr.ErrorForCode(res.ErrorCode))
	}
	if res := incrementalAlter(t, cl, kmsg.ConfigResourceTypeBroker, "", setOp("broker.id", "7")); res.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("read-only broker key: %v, want INVALID_REQUEST", kerr.ErrorForCode(res.ErrorCode))
	}
	if res := incrementalAlter(t, cl, kmsg.ConfigResourceTypeTopic, "no-such-topic", setOp("retention.ms", "1")); res.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(res.ErrorCode))
	}

	// Lowering retention.ms deletes the old segments on the running broker.
	if res := incrementalAlter(t, cl, kmsg.ConfigResourceTypeTopic, topic, setOp("retention.ms", "1")); res.ErrorCode != 0 {
		t.Fatalf("set retention.ms: %v", kerr.ErrorForCode(res.ErrorCode))
	}
	poll.Until(t, 20*time.Second, "retention.ms=1 to delete old segments", func() bool {
		return logStartOf(t, bootstrap, topic, 0) > 0
	})
	for _, addr := range bootstrap {
		cfg, ok := describeConfig(t, brokerClient(t, addr), kmsg.ConfigResourceTypeTopic, topic, "retention.ms")
		if !ok || cfg.Value == nil || *cfg.Value != "1" || cfg.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("retention.ms from %s: %+v, want 1 from DYNAMIC_TOPIC_CONFIG", addr, cfg)
		}
	}

	// A cluster-wide broker default reaches every broker.
	if res := incrementalAlter(t, cl, kmsg.ConfigResourceTypeBroker, "", setOp("log.retention.bytes", "123456789")); res.ErrorCode != 0 {
		t.Fatalf("set the broker default: %v", kerr.ErrorForCode(res.ErrorCode))
	}
	for id, addr := range bootstrap {
		bc := brokerClient(t, addr)
		poll.Until(t, 5*time.Second, "the broker default on "+addr, func() bool {
			cfg, ok := describeConfig(t, bc, kmsg.ConfigResourceTypeBroker, strconv.Itoa(id+1), "log.retention.bytes")
			return ok && cfg.Value != nil && *cfg.Value == "123456789" && cfg.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig
		})
	}
}

// testElectLeaders asks for preferred elections where every partition
// already has its preferred leader, and for a partition that does not exist.
func testElectLeaders(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	const topic = "elect"
	createTopic(t, bootstrap, topic, 2, 2, nil)
	req := kmsg.NewPtrElectLeadersRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0, 1, 5}
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.ElectLeadersResponse](t, admin(t, bootstrap), req)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 3 {
		t.Fatalf("ElectLeaders: %+v", resp)
	}
	for _, p := range resp.Topics[0].Partitions {
		want := kerr.ElectionNotNeeded.Code
		if p.Partition == 5 {
			want = kerr.UnknownTopicOrPartition.Code
		}
		if p.ErrorCode != want {
			t.Errorf("partition %d: %v, want %v", p.Partition, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(want))
		}
	}
}

func testReassignment(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	cl := admin(t, bootstrap)
	const topic = "moving"
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 30000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2, 3}
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	create.Topics = append(create.Topics, ct)
	if code := request[*kmsg.CreateTopicsResponse](t, cl, create).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create %s: %v", topic, kerr.ErrorForCode(code))
	}
	waitForLeaders(t, bootstrap, topic, 1)
	partitionDir := func(id int) string { return filepath.Join(c.Home(), "broker-"+strconv.Itoa(id), "data", topic+"-0") }
	poll.Until(t, 10*time.Second, "broker 1 to hold "+topic+"-0", func() bool { return exists(partitionDir(1)) })

	alter := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	alter.TimeoutMillis = 30000
	at := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	at.Topic = topic
	ap := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	ap.Partition, ap.Replicas = 0, []int32{2, 3, 4}
	at.Partitions = append(at.Partitions, ap)
	bad := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	bad.Partition, bad.Replicas = 7, []int32{1}
	at.Partitions = append(at.Partitions, bad)
	alter.Topics = append(alter.Topics, at)
	resp := request[*kmsg.AlterPartitionAssignmentsResponse](t, cl, alter)
	if resp.ErrorCode != 0 {
		t.Fatalf("AlterPartitionAssignments: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	for _, p := range resp.Topics[0].Partitions {
		want := int16(0)
		if p.Partition == 7 {
			want = kerr.UnknownTopicOrPartition.Code
		}
		if p.ErrorCode != want {
			t.Errorf("partition %d: %v, want %v", p.Partition, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(want))
		}
	}

	poll.Until(t, 30*time.Second, "the reassignment to complete", func() bool {
		list := request[*kmsg.ListPartitionReassignmentsResponse](t, cl, kmsg.NewPtrListPartitionReassignmentsRequest())
		return list.ErrorCode == 0 && len(list.Topics) == 0
	})
	for _, addr := range bootstrap {
		bc := brokerClient(t, addr)
		poll.Until(t, 10*time.Second, "replicas {2,3,4} in Metadata from "+addr, func() bool {
			md := metadataFrom(bc, topic)
			if md == nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 {
				return false
			}
			p := md.Topics[0].Partitions[0]
			return slices.Equal(p.Replicas, []int32{2, 3, 4}) && p.Leader >= 2
		})
	}
	poll.Until(t, 10*time.Second, "broker 1 to remove "+topic+"-0", func() bool { return !exists(partitionDir(1)) })
	if !exists(partitionDir(4)) {
		t.Errorf("broker 4 holds no %s-0 after the reassignment", topic)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func testDeleteWithBrokerDown(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	const topic = "doomed"
	createTopic(t, bootstrap, topic, 4, 3, nil)
	// Every broker holds a replica: 4 partitions × 3 replicas over 4 brokers.
	// A removed partition's directory is renamed "...-delete" first and
	// disappears later: it no longer counts.
	partitionDirs := func(id int) []string {
		matches, _ := filepath.Glob(filepath.Join(c.Home(), "broker-"+strconv.Itoa(id), "data", topic+"-*"))
		return slices.DeleteFunc(matches, func(m string) bool { return strings.HasSuffix(m, "-delete") })
	}
	const down = 4
	poll.Until(t, 10*time.Second, "broker 4 to hold replicas", func() bool { return len(partitionDirs(down)) > 0 })
	if err := c.StopBroker(down); err != nil {
		t.Fatal(err)
	}
	live := bootstrap[:down-1]

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 5000
	req.TopicNames = []string{topic}
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	if code := request[*kmsg.DeleteTopicsResponse](t, admin(t, live), req).Topics[0].ErrorCode; code != 0 {
		t.Fatalf("delete %s: %v", topic, kerr.ErrorForCode(code))
	}
	for id := 1; id < down; id++ {
		poll.Until(t, 10*time.Second, "broker "+strconv.Itoa(id)+" to remove its replicas", func() bool { return len(partitionDirs(id)) == 0 })
	}
	conn := zkConn(t, c)
	if ok, _, err := conn.Exists(zkpaths.TopicPath(topic)); err != nil || !ok {
		t.Fatalf("topic znode gone while broker %d, holding replicas, is down (err %v)", down, err)
	}
	if len(partitionDirs(down)) == 0 {
		t.Fatalf("broker %d's replicas vanished while it was down", down)
	}

	if err := c.StartBroker(down); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "the returning broker to remove its replicas", func() bool { return len(partitionDirs(down)) == 0 })
	poll.Until(t, 20*time.Second, "the controller to finish the deletion", func() bool {
		ok, _, err := conn.Exists(zkpaths.TopicPath(topic))
		return err == nil && !ok
	})
	// The name is free again.
	createTopic(t, bootstrap, topic, 1, 3, nil)
}
