package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// quotaMetadata records AlterClientQuotas calls and holds topic configs;
// any other Metadata method panics through the nil embedded interface.
type quotaMetadata struct {
	Metadata

	mu     sync.Mutex
	alters [][]coordinator.QuotaChange
	// alterErr, when set, is AlterClientQuotas' answer.
	alterErr     error
	topicConfigs map[string]map[string]string
	// applied gets the changes AlterClientQuotas wrote, as the cluster
	// view would.
	applied func([]coordinator.QuotaChange)
}

func (m *quotaMetadata) AlterClientQuotas(ctx context.Context, changes []coordinator.QuotaChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alters = append(m.alters, changes)
	if m.alterErr == nil && m.applied != nil {
		m.applied(changes)
	}
	return m.alterErr
}

func (m *quotaMetadata) TopicConfig(ctx context.Context, name string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.topicConfigs[name]), nil
}

func (m *quotaMetadata) SetTopicConfig(ctx context.Context, name string, configs map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.topicConfigs[name] = maps.Clone(configs)
	return nil
}

func quotaServer(t *testing.T, quotas map[zkpaths.QuotaEntity]map[string]string) (*Server, *quotaMetadata) {
	t.Helper()
	s, _ := testServer(t, &coordinator.Snapshot{
		Brokers: liveBrokers(1),
		Topics: map[string]*coordinator.Topic{
			group.OffsetsTopic: offsetsTopic(1),
			"plain":            {Name: "plain", Configs: map[string]string{}, Partitions: []coordinator.Partition{{Topic: "plain", Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}},
		},
		ClientQuotas: quotas,
	})
	meta := &quotaMetadata{topicConfigs: map[string]map[string]string{group.OffsetsTopic: {}, "plain": {}}}
	meta.applied = func(changes []coordinator.QuotaChange) {
		next := *s.snapshot()
		next.ClientQuotas = maps.Clone(next.ClientQuotas)
		if next.ClientQuotas == nil {
			next.ClientQuotas = make(map[zkpaths.QuotaEntity]map[string]string)
		}
		for _, ch := range changes {
			configs := maps.Clone(next.ClientQuotas[ch.Entity])
			if configs == nil {
				configs = make(map[string]string)
			}
			maps.Copy(configs, ch.Set)
			for _, key := range ch.Remove {
				delete(configs, key)
			}
			next.ClientQuotas[ch.Entity] = configs
		}
		s.applied.Store(&next)
	}
	s.meta = meta
	return s, meta
}

// describedQuotas runs a DescribeClientQuotas through the handler (and the
// wire, at version) and returns its entries as "user=..,client-id=.." ->
// values, with <default> for null names.
func describeQuotas(t *testing.T, s *Server, version int16, strict bool, components ...kmsg.DescribeClientQuotasRequestComponent) (map[string]map[string]float64, *kmsg.DescribeClientQuotasResponse) {
	t.Helper()
	in := kmsg.NewPtrDescribeClientQuotasRequest()
	in.Version, in.Strict, in.Components = version, strict, components
	resp := callHandler(s, context.Background(), &request{key: in.Key(), version: version, body: in}).(*kmsg.DescribeClientQuotasResponse)
	resp = roundTrip(t, resp, kmsg.NewPtrDescribeClientQuotasResponse())
	out := make(map[string]map[string]float64)
	for _, e := range resp.Entries {
		var parts []string
		for _, p := range e.Entity {
			name := "<default>"
			if p.Name != nil {
				name = *p.Name
			}
			parts = append(parts, p.Type+"="+name)
		}
		values := make(map[string]float64)
		for _, v := range e.Values {
			values[v.Key] = v.Value
		}
		out[strings.Join(parts, ",")] = values
	}
	return out, resp
}

func component(typ string, match kmsg.QuotasMatchType, name *string) kmsg.DescribeClientQuotasRequestComponent {
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType, c.MatchType, c.Match = typ, match, name
	return c
}

func TestDescribeClientQuotas(t *testing.T) {
	d := zkpaths.DefaultConfigEntity
	s, _ := quotaServer(t, map[zkpaths.QuotaEntity]map[string]string{
		{User: "alice"}:                {"producer_byte_rate": "1024", "SCRAM-SHA-256": "salt=...", "request_percentage": "12.5"},
		{User: "alice", ClientID: "a"}: {"consumer_byte_rate": "2048"},
		{User: "alice", ClientID: d}:   {"consumer_byte_rate": "10"},
		{User: d}:                      {"producer_byte_rate": "1"},
		{User: d, ClientID: d}:         {"producer_byte_rate": "2"},
		{ClientID: "a"}:                {"consumer_byte_rate": "3"},
		{ClientID: d}:                  {"consumer_byte_rate": "4", "bogus": "x"},
		{User: "scram-only"}:           {"SCRAM-SHA-512": "salt=..."},
		{User: "emptied"}:              {},
		{ClientID: "unreadable"}:       {"producer_byte_rate": "fast"},
	})
	all := map[string]map[string]float64{
		"user=alice":                         {"producer_byte_rate": 1024, "request_percentage": 12.5},
		"user=alice,client-id=a":             {"consumer_byte_rate": 2048},
		"user=alice,client-id=<default>":     {"consumer_byte_rate": 10},
		"user=<default>":                     {"producer_byte_rate": 1},
		"user=<default>,client-id=<default>": {"producer_byte_rate": 2},
		"client-id=a":                        {"consumer_byte_rate": 3},
		"client-id=<default>":                {"consumer_byte_rate": 4},
	}
	pick := func(names ...string) map[string]map[string]float64 {
		out := make(map[string]map[string]float64)
		for _, n := range names {
			out[n] = all[n]
		}
		return out
	}
	alice, a, other := kmsg.StringPtr("alice"), kmsg.StringPtr("a"), kmsg.StringPtr("nobody")
	exact, def, anyName := kmsg.QuotasMatchTypeExact, kmsg.QuotasMatchTypeDefault, kmsg.QuotasMatchTypeAny
	for _, tc := range []struct {
		name       string
		strict     bool
		components []kmsg.DescribeClientQuotasRequestComponent
		want       map[string]map[string]float64
	}{
		{"everything", false, nil, all},
		{"strict without components: nothing", true, nil, pick()},
		{"user alice", false, []kmsg.DescribeClientQuotasRequestComponent{component("user", exact, alice)},
			pick("user=alice", "user=alice,client-id=a", "user=alice,client-id=<default>")},
		{"user alice alone", true, []kmsg.DescribeClientQuotasRequestComponent{component("user", exact, alice)}, pick("user=alice")},
		{"default user", false, []kmsg.DescribeClientQuotasRequestComponent{component("user", def, other)},
			pick("user=<default>", "user=<default>,client-id=<default>")},
		{"any user alone", true, []kmsg.DescribeClientQuotasRequestComponent{component("user", anyName, nil)}, pick("user=alice", "user=<default>")},
		{"client a", false, []kmsg.DescribeClientQuotasRequestComponent{component("client-id", exact, a)}, pick("user=alice,client-id=a", "client-id=a")},
		{"any user with any client", true, []kmsg.DescribeClientQuotasRequestComponent{component("user", anyName, nil), component("client-id", anyName, nil)},
			pick("user=alice,client-id=a", "user=alice,client-id=<default>", "user=<default>,client-id=<default>")},
		{"alice with the default client", true, []kmsg.DescribeClientQuotasRequestComponent{component("client-id", def, nil), component("user", exact, alice)},
			pick("user=alice,client-id=<default>")},
		{"an unknown user", false, []kmsg.DescribeClientQuotasRequestComponent{component("user", exact, other)}, pick()},
		{"a user named <default>", false, []kmsg.DescribeClientQuotasRequestComponent{component("user", exact, kmsg.StringPtr("<default>"))}, pick()},
		{"ip entities: kzoo has none", false, []kmsg.DescribeClientQuotasRequestComponent{component("ip", anyName, nil)}, pick()},
	} {
		for version := int16(0); version <= 1; version++ {
			got, resp := describeQuotas(t, s, version, tc.strict, tc.components...)
			if resp.ErrorCode != 0 {
				t.Errorf("%s v%d: error %v", tc.name, version, kerr.ErrorForCode(resp.ErrorCode))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s v%d:\n got %v\nwant %v", tc.name, version, got, tc.want)
			}
		}
	}

	for _, tc := range []struct {
		name       string
		components []kmsg.DescribeClientQuotasRequestComponent
		want       *kerr.Error
		msg        string
	}{
		{"duplicate user", []kmsg.DescribeClientQuotasRequestComponent{component("user", anyName, nil), component("user", def, nil)}, kerr.InvalidRequest, "duplicate user"},
		{"custom type", []kmsg.DescribeClientQuotasRequestComponent{component("group", anyName, nil)}, kerr.UnsupportedVersion, `"group"`},
		{"empty type", []kmsg.DescribeClientQuotasRequestComponent{component("", anyName, nil)}, kerr.InvalidRequest, "entity type"},
		{"ip with user", []kmsg.DescribeClientQuotasRequestComponent{component("ip", anyName, nil), component("user", anyName, nil)}, kerr.InvalidRequest, "ip"},
		{"exact without a name", []kmsg.DescribeClientQuotasRequestComponent{component("user", exact, nil)}, kerr.InvalidRequest, "EXACT"},
		{"unknown match type", []kmsg.DescribeClientQuotasRequestComponent{component("user", 7, nil)}, kerr.InvalidRequest, "match type 7"},
	} {
		_, resp := describeQuotas(t, s, 1, false, tc.components...)
		if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, tc.want) || resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, tc.msg) {
			t.Errorf("%s: %v %v, want %v mentioning %q", tc.name, err, resp.ErrorMessage, tc.want, tc.msg)
		}
	}
}

