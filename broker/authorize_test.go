package broker

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/metrics"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/zkpaths"
)

// The principal and host of the requests of these tests.
const (
	testPrincipal = "User:alice"
	testHost      = "10.0.0.1"
)

// authzMetadata is fakeMetadata with what the handlers under authorization
// need of the coordinator: the ACL and SCRAM writes update the server's
// applied view, as the coordinator's watches would, and the admin calls the
// handlers make once allowed answer without doing anything.
type authzMetadata struct {
	*fakeMetadata
	s *Server

	mu            sync.Mutex
	scramChanges  []coordinator.ScramChange
	createACLsErr error // every binding's error, when set
}

func (m *authzMetadata) TopicConfig(ctx context.Context, name string) (map[string]string, error) {
	return map[string]string{}, nil
}

func (m *authzMetadata) AllocateProducerIDBlock(ctx context.Context) (int64, int64, error) {
	return 1000, 1999, nil
}

func (m *authzMetadata) ElectLeaders(ctx context.Context, typ coordinator.ElectionType, partitions []zkpaths.TopicPartition) (map[zkpaths.TopicPartition]error, error) {
	return map[zkpaths.TopicPartition]error{}, nil
}

func (m *authzMetadata) AlterReassignments(ctx context.Context, targets map[zkpaths.TopicPartition][]int32) (map[zkpaths.TopicPartition]error, error) {
	return map[zkpaths.TopicPartition]error{}, nil
}

// update publishes a copy of the applied view changed by change.
func (m *authzMetadata) update(change func(snap *coordinator.Snapshot)) {
	next := *m.s.snapshot()
	change(&next)
	m.s.applied.Store(&next)
}

// setACLs replaces the ACLs of the applied view.
func (m *authzMetadata) setACLs(bindings []acl.Binding) {
	byResource := make(map[acl.Resource][]acl.Entry)
	for _, b := range bindings {
		byResource[b.Resource] = append(byResource[b.Resource], b.Entry)
	}
	m.update(func(snap *coordinator.Snapshot) { snap.ACLs = acl.NewSet(byResource) })
}

func (m *authzMetadata) CreateACLs(ctx context.Context, bindings []acl.Binding) []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	errs := make([]error, len(bindings))
	if m.createACLsErr != nil {
		for i := range errs {
			errs[i] = m.createACLsErr
		}
		return errs
	}
	m.setACLs(append(m.s.snapshot().ACLs.Bindings(), bindings...))
	return errs
}

func (m *authzMetadata) DeleteACLs(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, []error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.s.snapshot().ACLs.Bindings()
	deleted := make([][]acl.Binding, len(filters))
	for i, f := range filters {
		kept = slices.DeleteFunc(kept, func(b acl.Binding) bool {
			if f.Matches(b) {
				deleted[i] = append(deleted[i], b)
				return true
			}
			return false
		})
	}
	m.setACLs(kept)
	return deleted, make([]error, len(filters))
}

func (m *authzMetadata) AlterUserScramCredentials(ctx context.Context, changes []coordinator.ScramChange) []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scramChanges = append(m.scramChanges, changes...)
	m.update(func(snap *coordinator.Snapshot) {
		creds := make(map[string]map[string]scramcred.Credential)
		for user, byMechanism := range snap.ScramCredentials {
			creds[user] = make(map[string]scramcred.Credential)
			for mechanism, c := range byMechanism {
				creds[user][mechanism] = c
			}
		}
		for _, c := range changes {
			if creds[c.User] == nil {
				creds[c.User] = make(map[string]scramcred.Credential)
			}
			if c.Credential == nil {
				delete(creds[c.User], c.Mechanism)
			} else {
				creds[c.User][c.Mechanism] = *c.Credential
			}
		}
		snap.ScramCredentials = creds
	})
	return make([]error, len(changes))
}

// authzServer is a broker (id 1) with an authorizer and no ACLs, leading
// partition 0 of topic "t", with group and transaction coordinators that
// hold no partition (they answer NOT_COORDINATOR).
func authzServer(t *testing.T) (*Server, *authzMetadata) {
	t.Helper()
	snap := &coordinator.Snapshot{
		ClusterID: "c", ControllerID: 1, Brokers: liveBrokers(1),
		Topics: map[string]*coordinator.Topic{"t": {Name: "t", Partitions: []coordinator.Partition{
			{Topic: "t", Partition: 0, Leader: 1, LeaderEpoch: 1, Replicas: []int32{1}, ISR: []int32{1}, State: zkpaths.StateOnline},
		}}},
	}
	s, fake := testServer(t, snap)
	meta := &authzMetadata{fakeMetadata: fake, s: s}
	s.meta = meta
	s.producerIDs.meta = meta
	s.authorizer = &acl.Authorizer{SuperUsers: []string{"User:admin"}}
	f := withReplicas(t, s)
	f.lead("t", 0, config.Topic{}, 1, []int32{1}, []int32{1})
	s.groups = newGroupCoordinator(s.cfg, snap, discardLogger())
	s.txns = s.newTxnCoordinator(s.cfg, snap, discardLogger())
	return s, meta
}

