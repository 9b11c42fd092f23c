package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

const quotasHelp = `Usage: kzoo quotas describe [--user U | --user-defaults] [--client-id C | --client-defaults]
       kzoo quotas alter (--user U | --user-defaults) and/or (--client-id C | --client-defaults)
                         [--add-config k=v[,k=v...]] [--delete-config k[,k...]]

Client quotas (DescribeClientQuotas and AlterClientQuotas), kept where
Kafka keeps them in ZooKeeper. The keys are Kafka's: producer_byte_rate and
consumer_byte_rate (bytes per second, whole numbers), request_percentage
(percent of one request handler thread) and controller_mutation_rate
(partitions created or deleted per second).

An entity is a user, a client id, or a user with a client id; --user-defaults
and --client-defaults name the defaults (<default>), which apply to every user
or client id without a quota of its own.

describe lists every entity that has a quota, or those the flags match: with
--user U, U's own quotas and those of U with any client id; with --user U
and --client-id C, the one (U, C) entity. alter sets and removes quotas of
one entity, all of the changes or none.

  kzoo quotas alter --user alice --add-config producer_byte_rate=1048576
  kzoo quotas alter --user-defaults --client-id app --delete-config consumer_byte_rate
  kzoo quotas describe --client-defaults
`

// quotasCommand runs `kzoo quotas ...`.
func quotasCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	return runSubcommand(ctx, "quotas", quotasHelp, cl, args, out, []subcommand[*kgo.Client]{
		{"describe", describeQuotasCommand},
		{"alter", alterQuotasCommand},
	})
}

// nameFlag is a string flag that knows whether it was given, so that
// --user "" is an error rather than no user.
type nameFlag struct {
	value string
	set   bool
}

func (f *nameFlag) String() string { return f.value }
func (f *nameFlag) Set(v string) error {
	f.value, f.set = v, true
	return nil
}

// quotaEntityFlags are the flags that pick a quota entity, or a filter.
type quotaEntityFlags struct {
	user, client                 nameFlag
	userDefaults, clientDefaults *bool
}

func addQuotaEntityFlags(fs *flag.FlagSet) *quotaEntityFlags {
	f := &quotaEntityFlags{}
	fs.Var(&f.user, "user", "")
	fs.Var(&f.client, "client-id", "")
	f.userDefaults = fs.Bool("user-defaults", false, "")
	f.clientDefaults = fs.Bool("client-defaults", false, "")
	return f
}

// entity returns what the flags name: per part a name, DefaultConfigEntity,
// or "" when neither flag of that part is given.
func (f *quotaEntityFlags) entity() (zkpaths.QuotaEntity, error) {
	user, err := quotaEntityPart("--user", &f.user, "--user-defaults", *f.userDefaults)
	if err != nil {
		return zkpaths.QuotaEntity{}, err
	}
	client, err := quotaEntityPart("--client-id", &f.client, "--client-defaults", *f.clientDefaults)
	if err != nil {
		return zkpaths.QuotaEntity{}, err
	}
	return zkpaths.QuotaEntity{User: user, ClientID: client}, nil
}

func quotaEntityPart(nameFlagName string, name *nameFlag, defaultsFlag string, defaults bool) (string, error) {
	switch {
	case name.set && defaults:
		return "", fmt.Errorf("give %s or %s, not both", nameFlagName, defaultsFlag)
	case defaults:
		return zkpaths.DefaultConfigEntity, nil
	case !name.set:
		return "", nil
	case name.value == "":
		return "", fmt.Errorf("%s: an empty name; for the default give %s", nameFlagName, defaultsFlag)
	case name.value == zkpaths.DefaultConfigEntity:
		return "", fmt.Errorf("%s %s: for the default give %s", nameFlagName, name.value, defaultsFlag)
	}
	return name.value, nil
}

// describeQuotasCommand runs `quotas describe`.
func describeQuotasCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quotas describe", flag.ContinueOnError)
	pick := addQuotaEntityFlags(fs)
	rest, helped, err := parseArgs(fs, quotasHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("quotas describe: unexpected argument %q", rest[0])
	}
	filter, err := pick.entity()
	if err != nil {
		return fmt.Errorf("quotas describe: %w", err)
	}
	quotas, err := describeQuotas(ctx, cl, filter)
	if err != nil {
		return fmt.Errorf("quotas describe: %w", err)
	}
	return writeQuotaTable(out, quotas)
}

// entityQuotas is one entity's quotas as DescribeClientQuotas gives them.
type entityQuotas struct {
	Entity zkpaths.QuotaEntity
	Values map[string]float64
}

