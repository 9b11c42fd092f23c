package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/zkpaths"
)

// groupsCommand runs `kzoo groups ...`, the counterpart of
// kafka-consumer-groups.sh.
func groupsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	return runGroups(ctx, clusterAdmin{cl: cl}, args, out)
}

// groupsSubcommands are the subcommands of `kzoo groups`, in the order its
// usage error names them.
var groupsSubcommands = []subcommand[groupAdmin]{
	{"list", listGroups},
	{"describe", describeGroups},
	{"delete", deleteGroups},
	{"reset-offsets", resetOffsets},
}

// runGroups runs a groups subcommand against admin.
func runGroups(ctx context.Context, admin groupAdmin, args []string, out io.Writer) error {
	return runSubcommand(ctx, "groups", "", admin, args, out, groupsSubcommands)
}

// listGroups prints every group of the cluster with its state, protocol
// type and coordinator. Brokers that fail to answer make it fail after
// printing what the others said.
func listGroups(ctx context.Context, admin groupAdmin, args []string, out io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("groups list: unexpected argument %q", args[0])
	}
	listings, listErr := admin.ListGroups(ctx)
	// A group moving between coordinators may be listed by both.
	slices.SortStableFunc(listings, func(a, b groupListing) int { return strings.Compare(a.Group, b.Group) })
	listings = slices.CompactFunc(listings, func(a, b groupListing) bool { return a.Group == b.Group })

	// Brokers answering ListGroups below v4 leave the state out; their
	// coordinators' DescribeGroups has it.
	var stateless []string
	for _, l := range listings {
		if l.State == "" {
			stateless = append(stateless, l.Group)
		}
	}
	states := make(map[string]string, len(stateless))
	if len(stateless) > 0 {
		for _, d := range admin.DescribeGroups(ctx, stateless) {
			if d.Err == nil {
				states[d.Group] = d.State
			}
		}
	}

	tw := newTable(out)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE\tCOORDINATOR")
	for _, l := range listings {
		state := l.State
		if state == "" {
			state = states[l.Group]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", l.Group, orDash(state), orDash(l.ProtocolType), l.Coordinator)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return listErr
}

// groupReport is everything `groups describe` prints about one group.
type groupReport struct {
	groupDescription
	Rows []lagRow
	// LogEndFailures is why the log end offset of some rows is unknown.
	LogEndFailures map[zkpaths.TopicPartition]error
}

// describeGroups prints, for each group, its state, coordinator and
// members and the committed offset, log end offset and lag of each of its
// partitions. It goes on past a group it cannot describe and fails at the
// end, naming every such group.
func describeGroups(ctx context.Context, admin groupAdmin, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("groups describe: name at least one group")
	}
	var (
		failed  error
		printed int
	)
	for _, d := range admin.DescribeGroups(ctx, unique(args)) {
		if d.Err != nil {
			failed = errors.Join(failed, d.Err)
			continue
		}
		report, err := buildGroupReport(ctx, admin, d)
		if err != nil {
			failed = errors.Join(failed, err)
			continue
		}
		if printed > 0 {
			fmt.Fprintln(out)
		}
		printed++
		if err := writeGroupReport(out, report); err != nil {
			return err
		}
	}
	return failed
}

// buildGroupReport adds to a group's description its committed offsets
// and the log end offsets of its partitions.
func buildGroupReport(ctx context.Context, admin groupAdmin, d groupDescription) (groupReport, error) {
	committed, err := admin.CommittedOffsets(ctx, d.Group)
	if err != nil {
		return groupReport{}, err
	}
	owners := make(map[zkpaths.TopicPartition]*groupMember)
	for i := range d.Members {
		for _, tp := range d.Members[i].Assignment {
			owners[tp] = &d.Members[i]
		}
	}
	var partitions []zkpaths.TopicPartition
	for tp := range committed {
		partitions = append(partitions, tp)
	}
	for tp := range owners {
		if _, ok := committed[tp]; !ok {
			partitions = append(partitions, tp)
		}
	}
	ends := admin.ListOffsets(ctx, partitions, latestOffset)
	return groupReport{
		groupDescription: d,
		Rows:             lagRows(committed, ends.Offsets, owners),
		LogEndFailures:   ends.Failed,
	}, nil
}