// grant is an ALLOW of op on a literal resource for testPrincipal from any
// host.
func grant(typ kmsg.ACLResourceType, name string, op kmsg.ACLOperation) acl.Binding {
	return acl.Binding{
		Resource: acl.Resource{Type: typ, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral},
		Entry:    acl.Entry{Principal: testPrincipal, Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow},
	}
}

// call runs the handler of body as testPrincipal from testHost, and decodes
// a Fetch answer.
func call(t *testing.T, s *Server, body kmsg.Request) any {
	t.Helper()
	req := &request{key: body.Key(), version: body.GetVersion(), body: body, listener: "PLAINTEXT", principal: testPrincipal, host: testHost}
	resp := callHandler(s, context.Background(), req)
	if fr, ok := resp.(*fetchResponse); ok {
		decoded := kmsg.NewPtrFetchResponse()
		decoded.SetVersion(body.GetVersion())
		if err := decoded.ReadFrom(assemble(t, fr)); err != nil {
			t.Fatal(err)
		}
		return decoded
	}
	return resp
}

// errorCodes collects every ErrorCode field of a response, at any depth.
func errorCodes(v reflect.Value) []int16 {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return errorCodes(v.Elem())
	case reflect.Slice:
		var out []int16
		for i := range v.Len() {
			out = append(out, errorCodes(v.Index(i))...)
		}
		return out
	case reflect.Struct:
		var out []int16
		for i := range v.NumField() {
			if v.Type().Field(i).Name == "ErrorCode" {
				out = append(out, int16(v.Field(i).Int()))
				continue
			}
			out = append(out, errorCodes(v.Field(i))...)
		}
		return out
	}
	return nil
}

// Request builders of the table.

func topicPartitions[T any](newTopic func() T, set func(*T)) []T {
	t := newTopic()
	set(&t)
	return []T{t}
}

func produceRequest(t *testing.T, transactionalID *string, batch []byte) *kmsg.ProduceRequest {
	in := kmsg.NewPtrProduceRequest()
	in.Version, in.Acks, in.TimeoutMillis, in.TransactionID = 8, 1, 1000, transactionalID
	in.Topics = topicPartitions(kmsg.NewProduceRequestTopic, func(rt *kmsg.ProduceRequestTopic) {
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
	})
	return in
}

func fetchRequest(replicaID int32) *kmsg.FetchRequest {
	in := kmsg.NewPtrFetchRequest()
	in.Version, in.ReplicaID, in.MaxBytes = 11, replicaID, 1<<20
	in.Topics = topicPartitions(kmsg.NewFetchRequestTopic, func(rt *kmsg.FetchRequestTopic) {
		rt.Topic = "t"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
	})
	return in
}

func configsRequest(typ kmsg.ConfigResourceType, name string) *kmsg.DescribeConfigsRequest {
	in := kmsg.NewPtrDescribeConfigsRequest()
	in.Version = 4
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	in.Resources = append(in.Resources, r)
	return in
}

