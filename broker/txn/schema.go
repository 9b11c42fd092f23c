package txn

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// The coordinator's records in __transaction_state use Kafka's schemas
// (TransactionLogKey and TransactionLogValue; kmsg has them as
// TxnMetadataKey and TxnMetadataValue), so that Kafka's tools read them:
//
//	key v0   (transactional id) -> value v0 (producer id, epoch, timeout,
//	          status, partitions by topic, last update and start times)
//
// Kafka 3.x writes value version 0 (the flexible version 1 came with the
// transaction versions of KIP-890); a null value is the tombstone of an
// expired id. Each write is one record in one batch.
const (
	txnKeyVersion   = 0
	txnValueVersion = 0
)

// txnKey is the key of a transactional id's record.
func txnKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = txnKeyVersion
	k.TransactionalID = id
	return k.AppendTo(nil)
}

// txnValue is the record of t: what the id's metadata is once t is done.
// As Kafka, an Empty id's partitions are written null, the others' grouped
// by topic (in topic, partition order); a zero time is written -1.
func txnValue(t *transit) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = txnValueVersion
	v.ProducerID = t.producerID
	v.ProducerEpoch = t.producerEpoch
	v.TimeoutMillis = durationMillis(t.timeout)
	v.State = kmsg.TransactionState(t.state)
	if t.state != stateEmpty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, tp := range sortedPartitions(t.partitions) {
			if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
				topic := kmsg.NewTxnMetadataValueTopic()
				topic.Topic = tp.Topic
				v.Topics = append(v.Topics, topic)
			}
			last := &v.Topics[len(v.Topics)-1]
			last.Partitions = append(last.Partitions, tp.Partition)
		}
	}
	v.LastUpdateTimestamp = millisOrNone(t.lastUpdate)
	v.StartTimestamp = millisOrNone(t.startTime)
	return v.AppendTo(nil)
}

// decodeKey returns the transactional id of a key.
func decodeKey(key []byte) (string, error) {
	if len(key) < 2 {
		return "", fmt.Errorf("key of %d bytes has no version", len(key))
	}
	if version := int16(binary.BigEndian.Uint16(key)); version != txnKeyVersion {
		return "", fmt.Errorf("unknown key version %d", version)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", fmt.Errorf("transaction log key: %w", err)
	}
	return k.TransactionalID, nil
}

// decodeValue rebuilds the metadata of id from its record (versions 0
// and 1; the tagged fields of version 1 are KIP-890's and not used). What
// Kafka keeps only in memory (the previous producer id and epoch) starts
// unknown.
func decodeValue(id string, value []byte) (*txnMeta, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("transaction log value: %w", err)
	}
	switch st := txnState(v.State); {
	case v.Version < 0 || v.Version > 1:
		return nil, fmt.Errorf("transaction log value: unknown version %d", v.Version)
	case !st.valid():
		return nil, fmt.Errorf("transaction log value: unknown status %d", v.State)
	case v.ProducerID < 0:
		return nil, fmt.Errorf("transaction log value: producer id %d", v.ProducerID)
	}
	m := &txnMeta{
		id:                id,
		producerID:        v.ProducerID,
		lastProducerID:    noProducerID,
		producerEpoch:     v.ProducerEpoch,
		lastProducerEpoch: noProducerEpoch,
		timeout:           time.Duration(v.TimeoutMillis) * time.Millisecond,
		state:             txnState(v.State),
		partitions:        make(map[zkpaths.TopicPartition]struct{}),
		startTime:         timeOrZero(v.StartTimestamp),
		lastUpdate:        timeOrZero(v.LastUpdateTimestamp),
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.partitions[zkpaths.TopicPartition{Topic: t.Topic, Partition: p}] = struct{}{}
		}
	}
	return m, nil
}

func durationMillis(d time.Duration) int32 {
	return int32(min(d.Milliseconds(), 1<<31-1))
}

func millisOrNone(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func timeOrZero(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
