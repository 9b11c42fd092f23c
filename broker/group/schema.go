package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	codec "github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/zkpaths"
)

// The coordinator's records in __consumer_offsets use Kafka's own schemas
// (kmsg has them), so that Kafka's tools read them and kzoo reads Kafka's:
//
//	key v0/v1 OffsetCommitKey    (group, topic, partition) -> OffsetCommitValue, written as v3 (v1 with an expire timestamp)
//	key v2    GroupMetadataKey   (group)                   -> GroupMetadataValue, written as v3
//
// A record with a null value is a tombstone: it deletes the key. Every
// write is one uncompressed magic-v2 record batch, so a commit of many
// partitions is atomic.
const (
	offsetCommitKeyVersion     = 1
	offsetCommitValueVersion   = 3
	offsetCommitValueVersionV1 = 1 // the version with an expire timestamp
	groupMetadataKeyVersion    = 2
	groupMetadataValueVersion  = 3
)

// record is one key and value in a batch; a nil value is a tombstone.
type record struct {
	key, value []byte
}

// encodeBatch builds one uncompressed magic-v2 record batch of records, as
// the coordinator writes them: base offset 0 (the log assigns offsets), no
// partition leader epoch (the log stamps it), no producer, create time now.
func encodeBatch(records []record, now time.Time) []byte {
	var body []byte
	for i, r := range records {
		body = appendRecord(body, i, r)
	}
	ts := now.UnixMilli()
	batch := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                codec.CurrentMagic,
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       ts,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		Records:              body,
	}
	out := batch.AppendTo(make([]byte, 0, codec.HeaderSize+len(body)))
	codec.Finish(out, int32(len(records)), ts)
	return out
}

// appendRecord appends one magic-v2 record (no timestamp delta, no headers).
func appendRecord(dst []byte, offsetDelta int, r record) []byte {
	body := make([]byte, 0, 16+len(r.key)+len(r.value))
	body = append(body, 0)              // attributes
	body = binary.AppendVarint(body, 0) // timestamp delta
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendVarintBytes(body, r.key)
	body = appendVarintBytes(body, r.value)
	body = binary.AppendVarint(body, 0) // header count
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarintBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// logBatch is one batch read back from the log.
type logBatch struct {
	// hdr is the header of a magic-v2 batch; of an older message, only its
	// offset and magic are known.
	hdr codec.Header
	// nextOffset is the offset after the batch's last record.
	nextOffset int64
	// raw is the whole batch.
	raw []byte
}

func (b logBatch) isV2() bool            { return b.hdr.Magic == codec.CurrentMagic }
func (b logBatch) isControl() bool       { return b.isV2() && b.hdr.IsControl() }
func (b logBatch) isTransactional() bool { return b.isV2() && b.hdr.IsTransactional() }

// errCorruptBatch marks data that is not a well-formed record batch.
var errCorruptBatch = errors.New("corrupt record batch")

// legacyMinSize is the smallest size of a message of the old formats (magic
// 0/1) that tells its magic: offset, length, crc and magic.
const legacyMinSize = codec.LogOverhead + 5

// nextBatch splits the first batch off data, which holds whole batches as
// Log.Read returns them. It checks the framing (and, for magic v2, the
// CRC); on a framing error the rest of data cannot be split any further.
func nextBatch(data []byte) (b logBatch, rest []byte, err error) {
	if len(data) < legacyMinSize {
		return b, nil, fmt.Errorf("%w: %d trailing bytes", errCorruptBatch, len(data))
	}
	// The offset, length and magic lie where they do in every format.
	length := int64(int32(binary.BigEndian.Uint32(data[8:])))
	size := codec.LogOverhead + length
	if length < 5 || size > int64(len(data)) {
		return b, nil, fmt.Errorf("%w: length %d with %d bytes left", errCorruptBatch, length, len(data))
	}
	raw, rest := data[:size], data[size:]
	b.raw = raw
	b.hdr.BaseOffset, b.hdr.Magic = int64(binary.BigEndian.Uint64(raw)), int8(raw[16])
	if b.hdr.Magic < codec.CurrentMagic {
		// A message of the old formats (magic 0/1): its offset field is its
		// (last) offset. The coordinator never wrote these; they are skipped.
		b.nextOffset = b.hdr.BaseOffset + 1
		return b, rest, nil
	}
	if b.hdr.Magic != codec.CurrentMagic || size < codec.HeaderSize {
		return b, nil, fmt.Errorf("%w: magic %d, length %d", errCorruptBatch, b.hdr.Magic, length)
	}
	b.hdr = codec.ParseHeader(raw)
	b.nextOffset = b.hdr.NextOffset()
	if err := b.hdr.CheckCRC(raw); err != nil {
		return b, rest, fmt.Errorf("%w: %w", errCorruptBatch, err)
	}
	return b, rest, nil
}

// decompressedLimit bounds what one compressed batch of the offsets
// partition may decompress to; the coordinator writes only small,
// uncompressed batches.
var decompressedLimit = codec.DecompressedLimit(0)

// eachRecord calls fn with each record of a magic-v2 batch, reading them
// with r. A record it cannot decode ends the batch with an error, after fn
// has seen the records before it. The slices fn gets are valid during the
// call only.
func (b logBatch) eachRecord(r *codec.Reader, fn func(record)) error {
	r.Reset(b.hdr, b.raw, codec.Whole, decompressedLimit)
	for r.Next() {
		rec := r.Record()
		fn(record{key: rec.Key, value: rec.Value})
	}
	return r.Err()
}

// offsetCommitKey is the key of a group's committed offset of tp.
func offsetCommitKey(groupID string, tp zkpaths.TopicPartition) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = offsetCommitKeyVersion
	k.Group, k.Topic, k.Partition = groupID, tp.Topic, tp.Partition
	return k.AppendTo(nil)
}

