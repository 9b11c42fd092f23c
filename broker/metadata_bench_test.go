package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/quota"
)

// BenchmarkMetadata measures Metadata requests at 100k partitions, in 1,000
// topics of 100 and in one topic of 100k: for one topic, and for all,
// decoded and then encoded as the connection would.
func BenchmarkMetadata(b *testing.B) {
	const n = 100_000
	for _, perTopic := range []int{100, n} {
		snap := scaleSnapshot(n, perTopic)
		s := &Server{cfg: testBrokerConfig(b), logger: discardLogger(), handoffs: newHandoffQueue(), quotas: quota.NewManager(quota.DefaultSettings(), nil)}
		s.applied.Store(snap)
		one := kmsg.NewPtrMetadataRequest()
		one.Version = 12
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("topic-000000")
		one.Topics = append(one.Topics, rt)
		all := kmsg.NewPtrMetadataRequest()
		all.Version = 12
		for _, tc := range []struct {
			name string
			in   *kmsg.MetadataRequest
		}{{"one", one}, {"all", all}} {
			b.Run(fmt.Sprintf("partitions=%d/per_topic=%d/%s", n, perTopic, tc.name), func(b *testing.B) {
				b.ReportAllocs()
				var buf []byte
				for b.Loop() {
					resp := callHandler(s, context.Background(), &request{key: tc.in.Key(), version: tc.in.Version, body: tc.in, listener: "PLAINTEXT"}).(*kmsg.MetadataResponse)
					buf = resp.AppendTo(buf[:0])
				}
				b.ReportMetric(float64(len(buf)), "bytes/resp")
			})
		}
	}
}