// TestAuthorizationPerAPI: each API refuses, with Kafka's error, a
// principal without the ACLs Kafka asks for, and lets it through once it
// has them.
func TestAuthorizationPerAPI(t *testing.T) {
	const (
		topic   = kmsg.ACLResourceTypeTopic
		grp     = kmsg.ACLResourceTypeGroup
		txnID   = kmsg.ACLResourceTypeTransactionalId
		cluster = kmsg.ACLResourceTypeCluster
	)
	var (
		read            = kmsg.ACLOperationRead
		write           = kmsg.ACLOperationWrite
		create          = kmsg.ACLOperationCreate
		del             = kmsg.ACLOperationDelete
		alter           = kmsg.ACLOperationAlter
		describe        = kmsg.ACLOperationDescribe
		clusterAction   = kmsg.ACLOperationClusterAction
		describeConfigs = kmsg.ACLOperationDescribeConfigs
		alterConfigs    = kmsg.ACLOperationAlterConfigs
		idempotentWrite = kmsg.ACLOperationIdempotentWrite
	)
	tx := "tx"
	cases := []struct {
		name string
		body func(t *testing.T) kmsg.Request
		// base are the ACLs of both runs, grants those of the second.
		base, grants []acl.Binding
		denied       *kerr.Error
	}{
		{"Produce", func(t *testing.T) kmsg.Request { return produceRequest(t, nil, testBatch(t, "v")) },
			nil, []acl.Binding{grant(topic, "t", write)}, kerr.TopicAuthorizationFailed},
		{"Produce transactional", func(t *testing.T) kmsg.Request { return produceRequest(t, &tx, txnTestBatch(t, 7, 0, 1)) },
			nil, []acl.Binding{grant(txnID, tx, write), grant(topic, "t", write)}, kerr.TransactionalIDAuthorizationFailed},
		{"Fetch consumer", func(t *testing.T) kmsg.Request { return fetchRequest(-1) },
			nil, []acl.Binding{grant(topic, "t", read)}, kerr.TopicAuthorizationFailed},
		{"Fetch follower", func(t *testing.T) kmsg.Request { return fetchRequest(2) },
			nil, []acl.Binding{grant(cluster, acl.ClusterName, clusterAction)}, kerr.TopicAuthorizationFailed},
		{"ListOffsets", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrListOffsetsRequest()
			in.Version, in.ReplicaID = 4, -1
			in.Topics = topicPartitions(kmsg.NewListOffsetsRequestTopic, func(rt *kmsg.ListOffsetsRequestTopic) {
				rt.Topic = "t"
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = listEarliest
				rt.Partitions = append(rt.Partitions, rp)
			})
			return in
		}, nil, []acl.Binding{grant(topic, "t", describe)}, kerr.TopicAuthorizationFailed},
		{"OffsetForLeaderEpoch", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrOffsetForLeaderEpochRequest()
			in.Version, in.ReplicaID = 4, -1
			in.Topics = topicPartitions(kmsg.NewOffsetForLeaderEpochRequestTopic, func(rt *kmsg.OffsetForLeaderEpochRequestTopic) {
				rt.Topic = "t"
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 1
				rt.Partitions = append(rt.Partitions, rp)
			})
			return in
		}, nil, []acl.Binding{grant(topic, "t", read)}, kerr.TopicAuthorizationFailed}, // READ implies DESCRIBE
		{"Metadata", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrMetadataRequest()
			in.Version = 9
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("t")
			in.Topics = append(in.Topics, rt)
			return in
		}, nil, []acl.Binding{grant(topic, "t", describe)}, kerr.TopicAuthorizationFailed},
		{"Metadata auto-create", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrMetadataRequest()
			in.Version, in.AllowAutoTopicCreation = 9, true
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("new")
			in.Topics = append(in.Topics, rt)
			return in
		}, nil, []acl.Binding{grant(topic, "new", describe), grant(cluster, acl.ClusterName, create)}, kerr.TopicAuthorizationFailed},
		{"CreateTopics", func(t *testing.T) kmsg.Request {
			return createTopicsRequest(5, false, createTopic("new", 1, 1, nil)).body
		}, nil, []acl.Binding{grant(topic, "new", create)}, kerr.TopicAuthorizationFailed},
		{"DeleteTopics", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDeleteTopicsRequest()
			in.Version, in.TopicNames, in.TimeoutMillis = 5, []string{"t"}, 0
			return in
		}, nil, []acl.Binding{grant(topic, "t", del)}, kerr.TopicAuthorizationFailed},
		{"CreatePartitions", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrCreatePartitionsRequest()
			in.Version, in.ValidateOnly = 3, true
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "t", 2
			in.Topics = append(in.Topics, rt)
			return in
		}, nil, []acl.Binding{grant(topic, "t", alter)}, kerr.TopicAuthorizationFailed},
		{"InitProducerID idempotent", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrInitProducerIDRequest()
			in.Version = 4
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, idempotentWrite)}, kerr.ClusterAuthorizationFailed},
		{"InitProducerID idempotent by WRITE on a topic", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrInitProducerIDRequest()
			in.Version = 4
			return in
		}, nil, []acl.Binding{grant(topic, "any", write)}, kerr.ClusterAuthorizationFailed},
		{"InitProducerID transactional", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrInitProducerIDRequest()
			in.Version, in.TransactionalID, in.TransactionTimeoutMillis = 4, &tx, 1000
			return in
		}, nil, []acl.Binding{grant(txnID, tx, write)}, kerr.TransactionalIDAuthorizationFailed},
		{"AddPartitionsToTxn", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAddPartitionsToTxnRequest()
			in.Version, in.TransactionalID = 3, tx
			in.Topics = topicPartitions(kmsg.NewAddPartitionsToTxnRequestTopic, func(rt *kmsg.AddPartitionsToTxnRequestTopic) {
				rt.Topic, rt.Partitions = "t", []int32{0}
			})
			return in
		}, nil, []acl.Binding{grant(txnID, tx, write), grant(topic, "t", write)}, kerr.TransactionalIDAuthorizationFailed},
		{"AddPartitionsToTxn from a broker", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAddPartitionsToTxnRequest()
			in.Version = 4
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, clusterAction)}, kerr.ClusterAuthorizationFailed},
		{"AddOffsetsToTxn", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAddOffsetsToTxnRequest()
			in.Version, in.TransactionalID, in.Group = 3, tx, "g"
			return in
		}, nil, []acl.Binding{grant(txnID, tx, write), grant(grp, "g", read)}, kerr.TransactionalIDAuthorizationFailed},
		{"EndTxn", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrEndTxnRequest()
			in.Version, in.TransactionalID = 3, tx
			return in
		}, nil, []acl.Binding{grant(txnID, tx, write)}, kerr.TransactionalIDAuthorizationFailed},
		{"WriteTxnMarkers", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrWriteTxnMarkersRequest()
			in.Version = 1
			m := kmsg.NewWriteTxnMarkersRequestMarker()
			m.ProducerID = 7
			m.Topics = topicPartitions(kmsg.NewWriteTxnMarkersRequestMarkerTopic, func(rt *kmsg.WriteTxnMarkersRequestMarkerTopic) {
				rt.Topic, rt.Partitions = "absent", []int32{0}
			})
			in.Markers = append(in.Markers, m)
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, clusterAction)}, kerr.ClusterAuthorizationFailed},
		{"TxnOffsetCommit", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrTxnOffsetCommitRequest()
			in.Version, in.TransactionalID, in.Group = 3, tx, "g"
			in.Topics = topicPartitions(kmsg.NewTxnOffsetCommitRequestTopic, func(rt *kmsg.TxnOffsetCommitRequestTopic) {
				rt.Topic = "t"
				rt.Partitions = append(rt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
			})
			return in
		}, nil, []acl.Binding{grant(txnID, tx, write), grant(grp, "g", read), grant(topic, "t", read)}, kerr.TransactionalIDAuthorizationFailed},
		{"DescribeTransactions", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDescribeTransactionsRequest()
			in.TransactionalIDs = []string{tx}
			return in
		}, nil, []acl.Binding{grant(txnID, tx, describe)}, kerr.TransactionalIDAuthorizationFailed},
		{"FindCoordinator group", func(t *testing.T) kmsg.Request {
			return findCoordinatorRequest(4, coordinatorKeyGroup, "g").body
		}, nil, []acl.Binding{grant(grp, "g", describe)}, kerr.GroupAuthorizationFailed},
		{"FindCoordinator transaction", func(t *testing.T) kmsg.Request {
			return findCoordinatorRequest(3, coordinatorKeyTransaction, tx).body
		}, nil, []acl.Binding{grant(txnID, tx, describe)}, kerr.TransactionalIDAuthorizationFailed},
		{"JoinGroup", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrJoinGroupRequest()
			in.Version, in.Group, in.ProtocolType, in.SessionTimeoutMillis = 9, "g", "consumer", 10000
			return in
		}, nil, []acl.Binding{grant(grp, "g", read)}, kerr.GroupAuthorizationFailed},
		{"SyncGroup", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrSyncGroupRequest()
			in.Version, in.Group = 5, "g"
			return in
		}, nil, []acl.Binding{grant(grp, "g", read)}, kerr.GroupAuthorizationFailed},
		{"Heartbeat", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrHeartbeatRequest()
			in.Version, in.Group = 4, "g"
			return in
		}, nil, []acl.Binding{grant(grp, "g", read)}, kerr.GroupAuthorizationFailed},
		{"LeaveGroup", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrLeaveGroupRequest()
			in.Version, in.Group = 5, "g"
			return in
		}, nil, []acl.Binding{grant(grp, "g", read)}, kerr.GroupAuthorizationFailed},
		{"OffsetCommit", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrOffsetCommitRequest()
			in.Version, in.Group = 8, "g"
			in.Topics = topicPartitions(kmsg.NewOffsetCommitRequestTopic, func(rt *kmsg.OffsetCommitRequestTopic) {
				rt.Topic = "t"
				rt.Partitions = append(rt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			})
			return in
		}, nil, []acl.Binding{grant(grp, "g", read), grant(topic, "t", read)}, kerr.GroupAuthorizationFailed},
		{"OffsetCommit of a topic not readable", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrOffsetCommitRequest()
			in.Version, in.Group = 8, "g"
			in.Topics = topicPartitions(kmsg.NewOffsetCommitRequestTopic, func(rt *kmsg.OffsetCommitRequestTopic) {
				rt.Topic = "t"
				rt.Partitions = append(rt.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
			})
			return in
		}, []acl.Binding{grant(grp, "g", read)}, []acl.Binding{grant(topic, "t", read)}, kerr.TopicAuthorizationFailed},
		{"TxnOffsetCommit of a group not readable", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrTxnOffsetCommitRequest()
			in.Version, in.TransactionalID, in.Group = 3, tx, "g"
			in.Topics = topicPartitions(kmsg.NewTxnOffsetCommitRequestTopic, func(rt *kmsg.TxnOffsetCommitRequestTopic) {
				rt.Topic = "t"
				rt.Partitions = append(rt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
			})
			return in
		}, []acl.Binding{grant(txnID, tx, write), grant(topic, "t", read)}, []acl.Binding{grant(grp, "g", read)}, kerr.GroupAuthorizationFailed},
		{"AddPartitionsToTxn of a topic not writable", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAddPartitionsToTxnRequest()
			in.Version, in.TransactionalID = 3, tx
			in.Topics = topicPartitions(kmsg.NewAddPartitionsToTxnRequestTopic, func(rt *kmsg.AddPartitionsToTxnRequestTopic) {
				rt.Topic, rt.Partitions = "t", []int32{0}
			})
			return in
		}, []acl.Binding{grant(txnID, tx, write)}, []acl.Binding{grant(topic, "t", write)}, kerr.TopicAuthorizationFailed},
		{"AddOffsetsToTxn of a group not readable", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAddOffsetsToTxnRequest()
			in.Version, in.TransactionalID, in.Group = 3, tx, "g"
			return in
		}, []acl.Binding{grant(txnID, tx, write)}, []acl.Binding{grant(grp, "g", read)}, kerr.GroupAuthorizationFailed},
		{"Produce transactional to a topic not writable", func(t *testing.T) kmsg.Request {
			return produceRequest(t, &tx, txnTestBatch(t, 7, 0, 1))
		}, []acl.Binding{grant(txnID, tx, write)}, []acl.Binding{grant(topic, "t", write)}, kerr.TopicAuthorizationFailed},
		{"OffsetFetch", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrOffsetFetchRequest()
			in.Version, in.Group = 7, "g"
			in.Topics = topicPartitions(kmsg.NewOffsetFetchRequestTopic, func(rt *kmsg.OffsetFetchRequestTopic) {
				rt.Topic, rt.Partitions = "t", []int32{0}
			})
			return in
		}, nil, []acl.Binding{grant(grp, "g", describe)}, kerr.GroupAuthorizationFailed},
		{"OffsetFetch v8", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrOffsetFetchRequest()
			in.Version = 8
			g := kmsg.NewOffsetFetchRequestGroup()
			g.Group = "g"
			in.Groups = append(in.Groups, g)
			return in
		}, nil, []acl.Binding{grant(grp, "g", describe)}, kerr.GroupAuthorizationFailed},
		{"OffsetDelete", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrOffsetDeleteRequest()
			in.Group = "g"
			return in
		}, nil, []acl.Binding{grant(grp, "g", del)}, kerr.GroupAuthorizationFailed},
		{"DescribeGroups", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDescribeGroupsRequest()
			in.Version, in.Groups = 5, []string{"g"}
			return in
		}, nil, []acl.Binding{grant(grp, "g", describe)}, kerr.GroupAuthorizationFailed},
		{"DeleteGroups", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDeleteGroupsRequest()
			in.Version, in.Groups = 2, []string{"g"}
			return in
		}, nil, []acl.Binding{grant(grp, "g", del)}, kerr.GroupAuthorizationFailed},
		{"DescribeConfigs topic", func(t *testing.T) kmsg.Request {
			return configsRequest(kmsg.ConfigResourceTypeTopic, "t")
		}, nil, []acl.Binding{grant(topic, "t", describeConfigs)}, kerr.TopicAuthorizationFailed},
		{"DescribeConfigs broker", func(t *testing.T) kmsg.Request {
			return configsRequest(kmsg.ConfigResourceTypeBroker, "1")
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alterConfigs)}, kerr.ClusterAuthorizationFailed}, // ALTER_CONFIGS implies DESCRIBE_CONFIGS
		{"AlterConfigs topic", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAlterConfigsRequest()
			in.Version, in.ValidateOnly = 2, true
			r := kmsg.NewAlterConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
			in.Resources = append(in.Resources, r)
			return in
		}, nil, []acl.Binding{grant(topic, "t", alterConfigs)}, kerr.TopicAuthorizationFailed},
		{"IncrementalAlterConfigs broker", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrIncrementalAlterConfigsRequest()
			in.Version, in.ValidateOnly = 1, true
			r := kmsg.NewIncrementalAlterConfigsRequestResource()
			r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
			in.Resources = append(in.Resources, r)
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alterConfigs)}, kerr.ClusterAuthorizationFailed},
		{"ElectLeaders", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrElectLeadersRequest()
			in.Version = 2
			in.Topics = topicPartitions(kmsg.NewElectLeadersRequestTopic, func(rt *kmsg.ElectLeadersRequestTopic) {
				rt.Topic, rt.Partitions = "t", []int32{0}
			})
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alter)}, kerr.ClusterAuthorizationFailed},
		{"DeleteRecords", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDeleteRecordsRequest()
			in.Version = 2
			in.Topics = topicPartitions(kmsg.NewDeleteRecordsRequestTopic, func(rt *kmsg.DeleteRecordsRequestTopic) {
				rt.Topic = "t"
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 0
				rt.Partitions = append(rt.Partitions, rp)
			})
			return in
		}, nil, []acl.Binding{grant(topic, "t", del)}, kerr.TopicAuthorizationFailed},
		{"DescribeLogDirs", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDescribeLogDirsRequest()
			in.Version = 4
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, describe)}, kerr.ClusterAuthorizationFailed},
		{"AlterPartitionAssignments", func(t *testing.T) kmsg.Request {
			return kmsg.NewPtrAlterPartitionAssignmentsRequest()
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alter)}, kerr.ClusterAuthorizationFailed},
		{"ListPartitionReassignments", func(t *testing.T) kmsg.Request {
			return kmsg.NewPtrListPartitionReassignmentsRequest()
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, describe)}, kerr.ClusterAuthorizationFailed},
		{"DescribeClientQuotas", func(t *testing.T) kmsg.Request {
			return kmsg.NewPtrDescribeClientQuotasRequest()
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, describeConfigs)}, kerr.ClusterAuthorizationFailed},
		{"AlterClientQuotas", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAlterClientQuotasRequest()
			in.ValidateOnly = true
			e := kmsg.NewAlterClientQuotasRequestEntry()
			ee := kmsg.NewAlterClientQuotasRequestEntryEntity()
			ee.Type, ee.Name = "user", kmsg.StringPtr("bob")
			e.Entity = append(e.Entity, ee)
			in.Entries = append(in.Entries, e)
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alterConfigs)}, kerr.ClusterAuthorizationFailed},
		{"DescribeProducers", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDescribeProducersRequest()
			in.Topics = topicPartitions(kmsg.NewDescribeProducersRequestTopic, func(rt *kmsg.DescribeProducersRequestTopic) {
				rt.Topic, rt.Partitions = "t", []int32{0}
			})
			return in
		}, nil, []acl.Binding{grant(topic, "t", read)}, kerr.TopicAuthorizationFailed},
		{"CreateAcls", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrCreateACLsRequest()
			in.Version = 3
			in.Creations = append(in.Creations, aclCreation("User:bob", "t"))
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alter)}, kerr.ClusterAuthorizationFailed},
		{"DescribeAcls", func(t *testing.T) kmsg.Request {
			return describeAllACLs(3)
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, describe)}, kerr.ClusterAuthorizationFailed},
		{"DeleteAcls", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrDeleteACLsRequest()
			in.Version = 3
			in.Filters = append(in.Filters, deleteFilter("User:bob"))
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alter)}, kerr.ClusterAuthorizationFailed},
		{"DescribeUserScramCredentials", func(t *testing.T) kmsg.Request {
			return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, describe)}, kerr.ClusterAuthorizationFailed},
		{"AlterUserScramCredentials", func(t *testing.T) kmsg.Request {
			in := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			in.Upsertions = append(in.Upsertions, scramUpsertion("bob", 2, 8192))
			return in
		}, nil, []acl.Binding{grant(cluster, acl.ClusterName, alter)}, kerr.ClusterAuthorizationFailed},
	}
	covered := make(map[kmsg.Key]bool)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, meta := authzServer(t)
			meta.setACLs(tc.base)
			body := tc.body(t)
			covered[kmsg.Key(body.Key())] = true
			codes := errorCodes(reflect.ValueOf(call(t, s, body)))
			if !slices.Contains(codes, tc.denied.Code) {
				t.Errorf("with %v: error codes %v, want %s", tc.base, codes, tc.denied.Message)
			}
			meta.setACLs(append(slices.Clone(tc.base), tc.grants...))
			codes = errorCodes(reflect.ValueOf(call(t, s, tc.body(t))))
			if slices.Contains(codes, tc.denied.Code) {
				t.Errorf("with %v: error codes %v, still %s", append(tc.base, tc.grants...), codes, tc.denied.Message)
			}
			// A super user needs no ACL.
			admin := &request{key: body.Key(), version: body.GetVersion(), body: tc.body(t), listener: "PLAINTEXT", principal: "User:admin", host: testHost}
			meta.setACLs(nil)
			if codes := errorCodes(reflect.ValueOf(callHandler(s, context.Background(), admin))); slices.Contains(codes, tc.denied.Code) {
				t.Errorf("as a super user: error codes %v, %s", codes, tc.denied.Message)
			}
		})
	}
	// Every API is checked here, but those that check nothing (ApiVersions
	// and SASL's, which come before authentication; DescribeCluster
	// answers its authorized operations) and those that filter
	// (ListGroups, ListTransactions), tested apart.
	for key := range apis {
		switch key {
		case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate, kmsg.DescribeCluster, kmsg.ListGroups, kmsg.ListTransactions:
			continue
		}
		if !covered[key] {
			t.Errorf("%s has no case", kmsg.NameForKey(key.Int16()))
		}
	}
}

