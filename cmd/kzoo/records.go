package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const recordsHelp = `Usage: kzoo records delete TOPIC --offset O [--partition P]
       kzoo records delete --offset-json-file FILE

Deletes the records below an offset (DeleteRecords), like
kafka-delete-records.sh: each partition's leader moves its log start offset
to the offset, which makes the records below it unreadable and deletes the
log segments wholly below it, and its followers do the same. The command
waits until every live replica has, and prints each partition's low
watermark: the first offset left.

  --offset O               delete the records below offset O; -1 deletes every record
                           written so far (up to the high watermark)
  --partition P            one partition of TOPIC (default: every partition)
  --offset-json-file FILE  the partitions and offsets, in kafka-delete-records.sh's format:
                           {"partitions": [{"topic": "t", "partition": 0, "offset": 10}], "version": 1}
`

// deleteRecordsTimeout is how long the brokers may wait for the followers
// of a partition to delete its records too (Kafka's tool waits as long).
const deleteRecordsTimeout = 30_000

// recordsTarget is one partition whose records below Offset are deleted.
type recordsTarget struct {
	Topic     string
	Partition int32
	Offset    int64
}

// recordsDeleteArgs is what the records delete flags ask for: the targets
// of a JSON file, or Offset on Topic's Partition (every partition when
// Partition is -1).
type recordsDeleteArgs struct {
	Targets   []recordsTarget
	Topic     string
	Partition int32
	Offset    int64
}

// recordsCommand runs `records`.
func recordsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	return runSubcommand(ctx, "records", recordsHelp, cl, args, out, []subcommand[*kgo.Client]{{"delete", deleteRecords}})
}

// parseRecordsDeleteArgs parses and checks the records delete flags; read
// reads the offset JSON file.
func parseRecordsDeleteArgs(args []string, out io.Writer, read func(string) ([]byte, error)) (a recordsDeleteArgs, helped bool, err error) {
	fs := flag.NewFlagSet("records delete", flag.ContinueOnError)
	offset := fs.Int64("offset", math.MinInt64, "")
	partition := fs.Int("partition", -1, "")
	jsonFile := fs.String("offset-json-file", "", "")
	rest, helped, err := parseArgs(fs, recordsHelp, args, out)
	if err != nil || helped {
		return recordsDeleteArgs{}, helped, err
	}
	if *jsonFile != "" {
		if len(rest) > 0 || *offset != math.MinInt64 || *partition != -1 {
			return recordsDeleteArgs{}, false, errors.New("records delete: --offset-json-file excludes TOPIC, --offset and --partition")
		}
		data, err := read(*jsonFile)
		if err != nil {
			return recordsDeleteArgs{}, false, fmt.Errorf("records delete: %w", err)
		}
		targets, err := parseOffsetJSON(data)
		if err != nil {
			return recordsDeleteArgs{}, false, fmt.Errorf("records delete: %s: %w", *jsonFile, err)
		}
		return recordsDeleteArgs{Targets: targets}, false, nil
	}
	switch {
	case len(rest) == 0:
		return recordsDeleteArgs{}, false, errors.New("records delete: name a topic, or give --offset-json-file")
	case len(rest) > 1:
		return recordsDeleteArgs{}, false, fmt.Errorf("records delete: unexpected argument %q (one topic at a time; use --offset-json-file for more)", rest[1])
	case *offset == math.MinInt64:
		return recordsDeleteArgs{}, false, errors.New("records delete: give --offset (-1 deletes every record)")
	case *offset < -1:
		return recordsDeleteArgs{}, false, fmt.Errorf("records delete: --offset %d: want an offset, or -1 for the high watermark", *offset)
	case *partition < -1 || *partition > math.MaxInt32:
		return recordsDeleteArgs{}, false, fmt.Errorf("records delete: --partition %d: want a partition id", *partition)
	}
	return recordsDeleteArgs{Topic: rest[0], Partition: int32(*partition), Offset: *offset}, false, nil
}

