package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// Layout of a magic-v2 record batch header.
const (
	batchLengthField     = 8
	batchMagicField      = 16
	batchCRCField        = 17
	batchAttributesField = 21
	batchHeaderSize      = 61
	// batchLogOverhead is the base offset and length: the length counts the
	// bytes after it.
	batchLogOverhead = 12

	attrCompressionMask = 0x07
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// castagnoli is the CRC-32C table of magic-v2 batch checksums.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
		Length:               int32(batchHeaderSize - batchLogOverhead + len(body)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(records) - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(records)),
		Records:              body,
	}
	out := batch.AppendTo(make([]byte, 0, batchHeaderSize+len(body)))
	binary.BigEndian.PutUint32(out[batchCRCField:], crc32.Checksum(out[batchAttributesField:], castagnoli))
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
	baseOffset int64
	// nextOffset is the offset after the batch's last record.
	nextOffset int64
	magic      int8
	attributes int16
	numRecords int32
	// raw is the whole batch.
	raw []byte
}

func (b logBatch) isControl() bool       { return b.magic >= 2 && b.attributes&attrControl != 0 }
func (b logBatch) isTransactional() bool { return b.magic >= 2 && b.attributes&attrTransactional != 0 }

// errCorruptBatch marks data that is not a well-formed record batch.
var errCorruptBatch = errors.New("corrupt record batch")

// nextBatch splits the first batch off data, which holds whole batches as
// Log.Read returns them. It checks the framing (and, for magic v2, the
// CRC); on a framing error the rest of data cannot be split any further.
func nextBatch(data []byte) (b logBatch, rest []byte, err error) {
	if len(data) < batchLogOverhead+5 {
		return b, nil, fmt.Errorf("%w: %d trailing bytes", errCorruptBatch, len(data))
	}
	length := int64(int32(binary.BigEndian.Uint32(data[batchLengthField:])))
	size := batchLogOverhead + length
	if length < 5 || size > int64(len(data)) {
		return b, nil, fmt.Errorf("%w: length %d with %d bytes left", errCorruptBatch, length, len(data))
	}
	raw, rest := data[:size], data[size:]
	b = logBatch{baseOffset: int64(binary.BigEndian.Uint64(raw)), magic: int8(raw[batchMagicField]), raw: raw}
	if b.magic < 2 {
		// A message of the old formats (magic 0/1): its offset field is its
		// (last) offset. The coordinator never wrote these; they are skipped.
		b.nextOffset = b.baseOffset + 1
		return b, rest, nil
	}
	if b.magic != 2 || size < batchHeaderSize {
		return b, nil, fmt.Errorf("%w: magic %d, length %d", errCorruptBatch, b.magic, length)
	}
	b.attributes = int16(binary.BigEndian.Uint16(raw[batchAttributesField:]))
	lastOffsetDelta := int32(binary.BigEndian.Uint32(raw[23:]))
	b.nextOffset = b.baseOffset + int64(lastOffsetDelta) + 1
	b.numRecords = int32(binary.BigEndian.Uint32(raw[57:]))
	if want, got := binary.BigEndian.Uint32(raw[batchCRCField:]), crc32.Checksum(raw[batchAttributesField:], castagnoli); want != got {
		return b, rest, fmt.Errorf("%w: batch at offset %d has CRC %08x, computed %08x", errCorruptBatch, b.baseOffset, want, got)
	}
	return b, rest, nil
}

// maxDecompressedBatch bounds what one compressed batch may inflate to.
const maxDecompressedBatch = 64 << 20

// records decodes the records of a magic-v2 batch, decompressing them
// first when needed. A record it cannot decode ends the batch with an
// error after the records before it.
func (b logBatch) records() ([]record, error) {
	payload := b.raw[batchHeaderSize:]
	if codec := b.attributes & attrCompressionMask; codec != 0 {
		var err error
		if payload, err = decompress(codec, payload); err != nil {
			return nil, fmt.Errorf("batch at offset %d: %w", b.baseOffset, err)
		}
	}
	out := make([]record, 0, max(0, min(int(b.numRecords), len(payload))))
	for i := int32(0); i < b.numRecords; i++ {
		r, rest, err := nextRecord(payload)
		if err != nil {
			return out, fmt.Errorf("batch at offset %d, record %d: %w", b.baseOffset, i, err)
		}
		out = append(out, r)
		payload = rest
	}
	return out, nil
}

