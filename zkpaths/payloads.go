package zkpaths

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Payload versions written by kzoo; readers accept these and older ones.
const (
	BrokerRegistrationVersion       = 5
	ControllerRegistrationVersion   = 1
	TopicAssignmentVersion          = 3
	PartitionStateVersion           = 1
	ConfigEntityVersion             = 1
	ConfigChangeNotificationVersion = 2
	ClusterIDVersion                = "1"
	ProducerIDBlockVersion          = 1
	AdminPartitionListVersion       = 1
	ControlledShutdownVersion       = 1
)

// PartitionStatus is where a partition stands in the controller's partition
// state machine, stored in the "state" field of its state znode. Kafka's
// controller calls these states NewPartition, OnlinePartition,
// OfflinePartition and NonExistentPartition, and their type PartitionState;
// here PartitionState names the whole znode payload, hence the other word.
type PartitionStatus string

// The partition statuses. StateNonExistent is never stored: it is the status
// of a partition that has no state znode yet (or any more).
const (
	StateNonExistent PartitionStatus = "NonExistent"
	StateNew         PartitionStatus = "New"
	StateOnline      PartitionStatus = "Online"
	StateOffline     PartitionStatus = "Offline"
)

// stored reports whether a state znode may hold s.
func (s PartitionStatus) stored() bool {
	return s == StateNew || s == StateOnline || s == StateOffline
}

// NoLeader is the leader id of a partition without a leader.
const NoLeader int32 = -1

// PlaintextProtocol is the security protocol whose first endpoint gives the
// legacy host and port fields of a broker registration.
const PlaintextProtocol = "PLAINTEXT"

// marshal encodes v the way Kafka's JSON writer does: without escaping <, > and
// & (config values and entity names such as <default> stay readable) and
// without a trailing newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// decode unmarshals a payload into its wire form. The wire forms are plain
// structs, so keys this version does not know are ignored.
func decode(what string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s %q: %w", what, truncate(data), err)
	}
	return nil
}

func checkVersion(what string, version int) error {
	if version < 1 {
		return fmt.Errorf("decode %s: missing or invalid version %d", what, version)
	}
	return nil
}

func truncate(data []byte) []byte {
	const limit = 200
	if len(data) > limit {
		return data[:limit]
	}
	return data
}

// quotedInt64 is an integer that Kafka stores as a JSON string (timestamps,
// producer id bounds). Reading also accepts a bare number.
type quotedInt64 int64

func (q quotedInt64) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, strconv.FormatInt(int64(q), 10)), nil
}

func (q *quotedInt64) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		return nil
	}
	if unquoted, err := strconv.Unquote(s); err == nil {
		s = unquoted
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer, got %s", data)
	}
	*q = quotedInt64(n)
	return nil
}

// BrokerEndpoint is one advertised listener of a broker.
type BrokerEndpoint struct {
	Listener         string
	SecurityProtocol string
	Host             string
	Port             int32
}

// ConnectionString is the endpoint as written in a registration:
// LISTENER://host:port, with brackets around an IPv6 host.
func (e BrokerEndpoint) ConnectionString() string {
	return e.Listener + "://" + net.JoinHostPort(e.Host, strconv.FormatInt(int64(e.Port), 10))
}

// parseConnectionString parses LISTENER://host:port.
func parseConnectionString(s string) (listener, host string, port int32, err error) {
	listener, address, ok := strings.Cut(s, "://")
	if !ok || listener == "" {
		return "", "", 0, fmt.Errorf("endpoint %q: want LISTENER://host:port", s)
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return "", "", 0, fmt.Errorf("endpoint %q: %w", s, err)
	}
	p, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return "", "", 0, fmt.Errorf("endpoint %q: invalid port %q", s, portText)
	}
	return listener, host, int32(p), nil
}

// FeatureRange is the supported version range of one feature flag (KIP-584).
type FeatureRange struct {
	MinVersion int16 `json:"min_version"`
	MaxVersion int16 `json:"max_version"`
}