func quotaEntry(entity [][2]*string, ops ...kmsg.AlterClientQuotasRequestEntryOp) kmsg.AlterClientQuotasRequestEntry {
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for _, part := range entity {
		p := kmsg.NewAlterClientQuotasRequestEntryEntity()
		p.Type, p.Name = *part[0], part[1]
		e.Entity = append(e.Entity, p)
	}
	e.Ops = ops
	return e
}

func setOp(key string, value float64) kmsg.AlterClientQuotasRequestEntryOp {
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = key, value
	return op
}

func removeOp(key string) kmsg.AlterClientQuotasRequestEntryOp {
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Remove = key, true
	return op
}

func alterQuotas(t *testing.T, s *Server, version int16, validateOnly bool, entries ...kmsg.AlterClientQuotasRequestEntry) []kmsg.AlterClientQuotasResponseEntry {
	t.Helper()
	in := kmsg.NewPtrAlterClientQuotasRequest()
	in.Version, in.ValidateOnly, in.Entries = version, validateOnly, entries
	resp := callHandler(s, context.Background(), &request{key: in.Key(), version: version, body: in}).(*kmsg.AlterClientQuotasResponse)
	resp = roundTrip(t, resp, kmsg.NewPtrAlterClientQuotasResponse())
	if len(resp.Entries) != len(entries) {
		t.Fatalf("%d answers to %d entries", len(resp.Entries), len(entries))
	}
	return resp.Entries
}

