package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/zkpaths"
)

const aclsHelp = `Usage: kzoo acls add RESOURCE... PRINCIPALS [--allow-host H]... [--deny-host H]...
                     [--operation OP]... [--resource-pattern-type literal|prefixed]
       kzoo acls add --producer [--idempotent] and/or --consumer RESOURCE... --allow-principal P... [--allow-host H]...
       kzoo acls list [RESOURCE...] [--principal P]... [--resource-pattern-type any|match|literal|prefixed]
       kzoo acls remove RESOURCE... [PRINCIPALS [--allow-host H]... [--deny-host H]... [--operation OP]...]
                        [--producer [--idempotent]] [--consumer] [--resource-pattern-type T] [--force]

ACLs of the cluster's authorizer (CreateAcls, DescribeAcls, DeleteAcls),
with kafka-acls' flags and output.

  RESOURCE    --topic T, --group G, --transactional-id ID (each repeatable; * is
              every one), --cluster
  PRINCIPALS  --allow-principal Type:name and/or --deny-principal Type:name, each
              repeatable; User:* is every user. A principal's hosts default to *.
  --operation Read, Write, Create, Delete, Alter, Describe, ClusterAction,
              DescribeConfigs, AlterConfigs, IdempotentWrite or All (the default);
              repeatable. Each resource type takes only its own: a topic Read,
              Write, Create, Describe, Delete, Alter, DescribeConfigs and
              AlterConfigs; a group Read, Describe and Delete; the cluster Create,
              ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter
              and Describe; a transactional id Describe and Write.
  --resource-pattern-type
              literal (the default): the resource named; prefixed: every resource
              whose name starts with it. list and remove also take any (literal
              and prefixed patterns of exactly that name) and match (every ACL
              that applies to the named resource: literal, prefixed and *).
  --producer  Write, Describe and Create on the topics, Write and Describe on the
              transactional ids; with --idempotent also IdempotentWrite on the
              cluster. Needs --topic.
  --consumer  Read and Describe on the topics, Read on the groups. Needs --topic
              and --group.

add creates every combination of principal, host, operation and resource,
then lists the resources' ACLs. remove deletes the ACLs the flags describe
exactly (an operation is matched as given: --operation All removes only ACLs
for All), or, without principals, every ACL of the resources. kzoo never
prompts: without --force, remove lists what it would delete and fails.
list prints every ACL, or those of the resources given; --principal keeps the
ACLs of that principal.

  kzoo acls add --allow-principal User:alice --operation Read --operation Describe --topic orders
  kzoo acls add --producer --idempotent --allow-principal User:app --topic logs- --resource-pattern-type prefixed
  kzoo acls add --consumer --allow-principal User:bob --topic orders --group billing
  kzoo acls list --topic orders --resource-pattern-type match
  kzoo acls remove --topic orders --force
`

// aclsCommand runs `kzoo acls ...`.
func aclsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	return runSubcommand(ctx, "acls", aclsHelp, cl, args, out, []subcommand[*kgo.Client]{
		{"add", addACLsCommand},
		{"list", listACLsCommand},
		{"remove", removeACLsCommand},
	})
}

// aclChange is what add creates or remove deletes on one resource pattern
// (with pattern type ANY or MATCH, for remove, a pattern filter): the
// entries, sorted; for remove, none means all.
type aclChange struct {
	Resource acl.Resource
	Entries  []acl.Entry
}

// aclsOperations are the operations kafka-acls takes.
var aclsOperations = []kmsg.ACLOperation{
	kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
	kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationClusterAction,
	kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
	kmsg.ACLOperationAll,
}

// parseACLOperation reads an operation as Kafka's SecurityUtils does: its
// name in any case ("Read", "read", "CLUSTERACTION"), without underscores.
func parseACLOperation(s string) (kmsg.ACLOperation, error) {
	s = strings.TrimSpace(s)
	for _, op := range aclsOperations {
		if name := aclOperationName(op); s == name || strings.ToUpper(s) == strings.ToUpper(name) {
			return op, nil
		}
	}
	return 0, fmt.Errorf("--operation %q: want Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All", s)
}

