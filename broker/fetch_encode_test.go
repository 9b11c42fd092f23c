package broker

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/storage"
)

// assemble concatenates a response's parts, reading file slices.
func assemble(t *testing.T, r *fetchResponse) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range r.parts {
		if p.slice.Size == 0 {
			buf.Write(p.bytes)
			continue
		}
		if _, err := io.Copy(&buf, io.NewSectionReader(p.slice.File, p.slice.Pos, p.slice.Size)); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestFetchResponseEncoding checks our Fetch encoder against kmsg's decoder
// for every version we serve.
func TestFetchResponseEncoding(t *testing.T) {
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	topics := []fetchTopic{
		{name: "a", partitions: []fetchPartition{
			{partition: 0, highWatermark: 10, lastStable: 8, logStartOffset: 2, records: storage.Slice{File: f, Pos: 3, Size: 7},
				aborted: []storage.AbortedTxn{{ProducerID: 7, FirstOffset: 3}, {ProducerID: 1 << 40, FirstOffset: 5}}},
			{partition: 1, errorCode: 1, highWatermark: -1, lastStable: -1, logStartOffset: -1},
		}},
		{name: "bb", partitions: []fetchPartition{
			{partition: 5, highWatermark: 99, lastStable: 99, logStartOffset: 0, records: storage.Slice{File: f, Pos: 20, Size: 16},
				aborted: []storage.AbortedTxn{}},
		}},
	}
	for v := apis[kmsg.Fetch].versions.min; v <= apis[kmsg.Fetch].versions.max; v++ {
		resp := encodeFetchResponse(v, topics)
		decoded := kmsg.NewPtrFetchResponse()
		decoded.SetVersion(v)
		if err := decoded.ReadFrom(assemble(t, resp)); err != nil {
			t.Fatalf("v%d: kmsg cannot decode our response: %v", v, err)
		}
		if len(decoded.Topics) != len(topics) {
			t.Fatalf("v%d: %d topics", v, len(decoded.Topics))
		}
		for i, want := range topics {
			got := decoded.Topics[i]
			if got.Topic != want.name || len(got.Partitions) != len(want.partitions) {
				t.Fatalf("v%d: topic %d = %q with %d partitions", v, i, got.Topic, len(got.Partitions))
			}
			for j, wp := range want.partitions {
				gp := got.Partitions[j]
				wantRecords := data[wp.records.Pos : wp.records.Pos+wp.records.Size]
				if gp.Partition != wp.partition || gp.ErrorCode != wp.errorCode || gp.HighWatermark != wp.highWatermark ||
					gp.LastStableOffset != wp.lastStable || !bytes.Equal(gp.RecordBatches, wantRecords) {
					t.Fatalf("v%d: partition %+v, want %+v with records %q", v, gp, wp, wantRecords)
				}
				if (wp.aborted == nil) != (gp.AbortedTransactions == nil) || len(gp.AbortedTransactions) != len(wp.aborted) {
					t.Fatalf("v%d: aborted transactions %v, want %v", v, gp.AbortedTransactions, wp.aborted)
				}
				for k, a := range wp.aborted {
					if g := gp.AbortedTransactions[k]; g.ProducerID != a.ProducerID || g.FirstOffset != a.FirstOffset {
						t.Fatalf("v%d: aborted transaction %d = %+v, want %+v", v, k, g, a)
					}
				}
				if v >= 5 && gp.LogStartOffset != wp.logStartOffset {
					t.Fatalf("v%d: log start offset %d, want %d", v, gp.LogStartOffset, wp.logStartOffset)
				}
			}
		}
	}
}
