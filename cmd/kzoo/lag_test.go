package main

import (
	"reflect"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

func TestLagRows(t *testing.T) {
	member := &groupMember{MemberID: "m1", ClientID: "c1", Host: "/10.0.0.1"}
	committed := map[zkpaths.TopicPartition]int64{
		tp("b", 0): 4,  // behind the end
		tp("a", 1): 10, // caught up
		tp("a", 0): 12, // past the end (a truncated log): lag 0, never negative
		tp("c", 0): 3,  // end unknown
	}
	logEnd := map[zkpaths.TopicPartition]int64{
		tp("b", 0): 10,
		tp("a", 1): 10,
		tp("a", 0): 7,
		tp("b", 1): 5,
	}
	owners := map[zkpaths.TopicPartition]*groupMember{
		tp("b", 0): member,
		tp("b", 1): member, // assigned, nothing committed
	}
	got := lagRows(committed, logEnd, owners)
	want := []lagRow{
		{TopicPartition: tp("a", 0), Committed: knownOffset(12), LogEnd: knownOffset(7), Lag: knownOffset(0)},
		{TopicPartition: tp("a", 1), Committed: knownOffset(10), LogEnd: knownOffset(10), Lag: knownOffset(0)},
		{TopicPartition: tp("b", 0), Committed: knownOffset(4), LogEnd: knownOffset(10), Lag: knownOffset(6), Owner: member},
		{TopicPartition: tp("b", 1), LogEnd: knownOffset(5), Owner: member},
		{TopicPartition: tp("c", 0), Committed: knownOffset(3)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lagRows:\n got %+v\nwant %+v", got, want)
	}
}

func TestLagRowsEmpty(t *testing.T) {
	if rows := lagRows(nil, nil, nil); len(rows) != 0 {
		t.Errorf("lagRows of nothing = %+v, want no rows", rows)
	}
}

func TestMaybeOffsetString(t *testing.T) {
	for _, c := range []struct {
		o    maybeOffset
		want string
	}{
		{maybeOffset{}, "-"},
		{knownOffset(0), "0"},
		{knownOffset(1234567890123), "1234567890123"},
	} {
		if got := c.o.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.o, got, c.want)
		}
	}
}
