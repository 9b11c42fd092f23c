package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/metrics"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// idleLeader is a Server leading partitions partitions of topic "t", each
// replicated to broker 2, with nothing written.
func idleLeader(b *testing.B, partitions int) *Server {
	b.Helper()
	vals, err := config.Load("", nil, []string{"broker.id=1"})
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := vals.Broker()
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{cfg: cfg, meta: &fakeMetadata{}, logger: discardLogger(), handoffs: newHandoffQueue(),
		quotas: quota.NewManager(quota.DefaultSettings(), nil), traffic: metrics.NewTraffic(nil),
		fetchSessions: newFetchSessionCache(10)}
	s.applied.Store(&coordinator.Snapshot{Brokers: liveBrokers(1, 2)})
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{b.TempDir()}, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logs.Close() })
	s.logs = logs
	s.replicas = replica.New(s.replicaConfig(), 1)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() {
		cancel()
		s.replicas.WaitFetchers()
	})
	s.replicas.StartFetchers(ctx)
	assigned := make(map[zkpaths.TopicPartition]replica.Assignment, partitions)
	topicConfig := cfg.ResolveTopic(nil) // as applyMetadata resolves it: every key set
	for p := range int32(partitions) {
		assigned[zkpaths.TopicPartition{Topic: "t", Partition: p}] = replica.Assignment{State: coordinator.Partition{
			Topic: "t", Partition: p, Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, State: zkpaths.StateOnline,
		}, Config: topicConfig}
	}
	if _, failed := s.replicas.Apply(assigned, nil); len(failed) > 0 {
		b.Fatal("cannot open the partitions")
	}
	return s
}

// followerFetch is broker 2's Fetch of every partition of "t" at offset 0,
// without waiting.
func followerFetch(partitions int, sessionID, epoch int32) *kmsg.FetchRequest {
	var ps []int32
	for p := range int32(partitions) {
		ps = append(ps, p)
	}
	in := sessionRequest(2, sessionID, epoch, "t", ps)
	for i := range in.Topics {
		for j := range in.Topics[i].Partitions {
			in.Topics[i].Partitions[j].CurrentLeaderEpoch = 1
		}
	}
	in.MaxBytes = 10 << 20
	return in
}

// BenchmarkIdleFollowerFetch measures the leader's side of a follower's
// fetch of idle partitions (nothing new, no wait): in full without a
// session, as fetchers did before KIP-227, and incremental in a session.
// The cost per partition is ns/op divided by the partition count.
func BenchmarkIdleFollowerFetch(b *testing.B) {
	for _, partitions := range []int{1000, 5000} {
		s := idleLeader(b, partitions)
		run := func(b *testing.B, in *kmsg.FetchRequest) *kmsg.FetchResponse {
			req := &request{key: in.Key(), version: in.GetVersion(), body: in, listener: "PLAINTEXT", namedClient: true}
			fr := s.handleFetch(context.Background(), req).(*fetchResponse)
			resp := kmsg.NewPtrFetchResponse()
			resp.SetVersion(in.Version)
			if err := resp.ReadFrom(assemble(&testing.T{}, fr)); err != nil {
				b.Fatal(err)
			}
			return resp
		}
		b.Run(fmt.Sprintf("partitions=%d/sessionless", partitions), func(b *testing.B) {
			in := followerFetch(partitions, 0, -1)
			for b.Loop() {
				req := &request{key: in.Key(), version: in.GetVersion(), body: in, listener: "PLAINTEXT", namedClient: true}
				s.handleFetch(context.Background(), req)
			}
		})
		b.Run(fmt.Sprintf("partitions=%d/session", partitions), func(b *testing.B) {
			resp := run(b, followerFetch(partitions, 0, 0))
			if resp.SessionID == 0 {
				b.Fatal("no session")
			}
			in := followerFetch(0, resp.SessionID, 1)
			for b.Loop() {
				req := &request{key: in.Key(), version: in.GetVersion(), body: in, listener: "PLAINTEXT", namedClient: true}
				out := s.handleFetch(context.Background(), req).(*fetchResponse)
				if len(out.parts) != 1 {
					b.Fatalf("an idle incremental fetch answered %d parts", len(out.parts))
				}
				in.SessionEpoch++
			}
		})
	}
}
