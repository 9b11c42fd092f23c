package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/zkpaths"
)

// resetStrategy is where `groups reset-offsets` moves a group's offsets.
type resetStrategy int

const (
	toEarliest resetStrategy = iota + 1
	toLatest
	toOffset
	toDatetime
	shiftBy
)

// resetSpec is a strategy and its argument: the offset of toOffset, the
// timestamp (Unix milliseconds) of toDatetime, the shift of shiftBy.
type resetSpec struct {
	strategy resetStrategy
	offset   int64
}

// resetInputs are the offsets a plan starts from: the partitions' log start
// offsets and high watermarks, and, where the strategy needs them, the
// first offsets at or after the datetime (-1 where no record is that new)
// and the group's committed offsets.
type resetInputs struct {
	earliest, latest, byTime, committed map[zkpaths.TopicPartition]int64
}

// resetTarget is one partition's new offset.
type resetTarget struct {
	zkpaths.TopicPartition
	Offset int64
	// Note explains an offset that differs from the one asked for.
	Note string
}

// planResetFrom computes the new offset of every partition in tps, sorted,
// from the inputs its strategy needs: toEarliest the log start offsets,
// toLatest the high watermarks, toOffset both, since, as in Kafka, an
// offset outside the log is moved to its nearer end (a consumer would
// otherwise start from its auto.offset.reset, which is rarely what was asked
// for); toDatetime takes the first offset at or after the datetime (the log
// end when no record is that new, as Kafka), shiftBy moves the committed
// offset and, like toOffset, keeps the result inside the log.
func planResetFrom(spec resetSpec, tps []zkpaths.TopicPartition, in resetInputs) ([]resetTarget, error) {
	earliest, latest := in.earliest, in.latest
	targets := make([]resetTarget, 0, len(tps))
	var missing error
	lookup := func(tp zkpaths.TopicPartition, offsets map[zkpaths.TopicPartition]int64, what string) (int64, bool) {
		o, ok := offsets[tp]
		if !ok {
			missing = errors.Join(missing, fmt.Errorf("%s offset of %s is unknown", what, partitionName(tp)))
		}
		return o, ok
	}
	for _, tp := range tps {
		switch spec.strategy {
		case toEarliest:
			if o, ok := lookup(tp, earliest, "earliest"); ok {
				targets = append(targets, resetTarget{TopicPartition: tp, Offset: o})
			}
		case toLatest:
			if o, ok := lookup(tp, latest, "latest"); ok {
				targets = append(targets, resetTarget{TopicPartition: tp, Offset: o})
			}
		case toOffset, shiftBy:
			lo, okLo := lookup(tp, earliest, "earliest")
			hi, okHi := lookup(tp, latest, "latest")
			want := spec.offset
			if spec.strategy == shiftBy {
				committed, ok := lookup(tp, in.committed, "committed")
				if !ok {
					continue
				}
				want = committed + spec.offset
			}
			if !okLo || !okHi {
				continue
			}
			t := resetTarget{TopicPartition: tp, Offset: want}
			switch {
			case want < lo:
				t.Offset, t.Note = lo, fmt.Sprintf("offset %d is before the log start, using %d", want, lo)
			case want > hi:
				t.Offset, t.Note = hi, fmt.Sprintf("offset %d is past the log end, using %d", want, hi)
			}
			targets = append(targets, t)
		case toDatetime:
			o, okTime := lookup(tp, in.byTime, "by-time")
			hi, okHi := lookup(tp, latest, "latest")
			if !okTime || !okHi {
				continue
			}
			t := resetTarget{TopicPartition: tp, Offset: o}
			if o < 0 {
				t.Offset, t.Note = hi, fmt.Sprintf("no record at or after %s, using the log end %d",
					time.UnixMilli(spec.offset).UTC().Format(datetimeLayout), hi)
			}
			targets = append(targets, t)
		default:
			return nil, fmt.Errorf("unknown reset strategy %d", spec.strategy)
		}
	}
	if missing != nil {
		return nil, missing
	}
	slices.SortFunc(targets, func(a, b resetTarget) int { return compareTopicPartitions(a.TopicPartition, b.TopicPartition) })
	return targets, nil
}

