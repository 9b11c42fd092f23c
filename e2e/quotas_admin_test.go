package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// TestQuotasAdmin drives client quota administration on a 3-broker cluster:
// `kzoo quotas` and kadm (DescribeClientQuotas, AlterClientQuotas) alter and
// describe the same entities, bad input fails with a message naming it and
// changes nothing, a change made through one broker reaches every broker's
// DescribeClientQuotas within seconds, and what Kafka 2.4.1's
// kafka-configs.sh --zookeeper writes is read. Topic quotas are topic
// configs, refused on internal topics.
func TestQuotasAdmin(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 16400})
	waitForLiveBrokers(t, c.Bootstrap(), 3)

	t.Run("cli", func(t *testing.T) { quotasCLI(t, c) })
	t.Run("kadm", func(t *testing.T) { quotasKadm(t, c) })
	t.Run("topic-quotas", func(t *testing.T) { topicQuotaConfigs(t, c) })
	t.Run("kafka-configs-zookeeper", func(t *testing.T) { quotasFromKafkaTool(t, c) })
}

// quotaSpread is how long a change may take to reach every broker.
const quotaSpread = 15 * time.Second

// brokerQuotas is one broker's DescribeClientQuotas of every entity, as
// "user=U,client-id=C" (kadm's names, <default> for the defaults) -> key ->
// value.
func brokerQuotas(t *testing.T, cl *kgo.Client) (map[string]map[string]float64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// kgo would send it to any broker: ask this one.
	raw, err := cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrDescribeClientQuotasRequest())
	if err != nil {
		return nil, err
	}
	resp := raw.(*kmsg.DescribeClientQuotasResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := make(map[string]map[string]float64)
	for _, e := range resp.Entries {
		var entity kadm.ClientQuotaEntity
		for _, part := range e.Entity {
			entity = append(entity, kadm.ClientQuotaEntityComponent{Type: part.Type, Name: part.Name})
		}
		values := make(map[string]float64)
		for _, v := range e.Values {
			values[v.Key] = v.Value
		}
		out[quotaEntityKey(entity)] = values
	}
	return out, nil
}