// BrokerRegistration is the payload of /brokers/ids/<id>.
type BrokerRegistration struct {
	// Host and Port are those of the first PLAINTEXT endpoint: "" (JSON null)
	// and -1 when there is none. NewBrokerRegistration fills them in.
	Host      string
	Port      int32
	JMXPort   int32
	Timestamp time.Time
	Endpoints []BrokerEndpoint
	Rack      string // omitted from the JSON when empty
	Features  map[string]FeatureRange
	// Console is the host:port of the broker's web console (kzoo's own
	// kzoo_console field, omitted when empty): the other brokers' consoles
	// fetch this broker's figures there. Kafka ignores fields it does not
	// know in a registration.
	Console string
}

// NewBrokerRegistration builds a registration whose host and port come from the
// first PLAINTEXT endpoint, as Kafka does.
func NewBrokerRegistration(endpoints []BrokerEndpoint, rack string, now time.Time) BrokerRegistration {
	r := BrokerRegistration{
		Port:      -1,
		JMXPort:   -1,
		Timestamp: now,
		Endpoints: slices.Clone(endpoints),
		Rack:      rack,
	}
	for _, e := range endpoints {
		if e.SecurityProtocol == PlaintextProtocol {
			r.Host, r.Port = e.Host, e.Port
			break
		}
	}
	return r
}

type brokerRegistrationJSON struct {
	Version                     int                     `json:"version"`
	Host                        *string                 `json:"host"`
	Port                        int32                   `json:"port"`
	JMXPort                     int32                   `json:"jmx_port"`
	Timestamp                   quotedInt64             `json:"timestamp"`
	Endpoints                   []string                `json:"endpoints"`
	ListenerSecurityProtocolMap map[string]string       `json:"listener_security_protocol_map"`
	Rack                        string                  `json:"rack,omitempty"`
	Features                    map[string]FeatureRange `json:"features"`
	Console                     string                  `json:"kzoo_console,omitempty"`
}

// Marshal encodes the registration as version 5.
func (r BrokerRegistration) Marshal() ([]byte, error) {
	w := brokerRegistrationJSON{
		Version:                     BrokerRegistrationVersion,
		Port:                        r.Port,
		JMXPort:                     r.JMXPort,
		Timestamp:                   quotedInt64(r.Timestamp.UnixMilli()),
		Endpoints:                   make([]string, 0, len(r.Endpoints)),
		ListenerSecurityProtocolMap: make(map[string]string, len(r.Endpoints)),
		Rack:                        r.Rack,
		Features:                    r.Features,
		Console:                     r.Console,
	}
	if r.Host != "" {
		w.Host = &r.Host
	}
	for _, e := range r.Endpoints {
		if e.Listener == "" || strings.Contains(e.Listener, "://") {
			return nil, fmt.Errorf("encode broker registration: invalid listener name %q", e.Listener)
		}
		w.Endpoints = append(w.Endpoints, e.ConnectionString())
		w.ListenerSecurityProtocolMap[e.Listener] = e.SecurityProtocol
	}
	if w.Features == nil {
		w.Features = map[string]FeatureRange{}
	}
	return marshal(w)
}

// UnmarshalBrokerRegistration decodes any version of a broker registration. An
// endpoint whose listener is missing from listener_security_protocol_map (as in
// versions before 4) takes the listener name as its security protocol.
func UnmarshalBrokerRegistration(data []byte) (BrokerRegistration, error) {
	var w brokerRegistrationJSON
	if err := decode("broker registration", data, &w); err != nil {
		return BrokerRegistration{}, err
	}
	if err := checkVersion("broker registration", w.Version); err != nil {
		return BrokerRegistration{}, err
	}
	r := BrokerRegistration{
		Port:      w.Port,
		JMXPort:   w.JMXPort,
		Timestamp: time.UnixMilli(int64(w.Timestamp)),
		Rack:      w.Rack,
		Features:  w.Features,
		Console:   w.Console,
	}
	if w.Host != nil {
		r.Host = *w.Host
	}
	for _, s := range w.Endpoints {
		listener, host, port, err := parseConnectionString(s)
		if err != nil {
			return BrokerRegistration{}, fmt.Errorf("decode broker registration: %w", err)
		}
		protocol, ok := w.ListenerSecurityProtocolMap[listener]
		if !ok {
			protocol = listener
		}
		r.Endpoints = append(r.Endpoints, BrokerEndpoint{Listener: listener, SecurityProtocol: protocol, Host: host, Port: port})
	}
	if len(r.Endpoints) == 0 && r.Host != "" && r.Port >= 0 {
		// Version 1 had only host and port, which were a PLAINTEXT listener.
		r.Endpoints = []BrokerEndpoint{{Listener: PlaintextProtocol, SecurityProtocol: PlaintextProtocol, Host: r.Host, Port: r.Port}}
	}
	return r, nil
}