// topicSelection is one --topic flag: a topic and some of its partitions,
// or all of them when Partitions is nil.
type topicSelection struct {
	Topic      string
	Partitions []int32
}

// topicFlags collects repeated --topic TOPIC[:P,P,...] flags.
type topicFlags []topicSelection

func (f *topicFlags) String() string { return fmt.Sprint([]topicSelection(*f)) }

func (f *topicFlags) Set(v string) error {
	sel, err := parseTopicSelection(v)
	if err != nil {
		return err
	}
	*f = append(*f, sel)
	return nil
}

// parseTopicSelection parses "topic" or "topic:0,1,2" (the form of
// kafka-consumer-groups.sh). Topic names cannot contain ':'.
func parseTopicSelection(v string) (topicSelection, error) {
	topic, list, hasList := strings.Cut(v, ":")
	if topic == "" {
		return topicSelection{}, fmt.Errorf("topic %q: want TOPIC or TOPIC:PARTITION,...", v)
	}
	sel := topicSelection{Topic: topic}
	if !hasList {
		return sel, nil
	}
	for _, field := range strings.Split(list, ",") {
		p, err := strconv.ParseInt(strings.TrimSpace(field), 10, 32)
		if err != nil || p < 0 {
			return topicSelection{}, fmt.Errorf("topic %q: partition %q is not a partition number", v, field)
		}
		sel.Partitions = append(sel.Partitions, int32(p))
	}
	return sel, nil
}

// datetimeLayout is the form of --to-datetime, as kafka-consumer-groups.sh:
// local time unless a zone is given (e.g. 2026-11-21T14:00:00.000 or
// 2026-11-21T14:00:00.000Z or ...+01:00).
const datetimeLayout = "2006-01-02T15:04:05.000"

// parseDatetime parses a --to-datetime value into Unix milliseconds.
func parseDatetime(v string, loc *time.Location) (int64, error) {
	for _, layout := range []string{datetimeLayout + "Z07:00", datetimeLayout, "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("datetime %q: want YYYY-MM-DDTHH:mm:SS.sss, optionally with a zone (Z or +01:00)", v)
}

// offsetFlag is --to-offset N; set records that it was given at all.
type offsetFlag struct {
	value int64
	set   bool
}

func (f *offsetFlag) String() string { return strconv.FormatInt(f.value, 10) }

func (f *offsetFlag) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("offset %q: want a non-negative number", v)
	}
	f.value, f.set = n, true
	return nil
}

// resetOptions are the parsed arguments of `groups reset-offsets`.
type resetOptions struct {
	group   string
	topics  []topicSelection
	spec    resetSpec
	execute bool
}

