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

	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicAdminTimeoutMillis is how long the controller may wait, before it
// answers CreateTopics or DeleteTopics, for the change to reach every
// broker's metadata.
const topicAdminTimeoutMillis = 15_000

// topics runs `kzoo topics SUBCOMMAND`.
func topics(ctx context.Context, bootstrap []string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("topics: want list, describe, create, alter or delete")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "list":
		return listTopics(ctx, bootstrap, out)
	case "describe":
		return describeTopics(ctx, bootstrap, args, out)
	case "alter":
		return alterTopic(ctx, bootstrap, args, out)
	case "create":
		return createTopic(ctx, bootstrap, args, out)
	case "delete":
		return deleteTopics(ctx, bootstrap, args, out)
	default:
		return fmt.Errorf("topics: unknown subcommand %q", sub)
	}
}

// listTopics prints the name of every topic, internal ones included, in
// order.
func listTopics(ctx context.Context, bootstrap []string, out io.Writer) error {
	cl, err := newAdminClient(bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl) // nil Topics: all of them
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) {
			return fmt.Errorf("cannot reach broker %s: %w", strings.Join(bootstrap, ","), err)
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
func createTopic(ctx context.Context, bootstrap []string, args []string, out io.Writer) error {
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
	cl, err := newAdminClient(bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
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
func deleteTopics(ctx context.Context, bootstrap []string, names []string, out io.Writer) error {
	if len(names) == 0 {
		return errors.New("topics delete: name at least one topic")
	}
	cl, err := newAdminClient(bootstrap)
	if err != nil {
		return err
	}
	defer cl.Close()
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