// ControllerRegistration is the payload of the ephemeral /controller znode.
type ControllerRegistration struct {
	BrokerID  int32
	Timestamp time.Time
}

type controllerRegistrationJSON struct {
	Version   int         `json:"version"`
	BrokerID  *int32      `json:"brokerid"`
	Timestamp quotedInt64 `json:"timestamp"`
}

// Marshal encodes the controller registration as version 1.
func (c ControllerRegistration) Marshal() ([]byte, error) {
	return marshal(controllerRegistrationJSON{
		Version:   ControllerRegistrationVersion,
		BrokerID:  &c.BrokerID,
		Timestamp: quotedInt64(c.Timestamp.UnixMilli()),
	})
}

// UnmarshalControllerRegistration decodes version 1, and version 2 (Kafka 3.4+,
// whose kraftControllerEpoch is ignored).
func UnmarshalControllerRegistration(data []byte) (ControllerRegistration, error) {
	var w controllerRegistrationJSON
	if err := decode("controller registration", data, &w); err != nil {
		return ControllerRegistration{}, err
	}
	if err := checkVersion("controller registration", w.Version); err != nil {
		return ControllerRegistration{}, err
	}
	if w.BrokerID == nil {
		return ControllerRegistration{}, fmt.Errorf("decode controller registration %q: no brokerid", truncate(data))
	}
	return ControllerRegistration{BrokerID: *w.BrokerID, Timestamp: time.UnixMilli(int64(w.Timestamp))}, nil
}

// MarshalControllerEpoch encodes /controller_epoch, which is plain decimal text.
func MarshalControllerEpoch(epoch int32) []byte {
	return strconv.AppendInt(nil, int64(epoch), 10)
}

// UnmarshalControllerEpoch decodes /controller_epoch.
func UnmarshalControllerEpoch(data []byte) (int32, error) {
	epoch, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("decode controller epoch %q: %w", truncate(data), err)
	}
	if epoch < 0 {
		return 0, fmt.Errorf("decode controller epoch %q: negative", truncate(data))
	}
	return int32(epoch), nil
}

// TopicAssignment is the payload of /brokers/topics/<t>: the replicas of every
// partition, the first of which is the preferred leader.
type TopicAssignment struct {
	// TopicID is zero for topics created before topic ids (version 2 and older);
	// such an assignment is also written as version 2.
	TopicID          UUID
	Partitions       map[int32][]int32
	AddingReplicas   map[int32][]int32
	RemovingReplicas map[int32][]int32
}

// NewTopicAssignment builds an assignment from replica lists indexed by
// partition number.
func NewTopicAssignment(id UUID, replicas [][]int32) TopicAssignment {
	a := TopicAssignment{TopicID: id, Partitions: make(map[int32][]int32, len(replicas))}
	for p, r := range replicas {
		a.Partitions[int32(p)] = slices.Clone(r)
	}
	return a
}

// Replicas returns the replica lists indexed by partition number, failing unless
// the partitions are exactly 0..n-1.
func (a TopicAssignment) Replicas() ([][]int32, error) {
	out := make([][]int32, len(a.Partitions))
	for p, r := range a.Partitions {
		if p < 0 || int(p) >= len(out) {
			return nil, fmt.Errorf("topic assignment: partitions are not numbered 0..%d (found %d)", len(out)-1, p)
		}
		out[p] = slices.Clone(r)
	}
	return out, nil
}

