package broker

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// roundTrip encodes resp at its version and decodes it as a client would,
// so that a test sees what goes on the wire (null arrays included).
func roundTrip[R kmsg.Response](t *testing.T, resp R, decoded R) R {
	t.Helper()
	decoded.SetVersion(resp.GetVersion())
	if err := decoded.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatalf("decode %T v%d: %v", resp, resp.GetVersion(), err)
	}
	return decoded
}

func createTopicsRequest(version int16, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *request {
	in := kmsg.NewPtrCreateTopicsRequest()
	in.Version = version
	in.ValidateOnly = validateOnly
	in.TimeoutMillis = 0 // answer at once: the fake metadata never shows the topic
	in.Topics = topics
	return &request{key: in.Key(), version: version, body: in, listener: "PLAINTEXT"}
}

func createTopic(name string, partitions int32, rf int16, configs map[string]string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

// TestCreateTopicsAnswersConfigsAndSources pins KIP-525: from v5, a created
// (or validated) topic comes back with its partition count, replication
// factor and every config with its source, as DescribeConfigs lists them;
// Java's AdminClient fails on a null configs array.
func TestCreateTopicsAnswersConfigsAndSources(t *testing.T) {
	snap := &coordinator.Snapshot{
		Brokers: liveBrokers(1, 2),
		Topics:  map[string]*coordinator.Topic{},
		BrokerConfigs: map[string]map[string]string{
			config.DefaultEntity: {"log.segment.bytes": "2000000"},
		},
	}
	s, meta := testServer(t, snap, "log.retention.ms=3600000")
	for version := int16(0); version <= 7; version++ {
		for _, validateOnly := range []bool{false, true} {
			req := createTopicsRequest(version, validateOnly, createTopic("t", 3, 2, map[string]string{"cleanup.policy": "compact"}))
			resp := callHandler(s, context.Background(), req).(*kmsg.CreateTopicsResponse)
			got := roundTrip(t, resp, kmsg.NewPtrCreateTopicsResponse()).Topics[0]
			if got.ErrorCode != 0 {
				t.Fatalf("v%d validate=%v: error %v", version, validateOnly, kerr.ErrorForCode(got.ErrorCode))
			}
			if version < 5 {
				continue
			}
			if got.NumPartitions != 3 || got.ReplicationFactor != 2 {
				t.Errorf("v%d validate=%v: partitions %d, replication factor %d; want 3, 2", version, validateOnly, got.NumPartitions, got.ReplicationFactor)
			}
			if got.Configs == nil {
				t.Fatalf("v%d validate=%v: configs are null", version, validateOnly)
			}
			configs := make(map[string]kmsg.CreateTopicsResponseTopicConfig)
			for _, c := range got.Configs {
				configs[c.Name] = c
			}
			// Every topic key but kzoo's quota keys, which a topic
			// without quotas does not describe.
			if want := len(s.cfg.DescribeTopic(map[string]string{"cleanup.policy": "compact"}, config.Dynamic{})); len(configs) != want {
				t.Errorf("v%d: %d configs, want every topic key DescribeConfigs lists (%d)", version, len(configs), want)
			}
			for name, want := range map[string]struct {
				value  string
				source config.Source
			}{
				"cleanup.policy":      {"compact", config.SourceDynamicTopic},
				"retention.ms":        {"3600000", config.SourceStaticBroker},
				"segment.bytes":       {"2000000", config.SourceDynamicDefaultBroker},
				"min.insync.replicas": {"1", config.SourceDefault},
			} {
				c, ok := configs[name]
				if !ok || c.Value == nil || *c.Value != want.value || c.Source != int8(want.source) || c.ReadOnly || c.IsSensitive {
					t.Errorf("v%d validate=%v: %s = %+v; want value %s, source %d, writable, not sensitive", version, validateOnly, name, c, want.value, want.source)
				}
			}
		}
	}
	if n := len(meta.createdTopics()); n != 8 {
		t.Errorf("%d topics created, want one per version without validate_only (8)", n)
	}
}

// TestCreateTopicsErrorHasNoConfigs: a failed topic answers -1 partitions
// and replication factor and an empty, not null, configs array.
func TestCreateTopicsErrorHasNoConfigs(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{}})
	req := createTopicsRequest(7, false, createTopic("t", 1, 3, nil))
	resp := callHandler(s, context.Background(), req).(*kmsg.CreateTopicsResponse)
	got := roundTrip(t, resp, kmsg.NewPtrCreateTopicsResponse()).Topics[0]
	if got.ErrorCode != kerr.InvalidReplicationFactor.Code || got.ErrorMessage == nil {
		t.Fatalf("error %d (%v), want INVALID_REPLICATION_FACTOR with a message", got.ErrorCode, got.ErrorMessage)
	}
	if got.NumPartitions != -1 || got.ReplicationFactor != -1 || got.Configs == nil || len(got.Configs) != 0 {
		t.Errorf("partitions %d, replication factor %d, configs %v; want -1, -1 and an empty array", got.NumPartitions, got.ReplicationFactor, got.Configs)
	}
}

// A topic whose replica assignment would not fit in its znode is refused with
// INVALID_PARTITIONS and a message saying why, not an unknown server error.
func TestCreateTopicsTooLargeForAZnode(t *testing.T) {
	s, meta := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1, 2, 3), Topics: map[string]*coordinator.Topic{}})
	meta.createTopic = func(context.Context) error {
		_, err := zkpaths.NewTopicAssignment(zkpaths.UUID{1}, meta.created[len(meta.created)-1].assignment).Marshal()
		return err
	}
	req := createTopicsRequest(7, false, createTopic("huge", 100_000, 3, nil))
	resp := callHandler(s, context.Background(), req).(*kmsg.CreateTopicsResponse)
	got := resp.Topics[0]
	if got.ErrorCode != kerr.InvalidPartitions.Code || got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "jute.maxbuffer") {
		t.Fatalf("error %d (%v), want INVALID_PARTITIONS naming jute.maxbuffer", got.ErrorCode, got.ErrorMessage)
	}
}
