package config

import (
	"strings"
	"testing"
	"time"
)

func TestGroupCoordinatorKeysDefaultToKafkas(t *testing.T) {
	vals, err := Load("", nil, []string{"broker.id=1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"offsets.topic.num.partitions", b.OffsetsTopicPartitions, int32(50)},
		{"offsets.topic.replication.factor", b.OffsetsTopicReplicationFactor, int16(3)},
		{"offsets.topic.segment.bytes", b.OffsetsTopicSegmentBytes, int32(104857600)},
		{"offsets.retention.minutes", b.OffsetsRetention, 7 * 24 * time.Hour},
		{"offsets.retention.check.interval.ms", b.OffsetsRetentionCheckInterval, 10 * time.Minute},
		{"offsets.commit.timeout.ms", b.OffsetsCommitTimeout, 5 * time.Second},
		{"offset.metadata.max.bytes", b.OffsetMetadataMaxBytes, 4096},
		{"group.min.session.timeout.ms", b.GroupMinSessionTimeout, 6 * time.Second},
		{"group.max.session.timeout.ms", b.GroupMaxSessionTimeout, 30 * time.Minute},
		{"group.initial.rebalance.delay.ms", b.GroupInitialRebalanceDelay, 3 * time.Second},
		{"group.max.size", b.GroupMaxSize, 2147483647},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.key, c.got, c.want)
		}
	}
}

func TestGroupCoordinatorKeysFromTheEnvironment(t *testing.T) {
	vals, err := Load("", []string{"KZOO_GROUP_INITIAL_REBALANCE_DELAY_MS=0", "KZOO_OFFSETS_TOPIC_REPLICATION_FACTOR=1"}, []string{"broker.id=1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}
	if b.GroupInitialRebalanceDelay != 0 || b.OffsetsTopicReplicationFactor != 1 {
		t.Errorf("delay %v, replication factor %d; want 0 and 1 from the environment", b.GroupInitialRebalanceDelay, b.OffsetsTopicReplicationFactor)
	}
}

func TestGroupSessionTimeoutBoundsMustFit(t *testing.T) {
	vals, err := Load("", nil, []string{"broker.id=1", "group.min.session.timeout.ms=10000", "group.max.session.timeout.ms=9000"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vals.Broker(); err == nil || !strings.Contains(err.Error(), "group.min.session.timeout.ms") {
		t.Errorf("got %v, want an error naming group.min.session.timeout.ms", err)
	}
	if _, err := Load("", nil, []string{"offsets.topic.num.partitions=0"}); err == nil {
		t.Error("offsets.topic.num.partitions=0 accepted")
	}
}

func TestTransactionCoordinatorKeysDefaultToKafkas(t *testing.T) {
	vals, err := Load("", nil, []string{"broker.id=1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"transaction.state.log.num.partitions", b.TransactionStateTopicPartitions, int32(50)},
		{"transaction.state.log.replication.factor", b.TransactionStateTopicReplicationFactor, int16(3)},
		{"transaction.state.log.min.isr", b.TransactionStateTopicMinISR, int32(2)},
		{"transaction.state.log.segment.bytes", b.TransactionStateTopicSegmentBytes, int32(104857600)},
		{"transaction.max.timeout.ms", b.TransactionMaxTimeout, 15 * time.Minute},
		{"transactional.id.expiration.ms", b.TransactionalIDExpiration, 7 * 24 * time.Hour},
		{"transaction.abort.timed.out.transaction.cleanup.interval.ms", b.TransactionAbortTimedOutInterval, 10 * time.Second},
		{"transaction.remove.expired.transaction.cleanup.interval.ms", b.TransactionRemoveExpiredInterval, time.Hour},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.key, c.got, c.want)
		}
	}
	if _, err := Load("", nil, []string{"transaction.max.timeout.ms=0"}); err == nil {
		t.Error("transaction.max.timeout.ms=0 accepted")
	}
}
