package broker

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

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
			{partition: 0, highWatermark: 10, lastStable: 8, logStartOffset: 2, records: storage.Slice{File: storage.FixedFile(f), Pos: 3, Size: 7},
				aborted: []storage.AbortedTxn{{ProducerID: 7, FirstOffset: 3}, {ProducerID: 1 << 40, FirstOffset: 5}}},
			{partition: 1, errorCode: 1, highWatermark: -1, lastStable: -1, logStartOffset: -1},
		}},
		{name: "bb", partitions: []fetchPartition{
			{partition: 5, highWatermark: 99, lastStable: 99, logStartOffset: 0, records: storage.Slice{File: storage.FixedFile(f), Pos: 20, Size: 16},
				aborted: []storage.AbortedTxn{}},
		}},
	}
	for v := apis[kmsg.Fetch].versions.min; v <= apis[kmsg.Fetch].versions.max; v++ {
		resp := encodeFetchResponse(v, 0, 0, topics)
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

// TestFetchResponseEncodingChunks: a consumer's view (runs of the segment
// file and synthetic batches between) is encoded as one records field
// whose length is that of all its chunks, the runs sent from the file.
func TestFetchResponseEncodingChunks(t *testing.T) {
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	chunks := []storage.Chunk{
		{Batch: []byte("<empty-1>")},
		{Slice: storage.Slice{File: storage.FixedFile(f), Pos: 2, Size: 5}},
		{Batch: []byte("<empty-2>")},
		{Slice: storage.Slice{File: storage.FixedFile(f), Pos: 10, Size: 3}},
		{Slice: storage.Slice{File: storage.FixedFile(f), Pos: 20, Size: 4}},
		{Batch: []byte("<empty-3>")},
	}
	wantRecords := "<empty-1>23456<empty-2>abcklmn<empty-3>"
	topics := []fetchTopic{{name: "t", partitions: []fetchPartition{
		{partition: 0, highWatermark: 40, lastStable: 40, records: storage.Slice{File: storage.FixedFile(f), Pos: 0, Size: 36},
			chunks: chunks, aborted: []storage.AbortedTxn{}},
		{partition: 1, highWatermark: 9, lastStable: 9, records: storage.Slice{File: storage.FixedFile(f), Pos: 30, Size: 6}},
	}}}
	if got, want := topics[0].partitions[0].recordsSize(), int64(len(wantRecords)); got != want {
		t.Fatalf("records size %d, want %d", got, want)
	}
	for v := apis[kmsg.Fetch].versions.min; v <= apis[kmsg.Fetch].versions.max; v++ {
		resp := encodeFetchResponse(v, 0, 0, topics)
		slices := 0
		for _, p := range resp.parts {
			if p.slice.Size > 0 {
				slices++
			}
		}
		if slices != 4 {
			t.Fatalf("v%d: %d parts sent from the file, want 4: the runs and the other partition's records", v, slices)
		}
		decoded := kmsg.NewPtrFetchResponse()
		decoded.SetVersion(v)
		if err := decoded.ReadFrom(assemble(t, resp)); err != nil {
			t.Fatalf("v%d: kmsg cannot decode our response: %v", v, err)
		}
		ps := decoded.Topics[0].Partitions
		if len(ps) != 2 || string(ps[0].RecordBatches) != wantRecords || string(ps[1].RecordBatches) != "uvwxyz" {
			t.Fatalf("v%d: records %q and %q, want %q and %q", v, ps[0].RecordBatches, ps[1].RecordBatches, wantRecords, "uvwxyz")
		}
		if ps[0].AbortedTransactions == nil || len(ps[0].AbortedTransactions) != 0 || ps[1].AbortedTransactions != nil {
			t.Fatalf("v%d: aborted transactions %v and %v, want empty and null", v, ps[0].AbortedTransactions, ps[1].AbortedTransactions)
		}
	}
}

// A throttle set after encoding reaches the response's throttle_time_ms,
// whether the response starts with record data or not.
func TestFetchResponseThrottle(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	for _, topics := range [][]fetchTopic{
		nil,
		{{name: "a", partitions: []fetchPartition{{partition: 0, records: storage.Slice{File: storage.FixedFile(f), Size: 10}}}}},
	} {
		for _, v := range []int16{4, 12} {
			resp := encodeFetchResponse(v, 0, 0, topics)
			setThrottle(resp, 1234*time.Millisecond)
			decoded := kmsg.NewPtrFetchResponse()
			decoded.SetVersion(v)
			if err := decoded.ReadFrom(assemble(t, resp)); err != nil {
				t.Fatalf("v%d: %v", v, err)
			}
			if decoded.ThrottleMillis != 1234 {
				t.Errorf("v%d, %d topics: throttle %d ms, want 1234", v, len(topics), decoded.ThrottleMillis)
			}
		}
	}
}