func TestAlterClientQuotas(t *testing.T) {
	user, client, ip := kmsg.StringPtr("user"), kmsg.StringPtr("client-id"), kmsg.StringPtr("ip")
	alice := kmsg.StringPtr("alice")
	good := []kmsg.AlterClientQuotasRequestEntry{
		quotaEntry([][2]*string{{user, alice}}, setOp("producer_byte_rate", 1024), removeOp("consumer_byte_rate")),
		quotaEntry([][2]*string{{client, nil}, {user, alice}}, setOp("request_percentage", 12.5), setOp("controller_mutation_rate", 3)),
		quotaEntry([][2]*string{{user, nil}}, setOp("consumer_byte_rate", 2048.0000001)),
	}
	want := []coordinator.QuotaChange{
		{Entity: zkpaths.QuotaEntity{User: "alice"}, Set: map[string]string{"producer_byte_rate": "1024"}, Remove: []string{"consumer_byte_rate"}},
		{Entity: zkpaths.QuotaEntity{User: "alice", ClientID: "<default>"}, Set: map[string]string{"request_percentage": "12.5", "controller_mutation_rate": "3.0"}},
		{Entity: zkpaths.QuotaEntity{User: "<default>"}, Set: map[string]string{"consumer_byte_rate": "2048"}},
	}
	for version := int16(0); version <= 1; version++ {
		s, meta := quotaServer(t, nil)
		answers := alterQuotas(t, s, version, false, good...)
		for i, a := range answers {
			if a.ErrorCode != 0 {
				t.Errorf("v%d entry %d: %v %v", version, i, kerr.ErrorForCode(a.ErrorCode), a.ErrorMessage)
			}
			if !reflect.DeepEqual(a.Entity[0].Name, good[i].Entity[0].Name) || a.Entity[0].Type != good[i].Entity[0].Type {
				t.Errorf("v%d entry %d: answered for %+v, want the request's entity", version, i, a.Entity)
			}
		}
		if len(meta.alters) != 1 || !reflect.DeepEqual(meta.alters[0], want) {
			t.Errorf("v%d: AlterClientQuotas calls %+v\nwant one with %+v", version, meta.alters, want)
		}
		// The answer waited for the change to reach the view: a describe
		// through this broker reads it.
		if got, _ := describeQuotas(t, s, version, false); !reflect.DeepEqual(got["user=alice,client-id=<default>"], map[string]float64{"request_percentage": 12.5, "controller_mutation_rate": 3}) {
			t.Errorf("v%d: described after the alter: %v", version, got)
		}

		// validate_only writes nothing.
		s, meta = quotaServer(t, nil)
		for i, a := range alterQuotas(t, s, version, true, good...) {
			if a.ErrorCode != 0 {
				t.Errorf("v%d validate_only entry %d: %v", version, i, kerr.ErrorForCode(a.ErrorCode))
			}
		}
		if len(meta.alters) != 0 {
			t.Errorf("v%d: validate_only wrote %+v", version, meta.alters)
		}
	}

	// Every bad entry is answered INVALID_REQUEST naming the problem; the
	// good one beside them is written alone.
	bad := []struct {
		entry kmsg.AlterClientQuotasRequestEntry
		msg   string
	}{
		{quotaEntry(nil, setOp("producer_byte_rate", 1)), "empty client quota entity"},
		{quotaEntry([][2]*string{{ip, kmsg.StringPtr("10.0.0.1")}}, setOp("connection_creation_rate", 1)), "ip quotas"},
		{quotaEntry([][2]*string{{kmsg.StringPtr("group"), alice}}, setOp("producer_byte_rate", 1)), `"group"`},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("b")}, {user, kmsg.StringPtr("c")}}, setOp("producer_byte_rate", 1)), "more than once"},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("")}}, setOp("producer_byte_rate", 1)), "empty user"},
		{quotaEntry([][2]*string{{client, kmsg.StringPtr("<default>")}}, setOp("producer_byte_rate", 1)), "reserved"},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("d")}}, setOp("fetch_rate", 1)), "fetch_rate"},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("e")}}, setOp("producer_byte_rate", -5)), "producer_byte_rate=\"-5\""},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("f")}}, setOp("consumer_byte_rate", 1.5)), "consumer_byte_rate=\"1.5\""},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("g")}}, setOp("request_percentage", 0)), "request_percentage=\"0\""},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("h")}}, removeOp("SCRAM-SHA-256")), "SCRAM-SHA-256"},
		{quotaEntry([][2]*string{{user, kmsg.StringPtr("i")}}, setOp("producer_byte_rate", 1), removeOp("producer_byte_rate")), "altered more than once"},
	}
	dup := quotaEntry([][2]*string{{client, kmsg.StringPtr("twice")}}, setOp("producer_byte_rate", 1))
	entries := []kmsg.AlterClientQuotasRequestEntry{dup}
	for _, b := range bad {
		entries = append(entries, b.entry)
	}
	entries = append(entries, good[0], dup)
	s, meta := quotaServer(t, nil)
	answers := alterQuotas(t, s, 1, false, entries...)
	for i, b := range bad {
		a := answers[i+1]
		if err := kerr.ErrorForCode(a.ErrorCode); !errors.Is(err, kerr.InvalidRequest) || a.ErrorMessage == nil || !strings.Contains(*a.ErrorMessage, b.msg) {
			t.Errorf("bad entry %d: %v %v, want INVALID_REQUEST mentioning %q", i, err, a.ErrorMessage, b.msg)
		}
	}
	for _, i := range []int{0, len(entries) - 1} {
		if a := answers[i]; !errors.Is(kerr.ErrorForCode(a.ErrorCode), kerr.InvalidRequest) || !strings.Contains(*a.ErrorMessage, "more than once") {
			t.Errorf("entry %d, an entity given twice: %v %v", i, kerr.ErrorForCode(a.ErrorCode), a.ErrorMessage)
		}
	}
	if a := answers[len(entries)-2]; a.ErrorCode != 0 {
		t.Errorf("the good entry among bad ones: %v", kerr.ErrorForCode(a.ErrorCode))
	}
	if len(meta.alters) != 1 || !reflect.DeepEqual(meta.alters[0], want[:1]) {
		t.Errorf("written %+v, want the good entry alone", meta.alters)
	}

	// A failed write fails every entry it held.
	s, meta = quotaServer(t, nil)
	meta.alterErr = errors.New("zookeeper multi: zk: connection closed")
	for i, a := range alterQuotas(t, s, 1, false, good...) {
		if a.ErrorCode == 0 || a.ErrorMessage == nil || !strings.Contains(*a.ErrorMessage, "connection closed") {
			t.Errorf("entry %d of a failed write: %v %v", i, kerr.ErrorForCode(a.ErrorCode), a.ErrorMessage)
		}
	}
}