// TestOffsetFetchHidesTopicsNotDescribable: committed offsets of a topic the
// client may not DESCRIBE are left out of a fetch of all of a group's
// offsets, and refused when asked for by name.
func TestOffsetFetchHidesTopicsNotDescribable(t *testing.T) {
	s, meta := authzServer(t)
	groupID := coordinatedGroups(t, s, "t", "u")[0]
	meta.setACLs([]acl.Binding{
		grant(kmsg.ACLResourceTypeGroup, groupID, kmsg.ACLOperationDescribe),
		grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationDescribe),
	})

	fetch := func(version int16, topics ...string) []kmsg.OffsetFetchResponseTopic {
		in := kmsg.NewPtrOffsetFetchRequest()
		in.Version, in.Group = version, groupID
		for _, topic := range topics {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = topic, []int32{0}
			in.Topics = append(in.Topics, rt)
		}
		resp := call(t, s, in).(*kmsg.OffsetFetchResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d %v: group error %d", version, topics, resp.ErrorCode)
		}
		return resp.Topics
	}
	if all := fetch(7); len(all) != 1 || all[0].Topic != "t" || all[0].Partitions[0].Offset != 5 {
		t.Errorf("all offsets: %+v, want t's alone", all)
	}
	named := fetch(7, "t", "u")
	if len(named) != 2 || named[0].Partitions[0].Offset != 5 || named[1].Topic != "u" ||
		named[1].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || named[1].Partitions[0].Offset != -1 {
		t.Errorf("t and u by name: %+v, want u refused", named)
	}

	in := kmsg.NewPtrOffsetFetchRequest()
	in.Version = 8
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = groupID
	other := kmsg.NewOffsetFetchRequestGroup()
	other.Group = "other"
	in.Groups = append(in.Groups, other, g)
	resp := call(t, s, in).(*kmsg.OffsetFetchResponse)
	if len(resp.Groups) != 2 || resp.Groups[0].Group != "other" || resp.Groups[0].ErrorCode != kerr.GroupAuthorizationFailed.Code ||
		resp.Groups[1].ErrorCode != 0 || len(resp.Groups[1].Topics) != 1 || resp.Groups[1].Topics[0].Topic != "t" {
		t.Errorf("v8: %+v, want other refused and t's offsets alone", resp.Groups)
	}
}

