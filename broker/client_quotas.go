package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// DescribeClientQuotas and AlterClientQuotas (KIP-546) over the client quota
// entities of ZooKeeper (coordinator.Snapshot.ClientQuotas), with the rules
// and errors of ZooKeeper-mode Kafka, except where noted.

// Entity types of the protocol.
const (
	quotaEntityUser     = "user"
	quotaEntityClientID = "client-id"
	quotaEntityIP       = "ip"
)

// handleDescribeClientQuotas answers from the applied snapshot: every entity
// the filter matches that has a quota, with its quota keys only (a user's
// znode also holds SCRAM credentials).
func (s *Server) handleDescribeClientQuotas(ctx context.Context, req *request, in *kmsg.DescribeClientQuotasRequest, resp *kmsg.DescribeClientQuotasResponse) any {
	if !s.authorizedCluster(req, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode, resp.ErrorMessage = errorAnswer(kerr.ClusterAuthorizationFailed)
		return resp
	}
	filter, err := parseQuotaFilter(in.Components)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorAnswer(err)
		return resp
	}
	if filter.ip {
		// kzoo has no ip (connection_creation_rate) quotas: none match.
		resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
		return resp
	}
	quotas := s.snapshot().ClientQuotas
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	for _, entity := range slices.SortedFunc(maps.Keys(quotas), zkpaths.QuotaEntity.Compare) {
		if !filter.user.matches(entity.User, in.Strict) || !filter.client.matches(entity.ClientID, in.Strict) {
			continue
		}
		configs := quotas[entity]
		var values []kmsg.DescribeClientQuotasResponseEntryValue
		for _, key := range slices.Sorted(maps.Keys(configs)) {
			if !quota.IsClientQuotaKey(key) {
				continue
			}
			// As stored: Kafka's tools may have written any number.
			v, err := strconv.ParseFloat(configs[key], 64)
			if err != nil {
				continue
			}
			value := kmsg.NewDescribeClientQuotasResponseEntryValue()
			value.Key, value.Value = key, v
			values = append(values, value)
		}
		if len(values) == 0 {
			continue
		}
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, part := range []struct{ typ, name string }{{quotaEntityUser, entity.User}, {quotaEntityClientID, entity.ClientID}} {
			if part.name == "" {
				continue
			}
			e := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			e.Type = part.typ
			if part.name != zkpaths.DefaultConfigEntity {
				e.Name = kmsg.StringPtr(part.name)
			}
			entry.Entity = append(entry.Entity, e)
		}
		entry.Values = values
		resp.Entries = append(resp.Entries, entry)
	}
	return resp
}

// quotaFilter is a DescribeClientQuotas filter: a component per entity type
// (nil when absent), or ip alone.
type quotaFilter struct {
	user, client *quotaFilterComponent
	ip           bool
}

type quotaFilterComponent struct {
	match kmsg.QuotasMatchType
	name  string // for QuotasMatchTypeExact
}

// matches applies a component to an entity's part (name "" when the entity
// has no such part), as Kafka does: EXACT a name, DEFAULT the default, ANY
// any name or the default; an absent component matches an entity without
// the part, and with it too unless the filter is strict.
func (c *quotaFilterComponent) matches(name string, strict bool) bool {
	if c == nil {
		return name == "" || !strict
	}
	switch c.match {
	case kmsg.QuotasMatchTypeExact:
		// A name "<default>" is Kafka's %3Cdefault%3E, which kzoo cannot
		// hold (zkpaths.QuotaEntity): it matches no entity.
		return name != "" && name == c.name && name != zkpaths.DefaultConfigEntity
	case kmsg.QuotasMatchTypeDefault:
		return name == zkpaths.DefaultConfigEntity
	default: // kmsg.QuotasMatchTypeAny
		return name != ""
	}
}

