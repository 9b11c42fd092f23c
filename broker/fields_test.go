package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// The tests of this file pin response fields that Kafka fills and kzoo
// once left null, zero or wrong, API by API.

func TestMetadataAuthorizedOperations(t *testing.T) {
	snap := &coordinator.Snapshot{
		ClusterID: "c", ControllerID: 1, Brokers: liveBrokers(1),
		Topics: map[string]*coordinator.Topic{"t": {Name: "t", Partitions: []coordinator.Partition{
			{Topic: "t", Partition: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}, State: zkpaths.StateOnline},
		}}},
	}
	s, _ := testServer(t, snap)
	for _, tc := range []struct {
		version                int16
		asked                  bool
		wantTopic, wantCluster int32
	}{
		{7, true, -2147483648, -2147483648}, // before KIP-430
		{8, false, -2147483648, -2147483648},
		{8, true, 3576, 8096}, // READ..ALTER_CONFIGS; CREATE..IDEMPOTENT_WRITE
		{10, true, 3576, 8096},
		{11, true, 3576, -2147483648}, // v11 drops the cluster's
		{12, true, 3576, -2147483648},
	} {
		in := kmsg.NewPtrMetadataRequest()
		in.Version = tc.version
		in.IncludeTopicAuthorizedOperations, in.IncludeClusterAuthorizedOperations = tc.asked, tc.asked
		for _, name := range []string{"t", "missing"} {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			in.Topics = append(in.Topics, rt)
		}
		resp := callHandler(s, context.Background(), &request{key: in.Key(), version: tc.version, body: in, listener: "PLAINTEXT"}).(*kmsg.MetadataResponse)
		got := roundTrip(t, resp, kmsg.NewPtrMetadataResponse())
		if got.AuthorizedOperations != tc.wantCluster {
			t.Errorf("v%d asked=%v: cluster authorized operations %d, want %d", tc.version, tc.asked, got.AuthorizedOperations, tc.wantCluster)
		}
		for _, mt := range got.Topics {
			if mt.AuthorizedOperations != tc.wantTopic {
				t.Errorf("v%d asked=%v: topic %s authorized operations %d, want %d", tc.version, tc.asked, *mt.Topic, mt.AuthorizedOperations, tc.wantTopic)
			}
		}
		if tc.version >= 2 && (got.ClusterID == nil || *got.ClusterID != "c") || got.ControllerID != 1 {
			t.Errorf("v%d: cluster id %v, controller %d; want c, 1", tc.version, got.ClusterID, got.ControllerID)
		}
	}
}

func TestDescribeClusterAuthorizedOperations(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{ClusterID: "c", ControllerID: 1, Brokers: liveBrokers(1)})
	for _, asked := range []bool{false, true} {
		in := kmsg.NewPtrDescribeClusterRequest()
		in.IncludeClusterAuthorizedOperations = asked
		resp := callHandler(s, context.Background(), &request{key: in.Key(), body: in, listener: "PLAINTEXT"}).(*kmsg.DescribeClusterResponse)
		want := int32(-2147483648)
		if asked {
			want = 8096
		}
		if resp.ClusterAuthorizedOperations != want || resp.ClusterID != "c" || resp.ControllerID != 1 {
			t.Errorf("asked=%v: authorized operations %d, cluster %q, controller %d; want %d, c, 1", asked, resp.ClusterAuthorizedOperations, resp.ClusterID, resp.ControllerID, want)
		}
	}
}

// TestListOffsetsLeaderEpochs: the leader epoch of a ListOffsets answer is
// the current one with the high watermark, and otherwise the epoch that
// wrote the offset found; -1 when none is found.
func TestListOffsetsLeaderEpochs(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{}})
	f := withReplicas(t, s)
	var p *replica.Partition
	for epoch := int32(1); epoch <= 2; epoch++ {
		p = f.lead("t", 0, config.Topic{}, epoch, []int32{1}, []int32{1})
		f.appendAsLeader(p, testBatch(t, "v")) // timestamp 1
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d, want 2", hw)
	}

	for _, tc := range []struct {
		timestamp                 int64
		wantOffset, wantTimestamp int64
		wantEpoch                 int32
	}{
		{listLatest, 2, -1, 2},
		{listEarliest, 0, -1, 1},
		{1, 0, 1, 1},
		{1 << 50, -1, -1, -1},
	} {
		in := kmsg.NewPtrListOffsetsRequest()
		in.Version = 4
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = tc.timestamp
		rt.Partitions = append(rt.Partitions, rp)
		in.Topics = append(in.Topics, rt)
		resp := callHandler(s, context.Background(), &request{key: in.Key(), version: 4, body: in}).(*kmsg.ListOffsetsResponse)
		got := resp.Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.Offset != tc.wantOffset || got.Timestamp != tc.wantTimestamp || got.LeaderEpoch != tc.wantEpoch {
			t.Errorf("timestamp %d: error %d, offset %d, timestamp %d, epoch %d; want 0, %d, %d, %d",
				tc.timestamp, got.ErrorCode, got.Offset, got.Timestamp, got.LeaderEpoch, tc.wantOffset, tc.wantTimestamp, tc.wantEpoch)
		}
	}
}