// coordinatedGroups has the group coordinator of s lead __consumer_offsets
// partition 7 and returns two groups of it, each with offset 5 committed for
// partition 0 of each of topics.
func coordinatedGroups(t *testing.T, s *Server, topics ...string) []string {
	t.Helper()
	_, _, log := leadOffsetsPartition(t, s, "1", 1)
	s.groups.BecomeLeader(7, 3, log)
	var groups []string
	for i := 0; len(groups) < 2; i++ {
		if id := fmt.Sprintf("g%d", i); kafkaPartitionFor(id, s.cfg.OffsetsTopicPartitions) == 7 {
			groups = append(groups, id)
		}
	}
	for _, groupID := range groups {
		commit := kmsg.NewPtrOffsetCommitRequest()
		commit.Version, commit.Group, commit.Generation = 8, groupID, -1
		for _, topic := range topics {
			commit.Topics = append(commit.Topics, topicPartitions(kmsg.NewOffsetCommitRequestTopic, func(rt *kmsg.OffsetCommitRequestTopic) {
				rt.Topic = topic
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Offset = 5
				rt.Partitions = append(rt.Partitions, rp)
			})...)
		}
		waitFor(t, "the offsets partition loaded and the commit taken", func() bool {
			codes := errorCodes(reflect.ValueOf(adminCall(s, commit)))
			return len(codes) == len(topics) && !slices.ContainsFunc(codes, func(c int16) bool { return c != 0 })
		})
	}
	return groups
}