// aclOperationName is Kafka's name of an operation, e.g. "DescribeConfigs".
func aclOperationName(op kmsg.ACLOperation) string {
	if name, ok := zkpaths.ACLOperationName(op); ok {
		return name
	}
	return op.String()
}

// aclResourceTypeWords name the resource types in the errors of add and remove.
var aclResourceTypeWords = map[kmsg.ACLResourceType]string{
	kmsg.ACLResourceTypeTopic:           "a topic",
	kmsg.ACLResourceTypeGroup:           "a group",
	kmsg.ACLResourceTypeCluster:         "the cluster",
	kmsg.ACLResourceTypeTransactionalId: "a transactional id",
}

// parseACLPatternType reads --resource-pattern-type, in any case, as
// kafka-acls does.
func parseACLPatternType(s string) (kmsg.ACLResourcePatternType, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "LITERAL":
		return kmsg.ACLResourcePatternTypeLiteral, nil
	case "PREFIXED":
		return kmsg.ACLResourcePatternTypePrefixed, nil
	case "ANY":
		return kmsg.ACLResourcePatternTypeAny, nil
	case "MATCH":
		return kmsg.ACLResourcePatternTypeMatch, nil
	}
	return 0, fmt.Errorf("--resource-pattern-type %q: want literal, prefixed, any or match", s)
}

// parsePrincipal checks a principal is Type:name, as Kafka's
// SecurityUtils.parseKafkaPrincipal splits it.
func parsePrincipal(flagName, s string) (string, error) {
	s = strings.TrimSpace(s)
	if acl.ValidatePrincipal(s) != nil {
		return "", fmt.Errorf("%s %q: want a principal as Type:name, such as User:alice (User:* for every user)", flagName, s)
	}
	return s, nil
}

// repeatedFlag collects the values of a flag given more than once.
type repeatedFlag []string

func (f *repeatedFlag) String() string     { return strings.Join(*f, ",") }
func (f *repeatedFlag) Set(v string) error { *f = append(*f, v); return nil }

// aclAction is which acls subcommand flags are parsed for.
type aclAction int

const (
	aclAdd aclAction = iota
	aclList
	aclRemove
)

// aclFlags are the flags of the acls subcommands.
type aclFlags struct {
	topics, groups, transactionalIDs repeatedFlag
	cluster                          bool
	patternType                      string

	// add and remove
	allowPrincipals, denyPrincipals, allowHosts, denyHosts, operations repeatedFlag
	producer, consumer, idempotent                                     bool
	force                                                              bool // remove

	principals repeatedFlag // list
}

func addACLFlags(fs *flag.FlagSet, action aclAction) *aclFlags {
	f := &aclFlags{}
	fs.Var(&f.topics, "topic", "")
	fs.Var(&f.groups, "group", "")
	fs.Var(&f.transactionalIDs, "transactional-id", "")
	fs.BoolVar(&f.cluster, "cluster", false, "")
	fs.StringVar(&f.patternType, "resource-pattern-type", "literal", "")
	if action == aclList {
		fs.Var(&f.principals, "principal", "")
		return f
	}
	fs.Var(&f.allowPrincipals, "allow-principal", "")
	fs.Var(&f.denyPrincipals, "deny-principal", "")
	fs.Var(&f.allowHosts, "allow-host", "")
	fs.Var(&f.denyHosts, "deny-host", "")
	fs.Var(&f.operations, "operation", "")
	fs.BoolVar(&f.producer, "producer", false, "")
	fs.BoolVar(&f.consumer, "consumer", false, "")
	fs.BoolVar(&f.idempotent, "idempotent", false, "")
	if action == aclRemove {
		fs.BoolVar(&f.force, "force", false, "")
	}
	return f
}

// check refuses the combinations kafka-acls refuses.
func (f *aclFlags) check() error {
	if f.producer || f.consumer {
		if len(f.operations) > 0 || len(f.denyPrincipals) > 0 || len(f.denyHosts) > 0 {
			return errors.New("--producer and --consumer pick the operations and allow them: give no --operation, --deny-principal or --deny-host")
		}
	}
	if f.producer && len(f.topics) == 0 {
		return errors.New("--producer needs a --topic")
	}
	if f.idempotent && !f.producer {
		return errors.New("--idempotent goes with --producer")
	}
	if f.consumer {
		if len(f.topics) == 0 || len(f.groups) == 0 {
			return errors.New("--consumer needs a --topic and a --group")
		}
		if !f.producer && (f.cluster || len(f.transactionalIDs) > 0) {
			return errors.New("--consumer takes no --cluster or --transactional-id (unless with --producer)")
		}
	}
	return nil
}