// describeQuotas asks for the entities filter matches (a part "" matches
// any entity, with that part or without), sorted by user then client id.
func describeQuotas(ctx context.Context, cl *kgo.Client, filter zkpaths.QuotaEntity) ([]entityQuotas, error) {
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	for _, part := range []struct{ typ, name string }{{"user", filter.User}, {"client-id", filter.ClientID}} {
		c := kmsg.NewDescribeClientQuotasRequestComponent()
		c.EntityType = part.typ
		switch part.name {
		case "":
			continue
		case zkpaths.DefaultConfigEntity:
			c.MatchType = kmsg.QuotasMatchTypeDefault
		default:
			c.MatchType, c.Match = kmsg.QuotasMatchTypeExact, kmsg.StringPtr(part.name)
		}
		req.Components = append(req.Components, c)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := codeError(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, err
	}
	var out []entityQuotas
	for _, e := range resp.Entries {
		var q entityQuotas
		for _, part := range e.Entity {
			name := zkpaths.DefaultConfigEntity
			if part.Name != nil {
				name = *part.Name
			}
			switch part.Type {
			case "user":
				q.Entity.User = name
			case "client-id":
				q.Entity.ClientID = name
			default:
				return nil, fmt.Errorf("the broker answered with an entity of type %q", part.Type)
			}
		}
		q.Values = make(map[string]float64, len(e.Values))
		for _, v := range e.Values {
			q.Values[v.Key] = v.Value
		}
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b entityQuotas) int {
		return cmp.Or(cmp.Compare(a.Entity.User, b.Entity.User), cmp.Compare(a.Entity.ClientID, b.Entity.ClientID))
	})
	return out, nil
}

// writeQuotaTable prints one line per quota: its entity, key and value. A
// part an entity does not have is "-".
func writeQuotaTable(w io.Writer, quotas []entityQuotas) error {
	if len(quotas) == 0 {
		_, err := fmt.Fprintln(w, "No client quotas.")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "USER\tCLIENT-ID\tQUOTA\tVALUE")
	for _, q := range quotas {
		user, client := cmp.Or(q.Entity.User, "-"), cmp.Or(q.Entity.ClientID, "-")
		for _, key := range slices.Sorted(maps.Keys(q.Values)) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", user, client, key, strconv.FormatFloat(q.Values[key], 'f', -1, 64))
		}
	}
	return tw.Flush()
}

// alterQuotasCommand runs `quotas alter`.
func alterQuotasCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quotas alter", flag.ContinueOnError)
	pick := addQuotaEntityFlags(fs)
	adds := fs.String("add-config", "", "")
	deletes := fs.String("delete-config", "", "")
	rest, helped, err := parseArgs(fs, quotasHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("quotas alter: unexpected argument %q", rest[0])
	}
	entity, ops, err := parseQuotaAlter(pick, *adds, *deletes)
	if err != nil {
		return fmt.Errorf("quotas alter: %w", err)
	}
	if err := alterQuotas(ctx, cl, entity, ops); err != nil {
		return fmt.Errorf("quotas alter: %w", err)
	}
	fmt.Fprintf(out, "Completed updating quotas for %s.\n", entity)
	return nil
}

// quotaOp is one change of a quotas alter.
type quotaOp struct {
	Key    string
	Remove bool
	Value  float64
}

// parseQuotaAlter checks the flags of a quotas alter: one entity, and
// changes with numbers for values. Which keys exist and which values are in
// range is the broker's to say; it refuses the whole change if any is wrong.
func parseQuotaAlter(pick *quotaEntityFlags, adds, deletes string) (zkpaths.QuotaEntity, []quotaOp, error) {
	entity, err := pick.entity()
	if err != nil {
		return entity, nil, err
	}
	if entity.Validate() != nil {
		return entity, nil, errors.New("give the entity: --user, --user-defaults, --client-id or --client-defaults (or a user and a client id)")
	}
	configOps, err := parseConfigOps(adds, deletes)
	if err != nil {
		return entity, nil, err
	}
	ops := make([]quotaOp, 0, len(configOps))
	for _, op := range configOps {
		if op.Delete {
			ops = append(ops, quotaOp{Key: op.Name, Remove: true})
			continue
		}
		v, err := strconv.ParseFloat(op.Value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return entity, nil, fmt.Errorf("--add-config %s=%s: the value is not a number", op.Name, op.Value)
		}
		ops = append(ops, quotaOp{Key: op.Name, Value: v})
	}
	return entity, ops, nil
}

func alterQuotas(ctx context.Context, cl *kgo.Client, entity zkpaths.QuotaEntity, ops []quotaOp) error {
	req := kmsg.NewPtrAlterClientQuotasRequest()
	entry := kmsg.NewAlterClientQuotasRequestEntry()
	for _, part := range []struct{ typ, name string }{{"user", entity.User}, {"client-id", entity.ClientID}} {
		if part.name == "" {
			continue
		}
		e := kmsg.NewAlterClientQuotasRequestEntryEntity()
		e.Type = part.typ
		if part.name != zkpaths.DefaultConfigEntity {
			e.Name = kmsg.StringPtr(part.name)
		}
		entry.Entity = append(entry.Entity, e)
	}
	for _, op := range ops {
		o := kmsg.NewAlterClientQuotasRequestEntryOp()
		o.Key, o.Value, o.Remove = op.Key, op.Value, op.Remove
		entry.Ops = append(entry.Ops, o)
	}
	req.Entries = append(req.Entries, entry)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Entries) != 1 {
		return fmt.Errorf("the broker answered for %d entities, not 1", len(resp.Entries))
	}
	return codeError(resp.Entries[0].ErrorCode, resp.Entries[0].ErrorMessage)
}