// TestListAndDescribeGroupsShowWhatTheClientMayDescribe: ListGroups lists
// every group to a client that may DESCRIBE the cluster, the groups it may
// DESCRIBE otherwise; DescribeGroups answers what it may do with each.
func TestListAndDescribeGroupsShowWhatTheClientMayDescribe(t *testing.T) {
	s, meta := authzServer(t)
	groups := coordinatedGroups(t, s, "t")
	list := func() []string {
		in := kmsg.NewPtrListGroupsRequest()
		in.Version = 4
		var out []string
		for _, g := range call(t, s, in).(*kmsg.ListGroupsResponse).Groups {
			out = append(out, g.Group)
		}
		return out
	}
	if got := list(); len(got) != 0 {
		t.Errorf("without ACLs: listed %v", got)
	}
	meta.setACLs([]acl.Binding{grant(kmsg.ACLResourceTypeGroup, groups[1], kmsg.ACLOperationRead)})
	if got := list(); !slices.Equal(got, groups[1:]) {
		t.Errorf("with READ on %s: listed %v", groups[1], got)
	}
	meta.setACLs([]acl.Binding{grant(kmsg.ACLResourceTypeCluster, acl.ClusterName, kmsg.ACLOperationDescribe)})
	if got := list(); !sameElements(got, groups) {
		t.Errorf("with DESCRIBE on the cluster: listed %v, want %v", got, groups)
	}

	meta.setACLs([]acl.Binding{grant(kmsg.ACLResourceTypeGroup, groups[0], kmsg.ACLOperationRead)})
	in := kmsg.NewPtrDescribeGroupsRequest()
	in.Version, in.Groups, in.IncludeAuthorizedOperations = 5, groups, true
	described := call(t, s, in).(*kmsg.DescribeGroupsResponse).Groups
	const readAndDescribe = 1<<3 | 1<<8
	if len(described) != 2 || described[0].ErrorCode != 0 || described[0].AuthorizedOperations != readAndDescribe ||
		described[1].ErrorCode != kerr.GroupAuthorizationFailed.Code || described[1].AuthorizedOperations != -2147483648 {
		t.Errorf("described %+v, want %s with READ and DESCRIBE, %s refused", described, groups[0], groups[1])
	}
}

