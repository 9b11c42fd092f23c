// Package replica is the replica manager: the partitions this broker holds
// and the one way in and out of each, as Kafka's ReplicaManager.
//
//   - Manager (manager.go) holds the partition table and applies the
//     cluster view to it: which partitions this broker holds, and whether it
//     leads or follows each (roles.go).
//   - AppendRecords (append.go) is the one path records take into a
//     partition as leader, with acks=all waiting for the ISR; Produce appends
//     as a client, the coordinators (and transaction markers) through
//     AppendAndAwait as a coordinator (storage.AppendOrigin).
//   - Read (read.go) is the one path out, for consumers and followers;
//     a follower's fetch is also how the leader learns its progress. A
//     read_committed consumer reads below the last stable offset and learns
//     of the aborted transactions of what it reads.
//   - The ISR manager (isr.go) shrinks and expands the ISRs of the
//     partitions this broker leads, through conditional writes of their
//     state znodes; the high watermark follows the ISR.
//   - Follower fetchers (fetcher.go) copy the leaders' logs into the
//     partitions this broker follows, truncating where they diverge.
//   - The decisions themselves (rules.go) are pure functions with
//     exhaustive tests: high watermark, ISR shrink and expand, divergence
//     and truncation.
//
// The broker package decodes requests, calls the manager and encodes the
// answers; it never changes a partition's log or replication state itself
// (it may query a log through Partition.Log, as ListOffsets does).
// storage owns the bytes on disk; this package owns who may write them.
package replica