func parseResetOptions(args []string) (resetOptions, error) {
	fs := flag.NewFlagSet("groups reset-offsets", flag.ContinueOnError)
	var topics topicFlags
	fs.Var(&topics, "topic", "TOPIC or TOPIC:PARTITION,... to reset (repeatable)")
	earliest := fs.Bool("to-earliest", false, "reset to the log start offset")
	latest := fs.Bool("to-latest", false, "reset to the log end offset (high watermark)")
	var offset offsetFlag
	fs.Var(&offset, "to-offset", "reset to this offset (moved into the log if outside it)")
	datetime := fs.String("to-datetime", "", "reset to the first offset at or after YYYY-MM-DDTHH:mm:SS.sss (local time unless a zone is given)")
	shift := fs.Int64("shift-by", 0, "move the committed offsets by N (negative: back), kept inside the log")
	execute := fs.Bool("execute", false, "commit the new offsets (default: only print them)")
	dryRun := fs.Bool("dry-run", false, "only print the new offsets (the default)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return resetOptions{}, errors.New("groups reset-offsets: want a group name first")
	}
	opts := resetOptions{group: args[0]}
	if err := fs.Parse(args[1:]); err != nil {
		return resetOptions{}, err
	}
	if fs.NArg() > 0 {
		return resetOptions{}, fmt.Errorf("groups reset-offsets: unexpected argument %q", fs.Arg(0))
	}
	if len(topics) == 0 {
		return resetOptions{}, errors.New("groups reset-offsets: name the partitions with --topic TOPIC[:PARTITION,...]")
	}
	if *execute && *dryRun {
		return resetOptions{}, errors.New("groups reset-offsets: --execute and --dry-run exclude each other")
	}
	opts.topics, opts.execute = topics, *execute
	var at int64
	if *datetime != "" {
		var err error
		if at, err = parseDatetime(*datetime, time.Local); err != nil {
			return resetOptions{}, fmt.Errorf("groups reset-offsets: %w", err)
		}
	}
	shiftGiven := false
	fs.Visit(func(f *flag.Flag) { shiftGiven = shiftGiven || f.Name == "shift-by" })
	strategies := 0
	for _, s := range []struct {
		given bool
		spec  resetSpec
	}{
		{*earliest, resetSpec{strategy: toEarliest}},
		{*latest, resetSpec{strategy: toLatest}},
		{offset.set, resetSpec{strategy: toOffset, offset: offset.value}},
		{*datetime != "", resetSpec{strategy: toDatetime, offset: at}},
		{shiftGiven, resetSpec{strategy: shiftBy, offset: *shift}},
	} {
		if s.given {
			strategies++
			opts.spec = s.spec
		}
	}
	if strategies != 1 {
		return resetOptions{}, errors.New("groups reset-offsets: give exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime T, --shift-by N")
	}
	return opts, nil
}

// resetOffsets runs `groups reset-offsets`: it prints the new offsets and,
// with --execute, commits them. Like Kafka it refuses a group with
// members, whose consumers would carry on from (and soon overwrite) the
// positions they hold.
func resetOffsets(ctx context.Context, admin groupAdmin, args []string, out io.Writer) error {
	opts, err := parseResetOptions(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flag package printed the usage
	}
	if err != nil {
		return err
	}
	d := admin.DescribeGroups(ctx, []string{opts.group})[0]
	switch {
	case isGroupNotFound(d.Err):
		// Committing creates the group, as in Kafka.
	case d.Err != nil:
		return d.Err
	case d.State != "Empty":
		return fmt.Errorf("cannot reset offsets of group %s: it has active members (state %s, %d members); stop its consumers first",
			opts.group, d.State, len(d.Members))
	}
	tps, err := selectedPartitions(ctx, admin, opts.topics)
	if err != nil {
		return fmt.Errorf("reset offsets of group %s: %w", opts.group, err)
	}
	var earliest, latest, byTime offsetLookups
	if opts.spec.strategy != toLatest && opts.spec.strategy != toDatetime {
		earliest = admin.ListOffsets(ctx, tps, earliestOffset)
	}
	if opts.spec.strategy != toEarliest {
		latest = admin.ListOffsets(ctx, tps, latestOffset)
	}
	if opts.spec.strategy == toDatetime {
		byTime = admin.ListOffsets(ctx, tps, offsetSpec(opts.spec.offset))
	}
	if err := lookupFailures(earliest, latest, byTime); err != nil {
		return fmt.Errorf("reset offsets of group %s: %w", opts.group, err)
	}
	in := resetInputs{earliest: earliest.Offsets, latest: latest.Offsets, byTime: byTime.Offsets}
	if opts.spec.strategy == shiftBy {
		if in.committed, err = admin.CommittedOffsets(ctx, opts.group); err != nil {
			return fmt.Errorf("reset offsets of group %s: %w", opts.group, err)
		}
	}
	plan, err := planResetFrom(opts.spec, tps, in)
	if err != nil {
		return fmt.Errorf("reset offsets of group %s: %w", opts.group, err)
	}
	if err := writeResetPlan(out, opts.group, plan); err != nil {
		return err
	}
	if !opts.execute {
		fmt.Fprintln(out, "Dry run: nothing was committed. Add --execute to commit these offsets.")
		return nil
	}

	offsets := make(map[zkpaths.TopicPartition]int64, len(plan))
	for _, t := range plan {
		offsets[t.TopicPartition] = t.Offset
	}
	refused, err := admin.CommitOffsets(ctx, opts.group, offsets)
	if err != nil {
		return err
	}
	if len(refused) > 0 {
		return commitRefusal(opts.group, refused)
	}
	fmt.Fprintf(out, "Committed the new offsets of %d partitions for group %s.\n", len(plan), opts.group)
	return nil
}