// TestMetadataHidesTopicsNotDescribable: Metadata for all topics leaves out
// the topics the client may not DESCRIBE; named, they are answered
// TOPIC_AUTHORIZATION_FAILED whether they exist or not, and asked by id,
// without their name. Authorized operations come from the ACLs.
func TestMetadataHidesTopicsNotDescribable(t *testing.T) {
	s, meta := authzServer(t)
	uID := [16]byte{9}
	meta.update(func(snap *coordinator.Snapshot) {
		topics := maps.Clone(snap.Topics)
		topics["u"] = &coordinator.Topic{Name: "u", ID: uID, Partitions: snap.Topics["t"].Partitions}
		snap.Topics = topics
	})
	meta.setACLs([]acl.Binding{
		grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead),
		grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationAlterConfigs),
		grant(kmsg.ACLResourceTypeCluster, acl.ClusterName, kmsg.ACLOperationIdempotentWrite),
	})
	metadata := func(version int16, names ...string) *kmsg.MetadataResponse {
		in := kmsg.NewPtrMetadataRequest()
		in.Version, in.IncludeTopicAuthorizedOperations, in.IncludeClusterAuthorizedOperations = version, true, true
		if names != nil {
			in.Topics = []kmsg.MetadataRequestTopic{}
		}
		for _, name := range names {
			rt := kmsg.NewMetadataRequestTopic()
			if name == "<id of u>" {
				rt.TopicID = uID
			} else {
				rt.Topic = kmsg.StringPtr(name)
			}
			in.Topics = append(in.Topics, rt)
		}
		return call(t, s, in).(*kmsg.MetadataResponse)
	}

	all := metadata(10)
	const tOps = 1<<3 | 1<<8 | 1<<10 | 1<<11 // READ, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS
	if len(all.Topics) != 1 || *all.Topics[0].Topic != "t" || all.Topics[0].ErrorCode != 0 || all.Topics[0].AuthorizedOperations != tOps {
		t.Errorf("all topics: %+v, want t alone with operations %d", all.Topics, tOps)
	}
	if all.AuthorizedOperations != 0 {
		t.Errorf("cluster operations %d without DESCRIBE on the cluster, want 0", all.AuthorizedOperations)
	}

	named := metadata(12, "t", "u", "missing", "<id of u>")
	if len(named.Topics) != 4 {
		t.Fatalf("named: %+v", named.Topics)
	}
	for i, want := range []string{"u", "missing"} {
		mt := named.Topics[i+1]
		if mt.Topic == nil || *mt.Topic != want || mt.ErrorCode != kerr.TopicAuthorizationFailed.Code || mt.TopicID != [16]byte{} ||
			len(mt.Partitions) != 0 || mt.AuthorizedOperations != -2147483648 {
			t.Errorf("%s: %+v, want TOPIC_AUTHORIZATION_FAILED and nothing else", want, mt)
		}
	}
	if byID := named.Topics[3]; byID.Topic != nil || byID.TopicID != uID || byID.ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("u by id: %+v, want its id alone and TOPIC_AUTHORIZATION_FAILED", byID)
	}

	meta.setACLs([]acl.Binding{
		grant(kmsg.ACLResourceTypeCluster, acl.ClusterName, kmsg.ACLOperationDescribe),
		grant(kmsg.ACLResourceTypeCluster, acl.ClusterName, kmsg.ACLOperationIdempotentWrite),
	})
	const clusterOps = 1<<8 | 1<<12
	if got := metadata(10).AuthorizedOperations; got != clusterOps {
		t.Errorf("cluster operations %d, want DESCRIBE and IDEMPOTENT_WRITE (%d)", got, clusterOps)
	}
	in := kmsg.NewPtrDescribeClusterRequest()
	in.IncludeClusterAuthorizedOperations = true
	if got := call(t, s, in).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations; got != clusterOps {
		t.Errorf("DescribeCluster: cluster operations %d, want %d", got, clusterOps)
	}
}