// resources returns the resource patterns (or filters) the flags name, in
// the order topics, cluster, groups, transactional ids.
func (f *aclFlags) resources(pattern kmsg.ACLResourcePatternType) ([]acl.Resource, error) {
	var out []acl.Resource
	// Topic and group names lose surrounding white space, transactional ids
	// not, as in kafka-acls.
	for _, r := range []struct {
		flag  string
		typ   kmsg.ACLResourceType
		names []string
		trim  bool
	}{
		{"--topic", kmsg.ACLResourceTypeTopic, f.topics, true},
		{"--group", kmsg.ACLResourceTypeGroup, f.groups, true},
		{"--transactional-id", kmsg.ACLResourceTypeTransactionalId, f.transactionalIDs, false},
	} {
		for _, name := range r.names {
			if r.trim {
				name = strings.TrimSpace(name)
			}
			if name == "" {
				return nil, fmt.Errorf("%s: an empty name", r.flag)
			}
			out = append(out, acl.Resource{Type: r.typ, Name: name, Pattern: pattern})
		}
	}
	if f.cluster {
		// kafka-acls drops --cluster without a word under a pattern type
		// other than literal; kzoo says why instead, and lets list and
		// remove filter the cluster with any or match.
		if pattern == kmsg.ACLResourcePatternTypePrefixed {
			return nil, errors.New("--cluster: the cluster resource is literal; it takes no --resource-pattern-type prefixed")
		}
		out = append(out, acl.Resource{Type: kmsg.ACLResourceTypeCluster, Name: acl.ClusterName, Pattern: pattern})
	}
	return out, nil
}

// principalsAndHosts reads one permission's principals and hosts; the
// hosts default to * when principals are given.
func principalsAndHosts(principalFlag string, principals []string, hostFlag string, hosts []string) ([]string, []string, error) {
	var ps, hs []string
	for _, p := range principals {
		p, err := parsePrincipal(principalFlag, p)
		if err != nil {
			return nil, nil, err
		}
		ps = append(ps, p)
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, nil, fmt.Errorf("%s: an empty host (* is every host)", hostFlag)
		}
		hs = append(hs, h)
	}
	if len(hs) == 0 && len(ps) > 0 {
		hs = []string{acl.WildcardHost}
	}
	return ps, hs, nil
}

// entries returns every combination of the flags' principals and hosts
// with ops, allowed and denied, as kafka-acls' getAcl.
func (f *aclFlags) entries(ops []kmsg.ACLOperation) ([]acl.Entry, error) {
	var out []acl.Entry
	for _, perm := range []struct {
		principalFlag, hostFlag string
		principals, hosts       []string
		permission              kmsg.ACLPermissionType
	}{
		{"--allow-principal", "--allow-host", f.allowPrincipals, f.allowHosts, kmsg.ACLPermissionTypeAllow},
		{"--deny-principal", "--deny-host", f.denyPrincipals, f.denyHosts, kmsg.ACLPermissionTypeDeny},
	} {
		ps, hs, err := principalsAndHosts(perm.principalFlag, perm.principals, perm.hostFlag, perm.hosts)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			for _, op := range ops {
				for _, h := range hs {
					out = append(out, acl.Entry{Principal: p, Host: h, Operation: op, Permission: perm.permission})
				}
			}
		}
	}
	return out, nil
}