// Marshal encodes the assignment as version 3 (version 2 if it has no topic id).
// Partition maps are written in numeric order; adding_replicas and
// removing_replicas are always present.
func (a TopicAssignment) Marshal() ([]byte, error) {
	var b bytes.Buffer
	if a.TopicID.IsZero() {
		b.WriteString(`{"version":2`)
	} else {
		fmt.Fprintf(&b, `{"version":%d,"topic_id":"%s"`, TopicAssignmentVersion, a.TopicID)
	}
	for _, field := range []struct {
		key string
		m   map[int32][]int32
	}{{"partitions", a.Partitions}, {"adding_replicas", a.AddingReplicas}, {"removing_replicas", a.RemovingReplicas}} {
		fmt.Fprintf(&b, `,"%s":`, field.key)
		if err := writePartitionMap(&b, field.m); err != nil {
			return nil, fmt.Errorf("encode topic assignment %s: %w", field.key, err)
		}
	}
	b.WriteByte('}')
	if b.Len() > MaxZnodeBytes {
		return nil, fmt.Errorf("%w: the replica assignment of %d partitions takes %d bytes, more than the %d a znode may hold (ZooKeeper's jute.maxbuffer); use fewer partitions per topic",
			ErrZnodeTooLarge, len(a.Partitions), b.Len(), MaxZnodeBytes)
	}
	return b.Bytes(), nil
}

// MaxZnodeBytes is the most data kzoo writes into one znode. ZooKeeper refuses
// a request larger than its jute.maxbuffer (1 MiB less one byte by default,
// on the server and in clients), and a multi carries its other operations
// beside the data.
const MaxZnodeBytes = 1_000_000

// ErrZnodeTooLarge is returned for a payload longer than MaxZnodeBytes.
var ErrZnodeTooLarge = errors.New("too large for a znode")

func writePartitionMap(b *bytes.Buffer, m map[int32][]int32) error {
	keys := make([]int32, 0, len(m))
	for k := range m {
		if k < 0 {
			return fmt.Errorf("negative partition %d", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, `"%d":`, k)
		writeInt32s(b, m[k])
	}
	b.WriteByte('}')
	return nil
}

func writeInt32s(b *bytes.Buffer, values []int32) {
	b.WriteByte('[')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(v), 10))
	}
	b.WriteByte(']')
}

type topicAssignmentJSON struct {
	Version          int                `json:"version"`
	TopicID          string             `json:"topic_id"`
	Partitions       map[string][]int32 `json:"partitions"`
	AddingReplicas   map[string][]int32 `json:"adding_replicas"`
	RemovingReplicas map[string][]int32 `json:"removing_replicas"`
}

// UnmarshalTopicAssignment decodes versions 1 to 3.
func UnmarshalTopicAssignment(data []byte) (TopicAssignment, error) {
	var w topicAssignmentJSON
	if err := decode("topic assignment", data, &w); err != nil {
		return TopicAssignment{}, err
	}
	if err := checkVersion("topic assignment", w.Version); err != nil {
		return TopicAssignment{}, err
	}
	var a TopicAssignment
	if w.TopicID != "" {
		id, err := ParseUUID(w.TopicID)
		if err != nil {
			return TopicAssignment{}, fmt.Errorf("decode topic assignment: topic_id: %w", err)
		}
		a.TopicID = id
	}
	var err error
	if a.Partitions, err = parsePartitionMap("partitions", w.Partitions); err != nil {
		return TopicAssignment{}, err
	}
	if a.AddingReplicas, err = parsePartitionMap("adding_replicas", w.AddingReplicas); err != nil {
		return TopicAssignment{}, err
	}
	if a.RemovingReplicas, err = parsePartitionMap("removing_replicas", w.RemovingReplicas); err != nil {
		return TopicAssignment{}, err
	}
	return a, nil
}

func parsePartitionMap(field string, m map[string][]int32) (map[int32][]int32, error) {
	out := make(map[int32][]int32, len(m))
	for k, v := range m {
		p, ok := ParsePartition(k)
		if !ok {
			return nil, fmt.Errorf("decode topic assignment: %s: invalid partition %q", field, k)
		}
		out[p] = v
	}
	return out, nil
}

// PartitionState is the payload of /brokers/topics/<t>/partitions/<p>/state. Its
// zkVersion is the partition epoch.
type PartitionState struct {
	ControllerEpoch int32
	Leader          int32 // NoLeader when none
	LeaderEpoch     int32
	ISR             []int32
	// LeaderRecoveryState is 1 while a leader elected uncleanly recovers
	// (KIP-704); it is written only when non-zero.
	LeaderRecoveryState int8
	// State is StateNew, StateOnline or StateOffline.
	State PartitionStatus
}

type partitionStateJSON struct {
	ControllerEpoch     int32           `json:"controller_epoch"`
	Leader              *int32          `json:"leader"`
	Version             int             `json:"version"`
	LeaderEpoch         int32           `json:"leader_epoch"`
	ISR                 []int32         `json:"isr"`
	LeaderRecoveryState int8            `json:"leader_recovery_state,omitempty"`
	State               PartitionStatus `json:"state,omitempty"`
}