// offsetCommitValue is the value of a committed offset: version 3, or
// version 1 when it carries an expire timestamp (OffsetCommit v2-v4 with a
// retention time), as Kafka writes them.
func offsetCommitValue(o committedOffset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	if o.expireTimestamp >= 0 {
		v.Version = offsetCommitValueVersionV1
		v.ExpireTimestamp = o.expireTimestamp
	}
	v.Offset = o.offset
	v.LeaderEpoch = o.leaderEpoch
	v.Metadata = o.metadata
	v.CommitTimestamp = o.commitTimestamp
	return v.AppendTo(nil)
}

// groupMetadataKey is the key of a group's metadata.
func groupMetadataKey(groupID string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = groupMetadataKeyVersion
	k.Group = groupID
	return k.AppendTo(nil)
}

// groupMetadataValue is the group's metadata with the members' assignments
// (nil: none), as Kafka's storeGroup writes it.
func groupMetadataValue(g *group, assignment map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = g.protocolNameOrNil()
	if g.leaderID != "" {
		v.Leader = new(g.leaderID)
	}
	v.CurrentStateTimestamp = -1
	if !g.stateTimestamp.IsZero() {
		v.CurrentStateTimestamp = g.stateTimestamp.UnixMilli()
	}
	g.eachMember(func(m *member) {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = durationMillis(m.rebalanceTimeout)
		mv.SessionTimeoutMillis = durationMillis(m.sessionTimeout)
		mv.Subscription = m.metadata(g.protocolName)
		mv.Assignment = assignment[m.id]
		v.Members = append(v.Members, mv)
	})
	return v.AppendTo(nil)
}

// recordKey is a decoded __consumer_offsets key.
type recordKey struct {
	// groupID is set for both kinds; isOffset tells them apart.
	groupID  string
	isOffset bool
	tp       zkpaths.TopicPartition
}

// errUnknownKeyVersion marks a key of a kind the coordinator does not know
// (Kafka logs and skips these too: they may be left over from a newer
// version).
var errUnknownKeyVersion = errors.New("unknown key version")

func decodeKey(key []byte) (recordKey, error) {
	if len(key) < 2 {
		return recordKey{}, fmt.Errorf("%w: key of %d bytes", errCorruptBatch, len(key))
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return recordKey{}, fmt.Errorf("offset commit key: %w", err)
		}
		return recordKey{groupID: k.Group, isOffset: true, tp: zkpaths.TopicPartition{Topic: k.Topic, Partition: k.Partition}}, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return recordKey{}, fmt.Errorf("group metadata key: %w", err)
		}
		return recordKey{groupID: k.Group}, nil
	default:
		return recordKey{}, fmt.Errorf("%w %d", errUnknownKeyVersion, version)
	}
}

func decodeOffsetValue(value []byte) (committedOffset, error) {
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return committedOffset{}, fmt.Errorf("offset commit value: %w", err)
	}
	if v.Version < 0 || v.Version > 4 {
		return committedOffset{}, fmt.Errorf("offset commit value: unknown version %d", v.Version)
	}
	o := committedOffset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTimestamp: v.CommitTimestamp, expireTimestamp: -1}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireTimestamp = v.ExpireTimestamp
	}
	return o, nil
}

func decodeGroupValue(value []byte) (*kmsg.GroupMetadataValue, error) {
	v := new(kmsg.GroupMetadataValue)
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("group metadata value: %w", err)
	}
	if v.Version < 0 || v.Version > 4 {
		return nil, fmt.Errorf("group metadata value: unknown version %d", v.Version)
	}
	return v, nil
}

// groupFromValue rebuilds a group from its stored metadata: Stable with its
// members (who keep their assignments, so a coordinator failover does not
// force a rebalance), or Empty without. Members it cannot take (no id, a
// repeated id or instance id) are dropped and reported in skipped.
func groupFromValue(id string, v *kmsg.GroupMetadataValue, now time.Time) (g *group, skipped []string) {
	g = newGroup(id, now)
	g.generation = v.Generation
	g.protocolType = v.ProtocolType
	if v.Protocol != nil {
		g.protocolName = *v.Protocol
	}
	g.stateTimestamp = time.Time{}
	if v.Version >= 2 && v.CurrentStateTimestamp >= 0 {
		g.stateTimestamp = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, mv := range v.Members {
		if mv.MemberID == "" || g.has(mv.MemberID) || mv.InstanceID != nil && g.staticMembers[*mv.InstanceID] != "" {
			skipped = append(skipped, mv.MemberID)
			continue
		}
		rebalanceTimeout := mv.RebalanceTimeoutMillis
		if v.Version == 0 {
			rebalanceTimeout = mv.SessionTimeoutMillis
		}
		g.add(&member{
			id:               mv.MemberID,
			instanceID:       mv.InstanceID,
			clientID:         mv.ClientID,
			clientHost:       mv.ClientHost,
			rebalanceTimeout: time.Duration(rebalanceTimeout) * time.Millisecond,
			sessionTimeout:   time.Duration(mv.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			// Copies: the read buffer they point into may be large.
			protocols:  []protocol{{name: g.protocolName, metadata: bytes.Clone(mv.Subscription)}},
			assignment: bytes.Clone(mv.Assignment),
		}, nil)
	}
	if v.Leader != nil && g.has(*v.Leader) {
		g.leaderID = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = stateStable
	}
	g.computeSubscriptions()
	return g, skipped
}

func durationMillis(d time.Duration) int32 {
	return int32(min(d.Milliseconds(), 1<<31-1))
}