// changes turns the flags of add or remove into ACLs per resource, as
// kafka-acls' getResourceFilterToAcls: from --operation, or with
// --producer and --consumer from their roles, merged where they share a
// resource. Every operation must apply to its resource's type.
func (f *aclFlags) changes(action aclAction) ([]aclChange, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	pattern, err := parseACLPatternType(f.patternType)
	if err != nil {
		return nil, err
	}
	if action == aclAdd && pattern != kmsg.ACLResourcePatternTypeLiteral && pattern != kmsg.ACLResourcePatternTypePrefixed {
		return nil, fmt.Errorf("--resource-pattern-type %s: ACLs are added to literal or prefixed patterns, not to filters", strings.ToLower(pattern.String()))
	}
	resources, err := f.resources(pattern)
	if err != nil {
		return nil, err
	}
	if len(resources) == 0 {
		return nil, errors.New("give at least one resource: --topic, --group, --transactional-id or --cluster")
	}
	byResource := map[acl.Resource]map[acl.Entry]bool{}
	add := func(r acl.Resource, ops ...kmsg.ACLOperation) error {
		entries, err := f.entries(ops)
		if err != nil {
			return err
		}
		if byResource[r] == nil {
			byResource[r] = map[acl.Entry]bool{}
		}
		for _, e := range entries {
			byResource[r][e] = true
		}
		return nil
	}
	if !f.producer && !f.consumer {
		ops := []kmsg.ACLOperation{kmsg.ACLOperationAll}
		if len(f.operations) > 0 {
			ops = ops[:0]
			for _, name := range f.operations {
				op, err := parseACLOperation(name)
				if err != nil {
					return nil, err
				}
				ops = append(ops, op)
			}
		}
		for _, r := range resources {
			if err := add(r, ops...); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range resources {
		switch {
		case f.producer && r.Type == kmsg.ACLResourceTypeTopic:
			err = add(r, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationCreate)
		case f.producer && r.Type == kmsg.ACLResourceTypeTransactionalId:
			err = add(r, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case f.consumer && r.Type == kmsg.ACLResourceTypeTopic:
			err = add(r, kmsg.ACLOperationRead, kmsg.ACLOperationDescribe)
		case f.consumer && r.Type == kmsg.ACLResourceTypeGroup:
			err = add(r, kmsg.ACLOperationRead)
		}
		if err != nil {
			return nil, err
		}
	}
	if f.idempotent {
		// Always the literal cluster, whatever the topics' pattern type.
		cluster := acl.Resource{Type: kmsg.ACLResourceTypeCluster, Name: acl.ClusterName, Pattern: kmsg.ACLResourcePatternTypeLiteral}
		if err := add(cluster, kmsg.ACLOperationIdempotentWrite); err != nil {
			return nil, err
		}
	}

	var out []aclChange
	for r, set := range byResource {
		entries := slices.SortedFunc(maps.Keys(set), acl.Entry.Compare)
		for _, e := range entries {
			if supported := acl.SupportedOperations(r.Type); e.Operation != kmsg.ACLOperationAll && !slices.Contains(supported, e.Operation) {
				names := make([]string, 0, len(supported)+1)
				for _, op := range supported {
					names = append(names, aclOperationName(op))
				}
				return nil, fmt.Errorf("operation %s does not apply to %s, which takes %s or All",
					aclOperationName(e.Operation), aclResourceTypeWords[r.Type], strings.Join(names, ", "))
			}
		}
		if action == aclAdd && len(entries) == 0 {
			return nil, errors.New("give --allow-principal or --deny-principal: whom the ACLs are for")
		}
		out = append(out, aclChange{Resource: r, Entries: entries})
	}
	slices.SortFunc(out, func(a, b aclChange) int { return a.Resource.Compare(b.Resource) })
	return out, nil
}

// filters are the DeleteAcls filters of a remove: each entry exactly, or
// every entry of the resource when there are none.
func (c aclChange) filters() []acl.Filter {
	if len(c.Entries) == 0 {
		return []acl.Filter{acl.ResourceFilter(c.Resource)}
	}
	out := make([]acl.Filter, len(c.Entries))
	for i, e := range c.Entries {
		out[i] = acl.BindingFilter(acl.Binding{Resource: c.Resource, Entry: e})
	}
	return out
}

// addACLsCommand runs `acls add`.
func addACLsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("acls add", flag.ContinueOnError)
	f := addACLFlags(fs, aclAdd)
	rest, helped, err := parseArgs(fs, aclsHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("acls add: unexpected argument %q", rest[0])
	}
	changes, err := f.changes(aclAdd)
	if err != nil {
		return fmt.Errorf("acls add: %w", err)
	}
	for _, c := range changes {
		writeACLBlock(out, "Adding ACLs for resource", c.Resource, c.Entries)
	}
	if err := createACLs(ctx, cl, changes); err != nil {
		return fmt.Errorf("acls add: %w", err)
	}
	return listACLsOf(ctx, cl, out, changeFilters(changes), nil)
}

// changeFilters are the resources of changes as filters, for listing them.
func changeFilters(changes []aclChange) []acl.Filter {
	out := make([]acl.Filter, len(changes))
	for i, c := range changes {
		out[i] = acl.ResourceFilter(c.Resource)
	}
	return out
}

// listACLsCommand runs `acls list`.
func listACLsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("acls list", flag.ContinueOnError)
	f := addACLFlags(fs, aclList)
	rest, helped, err := parseArgs(fs, aclsHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("acls list: unexpected argument %q", rest[0])
	}
	filters, principals, err := f.listFilters()
	if err != nil {
		return fmt.Errorf("acls list: %w", err)
	}
	return listACLsOf(ctx, cl, out, filters, principals)
}

// listFilters returns what list asks for: the resources as filters (every
// ACL when none), and the principals to keep.
func (f *aclFlags) listFilters() ([]acl.Filter, []string, error) {
	pattern, err := parseACLPatternType(f.patternType)
	if err != nil {
		return nil, nil, err
	}
	resources, err := f.resources(pattern)
	if err != nil {
		return nil, nil, err
	}
	filters := []acl.Filter{acl.MatchAll()}
	if len(resources) > 0 {
		filters = filters[:0]
		for _, r := range resources {
			filters = append(filters, acl.ResourceFilter(r))
		}
	}
	var principals []string
	for _, p := range f.principals {
		p, err := parsePrincipal("--principal", p)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(principals, p) {
			principals = append(principals, p)
		}
	}
	return filters, principals, nil
}

// listACLsOf prints the ACLs filters match as kafka-acls does, grouped by
// resource; with principals, under a heading per principal, only theirs.
func listACLsOf(ctx context.Context, cl *kgo.Client, out io.Writer, filters []acl.Filter, principals []string) error {
	var bindings []acl.Binding
	for _, f := range filters {
		b, err := describeACLs(ctx, cl, f)
		if err != nil {
			return fmt.Errorf("acls list: %w", err)
		}
		bindings = append(bindings, b...)
	}
	if len(principals) == 0 {
		writeACLBindings(out, "Current ACLs for resource", bindings)
		return nil
	}
	for _, p := range principals {
		fmt.Fprintf(out, "ACLs for principal `%s`\n", p)
		var theirs []acl.Binding
		for _, b := range bindings {
			if b.Entry.Principal == p {
				theirs = append(theirs, b)
			}
		}
		writeACLBindings(out, "Current ACLs for resource", theirs)
	}
	return nil
}

// writeACLBindings prints bindings grouped by resource, sorted, without
// duplicates (filters may overlap).
func writeACLBindings(w io.Writer, heading string, bindings []acl.Binding) {
	byResource := map[acl.Resource]map[acl.Entry]bool{}
	for _, b := range bindings {
		if byResource[b.Resource] == nil {
			byResource[b.Resource] = map[acl.Entry]bool{}
		}
		byResource[b.Resource][b.Entry] = true
	}
	for _, r := range slices.SortedFunc(maps.Keys(byResource), acl.Resource.Compare) {
		writeACLBlock(w, heading, r, slices.SortedFunc(maps.Keys(byResource[r]), acl.Entry.Compare))
	}
}

// writeACLBlock prints one resource's entries exactly as kafka-acls does,
// stray spaces included, so that what parses its output parses kzoo's.
func writeACLBlock(w io.Writer, heading string, r acl.Resource, entries []acl.Entry) {
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = "\t" + e.String()
	}
	fmt.Fprintf(w, "%s `%s`: \n %s \n\n", heading, r, strings.Join(lines, "\n"))
}

