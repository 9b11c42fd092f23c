package quota

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

// BenchmarkRecord is what quotas cost a Produce: with none configured, with
// one configured but not reached, and with one reached (every call
// throttled). The parallel variants record from all cores, to one shared rate
// (a named user) and to one rate per client id (<default>).
func BenchmarkRecord(b *testing.B) {
	who := Identity{User: "ANONYMOUS", ClientID: "bench"}
	setup := func(bound string) *Manager {
		m := NewManager(DefaultSettings(), time.Now)
		if bound != "" {
			m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{
				{ClientID: zkpaths.DefaultConfigEntity}: {ProducerByteRate: bound},
				{User: "ANONYMOUS"}:                     {ConsumerByteRate: bound},
			})
		}
		return m
	}
	for _, c := range []struct {
		name, bound string
		throttled   bool
	}{
		{"none", "", false},
		{"under", "1e15", false},
		{"reached", "1", true},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := setup(c.bound)
			b.ReportAllocs()
			for b.Loop() {
				if d := m.Record(Produce, who, 1024); (d > 0) != c.throttled {
					b.Fatalf("throttle %v", d)
				}
			}
		})
	}
	for _, c := range []struct {
		name  string
		kind  Kind
		bound string
	}{
		{"parallel-shared-under", Fetch, "1e15"},       // users/ANONYMOUS: one rate for all
		{"parallel-per-client-under", Produce, "1e15"}, // clients/<default>: a rate per client id
	} {
		b.Run(c.name, func(b *testing.B) {
			m := setup(c.bound)
			b.ReportAllocs()
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				who := Identity{User: "ANONYMOUS", ClientID: fmt.Sprint("bench-", n.Add(1))}
				for pb.Next() {
					m.Record(c.kind, who, 1024)
				}
			})
		})
	}
}
