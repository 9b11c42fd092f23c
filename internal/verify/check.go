package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CheckConfig describes how to read a topic back.
type CheckConfig struct {
	Bootstrap  []string
	Topic      string
	Partitions int32
	// DataDirs maps broker ids to their log directory (log.dirs). When set,
	// the segment files of every in-sync replica found there are compared
	// batch by batch below the high watermark.
	DataDirs map[int32]string
	// Options are extra client options.
	Options []kgo.Opt
}

// Report is the outcome of Check.
type Report struct {
	Acknowledged int
	Lost         int
	Duplicated   int
	Reordered    int
	Divergent    int
	// Failed counts records the producer saw fail; they may or may not be
	// in the log, and neither is an error.
	Failed int
	// ReplicasCompared counts replica logs compared with their leader's.
	ReplicasCompared int
	// Problems describes the first few findings, for people.
	Problems []string
}

// maxProblems bounds Report.Problems.
const maxProblems = 20

// OK reports whether nothing was lost, duplicated, reordered or divergent.
func (r Report) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Reordered == 0 && r.Divergent == 0
}

// String is the one-line summary tests and scripts match on; fields after
// divergent may be added.
func (r Report) String() string {
	return fmt.Sprintf("acknowledged=%d lost=%d duplicated=%d reordered=%d divergent=%d failed=%d replicas-compared=%d",
		r.Acknowledged, r.Lost, r.Duplicated, r.Reordered, r.Divergent, r.Failed, r.ReplicasCompared)
}

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// logRecord is a record of the run as read back.
type logRecord struct {
	offset int64
	seq    int64
	value  []byte
}

// Check reads every partition of the topic up to its high watermark and
// compares it with what the producer run acknowledged, then, with
// DataDirs, compares the in-sync replicas' logs. An error means the check
// could not be done, not that it found something.
func Check(ctx context.Context, cfg CheckConfig, run Result) (Report, error) {
	if len(cfg.Bootstrap) == 0 || cfg.Topic == "" || cfg.Partitions <= 0 {
		return Report{}, errors.New("verify: check needs bootstrap servers, a topic and a partition count")
	}
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Bootstrap...)}, cfg.Options...)...)
	if err != nil {
		return Report{}, fmt.Errorf("verify: client: %w", err)
	}
	defer admin.Close()

	partitions, err := describe(ctx, admin, cfg.Topic, cfg.Partitions)
	if err != nil {
		return Report{}, err
	}
	hws, err := highWatermarks(ctx, admin, cfg.Topic, cfg.Partitions)
	if err != nil {
		return Report{}, err
	}
	logs, err := readRun(ctx, cfg, run.RunID, hws)
	if err != nil {
		return Report{}, err
	}

	rep := Report{Acknowledged: len(run.Acks), Failed: run.Failed}
	compareAcks(&rep, run.Acks, logs)
	if len(cfg.DataDirs) > 0 {
		for p := range cfg.Partitions {
			compareReplicas(&rep, cfg, partitions[p], hws[p])
		}
	}
	return rep, nil
}

// compareAcks counts lost, duplicated and reordered records.
func compareAcks(rep *Report, acks []Ack, logs map[int32][]logRecord) {
	byOffset := map[int32]map[int64]logRecord{}
	count := map[int64]int{}
	for p, records := range logs {
		byOffset[p] = make(map[int64]logRecord, len(records))
		var last logRecord
		for i, r := range records {
			byOffset[p][r.offset] = r
			count[r.seq]++
			if i > 0 && r.seq <= last.seq {
				rep.Reordered++
				rep.problem("partition %d: record %d at offset %d follows record %d at offset %d", p, r.seq, r.offset, last.seq, last.offset)
			}
			last = r
		}
	}
	for seq, n := range count {
		if n > 1 {
			rep.Duplicated += n - 1
			rep.problem("record %d is in the log %d times", seq, n)
		}
	}
	for _, a := range acks {
		r, ok := byOffset[a.Partition][a.Offset]
		if !ok || r.seq != a.Seq || string(r.value) != string(a.Value) {
			rep.Lost++
			if ok {
				rep.problem("partition %d offset %d: acknowledged record %d, found record %d", a.Partition, a.Offset, a.Seq, r.seq)
			} else {
				rep.problem("partition %d offset %d: acknowledged record %d is missing", a.Partition, a.Offset, a.Seq)
			}
		}
	}
}

// partitionInfo is what Metadata says about a partition.
type partitionInfo struct {
	id       int32
	leader   int32
	replicas []int32
	isr      []int32
}

func describe(ctx context.Context, cl *kgo.Client, topic string, partitions int32) ([]partitionInfo, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("verify: metadata of %s: %w", topic, err)
	}
	if len(resp.Topics) != 1 {
		return nil, fmt.Errorf("verify: metadata of %s: %d topics in the answer", topic, len(resp.Topics))
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return nil, fmt.Errorf("verify: metadata of %s: %w", topic, err)
	}
	if len(t.Partitions) != int(partitions) {
		return nil, fmt.Errorf("verify: topic %s has %d partitions, expected %d", topic, len(t.Partitions), partitions)
	}
	out := make([]partitionInfo, partitions)
	for _, p := range t.Partitions {
		if p.Partition < 0 || p.Partition >= partitions {
			return nil, fmt.Errorf("verify: metadata of %s names partition %d", topic, p.Partition)
		}
		out[p.Partition] = partitionInfo{id: p.Partition, leader: p.Leader, replicas: p.Replicas, isr: p.ISR}
	}
	return out, nil
}