// quotaEntityKey names an entity independently of its parts' order.
func quotaEntityKey(entity kadm.ClientQuotaEntity) string {
	parts := make([]string, 0, len(entity))
	for _, part := range entity {
		parts = append(parts, part.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// waitForQuotasEverywhere polls every broker until its DescribeClientQuotas
// shows want for each entity named in want (others may be there too; an
// entity mapped to nil must be absent).
func waitForQuotasEverywhere(t *testing.T, c *cluster.Cluster, want map[string]map[string]float64) {
	t.Helper()
	for _, id := range c.BrokerIDs() {
		cl := admin(t, []string{c.BrokerAddr(id)})
		poll.UntilSaw(t, quotaSpread, fmt.Sprintf("broker %d to describe the quotas %v", id, want), func() (bool, string) {
			got, err := brokerQuotas(t, cl)
			if err != nil {
				return false, err.Error()
			}
			for entity, values := range want {
				if have, ok := got[entity]; (values == nil && ok) || (values != nil && !maps.Equal(have, values)) {
					return false, fmt.Sprint(got)
				}
			}
			return true, ""
		})
	}
}

func quotasCLI(t *testing.T, c *cluster.Cluster) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "alice", "--add-config", "producer_byte_rate=1048576,request_percentage=50"}, "user=alice"},
		{[]string{"--user", "alice", "--client-id", "app 1", "--add-config", "consumer_byte_rate=2048"}, "user=alice, client-id=app 1"},
		{[]string{"--client-defaults", "--add-config", "consumer_byte_rate=4096"}, "client-id=<default>"},
		{[]string{"--user-defaults", "--client-id", "batch", "--add-config", "producer_byte_rate=100"}, "user=<default>, client-id=batch"},
	} {
		out := mustKzoo(t, c, append([]string{"quotas", "alter"}, tc.args...)...)
		if !strings.Contains(out, "Completed updating quotas for "+tc.want+".") {
			t.Errorf("quotas alter %v: %s", tc.args, out)
		}
	}
	want := map[string]map[string]float64{
		"user=alice":                     {"producer_byte_rate": 1048576, "request_percentage": 50},
		"client-id=app 1,user=alice":     {"consumer_byte_rate": 2048},
		"client-id=<default>":            {"consumer_byte_rate": 4096},
		"client-id=batch,user=<default>": {"producer_byte_rate": 100},
	}
	waitForQuotasEverywhere(t, c, want)

	// describe: everything, then filtered.
	out := mustKzoo(t, c, "quotas", "describe")
	for _, line := range [][]string{
		{"alice", "-", "producer_byte_rate", "1048576"},
		{"alice", "-", "request_percentage", "50"},
		{"alice", "app", "1", "consumer_byte_rate", "2048"},
		{"-", "<default>", "consumer_byte_rate", "4096"},
		{"<default>", "batch", "producer_byte_rate", "100"},
	} {
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool { return slices.Equal(strings.Fields(l), line) }) {
			t.Errorf("quotas describe lacks the line %v:\n%s", line, out)
		}
	}
	out = mustKzoo(t, c, "quotas", "describe", "--user", "alice")
	if !strings.Contains(out, "request_percentage") || !strings.Contains(out, "app 1") || strings.Contains(out, "batch") || strings.Contains(out, "4096") {
		t.Errorf("quotas describe --user alice: want alice's entities alone:\n%s", out)
	}
	out = mustKzoo(t, c, "quotas", "describe", "--client-defaults")
	if !strings.Contains(out, "4096") || strings.Contains(out, "alice") {
		t.Errorf("quotas describe --client-defaults:\n%s", out)
	}
	if out := mustKzoo(t, c, "quotas", "describe", "--user", "nobody"); !strings.Contains(out, "No client quotas.") {
		t.Errorf("quotas describe --user nobody:\n%s", out)
	}

	// Bad input fails naming the problem, and changes nothing: alice's
	// quotas stay as they are.
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"fetch_rate", []string{"--user", "alice", "--add-config", "producer_byte_rate=5,fetch_rate=1"}},
		{"must be greater than 0", []string{"--user", "alice", "--add-config", "producer_byte_rate=-1"}},
		{"must be a LONG", []string{"--user", "alice", "--add-config", "producer_byte_rate=1.5"}},
		{"not a number", []string{"--user", "alice", "--add-config", "producer_byte_rate=fast"}},
		{"give the entity", []string{"--add-config", "producer_byte_rate=5"}},
		{"not both", []string{"--user", "alice", "--user-defaults", "--add-config", "producer_byte_rate=5"}},
		{"empty name", []string{"--client-id", "", "--add-config", "producer_byte_rate=5"}},
		{"give --add-config or --delete-config", []string{"--user", "alice"}},
		{"SCRAM-SHA-256", []string{"--user", "alice", "--delete-config", "SCRAM-SHA-256"}},
	} {
		kzooFails(t, c, tc.want, append([]string{"quotas", "alter"}, tc.args...)...)
	}
	kzooFails(t, c, "unknown subcommand", "quotas", "list")
	kzooFails(t, c, "unexpected argument", "quotas", "describe", "alice")

	// Removing keys; an entity left without quotas is no longer described.
	mustKzoo(t, c, "quotas", "alter", "--user", "alice", "--delete-config", "request_percentage")
	mustKzoo(t, c, "quotas", "alter", "--user-defaults", "--client-id", "batch", "--delete-config", "producer_byte_rate")
	want["user=alice"] = map[string]float64{"producer_byte_rate": 1048576}
	want["client-id=batch,user=<default>"] = nil
	waitForQuotasEverywhere(t, c, want)
	if out := mustKzoo(t, c, "quotas", "--help"); !strings.Contains(out, "Usage: kzoo quotas") {
		t.Errorf("quotas --help:\n%s", out)
	}
}