// removeACLsCommand runs `acls remove`.
func removeACLsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("acls remove", flag.ContinueOnError)
	f := addACLFlags(fs, aclRemove)
	rest, helped, err := parseArgs(fs, aclsHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("acls remove: unexpected argument %q", rest[0])
	}
	changes, err := f.changes(aclRemove)
	if err != nil {
		return fmt.Errorf("acls remove: %w", err)
	}
	var filters []acl.Filter
	for _, c := range changes {
		filters = append(filters, c.filters()...)
	}
	if !f.force {
		// What DescribeAcls matches is what DeleteAcls of the same filter
		// deletes.
		var doomed []acl.Binding
		for _, filter := range filters {
			b, err := describeACLs(ctx, cl, filter)
			if err != nil {
				return fmt.Errorf("acls remove: %w", err)
			}
			doomed = append(doomed, b...)
		}
		if len(doomed) == 0 {
			fmt.Fprintln(out, "No ACLs match; there is nothing to remove.")
			return nil
		}
		writeACLBindings(out, "Would remove ACLs for resource", doomed)
		return errors.New("acls remove: these ACLs would be removed; kzoo does not prompt: give --force to remove them")
	}
	removed, err := deleteACLs(ctx, cl, filters)
	writeACLBindings(out, "Removed ACLs for resource", removed)
	if err != nil {
		return fmt.Errorf("acls remove: %w", err)
	}
	return listACLsOf(ctx, cl, out, changeFilters(changes), nil)
}

