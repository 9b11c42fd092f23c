package coordinator

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/zkpaths"
)

// testClientQuotas: AlterClientQuotas writes Kafka's znodes all or nothing,
// keeps the keys it does not name, creates the parents Kafka creates, and
// every session's snapshot follows, through /config/changes, as does a
// session started later.
func testClientQuotas(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	s2 := env.start(t, env.config(2))
	ctx := context.Background()

	alice := zkpaths.QuotaEntity{User: "alice"}
	aliceApp := zkpaths.QuotaEntity{User: "alice", ClientID: "app 1"}
	bobDefault := zkpaths.QuotaEntity{User: "User:CN=bob", ClientID: zkpaths.DefaultConfigEntity}
	anyClient := zkpaths.QuotaEntity{ClientID: zkpaths.DefaultConfigEntity}

	// /config/users/alice already holds a SCRAM credential (as Kafka's
	// kafka-configs --add-config SCRAM-SHA-256=... writes it).
	scram := map[string]string{"SCRAM-SHA-256": "salt=c2FsdA==,stored_key=a2V5,server_key=a2V5,iterations=4096"}
	in.create(zkpaths.QuotaEntityPath(alice), mustMarshalConfig(t, scram))

	err := s1.AlterClientQuotas(ctx, []QuotaChange{
		{Entity: aliceApp, Set: map[string]string{"consumer_byte_rate": "2048"}},
		{Entity: alice, Set: map[string]string{"producer_byte_rate": "1024", "request_percentage": "50"}},
		{Entity: bobDefault, Set: map[string]string{"producer_byte_rate": "10"}},
		{Entity: anyClient, Set: map[string]string{"consumer_byte_rate": "99"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[zkpaths.QuotaEntity]map[string]string{
		// The credential is no quota: it is in ScramCredentials.
		alice:    {"producer_byte_rate": "1024", "request_percentage": "50"},
		aliceApp: {"consumer_byte_rate": "2048"},
		// Not {User: "User:CN=bob"}: Kafka's parent of a (user,
		// client-id) entity has no data, and is no entity.
		bobDefault: {"producer_byte_rate": "10"},
		anyClient:  {"consumer_byte_rate": "99"},
	}
	waitForQuotas(t, "both sessions", want, s1, s2)

	// Kafka's layout: sanitized names, parents without data.
	for p, wantData := range map[string]string{
		"/config/users/alice/clients/app%201":             `{"version":1,"config":{"consumer_byte_rate":"2048"}}`,
		"/config/users/User%3ACN%3Dbob":                   "",
		"/config/users/User%3ACN%3Dbob/clients":           "",
		"/config/users/User%3ACN%3Dbob/clients/<default>": `{"version":1,"config":{"producer_byte_rate":"10"}}`,
		"/config/clients/<default>":                       `{"version":1,"config":{"consumer_byte_rate":"99"}}`,
	} {
		if data, _ := in.mustGet(p); string(data) != wantData {
			t.Errorf("%s = %q, want %q", p, data, wantData)
		}
	}
	// One notification per entity, naming it as Kafka does.
	var named []string
	for _, name := range in.children(zkpaths.ConfigChangesPath) {
		data, _ := in.mustGet(zkpaths.ConfigChangesPath + "/" + name)
		n, err := zkpaths.UnmarshalConfigChangeNotification(data)
		if err != nil {
			t.Fatal(err)
		}
		named = append(named, n.EntityPath)
	}
	for _, p := range []string{"users/alice", "users/alice/clients/app%201", "users/User%3ACN%3Dbob/clients/<default>", "clients/<default>"} {
		if !slices.Contains(named, p) {
			t.Errorf("no notification names %s: %v", p, named)
		}
	}
	if len(named) != 4 {
		t.Errorf("notifications %v, want 4", named)
	}

	// Removing the last key keeps the znode with an empty config, as
	// Kafka does; keys not named stay.
	if err := s2.AlterClientQuotas(ctx, []QuotaChange{
		{Entity: aliceApp, Remove: []string{"consumer_byte_rate"}},
		{Entity: alice, Set: map[string]string{"producer_byte_rate": "4096"}, Remove: []string{"request_percentage", "not_there"}},
	}); err != nil {
		t.Fatal(err)
	}
	want[aliceApp] = map[string]string{}
	want[alice] = map[string]string{"producer_byte_rate": "4096"}
	waitForQuotas(t, "both sessions after the removals", want, s1, s2)
	// The quota writes kept the credential.
	if data, _ := in.mustGet(zkpaths.QuotaEntityPath(alice)); !strings.Contains(string(data), `"SCRAM-SHA-256":"`+scram["SCRAM-SHA-256"]+`"`) {
		t.Errorf("%s lost its credential: %s", zkpaths.QuotaEntityPath(alice), data)
	}
	if c, ok := s1.Snapshot().ScramCredential("SCRAM-SHA-256", "alice"); !ok || c.String() != scram["SCRAM-SHA-256"] {
		t.Errorf("alice's credential in the snapshot: %v, %t", c, ok)
	}
	if data, _ := in.mustGet(zkpaths.QuotaEntityPath(aliceApp)); string(data) != `{"version":1,"config":{}}` {
		t.Errorf("emptied entity holds %s", data)
	}

	// Bad calls write nothing.
	for _, bad := range [][]QuotaChange{
		{{Entity: zkpaths.QuotaEntity{}, Set: map[string]string{"producer_byte_rate": "1"}}},
		{{Entity: alice, Set: map[string]string{"producer_byte_rate": "1"}}, {Entity: alice, Remove: []string{"x"}}},
		{{Entity: anyClient, Set: map[string]string{"consumer_byte_rate": "1"}, Remove: []string{"consumer_byte_rate"}}},
	} {
		if err := s1.AlterClientQuotas(ctx, bad); err == nil {
			t.Errorf("AlterClientQuotas(%+v) succeeded", bad)
		}
	}

	// Concurrent changes of one entity from two brokers all land.
	var wg sync.WaitGroup
	shared := zkpaths.QuotaEntity{User: zkpaths.DefaultConfigEntity}
	for n, s := range map[int]*Session{1: s1, 2: s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				key := fmt.Sprintf("k%d-%d", n, i)
				if err := s.AlterClientQuotas(ctx, []QuotaChange{{Entity: shared, Set: map[string]string{key: "1"}}}); err != nil {
					t.Errorf("broker %d: %v", n, err)
				}
			}
		}()
	}
	wg.Wait()
	want[shared] = map[string]string{}
	for n := 1; n <= 2; n++ {
		for i := range 10 {
			want[shared][fmt.Sprintf("k%d-%d", n, i)] = "1"
		}
	}
	waitForQuotas(t, "both sessions after concurrent changes", want, s1, s2)

	// A broker started now reads every entity.
	s3 := env.start(t, env.config(3))
	waitForQuotas(t, "a new session", want, s3)

	// A config deleted behind the sessions' backs (and announced) goes.
	in.delete(zkpaths.QuotaEntityPath(bobDefault))
	in.create(zkpaths.ConfigChangeSequencePath(), []byte(`{"version":2,"entity_path":"users/User%3ACN%3Dbob/clients/<default>"}`), zk.FlagSequence)
	delete(want, bobDefault)
	waitForQuotas(t, "every session after a deletion", want, s1, s2, s3)
}

// testClientQuotasKafkaTool: what Kafka 2.4.1's kafka-configs.sh
// --zookeeper writes reaches a session, and it reads what kzoo wrote.
func testClientQuotasKafkaTool(t *testing.T, env *zkEnv) {
	tool := kafkaConfigsTool(t)
	in := env.inspector(t)
	s := env.start(t, env.config(1))
	connect := strings.Join(env.servers, ",") + env.chroot
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tool, append([]string{"--zookeeper", connect}, args...)...)
		cmd.Env = append(os.Environ(), "LOG_DIR="+t.TempDir(), "KAFKA_HEAP_OPTS=-Xmx256m",
			"KAFKA_JVM_PERFORMANCE_OPTS=-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-configs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("--entity-type", "users", "--entity-name", "kafka user", "--entity-type", "clients", "--entity-name", "c*1",
		"--alter", "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048")
	run("--entity-type", "clients", "--entity-default", "--alter", "--add-config", "request_percentage=12.5")
	written := zkpaths.QuotaEntity{User: "kafka user", ClientID: "c*1"}
	waitFor(t, "Kafka's writes to reach the session", func() (bool, string) {
		got := s.Snapshot().ClientQuotas
		ok := maps.Equal(got[written], map[string]string{"producer_byte_rate": "1024", "consumer_byte_rate": "2048"}) &&
			maps.Equal(got[zkpaths.QuotaEntity{ClientID: zkpaths.DefaultConfigEntity}], map[string]string{"request_percentage": "12.5"}) &&
			got[zkpaths.QuotaEntity{User: "kafka user"}] == nil
		return ok, fmt.Sprint(got)
	})
	// Kafka's sanitizing is kzoo's: the znode is where QuotaEntityPath
	// says.
	if !in.exists(zkpaths.QuotaEntityPath(written)) {
		t.Errorf("Kafka did not write %s", zkpaths.QuotaEntityPath(written))
	}

	if err := s.AlterClientQuotas(context.Background(), []QuotaChange{
		{Entity: zkpaths.QuotaEntity{User: "kzoo user", ClientID: "app/2"}, Set: map[string]string{"consumer_byte_rate": "777"}},
	}); err != nil {
		t.Fatal(err)
	}
	out := run("--describe", "--entity-type", "users", "--entity-name", "kzoo user", "--entity-type", "clients", "--entity-name", "app/2")
	if !strings.Contains(out, "consumer_byte_rate=777") {
		t.Errorf("kafka-configs --describe does not show kzoo's quota:\n%s", out)
	}
	out = run("--describe", "--entity-type", "users", "--entity-type", "clients")
	for _, want := range []string{"'kzoo user'", "'app/2'", "consumer_byte_rate=777", "'kafka user'", "'c*1'"} {
		if !strings.Contains(out, want) {
			t.Errorf("kafka-configs --describe of every (user, client) lacks %s:\n%s", want, out)
		}
	}
}

// kafkaConfigsTool is Kafka 2.4.1's kafka-configs.sh from
// $KZOO_TEST_KAFKA_HOME or ../shared/kafka-2.4.1 beside the repository; the
// test is skipped when it or java is absent.
func kafkaConfigsTool(t *testing.T) string {
	home := os.Getenv("KZOO_TEST_KAFKA_HOME")
	if home == "" {
		repo, err := cluster.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		home = filepath.Join(repo, "..", "shared", "kafka-2.4.1")
	}
	tool := filepath.Join(home, "bin", "kafka-configs.sh")
	if _, err := os.Stat(tool); err != nil {
		t.Skipf("skipping: no Kafka 2.4.1 tools (%v); set KZOO_TEST_KAFKA_HOME to a Kafka 2.4.1 distribution", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skipf("skipping: Kafka's tools need java: %v", err)
	}
	return tool
}

func waitForQuotas(t *testing.T, who string, want map[zkpaths.QuotaEntity]map[string]string, sessions ...*Session) {
	t.Helper()
	for _, s := range sessions {
		waitFor(t, who+" to show the client quotas", func() (bool, string) {
			got := s.Snapshot().ClientQuotas
			return reflect.DeepEqual(got, want), fmt.Sprint(got)
		})
	}
}

func mustMarshalConfig(t *testing.T, configs map[string]string) []byte {
	t.Helper()
	data, err := zkpaths.ConfigEntity{Config: configs}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// create makes a znode (its parents must exist).
func (in *inspector) create(p string, data []byte, flags ...int32) {
	in.t.Helper()
	var flag int32
	for _, f := range flags {
		flag |= f
	}
	if _, err := in.conn.Create(in.chroot+p, data, flag, zk.WorldACL(zk.PermAll)); err != nil {
		in.t.Fatalf("create %s: %v", p, err)
	}
}

func (in *inspector) delete(p string) {
	in.t.Helper()
	if err := in.conn.Delete(in.chroot+p, -1); err != nil {
		in.t.Fatalf("delete %s: %v", p, err)
	}
}

// TestQuotaConfigChangesMarkEntities: a notification naming a quota entity
// marks that entity, and a missed one lists them all again.
func TestQuotaConfigChangesMarkEntities(t *testing.T) {
	v := newView()
	v.dirty.reset()
	log := testLogger(t)
	v.applyConfigChange([]byte(`{"version":2,"entity_path":"users/a%20b/clients/<default>"}`), log)
	v.applyConfigChange([]byte(`{"version":2,"entity_path":"clients/c"}`), log)
	v.applyConfigChange([]byte(`{"version":2,"entity_path":"users/a/clients"}`), log) // not an entity
	want := map[zkpaths.QuotaEntity]bool{{User: "a b", ClientID: "<default>"}: true, {ClientID: "c"}: true}
	if !maps.Equal(v.dirty.quotaConfigs, want) {
		t.Errorf("marked %v, want %v", v.dirty.quotaConfigs, want)
	}
	if v.dirty.quotaEntityList {
		t.Error("a notification made the view list every entity")
	}
	v.markAllConfigs()
	if !v.dirty.quotaEntityList || v.dirty.empty() {
		t.Error("markAllConfigs does not list the quota entities again")
	}
	v.clientQuotas[zkpaths.QuotaEntity{ClientID: "c"}] = map[string]string{"consumer_byte_rate": "5"}
	snap := v.snapshot("cid")
	v.clientQuotas[zkpaths.QuotaEntity{ClientID: "c"}]["consumer_byte_rate"] = "6"
	if got := snap.ClientQuotas[zkpaths.QuotaEntity{ClientID: "c"}]["consumer_byte_rate"]; got != "5" {
		t.Errorf("the snapshot's quota changed with the view: %s", got)
	}
}
