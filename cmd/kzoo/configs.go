package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kzoo/kzoo/internal/configvalue"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const configsHelp = `Usage: kzoo configs describe (--topic T | --broker ID | --broker-defaults) [--all]
       kzoo configs alter (--topic T | --broker ID | --broker-defaults)
                          [--add-config k=v[,k=v...]] [--delete-config k[,k...]]

describe prints the dynamic configs (overrides) of the entity; with --all,
every config with its value, source and whether it is read-only or
sensitive. alter sets and removes dynamic configs (IncrementalAlterConfigs);
a list value goes in square brackets: --add-config 'k=[a,b],k2=v'.
Broker configs are read from and written to the named broker itself;
--broker-defaults are the cluster-wide dynamic defaults of every broker.
`

// configEntity is the resource a configs command is about.
type configEntity struct {
	Type kmsg.ConfigResourceType
	// Name is the topic, the broker id, or "" for the cluster-wide broker
	// defaults (as Kafka's protocol names them).
	Name string
}

func (e configEntity) String() string {
	switch {
	case e.Type == kmsg.ConfigResourceTypeTopic:
		return "topic " + e.Name
	case e.Name == "":
		return "the broker defaults"
	default:
		return "broker " + e.Name
	}
}

// entityFlags are the flags that pick a configEntity.
type entityFlags struct {
	topic, broker *string
	defaults      *bool
}

func addEntityFlags(fs *flag.FlagSet) entityFlags {
	return entityFlags{
		topic:    fs.String("topic", "", ""),
		broker:   fs.String("broker", "", ""),
		defaults: fs.Bool("broker-defaults", false, ""),
	}
}

// entity returns the one entity the flags name.
func (f entityFlags) entity() (configEntity, error) {
	var picked []configEntity
	if *f.topic != "" {
		picked = append(picked, configEntity{kmsg.ConfigResourceTypeTopic, *f.topic})
	}
	if *f.broker != "" {
		id, err := strconv.ParseInt(*f.broker, 10, 32)
		if err != nil || id < 0 {
			return configEntity{}, fmt.Errorf("--broker %q: want a broker id", *f.broker)
		}
		picked = append(picked, configEntity{kmsg.ConfigResourceTypeBroker, strconv.FormatInt(id, 10)})
	}
	if *f.defaults {
		picked = append(picked, configEntity{kmsg.ConfigResourceTypeBroker, ""})
	}
	if len(picked) != 1 {
		return configEntity{}, errors.New("give exactly one of --topic, --broker and --broker-defaults")
	}
	return picked[0], nil
}

// configsCommand runs `kzoo configs ...`, the counterpart of kafka-configs.sh.
func configsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("configs: want describe or alter (try --help)")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("configs "+sub, flag.ContinueOnError)
	pick := addEntityFlags(fs)
	var (
		all           *bool
		adds, deletes *string
		describe      bool
	)
	switch sub {
	case "--help", "-help", "-h", "help":
		fmt.Fprint(out, configsHelp)
		return nil
	case "describe":
		describe = true
		all = fs.Bool("all", false, "")
	case "alter":
		adds = fs.String("add-config", "", "")
		deletes = fs.String("delete-config", "", "")
	default:
		return fmt.Errorf("configs: unknown subcommand %q (want describe or alter)", sub)
	}
	rest, helped, err := parseArgs(fs, configsHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("configs %s: unexpected argument %q", sub, rest[0])
	}
	entity, err := pick.entity()
	if err != nil {
		return fmt.Errorf("configs %s: %w", sub, err)
	}
	var ops []configOp
	if !describe {
		if ops, err = parseConfigOps(*adds, *deletes); err != nil {
			return fmt.Errorf("configs alter: %w", err)
		}
	}

	if describe {
		entries, err := describeConfigs(ctx, cl, entity)
		if err != nil {
			return err
		}
		return writeConfigTable(out, entity, entries, *all)
	}
	if err := alterConfigs(ctx, cl, entity, ops); err != nil {
		return err
	}
	fmt.Fprintf(out, "Completed updating config for %s.\n", entity)
	return nil
}

// configEntry is one config as DescribeConfigs reports it.
type configEntry struct {
	Name      string
	Value     *string // nil for sensitive values
	Source    kmsg.ConfigSource
	ReadOnly  bool
	Sensitive bool
}

// dynamic reports whether the entry is an override stored in ZooKeeper,
// which is what kafka-configs --describe shows without --all.
func (e configEntry) dynamic() bool {
	switch e.Source {
	case kmsg.ConfigSourceDynamicTopicConfig, kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return true
	default:
		return false
	}
}

func describeConfigs(ctx context.Context, cl *kgo.Client, entity configEntity) ([]configEntry, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = entity.Type, entity.Name
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe configs of %s: %w", entity, err)
	}
	if len(resp.Resources) != 1 {
		return nil, fmt.Errorf("describe configs of %s: the broker answered for %d resources, not 1", entity, len(resp.Resources))
	}
	res := resp.Resources[0]
	if err := codeError(res.ErrorCode, res.ErrorMessage); err != nil {
		return nil, fmt.Errorf("describe configs of %s: %w", entity, err)
	}
	entries := make([]configEntry, 0, len(res.Configs))
	for _, c := range res.Configs {
		entries = append(entries, configEntry{
			Name: c.Name, Value: c.Value, Source: c.Source, ReadOnly: c.ReadOnly, Sensitive: c.IsSensitive,
		})
	}
	return entries, nil
}

// writeConfigTable prints the entity's dynamic configs, or all of them.
func writeConfigTable(w io.Writer, entity configEntity, entries []configEntry, all bool) error {
	what := "Dynamic configs"
	if all {
		what = "All configs"
	}
	fmt.Fprintf(w, "%s for %s:\n", what, entity)
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tVALUE\tSOURCE\tREAD-ONLY\tSENSITIVE")
	for _, e := range entries {
		if !all && !e.dynamic() {
			continue
		}
		value := "null"
		switch {
		case e.Sensitive:
			value = "(sensitive)"
		case e.Value != nil:
			value = *e.Value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%t\n", e.Name, value, e.Source, e.ReadOnly, e.Sensitive)
	}
	return tw.Flush()
}

// configOp is one change of an alter: set Name to Value, or delete it.
type configOp struct {
	Name   string
	Delete bool
	Value  string
}

// parseConfigOps parses --add-config and --delete-config as kafka-configs
// does: k=v pairs separated by commas, where a value holding commas is
// written in square brackets (k=[a,b]); and a comma-separated key list. A key
// both set and deleted, or named twice, is an error.
func parseConfigOps(adds, deletes string) ([]configOp, error) {
	var ops []configOp
	seen := make(map[string]bool)
	add := func(op configOp) error {
		if seen[op.Name] {
			return fmt.Errorf("config %q is given more than once", op.Name)
		}
		seen[op.Name] = true
		ops = append(ops, op)
		return nil
	}
	pairs, err := splitConfigPairs(adds)
	if err != nil {
		return nil, fmt.Errorf("--add-config: %w", err)
	}
	for _, pair := range pairs {
		name, value, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--add-config: %q is not key=value", pair)
		}
		value = strings.TrimSpace(value)
		if strings.HasPrefix(value, "[") && strings.HasSuffix(value, "]") {
			value = value[1 : len(value)-1]
		}
		if err := add(configOp{Name: name, Value: value}); err != nil {
			return nil, err
		}
	}
	for _, name := range configvalue.SplitList(deletes) {
		if err := add(configOp{Name: name, Delete: true}); err != nil {
			return nil, err
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("give --add-config or --delete-config")
	}
	return ops, nil
}

// splitConfigPairs splits at commas outside square brackets.
func splitConfigPairs(s string) ([]string, error) {
	var (
		pairs []string
		depth int
		start int
	)
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			if depth == 0 {
				return nil, fmt.Errorf("%q: unbalanced ']'", s)
			}
			depth--
		case ',':
			if depth == 0 {
				pairs = append(pairs, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%q: unbalanced '['", s)
	}
	pairs = append(pairs, s[start:])
	out := pairs[:0]
	for _, p := range pairs {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

func alterConfigs(ctx context.Context, cl *kgo.Client, entity configEntity, ops []configOp) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = entity.Type, entity.Name
	for _, op := range ops {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name = op.Name
		if op.Delete {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		} else {
			c.Op = kmsg.IncrementalAlterConfigOpSet
			c.Value = kmsg.StringPtr(op.Value)
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("alter configs of %s: %w", entity, err)
	}
	if len(resp.Resources) != 1 {
		return fmt.Errorf("alter configs of %s: the broker answered for %d resources, not 1", entity, len(resp.Resources))
	}
	if err := codeError(resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage); err != nil {
		return fmt.Errorf("alter configs of %s: %w", entity, err)
	}
	return nil
}
