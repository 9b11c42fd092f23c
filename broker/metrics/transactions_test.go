package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kzoo/kzoo/broker/txn"
	"github.com/kzoo/kzoo/zkpaths"
)

type fixedTxnStats txn.Stats

func (s fixedTxnStats) Stats() txn.Stats { return txn.Stats(s) }

func TestTransactionCollectorReportsTheCoordinatorAndLaggingPartitions(t *testing.T) {
	stats := fixedTxnStats{
		Ongoing: 2, MarkersWritten: 7, Committed: 3, Aborted: 1,
		CompletedDuration: 2 * time.Second, MaxCompletedDuration: 1500 * time.Millisecond,
	}
	lags := []StableOffsetLag{{TopicPartition: zkpaths.TopicPartition{Topic: "orders", Partition: 4}, Lag: 12}}
	c := NewTransactionCollector(stats, func() []StableOffsetLag { return lags })
	if err := prometheus.NewPedanticRegistry().Register(c); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP kzoo_partition_last_stable_offset_lag Offsets between the high watermark and the last stable offset of a partition this broker leads: what read_committed consumers wait for; only partitions with a lag are reported.
# TYPE kzoo_partition_last_stable_offset_lag gauge
kzoo_partition_last_stable_offset_lag{partition="4",topic="orders"} 12
# HELP kzoo_transaction_duration_max_seconds Longest completed transaction since the broker started.
# TYPE kzoo_transaction_duration_max_seconds gauge
kzoo_transaction_duration_max_seconds 1.5
# HELP kzoo_transaction_duration_seconds Duration of the transactions this broker's coordinator completed, from their first partition to their completion.
# TYPE kzoo_transaction_duration_seconds summary
kzoo_transaction_duration_seconds_sum 2
kzoo_transaction_duration_seconds_count 4
# HELP kzoo_transaction_markers_written_total Commit and abort markers this broker's transaction coordinator had written, one per partition of a transaction ended.
# TYPE kzoo_transaction_markers_written_total counter
kzoo_transaction_markers_written_total 7
# HELP kzoo_transactions_completed_total Transactions this broker's coordinator completed, by result (commit or abort).
# TYPE kzoo_transactions_completed_total counter
kzoo_transactions_completed_total{result="abort"} 1
kzoo_transactions_completed_total{result="commit"} 3
# HELP kzoo_transactions_ongoing Open transactions (Ongoing, PrepareCommit, PrepareAbort) of the transactional ids this broker coordinates.
# TYPE kzoo_transactions_ongoing gauge
kzoo_transactions_ongoing 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	lags = nil // the partition caught up: its series goes
	if n := testutil.CollectAndCount(c, "kzoo_partition_last_stable_offset_lag"); n != 0 {
		t.Errorf("%d lag series once no partition lags, want 0", n)
	}
}