// writeGroupReport prints a group's summary, its members and its partition
// table, the last with kafka-consumer-groups.sh's columns.
func writeGroupReport(w io.Writer, r groupReport) error {
	tw := newTable(w)
	protocol := orDash(r.ProtocolType)
	if r.Protocol != "" {
		protocol += " (" + r.Protocol + ")"
	}
	fmt.Fprintf(tw, "Group:\t%s\n", r.Group)
	fmt.Fprintf(tw, "State:\t%s\n", r.State)
	fmt.Fprintf(tw, "Coordinator:\t%s\n", r.Coordinator)
	fmt.Fprintf(tw, "Protocol:\t%s\n", protocol)
	fmt.Fprintf(tw, "Members:\t%d\n", len(r.Members))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(r.Members) == 0 {
		fmt.Fprintf(w, "Consumer group '%s' has no active members.\n", r.Group)
	} else {
		fmt.Fprintln(tw, "MEMBER-ID\tGROUP-INSTANCE-ID\tCLIENT-ID\tHOST\tASSIGNMENT")
		for _, m := range r.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.MemberID, orDash(m.InstanceID), orDash(m.ClientID), orDash(m.Host), formatAssignment(m))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w)
	if len(r.Rows) == 0 {
		fmt.Fprintf(w, "Consumer group '%s' has no committed offsets and no assigned partitions.\n", r.Group)
		return nil
	}
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")
	for _, row := range r.Rows {
		consumer, host, client := "-", "-", "-"
		if row.Owner != nil {
			consumer, host, client = row.Owner.MemberID, orDash(row.Owner.Host), orDash(row.Owner.ClientID)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			row.Topic, row.Partition, row.Committed, row.LogEnd, row.Lag, consumer, host, client)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	failed := make([]zkpaths.TopicPartition, 0, len(r.LogEndFailures))
	for tp := range r.LogEndFailures {
		failed = append(failed, tp)
	}
	slices.SortFunc(failed, compareTopicPartitions)
	for _, tp := range failed {
		fmt.Fprintf(w, "Log end offset of %s unknown: %v\n", partitionName(tp), r.LogEndFailures[tp])
	}
	return nil
}

// formatAssignment prints a member's partitions as topic:p,p,... per topic.
func formatAssignment(m groupMember) string {
	if m.AssignmentErr != nil {
		return "? (" + m.AssignmentErr.Error() + ")"
	}
	if len(m.Assignment) == 0 {
		return "-"
	}
	byTopic := partitionsByTopic(m.Assignment)
	var topics []string
	for _, topic := range slices.Sorted(maps.Keys(byTopic)) {
		ids := make([]string, 0, len(byTopic[topic]))
		for _, p := range byTopic[topic] {
			ids = append(ids, strconv.FormatInt(int64(p), 10))
		}
		topics = append(topics, topic+":"+strings.Join(ids, ","))
	}
	return strings.Join(topics, " ")
}

// deleteGroups deletes each group and reports each; it fails naming every
// group that was not deleted.
func deleteGroups(ctx context.Context, admin groupAdmin, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("groups delete: name at least one group")
	}
	groups := unique(args)
	refused := admin.DeleteGroups(ctx, groups)
	var failed error
	for _, g := range groups {
		err, ok := refused[g]
		switch {
		case !ok:
			fmt.Fprintf(out, "Deleted group %s.\n", g)
		case errors.Is(err, kerr.GroupIDNotFound):
			failed = errors.Join(failed, &groupNotFoundError{group: g})
		case errors.Is(err, kerr.NonEmptyGroup):
			failed = errors.Join(failed, explained(err, "cannot delete group %s: it has active members; stop its consumers first", g))
		default:
			failed = errors.Join(failed, fmt.Errorf("delete group %s: %w", g, err))
		}
	}
	return failed
}

// unique returns names without repeats, in order of first appearance.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
