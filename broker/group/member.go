package group

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// protocol is one group protocol a member supports (for consumers, an
// assignor such as "range" or "cooperative-sticky") with the member's
// metadata for it (for consumers, its subscription).
type protocol struct {
	name     string
	metadata []byte
}

// member is one member of a group, as Kafka's MemberMetadata.
type member struct {
	id string
	// instanceID is group.instance.id for a static member (KIP-345), nil
	// for a dynamic one.
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	// protocols are in the member's order of preference.
	protocols []protocol
	// assignment is what the leader assigned the member in the current
	// generation, passed through untouched.
	assignment []byte

	// joinWaiter is set while the member has a JoinGroup waiting for the
	// join phase to complete ("awaiting join"); syncWaiter while it has a
	// SyncGroup waiting for the leader's assignment. Both are buffered so
	// that answering never blocks.
	joinWaiter chan joinResult
	syncWaiter chan syncResult

	// isNew marks a member added in the running join phase: until the
	// phase completes it is expired by its own deadline even while it
	// waits, since a client that gave up on its JoinGroup would otherwise
	// linger for ever.
	isNew bool
	// heartbeatDeadline is when the member expires unless it heartbeats
	// (or is waiting in a JoinGroup or SyncGroup); zero when no expiry is
	// scheduled, as after a deadline passed while the member was waiting.
	heartbeatDeadline time.Time
}

func (m *member) isStatic() bool       { return m.instanceID != nil }
func (m *member) isAwaitingJoin() bool { return m.joinWaiter != nil }
func (m *member) isAwaitingSync() bool { return m.syncWaiter != nil }

// metadata returns the member's metadata for the named protocol, nil when
// it does not support it.
func (m *member) metadata(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether protocols are exactly the member's current ones,
// in the same order with the same metadata: a rejoin with them changes
// nothing the assignment depends on.
func (m *member) matches(protocols []protocol) bool {
	if len(protocols) != len(m.protocols) {
		return false
	}
	for i, p := range protocols {
		if p.name != m.protocols[i].name || !bytes.Equal(p.metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

// vote returns the member's most preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) (string, bool) {
	for _, p := range m.protocols {
		if candidates[p.name] {
			return p.name, true
		}
	}
	return "", false
}

// responseMember is the member as the leader sees it in its JoinGroup
// response: id, instance id and metadata for the group's protocol.
func (m *member) responseMember(protocolName string) kmsg.JoinGroupResponseMember {
	rm := kmsg.NewJoinGroupResponseMember()
	rm.MemberID = m.id
	rm.InstanceID = m.instanceID
	rm.ProtocolMetadata = m.metadata(protocolName)
	return rm
}

// newMemberID returns a fresh member id as Kafka makes them: the client id
// (or, for a static member, the instance id), a dash and a random UUID.
func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return prefix + "-" + randomUUID()
}

// randomUUID returns a random (version 4) UUID in its usual text form.
func randomUUID() string {
	var b [16]byte
	// crypto/rand.Read never fails on the platforms Go supports.
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// joinResult is the outcome of a JoinGroup, whichever version answers it.
type joinResult struct {
	code         int16
	memberID     string
	generation   int32
	protocolType *string
	protocolName *string
	leaderID     string
	// skipAssignment tells a static leader rejoining a Stable group that
	// it leads but must not assign (JoinGroup v9+).
	skipAssignment bool
	// members is set for the leader only.
	members []kmsg.JoinGroupResponseMember
}

// joinError is a failed JoinGroup: no generation, protocol or leader.
func joinError(memberID string, code int16) joinResult {
	return joinResult{code: code, memberID: memberID, generation: -1}
}

// syncResult is the outcome of a SyncGroup.
type syncResult struct {
	code         int16
	protocolType *string
	protocolName *string
	assignment   []byte
}

func syncError(code int16) syncResult { return syncResult{code: code} }
