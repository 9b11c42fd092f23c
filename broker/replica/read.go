package replica

import (
	"github.com/kzoo/kzoo/broker/storage"
)

// FetchPosition is where one partition of a Fetch asks to read from, as the
// request has it.
type FetchPosition struct {
	// FetchOffset is the first offset wanted.
	FetchOffset int64
	// CurrentLeaderEpoch is the leader epoch the fetcher knows (-1: it
	// does not say); see Partition.CheckLeader.
	CurrentLeaderEpoch int32
	// LastFetchedEpoch and LogStartOffset are a follower's: the epoch of
	// the last record it has, and its log start offset.
	LastFetchedEpoch int32
	LogStartOffset   int64
	// ReadCommitted is a consumer's isolation level read_committed: it reads
	// up to the last stable offset, and learns of the aborted transactions
	// of what it reads. Followers ignore it.
	ReadCommitted bool
	// FilterTransactions is set for a consumer that may not skip control
	// batches and aborted transactions itself (see storage.Log.ConsumerView):
	// of a log that had transactions it reads a view without them, and
	// learns of no aborted transactions. Other consumers read the log as
	// Kafka serves it. Followers ignore it.
	FilterTransactions bool
}

// ReadResult is one partition's answer to a Fetch. The offsets are -1 when
// the partition is not read at all (this broker does not lead it).
type ReadResult struct {
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// AbortedTransactions are, for a read_committed read, the aborted
	// transactions with records in what was read (non-nil, perhaps empty);
	// nil for other reads.
	AbortedTransactions []storage.AbortedTxn
	// Records are the batches read (Size 0: none); they stay in the
	// segment files until written to the client.
	Records storage.Slice
	// Chunks, when not nil, are what a consumer is sent in place of
	// Records: the range with its control batches, and for read_committed
	// the batches of aborted transactions, each run of them replaced by an
	// empty batch, perhaps read on past a range of dropped batches alone,
	// perhaps empty (storage.Log.ConsumerView). Only consumer reads of a
	// log that has had transactions have them; AbortedTransactions is then
	// empty, the records it would name being gone.
	Chunks []storage.Chunk
	// Diverging tells a follower its log stops matching the leader's:
	// it must truncate by DivergingEpoch and DivergingEndOffset (KIP-320).
	Diverging          bool
	DivergingEpoch     int32
	DivergingEndOffset int64
	// Throttled marks a follower's read of a partition this broker's
	// replica of which is throttled as leader (its topic's
	// leader.replication.throttled.replicas names it): the records, once
	// sent, count against the leader quota (Manager.RecordThrottledSent).
	// While that quota is exceeded, a follower outside the ISR reads none.
	Throttled bool
}

// Read reads p for a fetch from pos, at most limit bytes. A consumer
// (replicaID < 0) gets records from below the high watermark, or below the
// last stable offset when it reads committed, with the aborted
// transactions of the range read, or, when pos.FilterTransactions asks for
// it and the log has had transactions, a view without control batches and
// aborted transactions (see ReadResult.Chunks); a follower
// (replicaID >= 0) gets them up to the log end offset, after its fetch
// offset counted as its progress, or the point where its log diverges from
// ours. With first set, the answer may exceed limit by one batch (KIP-74),
// so that a large batch can always make progress; otherwise a read that
// does not fit is left out. A follower outside the ISR reads nothing of a
// partition throttled as leader here while the leader quota is exceeded
// (see ReadResult.Throttled).
func (m *Manager) Read(p *Partition, replicaID int32, pos FetchPosition, limit int64, first bool) (ReadResult, error) {
	if err := p.CheckLeader(pos.CurrentLeaderEpoch); err != nil {
		return ReadResult{HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}, err
	}
	// The LSO is loaded before the high watermark, so that it is never above it.
	lso := p.LastStableOffset()
	maxOffset := p.HighWatermark()
	readCommitted := pos.ReadCommitted && replicaID < 0
	if readCommitted {
		maxOffset = lso
	}
	if replicaID >= 0 {
		found, end, ok := p.log.EndOffsetForEpoch(pos.LastFetchedEpoch)
		if pos.LastFetchedEpoch < 0 {
			found, end, ok = -1, -1, false
		}
		if epoch, endOffset, diverged := Divergence(pos.LastFetchedEpoch, pos.FetchOffset,
			EpochEnd{Epoch: found, EndOffset: end, Found: ok}, p.log.LogStartOffset()); diverged {
			return ReadResult{
				HighWatermark: p.HighWatermark(), LastStableOffset: p.LastStableOffset(), LogStartOffset: p.log.LogStartOffset(),
				Diverging: true, DivergingEpoch: epoch, DivergingEndOffset: endOffset,
			}, nil
		}
		if p.recordFollowerFetch(replicaID, pos.FetchOffset, pos.LogStartOffset, m.cfg.Now()) {
			m.wakeISRManager()
		}
		maxOffset = p.log.LogEndOffset()
	}
	res := ReadResult{HighWatermark: p.HighWatermark(), LastStableOffset: lso, LogStartOffset: p.log.LogStartOffset()}
	if replicaID >= 0 && p.throttled.Load()&throttledAsLeader != 0 {
		res.Throttled = true
		if m.leaderHoldsBack(p, replicaID) {
			// Its progress is recorded above all the same: it may join
			// the ISR by the usual rules, and is no longer held back then.
			return res, nil
		}
	}
	if readCommitted {
		res.AbortedTransactions = []storage.AbortedTxn{}
	}
	if limit <= 0 && !first {
		return res, nil
	}
	limit = max(limit, 0)
	slice, err := p.log.Read(pos.FetchOffset, maxOffset, int32(min(limit, 1<<31-1)))
	if err != nil {
		return res, err
	}
	if !first && slice.Size > limit {
		return res, nil
	}
	res.Records = slice
	if replicaID < 0 && pos.FilterTransactions && slice.Size > 0 {
		chunks, filtered, err := p.log.ConsumerView(slice, maxOffset, int32(min(limit, 1<<31-1)), readCommitted)
		if err != nil {
			return res, err
		}
		if filtered {
			// A view that read on past dropped batches may be bigger than
			// the range read.
			if !first && storage.ChunksSize(chunks) > limit {
				res.Records = storage.Slice{}
				return res, nil
			}
			res.Chunks = chunks
			return res, nil
		}
	}
	if readCommitted && slice.Size > 0 {
		// As Kafka: the transactions aborted with records in what is returned.
		aborted, err := p.log.AbortedTransactions(pos.FetchOffset, slice.NextOffset)
		if err != nil {
			return res, err
		}
		if len(aborted) > 0 {
			res.AbortedTransactions = aborted
		}
	}
	return res, nil
}
