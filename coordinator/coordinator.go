// Package coordinator is the ZooKeeper side of a kzoo broker: its ZooKeeper
// session and registration, the controller (election; the partition and
// replica state machines for new topics and partitions, broker failures,
// controlled shutdown, preferred and requested leader elections, auto
// rebalance, reassignment and topic deletion), topic and config
// administration, and the metadata view every broker serves clients from,
// including the topic and broker configs kept current through
// /config/changes notifications.
//
// A Session owns one goroutine. It receives every ZooKeeper watch event,
// re-reads what changed, publishes a new immutable Snapshot, and, when this
// broker is the controller, drives partitions toward the state the cluster calls
// for. Every controller write is a ZooKeeper multi that checks the zkVersion of
// /controller_epoch, so a deposed controller cannot write, and every write of a
// partition state znode is conditional on its zkVersion (the partition epoch).
// Partition leaders change their ISR the same way, through UpdateISR.
//
// Where things are:
//
//   - session.go, zkclient.go: the connection, registration, session expiry
//     and the session goroutine; view.go: the watched view and Snapshot.
//   - The Session methods brokers and tools call: admin.go (topics, topic
//     configs, producer ids), configs.go (broker configs, and the
//     /config/changes notifications), isr.go (UpdateISR), shutdown.go
//     (ControlledShutdown), election.go (ElectLeaders), reassign_admin.go
//     (AlterReassignments), deletion.go (ConfirmReplicasDeleted), acls.go
//     (CreateACLs, DeleteACLs, and the view's ACLs, kept current through
//     Kafka's ACL change notifications).
//   - controller.go: the controller's election, fencing and reconcile loop,
//     which hands topic deletion to deletion.go, elections to election.go and
//     reassignments to reassign_controller.go.
//   - Pure rules, free of ZooKeeper and tested on their own:
//     election_rules.go (every choice of leader and ISR), statemachine.go
//     (partition states), replicastate.go (replica states), reassign.go
//     (reassignment steps). Topic names and replica placement are in package
//     placement, which the broker and the CLI use without a Session.
//
// The layout and payloads of the znodes are those of Apache Kafka in ZooKeeper
// mode; see package zkpaths. coordinator imports nothing under broker/.
package coordinator

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/internal/zksecure"
	"github.com/kzoo/kzoo/zkpaths"
)

var (
	// ErrTopicExists: CreateTopic found the topic already there (possibly
	// still being deleted).
	ErrTopicExists = errors.New("topic already exists")
	// ErrUnknownTopic: no such topic in ZooKeeper.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrBrokerIDInUse: another live ZooKeeper session holds the broker's
	// registration.
	ErrBrokerIDInUse = errors.New("broker id is registered by another live session")
	// ErrNoReassignmentInProgress: a cancellation named a partition that is
	// not being reassigned.
	ErrNoReassignmentInProgress = errors.New("no reassignment in progress")
	// ErrElectionNotNeeded: the partition already has the leader the election
	// asked for (its preferred replica, or a live one for an unclean election).
	ErrElectionNotNeeded = errors.New("election not needed")
	// ErrPreferredLeaderNotAvailable: the preferred replica is not live or not
	// in the ISR.
	ErrPreferredLeaderNotAvailable = errors.New("preferred leader not available")
	// ErrEligibleLeadersNotAvailable: no live replica can lead the partition.
	ErrEligibleLeadersNotAvailable = errors.New("eligible leaders not available")
)

// ElectionType is the kind of leader election ElectLeaders asks for; the
// values are those of Kafka's ElectLeaders request.
type ElectionType int8

const (
	// PreferredElection makes each partition's first assigned replica its
	// leader, if it is live and in the ISR.
	PreferredElection ElectionType = 0
	// UncleanElection gives a leaderless partition the first live replica as
	// leader even if it is not in the ISR.
	UncleanElection ElectionType = 1
)

// Endpoint is one advertised listener.
type Endpoint struct {
	Listener         string
	SecurityProtocol string
	Host             string
	Port             int32
}