func quotasKadm(t *testing.T, c *cluster.Cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(admin(t, c.Bootstrap()))
	user, client := "user", "client-id"
	bob := kmsg.StringPtr("bob")

	// validate_only writes nothing.
	entries := []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: user, Name: bob}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 5000}},
	}}
	res, err := adm.ValidateAlterClientQuotas(ctx, entries)
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("ValidateAlterClientQuotas: %v %+v", err, res)
	}

	// One request, three entries: the bad ones fail alone.
	entries = append(entries,
		kadm.AlterClientQuotaEntry{
			Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: kmsg.StringPtr("127.0.0.1")}},
			Ops:    []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 10}},
		},
		kadm.AlterClientQuotaEntry{
			Entity: kadm.ClientQuotaEntity{{Type: user, Name: kmsg.StringPtr("carol")}, {Type: client, Name: nil}},
			Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: -3}},
		},
	)
	// Sent through broker 2, read back from every broker.
	via := admin(t, []string{c.BrokerAddr(2)})
	req := kmsg.NewPtrAlterClientQuotasRequest()
	for _, e := range entries {
		re := kmsg.NewAlterClientQuotasRequestEntry()
		for _, part := range e.Entity {
			p := kmsg.NewAlterClientQuotasRequestEntryEntity()
			p.Type, p.Name = part.Type, part.Name
			re.Entity = append(re.Entity, p)
		}
		for _, op := range e.Ops {
			o := kmsg.NewAlterClientQuotasRequestEntryOp()
			o.Key, o.Value = op.Key, op.Value
			re.Ops = append(re.Ops, o)
		}
		req.Entries = append(req.Entries, re)
	}
	raw, err := via.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	answers := raw.(*kmsg.AlterClientQuotasResponse).Entries
	if len(answers) != 3 || answers[0].ErrorCode != 0 {
		t.Fatalf("AlterClientQuotas through broker 2: %+v", answers)
	}
	for i, want := range map[int]string{1: "ip quotas", 2: "consumer_byte_rate"} {
		a := answers[i]
		if !errors.Is(kerr.ErrorForCode(a.ErrorCode), kerr.InvalidRequest) || a.ErrorMessage == nil || !strings.Contains(*a.ErrorMessage, want) {
			t.Errorf("entry %d: %v %v, want INVALID_REQUEST mentioning %q", i, kerr.ErrorForCode(a.ErrorCode), a.ErrorMessage, want)
		}
	}
	waitForQuotasEverywhere(t, c, map[string]map[string]float64{
		"user=bob":                       {"producer_byte_rate": 5000},
		"client-id=<default>,user=carol": nil,
	})

	// kadm's describe with a strict filter, and kadm's alter.
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: client, Name: kmsg.StringPtr("bob-app")}, {Type: user, Name: bob}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 700}, {Key: "request_percentage", Value: 12.5}},
	}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("AlterClientQuotas: %v %+v", err, res)
	}
	poll.UntilSaw(t, quotaSpread, "kadm to describe bob's quotas", func() (bool, string) {
		described, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{
			{Type: user, MatchName: bob, MatchType: kmsg.QuotasMatchTypeExact},
			{Type: client, MatchType: kmsg.QuotasMatchTypeAny},
		})
		if err != nil {
			return false, err.Error()
		}
		if len(described) != 1 || quotaEntityKey(described[0].Entity) != "client-id=bob-app,user=bob" {
			return false, fmt.Sprint(described)
		}
		values := make(map[string]float64)
		for _, v := range described[0].Values {
			values[v.Key] = v.Value
		}
		return maps.Equal(values, map[string]float64{"consumer_byte_rate": 700, "request_percentage": 12.5}), fmt.Sprint(described)
	})
	_, err = adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "group", MatchType: kmsg.QuotasMatchTypeAny}})
	if !errors.Is(err, kerr.UnsupportedVersion) {
		t.Errorf("describe with a custom entity type: %v, want UNSUPPORTED_VERSION", err)
	}
	// The CLI reads what kadm wrote.
	if out := mustKzoo(t, c, "quotas", "describe", "--user", "bob", "--client-id", "bob-app"); !strings.Contains(out, "12.5") {
		t.Errorf("quotas describe of kadm's entity:\n%s", out)
	}
}

