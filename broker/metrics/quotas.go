package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kzoo/kzoo/broker/quota"
)

// QuotaStats gives the rates measured against client and topic quotas.
// *quota.Manager implements it.
type QuotaStats interface {
	ClientStats() []quota.ClientStat
	TopicStats() []quota.TopicStat
}

// QuotaCollector reports every quota rate the broker keeps: one per client
// quota entity in use (tagged by user and client id as Kafka tags its quota
// sensors) and one per topic quota in use. Rates idle for an hour are
// dropped, and their series with them.
type QuotaCollector struct {
	stats QuotaStats

	rate, bound, throttle                *prometheus.Desc
	topicRate, topicBound, topicThrottle *prometheus.Desc
}

// NewQuotaCollector reports stats' rates at each scrape.
func NewQuotaCollector(stats QuotaStats) *QuotaCollector {
	client := []string{"kind", "user", "client_id"}
	topic := []string{"topic", "kind"}
	const units = " (bytes/s for produce and fetch, percent of one handler thread for request, partitions/s for controller_mutation)"
	const shared = "; user or client_id is empty where the rate is shared by all users or all client ids of its quota entity"
	return &QuotaCollector{
		stats: stats,
		rate: prometheus.NewDesc("kzoo_quota_rate",
			"Rate measured against a client quota over the quota window"+units+shared+".", client, nil),
		bound: prometheus.NewDesc("kzoo_quota_bound",
			"The client quota the rate is held to"+units+shared+".", client, nil),
		throttle: prometheus.NewDesc("kzoo_quota_throttle_seconds_total",
			"Throttle time given to clients for exceeding a client quota"+shared+".", client, nil),
		topicRate: prometheus.NewDesc("kzoo_topic_quota_rate",
			"Bytes/s produced to (kind produce) or fetched from (kind fetch) a topic with a quota on this broker, over the quota window.", topic, nil),
		topicBound: prometheus.NewDesc("kzoo_topic_quota_bound",
			"A topic's quota on this broker in bytes/s (producer.byte.rate, consumer.byte.rate).", topic, nil),
		topicThrottle: prometheus.NewDesc("kzoo_topic_quota_throttle_seconds_total",
			"Throttle time given to clients for exceeding a topic's quota on this broker.", topic, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *QuotaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rate, c.bound, c.throttle, c.topicRate, c.topicBound, c.topicThrottle} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QuotaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats.ClientStats() {
		labels := []string{s.Kind.String(), s.User, s.ClientID}
		ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, s.Rate, labels...)
		ch <- prometheus.MustNewConstMetric(c.bound, prometheus.GaugeValue, s.Bound, labels...)
		ch <- prometheus.MustNewConstMetric(c.throttle, prometheus.CounterValue, s.Throttled.Seconds(), labels...)
	}
	for _, s := range c.stats.TopicStats() {
		labels := []string{s.Topic, s.Kind.String()}
		ch <- prometheus.MustNewConstMetric(c.topicRate, prometheus.GaugeValue, s.Rate, labels...)
		ch <- prometheus.MustNewConstMetric(c.topicBound, prometheus.GaugeValue, s.Bound, labels...)
		ch <- prometheus.MustNewConstMetric(c.topicThrottle, prometheus.CounterValue, s.Throttled.Seconds(), labels...)
	}
}