// Marshal encodes the partition state.
func (s PartitionState) Marshal() ([]byte, error) {
	if !s.State.stored() {
		return nil, fmt.Errorf("encode partition state: invalid state %q", s.State)
	}
	isr := s.ISR
	if isr == nil {
		isr = []int32{}
	}
	return marshal(partitionStateJSON{
		ControllerEpoch:     s.ControllerEpoch,
		Leader:              &s.Leader,
		Version:             PartitionStateVersion,
		LeaderEpoch:         s.LeaderEpoch,
		ISR:                 isr,
		LeaderRecoveryState: s.LeaderRecoveryState,
		State:               s.State,
	})
}

// UnmarshalPartitionState decodes a partition state. A znode written by Kafka has
// no "state": it reads as Online when it has a leader and Offline otherwise.
func UnmarshalPartitionState(data []byte) (PartitionState, error) {
	var w partitionStateJSON
	if err := decode("partition state", data, &w); err != nil {
		return PartitionState{}, err
	}
	if err := checkVersion("partition state", w.Version); err != nil {
		return PartitionState{}, err
	}
	if w.Leader == nil {
		return PartitionState{}, fmt.Errorf("decode partition state %q: no leader", truncate(data))
	}
	s := PartitionState{
		ControllerEpoch:     w.ControllerEpoch,
		Leader:              *w.Leader,
		LeaderEpoch:         w.LeaderEpoch,
		ISR:                 w.ISR,
		LeaderRecoveryState: w.LeaderRecoveryState,
		State:               w.State,
	}
	switch {
	case s.State.stored():
	case s.State != "":
		return PartitionState{}, fmt.Errorf("decode partition state %q: unknown state %q", truncate(data), s.State)
	case s.Leader >= 0:
		s.State = StateOnline
	default:
		s.State = StateOffline
	}
	return s, nil
}

// ConfigEntity is the payload of /config/<type>/<name>.
type ConfigEntity struct {
	Config map[string]string
}

type configEntityJSON struct {
	Version int               `json:"version"`
	Config  map[string]string `json:"config"`
}

// Marshal encodes the entity's configuration; an empty one is written as {}.
func (c ConfigEntity) Marshal() ([]byte, error) {
	config := c.Config
	if config == nil {
		config = map[string]string{}
	}
	return marshal(configEntityJSON{Version: ConfigEntityVersion, Config: config})
}

// UnmarshalConfigEntity decodes an entity's configuration; Config is never nil.
func UnmarshalConfigEntity(data []byte) (ConfigEntity, error) {
	var w configEntityJSON
	if err := decode("config entity", data, &w); err != nil {
		return ConfigEntity{}, err
	}
	if err := checkVersion("config entity", w.Version); err != nil {
		return ConfigEntity{}, err
	}
	if w.Config == nil {
		w.Config = map[string]string{}
	}
	return ConfigEntity{Config: w.Config}, nil
}

// ConfigChangeNotification is the payload of /config/changes/config_change_<seq>.
type ConfigChangeNotification struct {
	// EntityPath is "<type>/<name>", e.g. "topics/foo".
	EntityPath string
}

// NewConfigChangeNotification names the changed entity.
func NewConfigChangeNotification(entityType, name string) ConfigChangeNotification {
	return ConfigChangeNotification{EntityPath: entityType + "/" + name}
}

type configChangeNotificationJSON struct {
	Version    int    `json:"version"`
	EntityPath string `json:"entity_path"`
}

// Marshal encodes the notification as version 2.
func (n ConfigChangeNotification) Marshal() ([]byte, error) {
	return marshal(configChangeNotificationJSON{Version: ConfigChangeNotificationVersion, EntityPath: n.EntityPath})
}