// topicQuotaConfigs: producer.byte.rate and consumer.byte.rate are topic
// configs of `kzoo configs`, positive, and refused on internal topics.
func topicQuotaConfigs(t *testing.T, c *cluster.Cluster) {
	const topic = "quota-topic"
	createTopic(t, c.Bootstrap(), topic, 1, 2, nil)
	mustKzoo(t, c, "configs", "alter", "--topic", topic, "--add-config", "producer.byte.rate=1048576,consumer.byte.rate=2097152")
	out := mustKzoo(t, c, "configs", "describe", "--topic", topic)
	for _, want := range [][]string{{"producer.byte.rate", "1048576"}, {"consumer.byte.rate", "2097152"}} {
		if f := strings.Fields(lineWith(out, want[0])); len(f) < 2 || f[1] != want[1] {
			t.Errorf("configs describe --topic %s: %s is %v:\n%s", topic, want[0], f, out)
		}
	}
	kzooFails(t, c, "producer.byte.rate", "configs", "alter", "--topic", topic, "--add-config", "producer.byte.rate=0")

	// FindCoordinator makes the broker create __consumer_offsets.
	cl := admin(t, c.Bootstrap())
	poll.Until(t, 60*time.Second, "__consumer_offsets to exist", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "quota-group"
		resp, err := req.RequestWith(ctx, cl)
		return err == nil && resp.ErrorCode == 0
	})
	// Broker 1, which the CLI asks, may learn of the topic a moment after
	// the broker that created it.
	poll.UntilSaw(t, 30*time.Second, "configs alter of __consumer_offsets to be refused as internal", func() (bool, string) {
		out, err := kzoo(t, c, "configs", "alter", "--topic", "__consumer_offsets", "--add-config", "consumer.byte.rate=1000")
		if err == nil {
			t.Fatalf("consumer.byte.rate set on __consumer_offsets:\n%s", out)
		}
		return strings.Contains(out, "internal topics take no quota") && strings.Contains(out, "INVALID_CONFIG"), out
	})
}

// quotasFromKafkaTool: Kafka 2.4.1's kafka-configs.sh --zookeeper writes
// client quotas in Kafka's layout; every broker describes them within
// seconds, and the tool reads what kzoo wrote.
func quotasFromKafkaTool(t *testing.T, c *cluster.Cluster) {
	tools := newKafkaTools(t)
	configs := func(args ...string) string {
		t.Helper()
		return tools.runOK(t, "kafka-configs", append([]string{"--zookeeper", c.ZKConnect()}, args...)...)
	}
	configs("--entity-type", "users", "--entity-name", "CN=dave,O=kafka", "--entity-type", "clients", "--entity-name", "legacy app",
		"--alter", "--add-config", "producer_byte_rate=3000,consumer_byte_rate=6000")
	configs("--entity-type", "users", "--entity-default", "--alter", "--add-config", "request_percentage=25")
	waitForQuotasEverywhere(t, c, map[string]map[string]float64{
		"client-id=legacy app,user=CN=dave,O=kafka": {"producer_byte_rate": 3000, "consumer_byte_rate": 6000},
		"user=<default>": {"request_percentage": 25},
	})
	out := mustKzoo(t, c, "quotas", "describe", "--user", "CN=dave,O=kafka")
	if !strings.Contains(out, "legacy app") || !strings.Contains(out, "6000") {
		t.Errorf("quotas describe of Kafka's entity:\n%s", out)
	}
	// Kafka's tool reads kzoo's entities (written in quotasCLI).
	if out := configs("--describe", "--entity-type", "users", "--entity-name", "alice"); !strings.Contains(out, "producer_byte_rate=1048576") {
		t.Errorf("kafka-configs --describe of kzoo's alice:\n%s", out)
	}
	if out := configs("--describe", "--entity-type", "clients", "--entity-default"); !strings.Contains(out, "consumer_byte_rate=4096") {
		t.Errorf("kafka-configs --describe of kzoo's client default:\n%s", out)
	}
}