// TestDenyWinsAndHostsCount: the handlers ask about the request's own
// principal and host: a DENY for them wins over an ALLOW, and an ALLOW for
// another host does not count.
func TestDenyWinsAndHostsCount(t *testing.T) {
	s, meta := authzServer(t)
	deny := grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead)
	deny.Entry.Permission, deny.Entry.Host = kmsg.ACLPermissionTypeDeny, testHost
	elsewhere := grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead)
	elsewhere.Entry.Host = "10.9.9.9"
	for _, tc := range []struct {
		name string
		acls []acl.Binding
		want int16
	}{
		{"allowed", []acl.Binding{grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead)}, 0},
		{"denied from this host", []acl.Binding{grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationAll), deny}, kerr.TopicAuthorizationFailed.Code},
		{"allowed from another host", []acl.Binding{elsewhere}, kerr.TopicAuthorizationFailed.Code},
	} {
		meta.setACLs(tc.acls)
		resp := call(t, s, fetchRequest(-1)).(*kmsg.FetchResponse)
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestAuthorizerFromConfig(t *testing.T) {
	if a := newAuthorizer(config.Authorization{}); a != nil {
		t.Errorf("no authorizer.class.name: authorizer %+v, want none", a)
	}
	cfg := config.Authorization{Enabled: true, SuperUsers: []string{"User:admin"}, AllowEveryoneIfNoACLFound: true}
	a := newAuthorizer(cfg)
	if a == nil || !slices.Equal(a.SuperUsers, cfg.SuperUsers) || !a.AllowEveryoneIfNoACLFound {
		t.Errorf("authorizer %+v from %+v", a, cfg)
	}
}

// TestDeniedOperationsAreCounted: a denial counts under its listener,
// operation and resource type; what a filter leaves out does not.
func TestDeniedOperationsAreCounted(t *testing.T) {
	s, _ := authzServer(t)
	s.securityMetrics = metrics.NewSecurity([]string{"PLAINTEXT"})
	call(t, s, fetchRequest(-1))
	call(t, s, fetchRequest(-1))
	all := kmsg.NewPtrMetadataRequest()
	all.Version = 9
	call(t, s, all) // hides t: not a denial
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.securityMetrics)
	if n, err := testutil.GatherAndCount(reg, "kzoo_authorization_denied_total"); err != nil || n != 1 {
		t.Fatalf("%d denied series (%v), want 1", n, err)
	}
	want := `
# HELP kzoo_authorization_denied_total Operations the ACL authorizer denied, by listener, operation and resource type.
# TYPE kzoo_authorization_denied_total counter
kzoo_authorization_denied_total{listener="PLAINTEXT",operation="READ",resource_type="TOPIC"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kzoo_authorization_denied_total"); err != nil {
		t.Error(err)
	}
}
