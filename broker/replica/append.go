package replica

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/storage"
)

// Append is one partition's part of AppendRecords: what to write, and, once
// AppendRecords returns, what came of it.
type Append struct {
	Partition *Partition
	Records   []byte
	// LeaderEpoch pins the append to the epoch a writer was handed (the
	// group coordinator's): the append is refused with
	// NOT_LEADER_OR_FOLLOWER once the leadership moved on. -1 appends at
	// the current epoch.
	LeaderEpoch int32
	// Origin is who writes: a producer (storage.OriginClient, the zero
	// value) or a coordinator (storage.OriginCoordinator), which decides
	// what the log checks (see storage.AppendOrigin).
	Origin storage.AppendOrigin

	// Result is where the records went, when Err is nil.
	Result storage.AppendResult
	// Err is why the records were not written: a wrapped *kerr.Error, or a
	// failure of the log itself.
	Err error
	// AckErr is why written records were not acknowledged under acks=all:
	// REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND,
	// NOT_LEADER_OR_FOLLOWER, or the context's error.
	AckErr error
}

// AppendRecords writes each append's records as leader, and with acks -1
// (all) waits, at most timeout, until the high watermark of every
// partition written passes its records. It is the one way records enter a
// partition as leader: Produce, the coordinators and transaction markers
// come through here, each append with its Origin. Only the caller waits.
//
// Under acks=all an append is refused up front with NOT_ENOUGH_REPLICAS when
// the ISR is below min.insync.replicas, and its records are checked against
// the topic's message.timestamp.difference.max.ms before anything is
// written. An append that comes with Err set, refused by the caller, is
// left alone.
func (m *Manager) AppendRecords(ctx context.Context, acks int16, timeout time.Duration, appends []Append) {
	var waits []pendingAck
	for i := range appends {
		a := &appends[i]
		if a.Err != nil {
			continue // refused by the caller
		}
		p := a.Partition
		epoch := p.leaderEpoch.Load()
		switch {
		case a.LeaderEpoch >= 0 && epoch != a.LeaderEpoch:
			a.Err = kerr.NotLeaderForPartition
			continue
		case acks == -1 && epoch >= 0 && p.isrSize() < p.minISR():
			a.Err = kerr.NotEnoughReplicas
			continue
		}
		if a.Err = checkTopicTimestamps(p.Config(), a.Records); a.Err != nil {
			continue
		}
		if a.Result, a.Err = p.appendAt(a.Records, a.LeaderEpoch, a.Origin); a.Err != nil {
			continue
		}
		// A duplicate's offsets were acknowledged (or are awaited) once
		// already; waiting for them again is what makes the retry safe.
		waits = append(waits, pendingAck{p: p, epoch: epoch, lastOffset: a.Result.LastOffset, index: i})
	}
	if acks != -1 || len(waits) == 0 {
		return
	}
	awaitAcks(ctx, waits, timeout, func(w pendingAck, err error) { appends[w.index].AckErr = err })
}

// AppendAndAwait is AppendRecords of one partition with acks=all, at the
// leader epoch the writer was handed: the append of a coordinator (the
// group and transaction coordinators, transaction markers), with
// storage.OriginCoordinator. It returns the offset of the last record
// written.
func (m *Manager) AppendAndAwait(ctx context.Context, p *Partition, epoch int32, records []byte, timeout time.Duration) (int64, error) {
	a := []Append{{Partition: p, Records: records, LeaderEpoch: epoch, Origin: storage.OriginCoordinator}}
	m.AppendRecords(ctx, -1, timeout, a)
	if a[0].Err != nil {
		return -1, a[0].Err
	}
	if a[0].AckErr != nil {
		return -1, a[0].AckErr
	}
	return a[0].Result.LastOffset, nil
}

// pendingAck is an acks=all append waiting for the ISR: the partition, the
// epoch it was written at, the last offset written, and its append's index.
type pendingAck struct {
	p          *Partition
	epoch      int32
	lastOffset int64
	index      int
}

// awaitAcks waits until the high watermark of every partition in waits
// passes its append, and calls fail for each one that does not make it:
// with REQUEST_TIMED_OUT after timeout, NOT_ENOUGH_REPLICAS_AFTER_APPEND
// when the ISR shrank below min.insync.replicas, NOT_LEADER_OR_FOLLOWER
// when leadership moved, or ctx's error once ctx is done.
func awaitAcks(ctx context.Context, waits []pendingAck, timeout time.Duration, fail func(pendingAck, error)) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	wake := make(chan struct{}, 1)
	for len(waits) > 0 {
		for _, w := range waits {
			w.p.Watch(wake)
		}
		remaining := waits[:0]
		for _, w := range waits {
			switch {
			case w.p.leaderEpoch.Load() != w.epoch:
				fail(w, kerr.NotLeaderForPartition)
			case w.p.HighWatermark() > w.lastOffset:
				// Committed.
			case w.p.isrSize() < w.p.minISR():
				fail(w, kerr.NotEnoughReplicasAfterAppend)
			default:
				remaining = append(remaining, w)
				continue
			}
			w.p.Unwatch(wake)
		}
		waits = remaining
		if len(waits) == 0 {
			return
		}
		var cause error
		select {
		case <-wake:
		case <-timer.C:
			cause = kerr.RequestTimedOut
		case <-ctx.Done():
			cause = ctx.Err()
		}
		for _, w := range waits {
			w.p.Unwatch(wake)
			if cause != nil {
				fail(w, cause)
			}
		}
		if cause != nil {
			return
		}
	}
}