// TestTopicQuotasRefusedOnInternalTopics: producer.byte.rate and
// consumer.byte.rate are INVALID_CONFIG on __consumer_offsets through both
// alter APIs, and fine on other topics.
func TestTopicQuotasRefusedOnInternalTopics(t *testing.T) {
	s, meta := quotaServer(t, nil)
	for _, key := range []string{"producer.byte.rate", "consumer.byte.rate"} {
		for _, topic := range []string{group.OffsetsTopic, "plain"} {
			in := kmsg.NewPtrAlterConfigsRequest()
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = key, kmsg.StringPtr("1048576")
			rr.Configs = append(rr.Configs, c)
			in.Resources = append(in.Resources, rr)
			resp := callHandler(s, context.Background(), &request{key: in.Key(), body: in}).(*kmsg.AlterConfigsResponse)

			inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
			ir := kmsg.NewIncrementalAlterConfigsRequestResource()
			ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, topic
			ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			ic.Name, ic.Value = key, kmsg.StringPtr("2048")
			ir.Configs = append(ir.Configs, ic)
			inc.Resources = append(inc.Resources, ir)
			incResp := callHandler(s, context.Background(), &request{key: inc.Key(), body: inc}).(*kmsg.IncrementalAlterConfigsResponse)

			for api, r := range map[string]struct {
				code int16
				msg  *string
			}{
				"AlterConfigs":            {resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage},
				"IncrementalAlterConfigs": {incResp.Resources[0].ErrorCode, incResp.Resources[0].ErrorMessage},
			} {
				err := kerr.ErrorForCode(r.code)
				if topic == group.OffsetsTopic {
					if !errors.Is(err, kerr.InvalidConfig) || r.msg == nil || !strings.Contains(*r.msg, key) {
						t.Errorf("%s %s on %s: %v %v, want INVALID_CONFIG naming the key", api, key, topic, err, r.msg)
					}
				} else if err != nil {
					t.Errorf("%s %s on %s: %v", api, key, topic, err)
				}
			}
		}
	}
	if got := meta.topicConfigs[group.OffsetsTopic]; len(got) != 0 {
		t.Errorf("%s got configs %v", group.OffsetsTopic, got)
	}
	// AlterConfigs replaces the set, IncrementalAlterConfigs changes it: the
	// last pair leaves consumer.byte.rate=2048.
	if got := meta.topicConfigs["plain"]; !maps.Equal(got, map[string]string{"consumer.byte.rate": "2048"}) {
		t.Errorf("plain's configs %v", got)
	}
}