// parseQuotaFilter checks a filter as Kafka does: at most one component per
// entity type, known types and match types, ip not with the others.
func parseQuotaFilter(components []kmsg.DescribeClientQuotasRequestComponent) (quotaFilter, error) {
	var f quotaFilter
	var ip bool
	for _, c := range components {
		fc := &quotaFilterComponent{match: c.MatchType}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return f, fmt.Errorf("%w: an EXACT filter on %s needs a name", kerr.InvalidRequest, c.EntityType)
			}
			fc.name = *c.Match
		case kmsg.QuotasMatchTypeDefault, kmsg.QuotasMatchTypeAny:
		default:
			return f, fmt.Errorf("%w: unknown match type %d for %s", kerr.InvalidRequest, c.MatchType, c.EntityType)
		}
		var slot **quotaFilterComponent
		switch c.EntityType {
		case quotaEntityUser:
			slot = &f.user
		case quotaEntityClientID:
			slot = &f.client
		case quotaEntityIP:
			if ip {
				return f, fmt.Errorf("%w: duplicate ip filter component", kerr.InvalidRequest)
			}
			ip = true
			continue
		case "":
			return f, fmt.Errorf("%w: a filter component without an entity type", kerr.InvalidRequest)
		default:
			return f, fmt.Errorf("%w: custom entity type %q is not supported", kerr.UnsupportedVersion, c.EntityType)
		}
		if *slot != nil {
			return f, fmt.Errorf("%w: duplicate %s filter component", kerr.InvalidRequest, c.EntityType)
		}
		*slot = fc
	}
	if ip && (f.user != nil || f.client != nil) {
		return f, fmt.Errorf("%w: an ip filter component cannot be combined with user or client-id components", kerr.InvalidRequest)
	}
	// Without components and not strict, Kafka lists ip entities too; kzoo
	// has none.
	f.ip = ip
	return f, nil
}

// handleAlterClientQuotas validates every entry and writes the valid ones in
// one ZooKeeper multi (nothing with validate_only). Each entry is answered on
// its own, as Kafka does; an entry with any invalid part changes nothing.
func (s *Server) handleAlterClientQuotas(ctx context.Context, req *request, in *kmsg.AlterClientQuotasRequest, resp *kmsg.AlterClientQuotasResponse) any {
	errs := make([]error, len(in.Entries))
	changes := make([]coordinator.QuotaChange, len(in.Entries))
	seen := make(map[zkpaths.QuotaEntity][]int)
	allowed := s.authorizedCluster(req, kmsg.ACLOperationAlterConfigs)
	for i, e := range in.Entries {
		if !allowed {
			errs[i] = kerr.ClusterAuthorizationFailed
			continue
		}
		changes[i], errs[i] = parseQuotaChange(e)
		if errs[i] == nil {
			seen[changes[i].Entity] = append(seen[changes[i].Entity], i)
		}
	}
	for entity, at := range seen {
		if len(at) > 1 {
			// Kafka would apply both, one after the other; one write of
			// all entries cannot, and the outcome would hang on order.
			for _, i := range at {
				errs[i] = fmt.Errorf("%w: entity %s appears more than once", kerr.InvalidRequest, entity)
			}
		}
	}
	var valid []coordinator.QuotaChange
	var validAt []int
	for i := range in.Entries {
		if errs[i] == nil {
			valid, validAt = append(valid, changes[i]), append(validAt, i)
		}
	}
	if len(valid) > maxQuotaEntitiesPerAlter {
		// One ZooKeeper multi holds them all; past its size limit it
		// would fail as a whole, with nothing written, for a reason the
		// client could not act on.
		for _, i := range validAt {
			errs[i] = fmt.Errorf("%w: %d entities in one request; at most %d are altered together", kerr.InvalidRequest, len(valid), maxQuotaEntitiesPerAlter)
		}
		valid, validAt = nil, nil
	}
	if !in.ValidateOnly && len(valid) > 0 {
		if err := s.meta.AlterClientQuotas(ctx, valid); err != nil {
			for _, i := range validAt {
				errs[i] = err
			}
		} else {
			// Kafka's DescribeClientQuotas reads ZooKeeper; this broker's
			// answers from its view, which the change reaches in a
			// moment: wait for it, so that a client reads its own write.
			s.waitForMetadata(ctx, quotaApplyWaitMillis, func(snap *coordinator.Snapshot) bool {
				return quotasApplied(snap, valid)
			})
		}
	}
	for i, e := range in.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		for _, part := range e.Entity {
			oe := kmsg.NewAlterClientQuotasResponseEntryEntity()
			oe.Type, oe.Name = part.Type, part.Name
			out.Entity = append(out.Entity, oe)
		}
		out.ErrorCode, out.ErrorMessage = errorAnswer(errs[i])
		resp.Entries = append(resp.Entries, out)
	}
	return resp
}

