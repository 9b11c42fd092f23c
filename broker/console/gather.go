package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kzoo/kzoo/coordinator"
)

// maxReportBytes bounds the answer read from another broker's console: a
// report of thousands of topics and groups stays well below it, a
// misbehaving peer cannot make this broker buffer without end.
const maxReportBytes = 16 << 20

// timedReport is the part of a broker's last report that the next one's
// rates are computed from.
type timedReport struct {
	// at is the report's Time, or when it arrived if it has none.
	at       time.Time
	in, out  int64
	topicsIn map[string][2]int64 // topic → bytes in, bytes out
}

// fetched is one broker's answer to a round.
type fetched struct {
	id  int32
	rep BrokerReport
	err error
}

// gather fetches every live broker's report in parallel (this broker's
// through src, the others' from their consoles) and sums them up. It
// takes at most about PeerTimeout.
func (c *Console) gather(ctx context.Context, snap *coordinator.Snapshot) ClusterStats {
	c.gatherMu.Lock()
	defer c.gatherMu.Unlock()
	now := c.cfg.Now()
	self := c.src.BrokerID()
	ids := []int32{self}
	if snap != nil {
		for _, id := range snap.LiveBrokerIDs() {
			if id != self {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	results := c.fetchAll(ctx, snap, ids, "")

	stats := ClusterStats{
		Time:    now,
		Brokers: make(map[int32]BrokerStats, len(ids)),
		Topics:  make(map[string]TopicStats),
	}
	seenGroup := make(map[string]int32)
	for _, r := range results {
		if r.err != nil {
			stats.Brokers[r.id] = BrokerStats{Err: r.err.Error()}
			continue
		}
		cur := timedReport{at: r.rep.Time, in: r.rep.BytesIn, out: r.rep.BytesOut, topicsIn: make(map[string][2]int64, len(r.rep.Topics))}
		if cur.at.IsZero() {
			cur.at = c.cfg.Now()
		}
		prev, hadPrev := c.prev[r.id]
		dt := 0.0
		if hadPrev {
			dt = cur.at.Sub(prev.at).Seconds()
		}
		bs := BrokerStats{Reachable: true}
		if hadPrev {
			bs.BytesInPerSec = rate(prev.in, cur.in, dt)
			bs.BytesOutPerSec = rate(prev.out, cur.out, dt)
		}
		stats.Brokers[r.id] = bs
		for _, tr := range r.rep.Topics {
			cur.topicsIn[tr.Topic] = [2]int64{tr.BytesIn, tr.BytesOut}
			ts := stats.Topics[tr.Topic]
			ts.SizeBytes += tr.SizeBytes
			if p, ok := prev.topicsIn[tr.Topic]; ok {
				ts.BytesInPerSec += rate(p[0], tr.BytesIn, dt)
				ts.BytesOutPerSec += rate(p[1], tr.BytesOut, dt)
			}
			stats.Topics[tr.Topic] = ts
		}
		c.prev[r.id] = cur
		// A group reported by two brokers is one whose coordinator
		// moved between their reports: the lowest broker id's is kept.
		for _, g := range r.rep.Groups {
			if first, dup := seenGroup[g.Group]; dup {
				c.cfg.Logger.WithField("group", g.Group).Debugf("console: group reported by brokers %d and %d; keeping %d's", first, r.id, first)
				continue
			}
			seenGroup[g.Group] = r.id
			stats.Groups = append(stats.Groups, g)
		}
	}
	slices.SortFunc(stats.Groups, func(a, b GroupReport) int { return strings.Compare(a.Group, b.Group) })
	// Forget the brokers that left: one that comes back starts afresh.
	for id := range c.prev {
		if !slices.Contains(ids, id) {
			delete(c.prev, id)
		}
	}
	return stats
}

// rate is the per-second growth of a cumulative counter over dt seconds:
// 0 when there is no interval or the counter went down (the broker
// restarted and counts from 0 again), never negative.
func rate(prev, cur int64, dt float64) float64 {
	if dt <= 0 || cur < prev {
		return 0
	}
	return float64(cur-prev) / dt
}

// fetchAll fetches the reports of ids in parallel, in the order of ids.
func (c *Console) fetchAll(ctx context.Context, snap *coordinator.Snapshot, ids []int32, topic string) []fetched {
	results := make([]fetched, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			rep, err := c.fetchReport(ctx, snap, id, topic)
			results[i] = fetched{id: id, rep: rep, err: err}
		})
	}
	wg.Wait()
	return results
}

// fetchReport gets broker id's report within PeerTimeout: this broker's
// from src, another's from its console's /api/broker.
func (c *Console) fetchReport(ctx context.Context, snap *coordinator.Snapshot, id int32, topic string) (BrokerReport, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PeerTimeout)
	defer cancel()
	if id == c.src.BrokerID() {
		rep, err := c.src.Report(ctx, topic)
		if err != nil {
			return BrokerReport{}, fmt.Errorf("this broker's report: %w", err)
		}
		return rep, nil
	}
	var addr string
	if snap != nil {
		addr = snap.Brokers[id].Console
	}
	if addr == "" {
		return BrokerReport{}, errors.New("serves no console (console.listen is off)")
	}
	u := url.URL{Scheme: "http", Host: addr, Path: "/api/broker"}
	if topic != "" {
		u.RawQuery = url.Values{"topic": {topic}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return BrokerReport{}, fmt.Errorf("console at %s: %w", addr, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return BrokerReport{}, fmt.Errorf("console at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxReportBytes)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return BrokerReport{}, fmt.Errorf("console at %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(msg)))
	}
	var rep BrokerReport
	if err := json.NewDecoder(body).Decode(&rep); err != nil {
		return BrokerReport{}, fmt.Errorf("console at %s: decoding its report: %w", addr, err)
	}
	if rep.Broker != id {
		return BrokerReport{}, fmt.Errorf("console at %s answered as broker %d, not %d", addr, rep.Broker, id)
	}
	return rep, nil
}

// TopicPartitions fetches, from each partition's leader, the offsets and
// sizes of topic's partitions, by partition; partitions whose leader did
// not answer (or that have none) are missing. The leaders are asked in
// parallel, each within PeerTimeout.
func (c *Console) TopicPartitions(ctx context.Context, topic string) map[int32]PartitionReport {
	c.mu.Lock()
	snap := c.snap
	c.mu.Unlock()
	if snap == nil {
		return nil
	}
	t := snap.Topics[topic]
	if t == nil {
		return nil
	}
	led := make(map[int32]map[int32]bool) // leader → the partitions it leads
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if p.Leader < 0 {
			continue
		}
		if led[p.Leader] == nil {
			led[p.Leader] = make(map[int32]bool)
		}
		led[p.Leader][p.Partition] = true
	}
	leaders := sortedKeys(led)
	out := make(map[int32]PartitionReport, len(t.Partitions))
	for _, r := range c.fetchAll(ctx, snap, leaders, topic) {
		if r.err != nil {
			c.cfg.Logger.WithError(r.err).WithField("topic", topic).Debugf("console: broker %d's partitions", r.id)
			continue
		}
		for _, pr := range r.rep.Partitions {
			if pr.Topic == topic && led[r.id][pr.Partition] {
				out[pr.Partition] = pr
			}
		}
	}
	return out
}