// More entities than one ZooKeeper multi holds are refused together, with
// a reason, and nothing is written.
func TestAlterClientQuotasBoundsTheEntitiesOfOneRequest(t *testing.T) {
	client := kmsg.StringPtr("client-id")
	var entries []kmsg.AlterClientQuotasRequestEntry
	for i := range maxQuotaEntitiesPerAlter + 1 {
		entries = append(entries, quotaEntry([][2]*string{{client, kmsg.StringPtr(fmt.Sprint("bulk-", i))}}, setOp("producer_byte_rate", 1024)))
	}
	s, meta := quotaServer(t, nil)
	for i, a := range alterQuotas(t, s, 1, false, entries...) {
		if err := kerr.ErrorForCode(a.ErrorCode); !errors.Is(err, kerr.InvalidRequest) || a.ErrorMessage == nil || !strings.Contains(*a.ErrorMessage, "at most") {
			t.Fatalf("entry %d: %v %v, want INVALID_REQUEST naming the bound", i, err, a.ErrorMessage)
		}
	}
	if len(meta.alters) != 0 {
		t.Fatalf("wrote %d changes", len(meta.alters[0]))
	}
	// At the bound, all go through.
	s, meta = quotaServer(t, nil)
	for i, a := range alterQuotas(t, s, 1, false, entries[:maxQuotaEntitiesPerAlter]...) {
		if a.ErrorCode != 0 {
			t.Fatalf("entry %d: %v", i, kerr.ErrorForCode(a.ErrorCode))
		}
	}
	if len(meta.alters) != 1 || len(meta.alters[0]) != maxQuotaEntitiesPerAlter {
		t.Fatalf("alters %d", len(meta.alters))
	}
}
