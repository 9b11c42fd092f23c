package txn

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	var digits strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The expected bytes are laid out by hand from Kafka's
// TransactionLogKey.json and TransactionLogValue.json (version 0: no
// tagged fields, big-endian integers, int16-length strings, int32-length
// arrays with -1 for null).
func TestKeyGolden(t *testing.T) {
	want := unhex(t, "0000 0002 7478") // version 0, "tx"
	if got := txnKey("tx"); !bytes.Equal(got, want) {
		t.Fatalf("key = %x, want %x", got, want)
	}
}

func TestValueGolden(t *testing.T) {
	ongoing := &transit{
		producerID: 5, producerEpoch: 2, timeout: time.Minute, state: stateOngoing,
		partitions: map[zkpaths.TopicPartition]struct{}{tp("a", 2): {}, tp("a", 0): {}},
		lastUpdate: time.UnixMilli(1000), startTime: time.UnixMilli(500),
	}
	want := unhex(t, `
		0000                    # version 0
		0000000000000005        # producer id
		0002                    # epoch
		0000ea60                # timeout 60000 ms
		01                      # Ongoing
		00000001                # one topic
		0001 61                 # "a"
		00000002 00000000 00000002  # partitions 0, 2
		00000000000003e8        # last update 1000
		00000000000001f4        # start 500`)
	if got := txnValue(ongoing); !bytes.Equal(got, want) {
		t.Fatalf("value =\n%x, want\n%x", got, want)
	}

	empty := &transit{producerID: 5, producerEpoch: 3, timeout: time.Minute, state: stateEmpty, lastUpdate: time.UnixMilli(1000)}
	want = unhex(t, "0000 0000000000000005 0003 0000ea60 00 ffffffff 00000000000003e8 ffffffffffffffff")
	if got := txnValue(empty); !bytes.Equal(got, want) {
		t.Fatalf("empty value =\n%x, want\n%x", got, want)
	}
}

func TestSchemaRoundTrip(t *testing.T) {
	for _, st := range []txnState{stateEmpty, stateOngoing, statePrepareCommit, statePrepareAbort, stateCompleteCommit, stateCompleteAbort} {
		tr := &transit{
			producerID: 77, producerEpoch: 9, timeout: 90 * time.Second, state: st,
			partitions: map[zkpaths.TopicPartition]struct{}{},
			lastUpdate: time.UnixMilli(123456), startTime: time.UnixMilli(120000),
		}
		if st != stateEmpty {
			tr.partitions[tp("b", 1)] = struct{}{}
			tr.partitions[tp("a", 0)] = struct{}{}
		}
		id, err := decodeKey(txnKey("my-id"))
		if err != nil || id != "my-id" {
			t.Fatalf("key: %q, %v", id, err)
		}
		m, err := decodeValue(id, txnValue(tr))
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if m.producerID != 77 || m.producerEpoch != 9 || m.timeout != 90*time.Second || m.state != st ||
			!m.lastUpdate.Equal(tr.lastUpdate) || !m.startTime.Equal(tr.startTime) || len(m.partitions) != len(tr.partitions) {
			t.Fatalf("%s: decoded %+v from %+v", st, m, tr)
		}
		for p := range tr.partitions {
			if _, ok := m.partitions[p]; !ok {
				t.Fatalf("%s: partition %v lost", st, p)
			}
		}
	}
}

func TestDecodeRefusesBadRecords(t *testing.T) {
	if _, err := decodeKey([]byte{0, 1, 0, 0}); err == nil {
		t.Error("key version 1 accepted")
	}
	if _, err := decodeKey([]byte{0}); err == nil {
		t.Error("short key accepted")
	}
	bad := txnValue(&transit{producerID: 1, state: stateEmpty})
	bad[2+8+2+4] = 9 // status
	if _, err := decodeValue("x", bad); err == nil {
		t.Error("status 9 accepted")
	}
	if _, err := decodeValue("x", []byte{0, 0, 1}); err == nil {
		t.Error("truncated value accepted")
	}
}
