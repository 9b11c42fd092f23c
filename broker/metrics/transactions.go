package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kzoo/kzoo/broker/txn"
	"github.com/kzoo/kzoo/zkpaths"
)

// TransactionStats gives the transaction coordinator's figures.
// *txn.Coordinator implements it.
type TransactionStats interface {
	Stats() txn.Stats
}

// StableOffsetLag is how far a partition's last stable offset is behind its
// high watermark: the records read_committed consumers cannot read yet,
// held back by open transactions.
type StableOffsetLag struct {
	zkpaths.TopicPartition
	Lag int64
}

// TransactionCollector reports the transactions this broker coordinates
// and the partitions it leads whose last stable offset lags.
type TransactionCollector struct {
	coordinator TransactionStats
	lags        func() []StableOffsetLag

	ongoing, markers, completed, duration, maxDuration, lsoLag *prometheus.Desc
}

// NewTransactionCollector reports coordinator's figures and the lags lags
// returns at each scrape (only partitions with a lag, so that a broker of
// many partitions exports few series).
func NewTransactionCollector(coordinator TransactionStats, lags func() []StableOffsetLag) *TransactionCollector {
	return &TransactionCollector{
		coordinator: coordinator,
		lags:        lags,
		ongoing: prometheus.NewDesc("kzoo_transactions_ongoing",
			"Open transactions (Ongoing, PrepareCommit, PrepareAbort) of the transactional ids this broker coordinates.", nil, nil),
		markers: prometheus.NewDesc("kzoo_transaction_markers_written_total",
			"Commit and abort markers this broker's transaction coordinator had written, one per partition of a transaction ended.", nil, nil),
		completed: prometheus.NewDesc("kzoo_transactions_completed_total",
			"Transactions this broker's coordinator completed, by result (commit or abort).", []string{"result"}, nil),
		duration: prometheus.NewDesc("kzoo_transaction_duration_seconds",
			"Duration of the transactions this broker's coordinator completed, from their first partition to their completion.", nil, nil),
		maxDuration: prometheus.NewDesc("kzoo_transaction_duration_max_seconds",
			"Longest completed transaction since the broker started.", nil, nil),
		lsoLag: prometheus.NewDesc("kzoo_partition_last_stable_offset_lag",
			"Offsets between the high watermark and the last stable offset of a partition this broker leads: what read_committed consumers wait for; only partitions with a lag are reported.",
			[]string{"topic", "partition"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *TransactionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ongoing, c.markers, c.completed, c.duration, c.maxDuration, c.lsoLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *TransactionCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.coordinator.Stats()
	ch <- prometheus.MustNewConstMetric(c.ongoing, prometheus.GaugeValue, float64(st.Ongoing))
	ch <- prometheus.MustNewConstMetric(c.markers, prometheus.CounterValue, float64(st.MarkersWritten))
	ch <- prometheus.MustNewConstMetric(c.completed, prometheus.CounterValue, float64(st.Committed), "commit")
	ch <- prometheus.MustNewConstMetric(c.completed, prometheus.CounterValue, float64(st.Aborted), "abort")
	ch <- prometheus.MustNewConstSummary(c.duration, st.Committed+st.Aborted, st.CompletedDuration.Seconds(), nil)
	ch <- prometheus.MustNewConstMetric(c.maxDuration, prometheus.GaugeValue, st.MaxCompletedDuration.Seconds())
	for _, l := range c.lags() {
		ch <- prometheus.MustNewConstMetric(c.lsoLag, prometheus.GaugeValue, float64(l.Lag), l.Topic, strconv.Itoa(int(l.Partition)))
	}
}
