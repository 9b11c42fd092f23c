package main

import (
	"slices"
	"strconv"

	"github.com/kzoo/kzoo/internal/lag"
	"github.com/kzoo/kzoo/zkpaths"
)

// maybeOffset is an offset that may be unknown: nothing committed, or a log
// end offset that could not be read. Unknown offsets print as "-", as in
// kafka-consumer-groups.sh.
type maybeOffset struct {
	value int64
	known bool
}

func knownOffset(v int64) maybeOffset { return maybeOffset{value: v, known: true} }

func (o maybeOffset) String() string {
	if !o.known {
		return "-"
	}
	return strconv.FormatInt(o.value, 10)
}

// lagRow is one line of the partition table of `kzoo groups describe`.
type lagRow struct {
	zkpaths.TopicPartition
	Committed maybeOffset
	LogEnd    maybeOffset
	Lag       maybeOffset
	// Owner is the member the partition is assigned to, nil if none is.
	Owner *groupMember
}

// lagRows builds the partition table of a group: one row for every
// partition the group has committed an offset for or has assigned to a
// member, sorted by topic and partition.
//
// committed holds the group's committed offsets (a partition without a
// commit is absent), logEnd the log end offsets (high watermarks) that
// could be read, owners the member each assigned partition belongs to. The
// lag is known only when both offsets are, and is never negative: a
// committed offset past the high watermark (a log truncated after an
// unclean election, or a commit beyond the end) means nothing is left to
// consume, not a negative amount.
func lagRows(committed, logEnd map[zkpaths.TopicPartition]int64, owners map[zkpaths.TopicPartition]*groupMember) []lagRow {
	rows := make([]lagRow, 0, len(committed)+len(owners))
	add := func(tp zkpaths.TopicPartition) {
		row := lagRow{TopicPartition: tp, Owner: owners[tp]}
		if c, ok := committed[tp]; ok {
			row.Committed = knownOffset(c)
		}
		if e, ok := logEnd[tp]; ok {
			row.LogEnd = knownOffset(e)
		}
		if row.Committed.known && row.LogEnd.known {
			row.Lag = knownOffset(lag.Of(row.Committed.value, row.LogEnd.value))
		}
		rows = append(rows, row)
	}
	for tp := range committed {
		add(tp)
	}
	for tp := range owners {
		if _, done := committed[tp]; !done {
			add(tp)
		}
	}
	slices.SortFunc(rows, func(a, b lagRow) int { return compareTopicPartitions(a.TopicPartition, b.TopicPartition) })
	return rows
}