// UnmarshalConfigChangeNotification decodes version 2.
func UnmarshalConfigChangeNotification(data []byte) (ConfigChangeNotification, error) {
	var w configChangeNotificationJSON
	if err := decode("config change notification", data, &w); err != nil {
		return ConfigChangeNotification{}, err
	}
	if w.Version != ConfigChangeNotificationVersion {
		return ConfigChangeNotification{}, fmt.Errorf("decode config change notification: unsupported version %d", w.Version)
	}
	if _, _, ok := strings.Cut(w.EntityPath, "/"); !ok {
		return ConfigChangeNotification{}, fmt.Errorf("decode config change notification: invalid entity_path %q", w.EntityPath)
	}
	return ConfigChangeNotification{EntityPath: w.EntityPath}, nil
}

// ClusterID is the payload of /cluster/id.
type ClusterID struct {
	ID string
}

type clusterIDJSON struct {
	Version json.RawMessage `json:"version"`
	ID      string          `json:"id"`
}

// Marshal encodes the cluster id; its version is the string "1".
func (c ClusterID) Marshal() ([]byte, error) {
	version, err := marshal(ClusterIDVersion)
	if err != nil {
		return nil, fmt.Errorf("encode cluster id: %w", err)
	}
	return marshal(clusterIDJSON{Version: version, ID: c.ID})
}

// UnmarshalClusterID decodes /cluster/id.
func UnmarshalClusterID(data []byte) (ClusterID, error) {
	var w clusterIDJSON
	if err := decode("cluster id", data, &w); err != nil {
		return ClusterID{}, err
	}
	if w.ID == "" {
		return ClusterID{}, fmt.Errorf("decode cluster id %q: empty id", truncate(data))
	}
	return ClusterID{ID: w.ID}, nil
}

// ProducerIDBlock is the payload of /latest_producer_id_block: the last block of
// producer ids handed out, bounds inclusive.
type ProducerIDBlock struct {
	BrokerID   int32
	BlockStart int64
	BlockEnd   int64
}

type producerIDBlockJSON struct {
	Version    int         `json:"version"`
	BrokerID   int32       `json:"broker"`
	BlockStart quotedInt64 `json:"block_start"`
	BlockEnd   quotedInt64 `json:"block_end"`
}

// Marshal encodes the block; its bounds are strings.
func (b ProducerIDBlock) Marshal() ([]byte, error) {
	return marshal(producerIDBlockJSON{
		Version:    ProducerIDBlockVersion,
		BrokerID:   b.BrokerID,
		BlockStart: quotedInt64(b.BlockStart),
		BlockEnd:   quotedInt64(b.BlockEnd),
	})
}

// UnmarshalProducerIDBlock decodes a block.
func UnmarshalProducerIDBlock(data []byte) (ProducerIDBlock, error) {
	var w producerIDBlockJSON
	if err := decode("producer id block", data, &w); err != nil {
		return ProducerIDBlock{}, err
	}
	if err := checkVersion("producer id block", w.Version); err != nil {
		return ProducerIDBlock{}, err
	}
	if w.BlockStart < 0 || w.BlockEnd < w.BlockStart {
		return ProducerIDBlock{}, fmt.Errorf("decode producer id block %q: invalid bounds", truncate(data))
	}
	return ProducerIDBlock{BrokerID: w.BrokerID, BlockStart: int64(w.BlockStart), BlockEnd: int64(w.BlockEnd)}, nil
}

// TopicPartition names one partition: in the admin payloads, and everywhere
// else kzoo names one (the JSON tags are those of the payloads).
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// String is Kafka's name of the partition, "<topic>-<partition>": also the
// name of its directory in a log dir.
func (tp TopicPartition) String() string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

// Compare orders partitions by topic, then by partition number, for
// slices.SortFunc(tps, TopicPartition.Compare).
func (tp TopicPartition) Compare(other TopicPartition) int {
	return cmp.Or(strings.Compare(tp.Topic, other.Topic), cmp.Compare(tp.Partition, other.Partition))
}

// PartitionReassignment is one entry of a legacy reassignment request.
type PartitionReassignment struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// ReassignPartitions is the payload of /admin/reassign_partitions.
type ReassignPartitions struct {
	Partitions []PartitionReassignment
}

type reassignPartitionsJSON struct {
	Version    int                     `json:"version"`
	Partitions []PartitionReassignment `json:"partitions"`
}

// Marshal encodes the request.
func (r ReassignPartitions) Marshal() ([]byte, error) {
	partitions := r.Partitions
	if partitions == nil {
		partitions = []PartitionReassignment{}
	}
	for i := range partitions {
		if partitions[i].Replicas == nil {
			return nil, fmt.Errorf("encode reassign partitions: %s-%d has no replica list", partitions[i].Topic, partitions[i].Partition)
		}
	}
	return marshal(reassignPartitionsJSON{Version: AdminPartitionListVersion, Partitions: partitions})
}

