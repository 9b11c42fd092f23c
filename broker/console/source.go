// Package console serves kzoo's web console: a read-mostly operator view of
// the cluster that every broker serves on console.listen, with nothing to
// install. Pages are rendered on the server (html/template, assets embedded
// with embed); live updates reach the browser by Server-Sent Events, driven
// by the broker's own ZooKeeper watches (Observe) and by the figures the
// console gathers from every broker's console every tick (Run).
//
// The console computes nothing the broker does not: the cluster view is the
// coordinator's Snapshot, an ISR is the snapshot's, a lag is lag.Of over
// the committed offsets of the group coordinators, as the metrics and the
// CLI compute it.
package console

import (
	"context"
	"errors"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// Source is the broker the console runs in. broker/console.go implements
// it; the handler tests use a fixed one.
type Source interface {
	// BrokerID is the id of the broker serving the console.
	BrokerID() int32
	// ZooKeeper describes the ensemble and the broker's session in it.
	ZooKeeper() coordinator.ZooKeeperStatus
	// Report gathers this broker's own figures: what the other brokers'
	// consoles fetch from it at /api/broker. With topic "" that is its
	// traffic, log sizes and groups, without Partitions; with a topic it
	// is that topic's local replicas (Partitions) alone, which is all a
	// topic page asks for: the groups' lag would cost end-offset reads
	// across the cluster for every page shown.
	Report(ctx context.Context, topic string) (BrokerReport, error)
	// TopicConfigs returns every config of topic with its value and
	// where the value comes from, as DescribeConfigs answers (sensitive
	// values are nil there and here).
	TopicConfigs(ctx context.Context, topic string) ([]ConfigEntry, error)
	// ElectPreferred runs a preferred leader election over every
	// partition of topic, as an ElectLeaders request would; the map holds
	// the partitions that did not get their preferred leader and why.
	ElectPreferred(ctx context.Context, topic string) (map[int32]error, error)
	// Authorize decides whether the person behind a request may run
	// action on topic. creds are the request's HTTP Basic credentials.
	// With security off it returns ("User:ANONYMOUS", nil); with it on it
	// returns ErrAuthRequired when creds are missing or wrong and
	// ErrDenied when the principal lacks the right (ALTER on the cluster
	// for a preferred election, as for ElectLeaders).
	Authorize(ctx context.Context, creds Credentials, action Action, topic string) (principal string, err error)
}

// ConfigEntry is one config of a topic.
type ConfigEntry struct {
	Name string
	// Value is nil for a sensitive config.
	Value *string
	// Source is where the value comes from, in DescribeConfigs' words:
	// "DYNAMIC_TOPIC_CONFIG", "DYNAMIC_BROKER_CONFIG",
	// "DYNAMIC_DEFAULT_BROKER_CONFIG", "STATIC_BROKER_CONFIG",
	// "DEFAULT_CONFIG".
	Source    string
	Sensitive bool
}

// Credentials are an HTTP request's Basic credentials.
type Credentials struct {
	User, Password string
	// Present is false when the request carried none.
	Present bool
	// Host is the address the request came from: the host an ACL names.
	Host string
}

// Action is something the console can do, not only show.
type Action string

// ActionElectPreferred runs a preferred leader election for a topic.
const ActionElectPreferred Action = "elect-preferred"

var (
	// ErrAuthRequired: security is on and the request's credentials are
	// missing or wrong (HTTP 401 with a Basic challenge).
	ErrAuthRequired = errors.New("console: authentication required")
	// ErrDenied: the principal may not run the action (HTTP 403).
	ErrDenied = errors.New("console: not authorized")
)

// BrokerReport is one broker's own figures at Time. Byte counts are
// cumulative since the broker started (the counters behind
// kzoo_topic_bytes_in_total and kzoo_topic_bytes_out_total); the console
// turns the difference between two reports into a rate.
type BrokerReport struct {
	Broker int32     `json:"broker"`
	Time   time.Time `json:"time"`
	// BytesIn and BytesOut are record bytes from producers and to
	// consumers, every topic summed; replication is not counted.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// Topics holds every topic with a local replica or any traffic here
	// (a report of the broker's figures).
	Topics []TopicReport `json:"topics"`
	// Partitions holds the local replicas of the topic asked for (a
	// report of one topic).
	Partitions []PartitionReport `json:"partitions,omitempty"`
	// Groups holds the groups this broker coordinates, with their lag (a
	// report of the broker's figures).
	Groups []GroupReport `json:"groups"`
}

// TopicReport is one topic on one broker.
type TopicReport struct {
	Topic    string `json:"topic"`
	BytesIn  int64  `json:"bytes_in"`
	BytesOut int64  `json:"bytes_out"`
	// SizeBytes is the size on disk of this broker's replicas of it.
	SizeBytes int64 `json:"size_bytes"`
}

// PartitionReport is one local replica.
type PartitionReport struct {
	zkpaths.TopicPartition
	// Leader is true when this broker leads the partition; the offsets
	// of a leader's report are the ones the console shows.
	Leader        bool  `json:"leader"`
	LogStart      int64 `json:"log_start"`
	LogEnd        int64 `json:"log_end"`
	HighWatermark int64 `json:"high_watermark"`
	SizeBytes     int64 `json:"size_bytes"`
}

// GroupReport is one group as its coordinator knows it.
type GroupReport struct {
	Group        string         `json:"group"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"`
	Coordinator  int32          `json:"coordinator"`
	Members      []MemberReport `json:"members"`
	// Offsets holds the group's committed offsets, ordered by topic and
	// partition, with the lag of those whose end offset could be read.
	Offsets []OffsetReport `json:"offsets"`
}

// MemberReport is one member of a group.
type MemberReport struct {
	MemberID   string `json:"member_id"`
	InstanceID string `json:"instance_id,omitempty"`
	ClientID   string `json:"client_id"`
	Host       string `json:"host"`
	// Assignment holds the partitions the member was assigned, when the
	// group uses the consumer protocol.
	Assignment []zkpaths.TopicPartition `json:"assignment"`
}

// OffsetReport is a group's committed offset on one partition.
type OffsetReport struct {
	zkpaths.TopicPartition
	Committed int64 `json:"committed"`
	// End is the partition's high watermark and Lag lag.Of(Committed,
	// End); both are -1 when the end offset could not be read in time.
	End int64 `json:"end"`
	Lag int64 `json:"lag"`
}
