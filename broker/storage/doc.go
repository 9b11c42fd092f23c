// Package storage implements the on-disk partition log of a kzoo broker and the manager of
// all partition logs in the broker's log directories.
//
// The layout on disk is Apache Kafka's own, so that a reader who knows Kafka's log
// directories finds what they expect:
//
//	<log.dir>/meta.properties
//	<log.dir>/recovery-point-offset-checkpoint
//	<log.dir>/replication-offset-checkpoint        (high watermarks)
//	<log.dir>/cleaner-offset-checkpoint            (first dirty offsets of compacted logs)
//	<log.dir>/.kafka_cleanshutdown              (only while the broker is stopped cleanly)
//	<log.dir>/<topic>-<partition>/00000000000000000000.log
//	<log.dir>/<topic>-<partition>/00000000000000000000.index
//	<log.dir>/<topic>-<partition>/00000000000000000000.timeindex
//	<log.dir>/<topic>-<partition>/00000000000000000000.txnindex   (aborted transactions whose marker is in the segment; absent when none)
//	<log.dir>/<topic>-<partition>/00000000000000001234.snapshot  (producer state as of offset 1234)
//	<log.dir>/<topic>-<partition>/leader-epoch-checkpoint        (which leader epoch wrote which offsets)
//	<log.dir>/<topic>-<partition>/cleaner-history                (when the cleaner first went over which offsets)
//
// A log is a sequence of segments. Each segment file holds magic-v2 record batches exactly
// as producers sent them, except for the base offset and partition leader epoch, which the
// leader stamps into the header (both lie outside the CRC). The sparse offset and time
// indexes are kept in memory for lookups and appended to their files as the log grows;
// they are advisory, so they are never fsynced: an open reads the batch headers of the
// active segment and of the segments that may not have been flushed, and rewrites any
// index that disagrees with them; the index files of the other segments pass a cheap
// check against the few batches at their end or are rebuilt likewise.
//
// Batches are read through package record, the broker's one batch codec. A producer's
// batches are validated on append as Kafka validates them, by streaming through their
// records (count, framing, keys where the log is compacted) without materialising values;
// a compressed batch may inflate to record.DecompressedLimit of max.message.bytes, so no
// batch costs memory in proportion to what it decompresses to.
//
// The state of idempotent producers (their recent sequence numbers, for duplicate
// detection) is rebuilt at open from the newest producer state snapshot and the batch
// headers after it; snapshots are written at each roll and at Close. Opening a log thus
// costs in proportion to the part written since its last roll or clean shutdown, not to
// its size.
//
// For replication each log keeps its leader epoch history (the first offset each leader
// epoch wrote, answering OffsetsForLeaderEpoch) and its high watermark. The epoch history
// is rewritten on every change, before the batches of a new epoch and after a truncation;
// a missing or malformed one is rebuilt from the epochs stamped in the batches. A
// truncation also has the Manager rewrite the recovery point checkpoint before the log
// accepts appends again, so that a crash never finds a checkpoint vouching for bytes
// written after the truncation as if they had been flushed.
//
// Transactions (txn.go, txnindex.go): a transactional batch opens its producer's
// transaction on the partition and a marker (a control batch only coordinators write,
// see AppendOrigin) ends it. The log tracks the open transactions and those whose marker
// the ISR may not have yet; from them and the high watermark comes the last stable
// offset, published atomically, below which read_committed consumers read. Each abort
// is listed in the .txnindex file of the marker's segment, in Kafka's format, from which
// AbortedTransactions answers read_committed fetches. Producer snapshots carry the open
// transactions across restarts; the .txnindex files of the segments recovery rescans,
// and any torn or inconsistent one, are rebuilt from the log.
//
// Logs whose cleanup.policy includes compact are compacted by the Manager's log cleaner
// (see cleaner.go): it rewrites their inactive segments below the last stable offset
// keeping the latest record of each key and none of aborted transactions, merging small segments, and swaps the copies in as
// Kafka's cleaner does; offsets never change. Retention deletes segments only when the
// policy includes delete.
//
// Concurrency: appends and other mutations of a [Log] are serialised by one mutex per
// log. Readers take no lock on the write path: the segment list, the log end offset and
// each segment's committed size are published atomically after the bytes they cover are
// written, so a reader only ever reads whole batches.
//
// Descriptors (filecache.go): a broker may hold far more segment files than it may keep
// open, so none is held open for a segment's life. Each .log file, and the .index and
// .timeindex files the active segment appends to, is named by a [FileHandle] that opens
// it on demand through the Manager's descriptor cache, bounded by kzoo.max.open.files;
// every read, append, flush or sendfile holds its file acquired for that operation only,
// and the cache closes idle files beyond its bound, least recently used first. A file in
// use is never closed: when all are in use the cache opens more, counts it and warns.
// Opening a log opens only the files it reads; a [Slice] waiting in a fetch response holds
// no descriptor, and reopens its file to be sent. Index files are read whole at open and
// kept in memory (no mmap); transaction indexes are opened for each rare read or append.
//
// Deleted segments: a fetch may still be sending from a segment that retention, a
// truncation or the cleaner removed, so its log file is renamed to a unique
// <base>.log.<n>.deleted name, where its handle can still reopen it, and removed after
// file.delete.delay.ms by the [Manager]'s background loop (open removes leftovers). A log
// deleted whole keeps the segment files that were open pinned open for that delay.
package storage