// UnmarshalReassignPartitions decodes a reassignment request.
func UnmarshalReassignPartitions(data []byte) (ReassignPartitions, error) {
	var w reassignPartitionsJSON
	if err := decode("reassign partitions", data, &w); err != nil {
		return ReassignPartitions{}, err
	}
	if err := checkVersion("reassign partitions", w.Version); err != nil {
		return ReassignPartitions{}, err
	}
	return ReassignPartitions{Partitions: w.Partitions}, nil
}

// PreferredReplicaElection is the payload of /admin/preferred_replica_election.
type PreferredReplicaElection struct {
	Partitions []TopicPartition
	// ElectionType is a kzoo addition, written only when not
	// PreferredElectionType: UncleanElectionType asks for an unclean election
	// of leaderless partitions. Kafka's readers ignore the unknown key.
	ElectionType int8
}

// Values of PreferredReplicaElection.ElectionType; they are those of Kafka's
// ElectLeaders request.
const (
	PreferredElectionType int8 = 0
	UncleanElectionType   int8 = 1
)

type electionJSON struct {
	Version      int              `json:"version"`
	Partitions   []TopicPartition `json:"partitions"`
	ElectionType int8             `json:"election_type,omitempty"`
}

// Marshal encodes the request.
func (p PreferredReplicaElection) Marshal() ([]byte, error) {
	if p.ElectionType != PreferredElectionType && p.ElectionType != UncleanElectionType {
		return nil, fmt.Errorf("encode preferred replica election: unknown election type %d", p.ElectionType)
	}
	partitions := p.Partitions
	if partitions == nil {
		partitions = []TopicPartition{}
	}
	return marshal(electionJSON{Version: AdminPartitionListVersion, Partitions: partitions, ElectionType: p.ElectionType})
}

// UnmarshalPreferredReplicaElection decodes a preferred replica election request.
func UnmarshalPreferredReplicaElection(data []byte) (PreferredReplicaElection, error) {
	const what = "preferred replica election"
	var w electionJSON
	if err := decode(what, data, &w); err != nil {
		return PreferredReplicaElection{}, err
	}
	if err := checkVersion(what, w.Version); err != nil {
		return PreferredReplicaElection{}, err
	}
	if w.ElectionType != PreferredElectionType && w.ElectionType != UncleanElectionType {
		return PreferredReplicaElection{}, fmt.Errorf("decode %s: unknown election_type %d", what, w.ElectionType)
	}
	return PreferredReplicaElection{Partitions: w.Partitions, ElectionType: w.ElectionType}, nil
}

// ControlledShutdownRequest is the payload of /admin/controlled_shutdown/<id>
// (a kzoo znode, see ControlledShutdownPath).
type ControlledShutdownRequest struct {
	BrokerID    int32
	BrokerEpoch int64
}

type controlledShutdownJSON struct {
	Version     int   `json:"version"`
	BrokerID    int32 `json:"broker"`
	BrokerEpoch int64 `json:"broker_epoch"`
}

// Marshal encodes the request.
func (r ControlledShutdownRequest) Marshal() ([]byte, error) {
	return marshal(controlledShutdownJSON{Version: ControlledShutdownVersion, BrokerID: r.BrokerID, BrokerEpoch: r.BrokerEpoch})
}

// UnmarshalControlledShutdownRequest decodes a controlled-shutdown request.
func UnmarshalControlledShutdownRequest(data []byte) (ControlledShutdownRequest, error) {
	const what = "controlled shutdown request"
	var w controlledShutdownJSON
	if err := decode(what, data, &w); err != nil {
		return ControlledShutdownRequest{}, err
	}
	if err := checkVersion(what, w.Version); err != nil {
		return ControlledShutdownRequest{}, err
	}
	if w.BrokerID < 0 {
		return ControlledShutdownRequest{}, fmt.Errorf("decode %s: invalid broker id %d", what, w.BrokerID)
	}
	return ControlledShutdownRequest{BrokerID: w.BrokerID, BrokerEpoch: w.BrokerEpoch}, nil
}
