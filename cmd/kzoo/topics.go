package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicAdminTimeoutMillis is how long the controller may wait, before it
// answers CreateTopics or DeleteTopics, for the change to reach every
// broker's metadata.
const topicAdminTimeoutMillis = 15_000

// topicsSubcommands are the subcommands of `kzoo topics`, in the order its
// usage error names them.
var topicsSubcommands = []subcommand[*kgo.Client]{
	{"list", listTopics},
	{"describe", describeTopics},
	{"create", createTopic},
	{"alter", alterTopic},
	{"delete", deleteTopics},
}

// topicsCommand runs `kzoo topics SUBCOMMAND`.
func topicsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	return runSubcommand(ctx, "topics", "", cl, args, out, topicsSubcommands)
}

// listTopics prints the name of every topic, internal ones included, in
// order. It takes no arguments and ignores any.
func listTopics(ctx context.Context, cl *kgo.Client, _ []string, out io.Writer) error {
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl) // nil Topics: all of them
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
			return fmt.Errorf("cannot reach broker %s: %w", strings.Join(seeds, ","), err)
		}
		return fmt.Errorf("metadata: %w", err)
	}
	names := make([]string, 0, len(meta.Topics))
	for _, t := range meta.Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintln(out, n)
	}
	return nil
}

// createTopic runs `topics create`. Partitions and replication factor left
// at -1 take the broker's defaults.
func createTopic(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("topics create", flag.ContinueOnError)
	partitions := fs.Int("partitions", -1, "number of partitions (default: the broker's num.partitions)")
	rf := fs.Int("replication-factor", -1, "replication factor (default: the broker's default.replication.factor)")
	configs := configFlags{}
	fs.Var(configs, "config", "topic config key=value (repeatable)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("topics create: want a topic name first")
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = topicAdminTimeoutMillis
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, int32(*partitions), int16(*rf)
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	for _, t := range resp.Topics {
		if t.Topic == name {
			// The broker's answer for the one topic asked for: it needs
			// no "create topic NAME" before it (see formatError).
			if err := codeError(t.ErrorCode, t.ErrorMessage); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "Created topic %s.\n", name)
	return nil
}

// deleteTopics runs `topics delete`: it reports each topic deleted and
// fails naming every topic that was not.
func deleteTopics(ctx context.Context, cl *kgo.Client, names []string, out io.Writer) error {
	if len(names) == 0 {
		return errors.New("topics delete: name at least one topic")
	}
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = topicAdminTimeoutMillis
	req.TopicNames = names
	for _, name := range names {
		t := kmsg.NewDeleteTopicsRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	refused := make(map[string]error)
	for _, t := range resp.Topics {
		if t.Topic != nil {
			// Said by the code alone, so that the words do not depend
			// on the DeleteTopics version the broker speaks (messages
			// came with v5).
			refused[*t.Topic] = codeError(t.ErrorCode, nil)
		}
	}
	var failed error
	for _, name := range names {
		if err := refused[name]; err != nil {
			failed = errors.Join(failed, fmt.Errorf("delete topic %s: %w", name, err))
			continue
		}
		fmt.Fprintf(out, "Deleted topic %s.\n", name)
	}
	return failed
}

// configFlags collects repeated --config key=value flags.
type configFlags map[string]string

func (c configFlags) String() string { return fmt.Sprint(map[string]string(c)) }
func (c configFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("config %q: want key=value", v)
	}
	c[k] = val
	return nil
}
