package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/kzoo/kzoo/internal/configvalue"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const logDirsHelp = `Usage: kzoo log-dirs describe [--broker ID[,ID...]] [--topic T[,T...]] [--json]

Describes the log dirs of brokers (DescribeLogDirs), like kafka-log-dirs.sh:
each dir with the size and free space of its file system, and the partitions
it holds with their size on disk and offset lag. Every broker is asked unless
--broker names some.

  --broker IDS   the brokers to ask, comma-separated (default: all)
  --topic TOPICS only the partitions of these topics, comma-separated (default: all)
  --json         print kafka-log-dirs.sh's JSON instead of tables
`

// logDirsArgs is what the log-dirs describe flags ask for.
type logDirsArgs struct {
	Brokers []int32  // nil: every broker
	Topics  []string // nil: every topic
	JSON    bool
}

// logDirsCommand runs `log-dirs`.
func logDirsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	return runSubcommand(ctx, "log-dirs", logDirsHelp, cl, args, out, []subcommand[*kgo.Client]{{"describe", describeLogDirsCommand}})
}

// describeLogDirsCommand runs `log-dirs describe`.
func describeLogDirsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	a, helped, err := parseLogDirsArgs(args, out)
	if err != nil || helped {
		return err
	}
	described, err := describeLogDirs(ctx, cl, a)
	if err != nil {
		return fmt.Errorf("log-dirs describe: %w", err)
	}
	if a.JSON {
		return writeLogDirsJSON(out, described)
	}
	return writeLogDirTables(out, described)
}

func parseLogDirsArgs(args []string, out io.Writer) (a logDirsArgs, helped bool, err error) {
	fs := flag.NewFlagSet("log-dirs describe", flag.ContinueOnError)
	brokers := fs.String("broker", "", "")
	topics := fs.String("topic", "", "")
	fs.BoolVar(&a.JSON, "json", false, "")
	rest, helped, err := parseArgs(fs, logDirsHelp, args, out)
	if err != nil || helped {
		return logDirsArgs{}, helped, err
	}
	if len(rest) > 0 {
		return logDirsArgs{}, false, fmt.Errorf("log-dirs describe: unexpected argument %q", rest[0])
	}
	for _, b := range configvalue.SplitList(*brokers) {
		id, err := strconv.ParseInt(b, 10, 32)
		if err != nil || id < 0 {
			return logDirsArgs{}, false, fmt.Errorf("log-dirs describe: --broker %q: want broker ids", *brokers)
		}
		a.Brokers = append(a.Brokers, int32(id))
	}
	a.Topics = configvalue.SplitList(*topics)
	return a, false, nil
}

// brokerLogDirs is the answer of one broker.
type brokerLogDirs struct {
	Broker int32
	Dirs   []kmsg.DescribeLogDirsResponseDir
	Err    error // the broker could not be asked, or refused
}

// describeLogDirs asks each broker a selects for its log dirs, in broker
// order. Kafka's brokers answer for their own dirs only.
func describeLogDirs(ctx context.Context, cl *kgo.Client, a logDirsArgs) ([]brokerLogDirs, error) {
	metaReq := kmsg.NewPtrMetadataRequest()
	metaReq.Topics = []kmsg.MetadataRequestTopic{} // brokers only
	if len(a.Topics) > 0 {
		metaReq.Topics = nil
		for _, name := range a.Topics {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = kmsg.StringPtr(name)
			metaReq.Topics = append(metaReq.Topics, t)
		}
	}
	meta, err := metaReq.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	known := make([]int32, 0, len(meta.Brokers))
	for _, b := range meta.Brokers {
		known = append(known, b.NodeID)
	}
	slices.Sort(known)
	ids := known
	if a.Brokers != nil {
		ids = slices.Compact(slices.Sorted(slices.Values(a.Brokers)))
		for _, id := range ids {
			if !slices.Contains(known, id) {
				return nil, fmt.Errorf("broker %d is not in the cluster (brokers: %v)", id, known)
			}
		}
	}

	req := kmsg.NewPtrDescribeLogDirsRequest() // nil Topics: every partition
	if len(a.Topics) > 0 {
		req.Topics = []kmsg.DescribeLogDirsRequestTopic{}
		for _, t := range meta.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			}
			if err := codeError(t.ErrorCode, nil); err != nil {
				return nil, fmt.Errorf("topic %s: %w", name, err)
			}
			rt := kmsg.NewDescribeLogDirsRequestTopic()
			rt.Topic = name
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, p.Partition)
			}
			req.Topics = append(req.Topics, rt)
		}
	}
	out := make([]brokerLogDirs, 0, len(ids))
	for _, id := range ids {
		d := brokerLogDirs{Broker: id}
		resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
		switch {
		case err != nil:
			d.Err = err
		case resp.ErrorCode != 0:
			d.Err = codeError(resp.ErrorCode, nil)
		default:
			d.Dirs = resp.Dirs
		}
		out = append(out, d)
	}
	return out, nil
}

// writeLogDirTables prints one table of dirs and one of the partitions in
// them, and fails when a broker could not answer.
func writeLogDirTables(w io.Writer, described []brokerLogDirs) error {
	var failed error
	tw := newTable(w)
	fmt.Fprintln(tw, "BROKER\tDIR\tSTATUS\tTOTAL-BYTES\tUSABLE-BYTES\tPARTITIONS\tSIZE")
	for _, b := range described {
		if b.Err != nil {
			fmt.Fprintf(tw, "%d\t-\t%v\t-\t-\t-\t-\n", b.Broker, b.Err)
			failed = errors.Join(failed, fmt.Errorf("broker %d: %w", b.Broker, b.Err))
			continue
		}
		for _, d := range b.Dirs {
			var partitions int
			var size int64
			for _, t := range d.Topics {
				for _, p := range t.Partitions {
					partitions++
					size += p.Size
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\n", b.Broker, d.Dir, dirStatus(d.ErrorCode),
				knownBytes(d.TotalBytes), knownBytes(d.UsableBytes), partitions, size)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "BROKER\tDIR\tTOPIC\tPARTITION\tSIZE\tOFFSET-LAG\tFUTURE")
	for _, b := range described {
		for _, d := range b.Dirs {
			for _, p := range sortedDirPartitions(d) {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%t\n", b.Broker, d.Dir, p.topic, p.Partition, p.Size, p.OffsetLag, p.IsFuture)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return failed
}

// dirPartition is a partition of a DescribeLogDirs answer with its topic.
type dirPartition struct {
	topic string
	kmsg.DescribeLogDirsResponseDirTopicPartition
}

// sortedDirPartitions lists the partitions of a dir by topic and partition.
func sortedDirPartitions(d kmsg.DescribeLogDirsResponseDir) []dirPartition {
	var out []dirPartition
	for _, t := range d.Topics {
		for _, p := range t.Partitions {
			out = append(out, dirPartition{t.Topic, p})
		}
	}
	slices.SortFunc(out, func(a, b dirPartition) int {
		return cmp.Or(strings.Compare(a.topic, b.topic), cmp.Compare(a.Partition, b.Partition))
	})
	return out
}

// dirStatus renders the error code of a log dir.
func dirStatus(code int16) string {
	if err := codeError(code, nil); err != nil {
		return err.Error()
	}
	return "ok"
}

// knownBytes renders a byte count that brokers before DescribeLogDirs v4
// (and file systems that do not tell) leave at -1.
func knownBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

// writeLogDirsJSON prints what kafka-log-dirs.sh prints, so that scripts
// written for it read kzoo's output too. A broker that could not answer
// is left out, and the command fails.
func writeLogDirsJSON(w io.Writer, described []brokerLogDirs) error {
	type partitionJSON struct {
		Partition string `json:"partition"`
		Size      int64  `json:"size"`
		OffsetLag int64  `json:"offsetLag"`
		IsFuture  bool   `json:"isFuture"`
	}
	type dirJSON struct {
		LogDir     string          `json:"logDir"`
		Error      *string         `json:"error"`
		Partitions []partitionJSON `json:"partitions"`
	}
	type brokerJSON struct {
		Broker  int32     `json:"broker"`
		LogDirs []dirJSON `json:"logDirs"`
	}
	doc := struct {
		Version int          `json:"version"`
		Brokers []brokerJSON `json:"brokers"`
	}{Version: 1, Brokers: []brokerJSON{}}
	var failed error
	for _, b := range described {
		if b.Err != nil {
			failed = errors.Join(failed, fmt.Errorf("broker %d: %w", b.Broker, b.Err))
			continue
		}
		bj := brokerJSON{Broker: b.Broker, LogDirs: []dirJSON{}}
		for _, d := range b.Dirs {
			dj := dirJSON{LogDir: d.Dir, Partitions: []partitionJSON{}}
			if err := codeError(d.ErrorCode, nil); err != nil {
				msg := err.Error()
				dj.Error = &msg
			}
			for _, p := range sortedDirPartitions(d) {
				dj.Partitions = append(dj.Partitions, partitionJSON{
					Partition: fmt.Sprintf("%s-%d", p.topic, p.Partition),
					Size:      p.Size, OffsetLag: p.OffsetLag, IsFuture: p.IsFuture,
				})
			}
			bj.LogDirs = append(bj.LogDirs, dj)
		}
		doc.Brokers = append(doc.Brokers, bj)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", data)
	return failed
}