// parseOffsetJSON reads kafka-delete-records.sh's offset file.
func parseOffsetJSON(data []byte) ([]recordsTarget, error) {
	var file struct {
		Version    int `json:"version"`
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition *int32 `json:"partition"`
			Offset    *int64 `json:"offset"`
		} `json:"partitions"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("not an offset JSON file: %w", err)
	}
	if file.Version != 0 && file.Version != 1 {
		return nil, fmt.Errorf("version %d: only version 1 is known", file.Version)
	}
	if len(file.Partitions) == 0 {
		return nil, errors.New("no partitions listed")
	}
	targets := make([]recordsTarget, 0, len(file.Partitions))
	seen := make(map[recordsTarget]bool, len(file.Partitions))
	for i, p := range file.Partitions {
		switch {
		case p.Topic == "":
			return nil, fmt.Errorf("partition entry %d has no topic", i)
		case p.Partition == nil || *p.Partition < 0:
			return nil, fmt.Errorf("partition entry %d (topic %s) has no valid partition", i, p.Topic)
		case p.Offset == nil || *p.Offset < -1:
			return nil, fmt.Errorf("partition entry %d (%s-%d) has no valid offset (-1 for the high watermark)", i, p.Topic, *p.Partition)
		}
		key := recordsTarget{Topic: p.Topic, Partition: *p.Partition}
		if seen[key] {
			return nil, fmt.Errorf("partition %s-%d is listed twice", p.Topic, *p.Partition)
		}
		seen[key] = true
		targets = append(targets, recordsTarget{Topic: p.Topic, Partition: *p.Partition, Offset: *p.Offset})
	}
	return targets, nil
}

// recordsResult is the outcome of deleting the records of one partition.
type recordsResult struct {
	Topic        string
	Partition    int32
	LowWatermark int64
	Err          error
}

// deleteRecords runs `records delete`.
func deleteRecords(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	a, helped, err := parseRecordsDeleteArgs(args, out, os.ReadFile)
	if err != nil || helped {
		return err
	}

	targets := a.Targets
	if targets == nil {
		partitions := []int32{a.Partition}
		if a.Partition < 0 {
			if partitions, err = topicPartitionIDs(ctx, cl, a.Topic); err != nil {
				return fmt.Errorf("records delete: %w", err)
			}
		}
		for _, p := range partitions {
			targets = append(targets, recordsTarget{Topic: a.Topic, Partition: p, Offset: a.Offset})
		}
	}
	results, err := requestDeleteRecords(ctx, cl, targets)
	if err != nil {
		return fmt.Errorf("records delete: %w", err)
	}
	return reportDeletedRecords(out, results)
}

// requestDeleteRecords sends DeleteRecords for targets; the client sends
// each partition to its leader.
func requestDeleteRecords(ctx context.Context, cl *kgo.Client, targets []recordsTarget) ([]recordsResult, error) {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = deleteRecordsTimeout
	for _, topicTargets := range groupByTopic(targets, func(t recordsTarget) string { return t.Topic }) {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topicTargets[0].Topic
		for _, t := range topicTargets {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = t.Partition, t.Offset
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	var results []recordsResult
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			// The partitions of a shard that could not be sent (an unknown
			// topic, a broker out of reach) share its error.
			sent, ok := shard.Req.(*kmsg.DeleteRecordsRequest)
			if !ok {
				return nil, shard.Err
			}
			for _, t := range sent.Topics {
				for _, p := range t.Partitions {
					results = append(results, recordsResult{Topic: t.Topic, Partition: p.Partition, LowWatermark: -1, Err: shard.Err})
				}
			}
			continue
		}
		resp := shard.Resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				results = append(results, recordsResult{t.Topic, p.Partition, p.LowWatermark, codeError(p.ErrorCode, nil)})
			}
		}
	}
	return results, nil
}

// reportDeletedRecords prints one line per partition and fails when the
// records of some partition could not be deleted.
func reportDeletedRecords(out io.Writer, results []recordsResult) error {
	slices.SortFunc(results, func(a, b recordsResult) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	var failed []string
	for _, r := range results {
		tp := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
		if r.Err != nil {
			fmt.Fprintf(out, "%s: failed: %v\n", tp, r.Err)
			failed = append(failed, tp)
			continue
		}
		fmt.Fprintf(out, "%s: low watermark %d\n", tp, r.LowWatermark)
	}
	if len(failed) > 0 {
		return fmt.Errorf("records delete: failed for %d partitions: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}
