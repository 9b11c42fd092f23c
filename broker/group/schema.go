package group

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// The coordinator's records in __consumer_offsets use Kafka's own schemas
// (kmsg has them), so that Kafka's tools read them and kzoo reads Kafka's:
//
//	key v0/v1 OffsetCommitKey    (group, topic, partition) -> OffsetCommitValue, written as v3 (v1 with an expire timestamp)
//	key v2    GroupMetadataKey   (group)                   -> GroupMetadataValue, written as v3
//
// A record with a null value is a tombstone: it deletes the key. Every
// write is one batch (a record.Builder's), so a commit of many partitions is
// atomic.
const (
	offsetCommitKeyVersion     = 1
	offsetCommitValueVersion   = 3
	offsetCommitValueVersionV1 = 1 // the version with an expire timestamp
	groupMetadataKeyVersion    = 2
	groupMetadataValueVersion  = 3
)

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
		return recordKey{}, fmt.Errorf("key of %d bytes has no version", len(key))
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
