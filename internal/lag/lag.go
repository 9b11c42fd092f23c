// Package lag defines a consumer group's lag on a partition, the one way
// the metrics, the CLI and the web console compute it.
package lag

// Of returns the lag of a group that committed offset committed on a
// partition whose end offset is end: the records it has yet to consume,
// end - committed, or 0 when the group committed beyond end (the end
// offset came from a leader that is behind, or the log was truncated): a
// consumer is never ahead of its partition.
func Of(committed, end int64) int64 {
	return max(end-committed, 0)
}