// Config configures a Session.
type Config struct {
	BrokerID int32
	// Connect is zookeeper.connect: "h1:2181,h2:2182,h3:2183[/chroot]". A
	// chroot prefixes every znode path; it is created when absent.
	Connect string
	// SessionTimeout is zookeeper.session.timeout.ms (18s when zero).
	SessionTimeout time.Duration
	// ConnectionTimeout is zookeeper.connection.timeout.ms: Start gives up when
	// no session is established within it (SessionTimeout when zero).
	ConnectionTimeout time.Duration
	// Endpoints are the advertised listeners; the first PLAINTEXT one gives the
	// registration's legacy host and port.
	Endpoints []Endpoint
	Rack      string
	// Console is the host:port the broker's web console is reached at by
	// the other brokers (console.advertised.address), registered as
	// kzoo_console; "" when the broker serves none.
	Console string
	// Logger receives the session's log; nil discards it.
	Logger logrus.FieldLogger
	// UncleanLeaderElection is the broker default of
	// unclean.leader.election.enable; a topic config overrides it.
	UncleanLeaderElection bool
	// AutoLeaderRebalance is auto.leader.rebalance.enable: the controller
	// gives leaderships back to preferred replicas every
	// LeaderImbalanceCheckInterval (5 minutes when zero) for the brokers whose
	// share of lost preferred leaderships exceeds
	// LeaderImbalancePerBrokerPercentage.
	AutoLeaderRebalance                bool
	LeaderImbalanceCheckInterval       time.Duration
	LeaderImbalancePerBrokerPercentage int
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// ZooKeeperSecurity is how the session connects to ZooKeeper (TLS),
	// who it authenticates as, and whether the znodes it creates carry
	// Kafka's secure ACLs (zookeeper.set.acl).
	ZooKeeperSecurity zksecure.Settings
}

// DefaultSessionTimeout is Kafka's default zookeeper.session.timeout.ms.
const DefaultSessionTimeout = 18 * time.Second

// DefaultLeaderImbalanceCheckInterval is Kafka's default
// leader.imbalance.check.interval.seconds.
const DefaultLeaderImbalanceCheckInterval = 300 * time.Second

