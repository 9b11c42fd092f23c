package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/kzoo/kzoo/broker/storage"
)

// fetchResponse is an encoded Fetch response whose record data stays in the
// segment files until it is written: kmsg would need the records in memory,
// so the Fetch response (v4-v12) is encoded here, as a list of parts.
type fetchResponse struct {
	flexible bool
	parts    []part
}

// setThrottle sets the response's throttle_time_ms, its first field.
func (r *fetchResponse) setThrottle(ms int32) {
	binary.BigEndian.PutUint32(r.parts[0].bytes, uint32(ms))
}

// fetchPartition is one partition's answer.
type fetchPartition struct {
	partition      int32
	errorCode      int16
	highWatermark  int64
	lastStable     int64
	logStartOffset int64
	records        storage.Slice // Size 0: no records
	// chunks, when not nil, are sent in place of records: a consumer's view
	// of them (see replica.ReadResult.Chunks), kept runs from the file and
	// synthetic empty batches between.
	chunks []storage.Chunk
	// aborted are the aborted transactions of a read_committed read (v4+),
	// nil for other reads, which encode it null.
	aborted []storage.AbortedTxn
	// diverging, divergingEpoch and divergingEndOffset (v12+) tell a
	// follower where its log stops matching ours (KIP-320).
	diverging          bool
	divergingEpoch     int32
	divergingEndOffset int64
	// throttled: the records count against the leader replication quota
	// once sent (replica.ReadResult.Throttled).
	throttled bool
}

// recordsSize is the length of the partition's records field.
func (p *fetchPartition) recordsSize() int64 {
	if p.chunks == nil {
		return p.records.Size
	}
	return storage.ChunksSize(p.chunks)
}

type fetchTopic struct {
	name       string
	partitions []fetchPartition
}

// encodeFetchResponse encodes a Fetch response of the given version, with
// a top-level error code and fetch session id (v7+).
func encodeFetchResponse(version int16, errorCode int16, sessionID int32, topics []fetchTopic) *fetchResponse {
	e := fetchEncoder{version: version, flexible: version >= 12}
	e.buf = kbin.AppendInt32(e.buf, 0) // throttle millis (v1+)
	if version >= 7 {
		e.buf = kbin.AppendInt16(e.buf, errorCode)
		e.buf = kbin.AppendInt32(e.buf, sessionID) // 0: none (KIP-227)
	}
	e.arrayLen(len(topics))
	for _, t := range topics {
		e.string(t.name)
		e.arrayLen(len(t.partitions))
		for _, p := range t.partitions {
			e.partition(p)
		}
		e.tags()
	}
	e.tags()
	e.flush()
	return &fetchResponse{flexible: e.flexible, parts: e.parts}
}

type fetchEncoder struct {
	version  int16
	flexible bool
	buf      []byte
	parts    []part
}

func (e *fetchEncoder) partition(p fetchPartition) {
	e.buf = kbin.AppendInt32(e.buf, p.partition)
	e.buf = kbin.AppendInt16(e.buf, p.errorCode)
	e.buf = kbin.AppendInt64(e.buf, p.highWatermark)
	e.buf = kbin.AppendInt64(e.buf, p.lastStable) // v4+
	if e.version >= 5 {
		e.buf = kbin.AppendInt64(e.buf, p.logStartOffset)
	}
	// Aborted transactions (v4+): null for read_uncommitted, as in Kafka.
	if e.flexible {
		e.buf = kbin.AppendCompactNullableArrayLen(e.buf, len(p.aborted), p.aborted == nil)
	} else {
		e.buf = kbin.AppendNullableArrayLen(e.buf, len(p.aborted), p.aborted == nil)
	}
	for _, a := range p.aborted {
		e.buf = kbin.AppendInt64(e.buf, a.ProducerID)
		e.buf = kbin.AppendInt64(e.buf, a.FirstOffset)
		e.tags()
	}
	if e.version >= 11 {
		e.buf = kbin.AppendInt32(e.buf, -1) // preferred read replica: none
	}
	// Records: a (compact) nullable byte array whose bytes come from the
	// file, or from the chunks of a consumer's view, in order.
	size := p.recordsSize()
	if e.flexible {
		e.buf = kbin.AppendUvarint(e.buf, uint32(size)+1)
	} else {
		e.buf = kbin.AppendInt32(e.buf, int32(size))
	}
	switch {
	case p.chunks != nil:
		for _, c := range p.chunks {
			if c.Batch != nil {
				e.buf = append(e.buf, c.Batch...)
			} else if c.Slice.Size > 0 {
				e.slice(c.Slice)
			}
		}
	case p.records.Size > 0:
		e.slice(p.records)
	}
	if e.flexible && p.diverging {
		// One tagged field: tag 0, DivergingEpoch {Epoch int32,
		// EndOffset int64, no tags}.
		e.buf = kbin.AppendUvarint(e.buf, 1)
		e.buf = kbin.AppendUvarint(e.buf, 0)
		e.buf = kbin.AppendUvarint(e.buf, 4+8+1)
		e.buf = kbin.AppendInt32(e.buf, p.divergingEpoch)
		e.buf = kbin.AppendInt64(e.buf, p.divergingEndOffset)
		e.buf = kbin.AppendUvarint(e.buf, 0)
		return
	}
	e.tags()
}

func (e *fetchEncoder) arrayLen(n int) {
	if e.flexible {
		e.buf = kbin.AppendCompactArrayLen(e.buf, n)
	} else {
		e.buf = kbin.AppendArrayLen(e.buf, n)
	}
}

func (e *fetchEncoder) string(s string) {
	if e.flexible {
		e.buf = kbin.AppendCompactString(e.buf, s)
	} else {
		e.buf = kbin.AppendString(e.buf, s)
	}
}

// tags writes an empty tagged-field section in flexible versions.
func (e *fetchEncoder) tags() {
	if e.flexible {
		e.buf = kbin.AppendUvarint(e.buf, 0)
	}
}

// slice appends a part sent from a segment file.
func (e *fetchEncoder) slice(s storage.Slice) {
	e.flush()
	e.parts = append(e.parts, part{slice: s})
}

func (e *fetchEncoder) flush() {
	if len(e.buf) > 0 {
		e.parts = append(e.parts, part{bytes: e.buf})
		e.buf = nil
	}
}