// nextRecord decodes the first record of data.
func nextRecord(data []byte) (record, []byte, error) {
	length, n := binary.Varint(data)
	if n <= 0 || length < 0 || length > int64(len(data)-n) {
		return record{}, nil, fmt.Errorf("%w: bad record length", errCorruptBatch)
	}
	body, rest := cursor{b: data[n : n+int(length)]}, data[n+int(length):]
	body.skip(1) // attributes
	body.varint()
	body.varint()
	key := body.varintBytes()
	value := body.varintBytes()
	if body.bad {
		return record{}, nil, fmt.Errorf("%w: bad record", errCorruptBatch)
	}
	return record{key: key, value: value}, rest, nil
}

// cursor reads varint-framed fields, remembering the first overrun.
type cursor struct {
	b   []byte
	bad bool
}

func (c *cursor) skip(n int) {
	if n > len(c.b) {
		c.bad, c.b = true, nil
		return
	}
	c.b = c.b[n:]
}

func (c *cursor) varint() int64 {
	v, n := binary.Varint(c.b)
	if n <= 0 {
		c.bad, c.b = true, nil
		return 0
	}
	c.b = c.b[n:]
	return v
}

func (c *cursor) varintBytes() []byte {
	n := c.varint()
	if c.bad || n < 0 {
		return nil
	}
	if n > int64(len(c.b)) {
		c.bad, c.b = true, nil
		return nil
	}
	out := c.b[:n:n]
	c.b = c.b[n:]
	return out
}

// xerialMagic starts snappy data in the xerial framing Kafka's Java
// clients write.
const xerialMagic = "\x82SNAPPY\x00"

// decompress inflates the records of a compressed batch. The coordinator
// writes none, and clients cannot write to __consumer_offsets, but a log
// that came from elsewhere may hold them.
func decompress(codec int16, data []byte) ([]byte, error) {
	var r io.Reader
	switch codec {
	case 1:
		gz, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		r = gz
	case 2:
		return decompressSnappy(data)
	case 3:
		r = lz4.NewReader(bytes.NewReader(data))
	case 4:
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("%w: compression codec %d", errCorruptBatch, codec)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressedBatch+1))
	if err != nil {
		return nil, fmt.Errorf("decompress codec %d: %w", codec, err)
	}
	if len(out) > maxDecompressedBatch {
		return nil, fmt.Errorf("%w: decompresses to more than %d bytes", errCorruptBatch, maxDecompressedBatch)
	}
	return out, nil
}

// decompressSnappy inflates raw snappy or xerial-framed snappy.
func decompressSnappy(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(xerialMagic)) {
		return snappyBlock(data)
	}
	// Magic, version and compatible version, then length-prefixed blocks.
	const headerSize = 16
	data = data[min(len(data), headerSize):]
	var out []byte
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, fmt.Errorf("%w: xerial snappy: %d trailing bytes", errCorruptBatch, len(data))
		}
		n := binary.BigEndian.Uint32(data)
		if uint64(n) > uint64(len(data)-4) {
			return nil, fmt.Errorf("%w: xerial snappy: block of %d bytes, %d left", errCorruptBatch, n, len(data)-4)
		}
		block, err := snappyBlock(data[4 : 4+n])
		if err != nil {
			return nil, err
		}
		if len(out)+len(block) > maxDecompressedBatch {
			return nil, fmt.Errorf("%w: decompresses to more than %d bytes", errCorruptBatch, maxDecompressedBatch)
		}
		out = append(out, block...)
		data = data[4+n:]
	}
	return out, nil
}

func snappyBlock(block []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	if n > maxDecompressedBatch {
		return nil, fmt.Errorf("%w: snappy block decompresses to %d bytes", errCorruptBatch, n)
	}
	out, err := snappy.Decode(nil, block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	return out, nil
}

// offsetCommitKey is the key of a group's committed offset of tp.
func offsetCommitKey(groupID string, tp topicPartition) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = offsetCommitKeyVersion
	k.Group, k.Topic, k.Partition = groupID, tp.topic, tp.partition
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
	tp       topicPartition
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
		return recordKey{groupID: k.Group, isOffset: true, tp: topicPartition{k.Topic, k.Partition}}, nil
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