func (c Config) withDefaults() (Config, error) {
	if c.BrokerID < 0 {
		return c, fmt.Errorf("invalid broker id %d: must be non-negative", c.BrokerID)
	}
	if len(c.Endpoints) == 0 {
		return c, errors.New("no advertised endpoints")
	}
	for _, e := range c.Endpoints {
		if e.Listener == "" || e.SecurityProtocol == "" || e.Port < 0 || e.Port > 65535 {
			return c, fmt.Errorf("invalid endpoint %+v: listener, security protocol and port 0-65535 are required", e)
		}
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ConnectionTimeout <= 0 {
		c.ConnectionTimeout = c.SessionTimeout
	}
	if c.Logger == nil {
		discard := logrus.New()
		discard.Out = io.Discard
		c.Logger = discard
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LeaderImbalanceCheckInterval <= 0 {
		c.LeaderImbalanceCheckInterval = DefaultLeaderImbalanceCheckInterval
	}
	if err := c.ZooKeeperSecurity.Validate(); err != nil {
		return c, err
	}
	if c.LeaderImbalancePerBrokerPercentage < 0 || c.LeaderImbalancePerBrokerPercentage > 100 {
		return c, fmt.Errorf("invalid leader imbalance percentage %d: must be 0-100", c.LeaderImbalancePerBrokerPercentage)
	}
	return c, nil
}

// Broker is a live broker as registered in /brokers/ids.
type Broker struct {
	ID int32
	// Host and Port are those of the first PLAINTEXT endpoint ("" and -1 when
	// there is none).
	Host string
	Port int32
	Rack string
	// Epoch is the czxid of the registration: it grows each time the broker
	// registers again.
	Epoch     int64
	Endpoints []Endpoint
	// Console is the host:port of the broker's web console ("" when it
	// serves none), from the registration's kzoo_console field.
	Console string
}

// Partition is one partition's assignment and state.
type Partition struct {
	Topic     string
	Partition int32
	// Replicas in assignment order; the first is the preferred leader.
	Replicas []int32
	// Leader is -1 when there is none.
	Leader      int32
	LeaderEpoch int32
	ISR         []int32
	// State is zkpaths.StateNew, StateOnline or StateOffline, or
	// StateNonExistent when there is no state znode yet (Leader, LeaderEpoch,
	// ControllerEpoch and PartitionEpoch are then -1).
	State           zkpaths.PartitionStatus
	ControllerEpoch int32
	// PartitionEpoch is the state znode's zkVersion.
	PartitionEpoch int32
	// AddingReplicas and RemovingReplicas are set while the partition is
	// being reassigned: Replicas then holds the target replicas followed by
	// the original ones that are not targets.
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// UnderReplicated reports whether p's ISR lacks one of its replicas
// (len(ISR) < len(Replicas)): the one rule the console and the broker's
// figures share. Callers leave out the partitions of a topic being deleted.
func (p *Partition) UnderReplicated() bool {
	return len(p.ISR) < len(p.Replicas)
}

// Offline reports whether p has no leader to serve it: it is Offline, or
// Online without a leader. As for UnderReplicated, callers leave out the
// partitions of a topic being deleted (deletion takes them offline on
// purpose).
func (p *Partition) Offline() bool {
	return p.State == zkpaths.StateOffline || (p.State == zkpaths.StateOnline && p.Leader < 0)
}

// Topic is one topic.
type Topic struct {
	Name string
	// ID is the topic id (zero for a topic created without one, until the
	// controller assigns it).
	ID [16]byte
	// Partitions is indexed by partition number.
	Partitions []Partition
	// Deleting is true once deletion was requested and until the topic is gone.
	Deleting bool
	// Configs holds the topic's overrides (/config/topics/<t>); never nil.
	Configs map[string]string
}

// Snapshot is an immutable view of the cluster's metadata.
type Snapshot struct {
	ClusterID string
	// ControllerID is -1 when there is no controller.
	ControllerID    int32
	ControllerEpoch int32
	// Brokers holds the live brokers.
	Brokers map[int32]Broker
	Topics  map[string]*Topic
	// BrokerConfigs holds the dynamic broker configs by entity: a broker id
	// ("1") or "<default>" (/config/brokers/<entity>).
	BrokerConfigs map[string]map[string]string
	// ClientQuotas holds the config of every client quota entity, as stored
	// under /config/users and /config/clients: every key but the SCRAM
	// credentials a user's znode also holds (those are in
	// ScramCredentials). An entity whose znode exists without other keys
	// maps to an empty config. Never nil.
	ClientQuotas map[zkpaths.QuotaEntity]map[string]string
	// ScramCredentials holds the users' SCRAM credentials by user, then
	// mechanism (scramcred.SHA256, scramcred.SHA512): the SCRAM-SHA-256 and
	// SCRAM-SHA-512 keys of /config/users/<user>. Never nil.
	ScramCredentials map[string]map[string]scramcred.Credential
	// PendingDeletion maps each topic being deleted to the brokers holding a
	// replica of it that have not confirmed its removal yet
	// (ConfirmReplicasDeleted).
	PendingDeletion map[string][]int32
	// ACLs holds every ACL of the cluster (/kafka-acl and
	// /kafka-acl-extended). Never nil; immutable, shared between snapshots
	// until the ACLs change.
	ACLs *acl.Set

	// aclChangeSeqs holds, per ACL change folder, the sequence number of the
	// newest notification applied (-1 for none).
	aclChangeSeqs map[string]int64
	// shuttingDown holds the live brokers that asked for a controlled
	// shutdown.
	shuttingDown map[int32]bool
}

// LiveBrokerIDs returns the ids of the live brokers in increasing order.
func (snap *Snapshot) LiveBrokerIDs() []int32 {
	ids := make([]int32, 0, len(snap.Brokers))
	for id := range snap.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