// highWatermarks asks each partition's leader for its high watermark: the
// latest offset a consumer may read.
func highWatermarks(ctx context.Context, cl *kgo.Client, topic string, partitions int32) ([]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	out := make([]int64, partitions)
	seen := make([]bool, partitions)
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			return nil, fmt.Errorf("verify: high watermarks of %s: %w", topic, sh.Err)
		}
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("verify: high watermark of %s-%d: %w", topic, p.Partition, err)
				}
				if p.Partition >= 0 && p.Partition < partitions {
					out[p.Partition], seen[p.Partition] = p.Offset, true
				}
			}
		}
	}
	if i := slices.Index(seen, false); i >= 0 {
		return nil, fmt.Errorf("verify: no high watermark for %s-%d", topic, i)
	}
	return out, nil
}

// readRun consumes every partition from its start to its high watermark and
// returns the records of run runID, in offset order.
func readRun(ctx context.Context, cfg CheckConfig, runID string, hws []int64) (map[int32][]logRecord, error) {
	offsets := map[int32]kgo.Offset{}
	for p, hw := range hws {
		if hw > 0 {
			offsets[int32(p)] = kgo.NewOffset().AtStart()
		}
	}
	out := map[int32][]logRecord{}
	if len(offsets) == 0 {
		return out, nil
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: offsets}),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, cfg.Options...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("verify: consumer: %w", err)
	}
	defer cl.Close()

	next := map[int32]int64{}
	pending := len(offsets)
	for pending > 0 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("verify: reading %s back: %d partitions not read up to their high watermark: %w", cfg.Topic, pending, err)
		}
		var fatal error
		fetches.EachError(func(topic string, p int32, err error) {
			if !kerr.IsRetriable(err) && !errors.Is(err, context.Canceled) {
				fatal = errors.Join(fatal, fmt.Errorf("verify: read %s-%d: %w", topic, p, err))
			}
		})
		if fatal != nil {
			return nil, fatal
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset >= hws[r.Partition] {
				return // produced since the high watermarks were read
			}
			before := next[r.Partition] < hws[r.Partition]
			next[r.Partition] = r.Offset + 1
			if before && next[r.Partition] >= hws[r.Partition] {
				pending--
			}
			if id, seq, ok := decodeValue(r.Value); ok && id == runID {
				out[r.Partition] = append(out[r.Partition], logRecord{offset: r.Offset, seq: seq, value: r.Value})
			}
		})
	}
	return out, nil
}

// compareReplicas compares the batches of every in-sync replica of p whose
// log directory is known with the leader's, below the high watermark.
func compareReplicas(rep *Report, cfg CheckConfig, p partitionInfo, hw int64) {
	dirName := fmt.Sprintf("%s-%d", cfg.Topic, p.id)
	reference, ok := cfg.DataDirs[p.leader]
	if !ok {
		rep.problem("partition %d: no log directory for its leader %d; replicas not compared", p.id, p.leader)
		return
	}
	want, err := readBatches(reference+"/"+dirName, hw)
	if err != nil {
		rep.Divergent++
		rep.problem("partition %d: leader %d: %v", p.id, p.leader, err)
		return
	}
	for _, id := range p.isr {
		dir, ok := cfg.DataDirs[id]
		if id == p.leader || !ok {
			continue
		}
		got, err := readBatches(dir+"/"+dirName, hw)
		rep.ReplicasCompared++
		if err != nil {
			rep.Divergent++
			rep.problem("partition %d: replica %d: %v", p.id, id, err)
			return
		}
		if diff := diffBatches(want, got); diff != "" {
			rep.Divergent++
			rep.problem("partition %d: replica %d differs from leader %d below high watermark %d: %s", p.id, id, p.leader, hw, diff)
			return
		}
	}
}

// diffBatches describes the first difference between two batch lists
// covering the same offsets, or returns "". Lists may start at different
// offsets (retention runs on each replica by itself); only the offsets
// both hold are compared, and both must reach the same end.
func diffBatches(a, b []diskBatch) string {
	start := max(firstOffset(a), firstOffset(b))
	a = dropBelow(a, start)
	b = dropBelow(b, start)
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("batch at offset %d (leader) vs %d (replica) differs", a[i].base, b[i].base)
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d batches on the leader, %d on the replica", len(a), len(b))
	}
	return ""
}

func firstOffset(bs []diskBatch) int64 {
	if len(bs) == 0 {
		return 0
	}
	return bs[0].base
}

func dropBelow(bs []diskBatch, offset int64) []diskBatch {
	i := 0
	for i < len(bs) && bs[i].base < offset {
		i++
	}
	return bs[i:]
}

// Summary formats a report with its problems, one per line after the
// summary line.
func Summary(rep Report) string {
	var b strings.Builder
	b.WriteString(rep.String())
	for _, p := range rep.Problems {
		b.WriteString("\n  ")
		b.WriteString(p)
	}
	return b.String()
}