// maxQuotaEntitiesPerAlter bounds the entities one AlterClientQuotas
// changes: they are written in one ZooKeeper multi, which must fit in
// ZooKeeper's jute.maxbuffer (1 MiB by default) with their notifications.
const maxQuotaEntitiesPerAlter = 1000

// quotaApplyWaitMillis bounds the wait for a change to reach this broker's
// view; past it the change is there, only not yet seen here.
const quotaApplyWaitMillis = 5000

// quotasApplied reports whether snap shows changes done (or since changed
// again by someone else in the same way).
func quotasApplied(snap *coordinator.Snapshot, changes []coordinator.QuotaChange) bool {
	for _, ch := range changes {
		configs := snap.ClientQuotas[ch.Entity]
		for key, value := range ch.Set {
			if v, ok := configs[key]; !ok || v != value {
				return false
			}
		}
		for _, key := range ch.Remove {
			if _, ok := configs[key]; ok {
				return false
			}
		}
	}
	return true
}

// parseQuotaChange checks one AlterClientQuotas entry: its entity and every
// operation. Errors wrap INVALID_REQUEST and name what is wrong.
func parseQuotaChange(e kmsg.AlterClientQuotasRequestEntry) (coordinator.QuotaChange, error) {
	entity, err := parseQuotaEntity(e.Entity)
	if err != nil {
		return coordinator.QuotaChange{}, err
	}
	ch := coordinator.QuotaChange{Entity: entity, Set: make(map[string]string)}
	altered := make(map[string]bool, len(e.Ops))
	for _, op := range e.Ops {
		if altered[op.Key] {
			return coordinator.QuotaChange{}, fmt.Errorf("%w: %s: %s is altered more than once", kerr.InvalidRequest, entity, op.Key)
		}
		altered[op.Key] = true
		if op.Remove {
			// Unlike ZooKeeper-mode Kafka, which removes any key: the
			// user's znode also holds SCRAM credentials.
			if !quota.IsClientQuotaKey(op.Key) {
				return coordinator.QuotaChange{}, fmt.Errorf("%w: %s: invalid configuration key %q: not a client quota key", kerr.InvalidRequest, entity, op.Key)
			}
			ch.Remove = append(ch.Remove, op.Key)
			continue
		}
		v, err := quota.ParseClientQuota(op.Key, strconv.FormatFloat(op.Value, 'g', -1, 64))
		if err != nil {
			return coordinator.QuotaChange{}, fmt.Errorf("%w: %s: %v", kerr.InvalidRequest, entity, err)
		}
		ch.Set[op.Key] = quota.FormatClientQuota(op.Key, v)
	}
	return ch, nil
}

// parseQuotaEntity checks an entity as Kafka does: user and client-id parts,
// each at most once, a null name for the default and no empty name. kzoo has
// no ip quotas.
func parseQuotaEntity(parts []kmsg.AlterClientQuotasRequestEntryEntity) (zkpaths.QuotaEntity, error) {
	var entity zkpaths.QuotaEntity
	if len(parts) == 0 {
		return entity, fmt.Errorf("%w: invalid empty client quota entity", kerr.InvalidRequest)
	}
	for _, p := range parts {
		var slot *string
		switch p.Type {
		case quotaEntityUser:
			slot = &entity.User
		case quotaEntityClientID:
			slot = &entity.ClientID
		case quotaEntityIP:
			return zkpaths.QuotaEntity{}, fmt.Errorf("%w: ip quotas (connection_creation_rate) are not supported by kzoo", kerr.InvalidRequest)
		default:
			return zkpaths.QuotaEntity{}, fmt.Errorf("%w: unhandled client quota entity type %q (want user or client-id)", kerr.InvalidRequest, p.Type)
		}
		if *slot != "" {
			return zkpaths.QuotaEntity{}, fmt.Errorf("%w: entity type %s is given more than once", kerr.InvalidRequest, p.Type)
		}
		switch {
		case p.Name == nil:
			*slot = zkpaths.DefaultConfigEntity
		case *p.Name == "":
			return zkpaths.QuotaEntity{}, fmt.Errorf("%w: empty %s not supported", kerr.InvalidRequest, p.Type)
		case *p.Name == zkpaths.DefaultConfigEntity:
			return zkpaths.QuotaEntity{}, fmt.Errorf("%w: the %s name %s is reserved; the default entity has a null name", kerr.InvalidRequest, p.Type, zkpaths.DefaultConfigEntity)
		default:
			*slot = *p.Name
		}
	}
	return entity, nil
}