// selectedPartitions expands the --topic selections into partitions,
// checking that every topic and named partition exists.
func selectedPartitions(ctx context.Context, admin groupAdmin, selections []topicSelection) ([]zkpaths.TopicPartition, error) {
	topics := make([]string, 0, len(selections))
	for _, s := range selections {
		topics = append(topics, s.Topic)
	}
	existing, err := admin.Partitions(ctx, unique(topics))
	if err != nil {
		return nil, err
	}
	var tps []zkpaths.TopicPartition
	for _, s := range selections {
		all, ok := existing[s.Topic]
		if !ok {
			return nil, fmt.Errorf("topic %s does not exist", s.Topic)
		}
		chosen := s.Partitions
		if chosen == nil {
			chosen = all
		}
		for _, p := range chosen {
			if !slices.Contains(all, p) {
				return nil, fmt.Errorf("topic %s has no partition %d", s.Topic, p)
			}
			tps = append(tps, zkpaths.TopicPartition{Topic: s.Topic, Partition: p})
		}
	}
	slices.SortFunc(tps, compareTopicPartitions)
	return slices.Compact(tps), nil
}

// lookupFailures joins the failures of offset lookups.
func lookupFailures(lookups ...offsetLookups) error {
	var failed []zkpaths.TopicPartition
	reasons := make(map[zkpaths.TopicPartition]error)
	for _, l := range lookups {
		for tp, err := range l.Failed {
			if _, seen := reasons[tp]; !seen {
				failed = append(failed, tp)
			}
			reasons[tp] = err
		}
	}
	slices.SortFunc(failed, compareTopicPartitions)
	var joined error
	for _, tp := range failed {
		joined = errors.Join(joined, fmt.Errorf("offsets of %s: %w", partitionName(tp), reasons[tp]))
	}
	return joined
}

// writeResetPlan prints the new offsets with kafka-consumer-groups.sh's
// columns, and why any differs from what was asked.
func writeResetPlan(w io.Writer, group string, plan []resetTarget) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tNEW-OFFSET")
	for _, t := range plan {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", group, t.Topic, t.Partition, t.Offset)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range plan {
		if t.Note != "" {
			fmt.Fprintf(w, "Note: %s: %s.\n", partitionName(t.TopicPartition), t.Note)
		}
	}
	return nil
}

// commitRefusal explains partitions whose commit the coordinator refused.
// The errors an administrative commit gets when members joined the group
// since it was described mean the same as Kafka's "group is not inactive".
func commitRefusal(group string, refused map[zkpaths.TopicPartition]error) error {
	var joined error
	for _, tp := range slices.SortedFunc(maps.Keys(refused), compareTopicPartitions) {
		err := refused[tp]
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.RebalanceInProgress) {
			return fmt.Errorf("cannot reset offsets of group %s: the coordinator refused the commit because the group has active members; stop its consumers first: %w", group, err)
		}
		joined = errors.Join(joined, fmt.Errorf("commit offset of group %s for %s: %w", group, partitionName(tp), err))
	}
	return joined
}