// createACLs creates the ACLs of changes in one CreateAcls request; the
// error says which failed and why.
func createACLs(ctx context.Context, cl *kgo.Client, changes []aclChange) error {
	req := kmsg.NewPtrCreateACLsRequest()
	var bindings []acl.Binding
	for _, c := range changes {
		for _, e := range c.Entries {
			b := acl.Binding{Resource: c.Resource, Entry: e}
			req.Creations = append(req.Creations, b.Creation())
			bindings = append(bindings, b)
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Results) != len(bindings) {
		return fmt.Errorf("the broker answered for %d ACLs, not %d", len(resp.Results), len(bindings))
	}
	var errs []error
	for i, r := range resp.Results {
		if err := codeError(r.ErrorCode, r.ErrorMessage); err != nil {
			errs = append(errs, fmt.Errorf("ACL %s on %s: %w", bindings[i].Entry, bindings[i].Resource, err))
		}
	}
	return errors.Join(errs...)
}

// describeACLs returns the ACLs filter matches.
func describeACLs(ctx context.Context, cl *kgo.Client, filter acl.Filter) ([]acl.Binding, error) {
	resp, err := filter.DescribeRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := codeError(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, err
	}
	var out []acl.Binding
	for _, r := range resp.Resources {
		res := acl.Resource{Type: r.ResourceType, Name: r.ResourceName, Pattern: r.ResourcePatternType}
		for _, a := range r.ACLs {
			out = append(out, acl.Binding{Resource: res,
				Entry: acl.Entry{Principal: a.Principal, Host: a.Host, Operation: a.Operation, Permission: a.PermissionType}})
		}
	}
	return out, nil
}

// deleteACLs deletes what filters match in one DeleteAcls request and
// returns what was deleted; the error says which filters or ACLs failed.
func deleteACLs(ctx context.Context, cl *kgo.Client, filters []acl.Filter) ([]acl.Binding, error) {
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, f := range filters {
		req.Filters = append(req.Filters, f.DeleteFilter())
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Results) != len(filters) {
		return nil, fmt.Errorf("the broker answered for %d filters, not %d", len(resp.Results), len(filters))
	}
	var removed []acl.Binding
	var errs []error
	for i, r := range resp.Results {
		if err := codeError(r.ErrorCode, r.ErrorMessage); err != nil {
			// remove's filters each name a resource pattern (filter).
			f := filters[i]
			errs = append(errs, fmt.Errorf("ACLs of %s: %w", acl.Resource{Type: f.ResourceType, Name: *f.Name, Pattern: f.Pattern}, err))
			continue
		}
		for _, m := range r.MatchingACLs {
			b := acl.Binding{Resource: acl.Resource{Type: m.ResourceType, Name: m.ResourceName, Pattern: m.ResourcePatternType},
				Entry: acl.Entry{Principal: m.Principal, Host: m.Host, Operation: m.Operation, Permission: m.PermissionType}}
			if err := codeError(m.ErrorCode, m.ErrorMessage); err != nil {
				errs = append(errs, fmt.Errorf("ACL %s on %s: %w", b.Entry, b.Resource, err))
				continue
			}
			removed = append(removed, b)
		}
	}
	return removed, errors.Join(errs...)
}
