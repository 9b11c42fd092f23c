package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/zkpaths"
)

// handleDescribeLogDirs serves DescribeLogDirs (KIP-113) for this broker's
// own log dirs, as Kafka does: every dir, with the partitions asked for (all
// when Topics is null) that it holds, their size on disk and offset lag, and
// from v4 the size and usable space of the dir's file system. kzoo keeps no
// future replicas (no intra-broker moves), so IsFuture is always false, and
// no dir is cordoned (v5).
func (s *Server) handleDescribeLogDirs(ctx context.Context, req *request, in *kmsg.DescribeLogDirsRequest, resp *kmsg.DescribeLogDirsResponse) any {
	if !s.authorizedCluster(req, kmsg.ACLOperationDescribe) {
		// No dirs; v3+ says why, earlier versions cannot.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	var wanted map[zkpaths.TopicPartition]bool // nil: every partition
	if in.Topics != nil {
		wanted = make(map[zkpaths.TopicPartition]bool)
		for _, t := range in.Topics {
			for _, p := range t.Partitions {
				wanted[zkpaths.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
	}
	for _, dir := range s.logs.LogDirs() {
		d := kmsg.NewDescribeLogDirsResponseDir()
		d.Dir = dir.Path
		d.TotalBytes, d.UsableBytes = dir.TotalBytes, dir.UsableBytes
		d.Topics = describeDirTopics(dir.Logs, wanted)
		resp.Dirs = append(resp.Dirs, d)
	}
	return resp
}

// describeDirTopics answers the partitions of one log dir that wanted
// selects (nil: all), ordered by topic and partition.
func describeDirTopics(logs map[zkpaths.TopicPartition]*storage.Log, wanted map[zkpaths.TopicPartition]bool) []kmsg.DescribeLogDirsResponseDirTopic {
	tps := make([]zkpaths.TopicPartition, 0, len(logs))
	for tp := range logs {
		if wanted == nil || wanted[tp] {
			tps = append(tps, tp)
		}
	}
	slices.SortFunc(tps, zkpaths.TopicPartition.Compare)
	var topics []kmsg.DescribeLogDirsResponseDirTopic
	for _, tp := range tps {
		if n := len(topics); n == 0 || topics[n-1].Topic != tp.Topic {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = tp.Topic
			topics = append(topics, t)
		}
		l := logs[tp]
		p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		p.Partition = tp.Partition
		p.Size = l.Size()
		// As Kafka defines it for a replica that is not a future one: how far
		// the log end is below the high watermark, which a leader's never is
		// and a follower's is only briefly (its high watermark comes from the
		// leader, capped at its own end).
		p.OffsetLag = max(l.HighWatermark()-l.LogEndOffset(), 0)
		topics[len(topics)-1].Partitions = append(topics[len(topics)-1].Partitions, p)
	}
	return topics
}
