package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/internal/scramzk"
	"github.com/kzoo/kzoo/zkpaths"
)

func newCredential(t *testing.T, mechanism, password string) *scramcred.Credential {
	t.Helper()
	c, err := scramcred.FromPassword(mechanism, password, scramcred.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// credentialsOf renders a snapshot's credentials as user -> mechanism ->
// credential string, for comparing and printing.
func credentialsOf(s *Session) map[string]map[string]string {
	out := make(map[string]map[string]string)
	for user, creds := range s.Snapshot().ScramCredentials {
		out[user] = make(map[string]string)
		for mech, c := range creds {
			out[user][mech] = c.String()
		}
	}
	return out
}

func waitForCredentials(t *testing.T, who string, want map[string]map[string]string, sessions ...*Session) {
	t.Helper()
	for _, s := range sessions {
		waitFor(t, who+" to show the SCRAM credentials", func() (bool, string) {
			got := credentialsOf(s)
			return maps.EqualFunc(got, want, maps.Equal), fmt.Sprint(got)
		})
	}
}

// testScramCredentials: AlterUserScramCredentials writes the credentials into
// the users' quota znodes, keeping their quotas, with one notification per
// user; every session's snapshot follows, credentials apart from quotas.
func testScramCredentials(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	s2 := env.start(t, env.config(2))
	ctx := context.Background()

	alice := zkpaths.QuotaEntity{User: "al,i=ce"}
	if err := s1.AlterClientQuotas(ctx, []QuotaChange{{Entity: alice, Set: map[string]string{"producer_byte_rate": "1024"}}}); err != nil {
		t.Fatal(err)
	}
	waitForQuotas(t, "both sessions", map[zkpaths.QuotaEntity]map[string]string{alice: {"producer_byte_rate": "1024"}}, s1, s2)
	notificationsBefore := len(in.children(zkpaths.ConfigChangesPath))

	a512, a256, b512 := newCredential(t, scramcred.SHA512, "a"), newCredential(t, scramcred.SHA256, "a"), newCredential(t, scramcred.SHA512, "b")
	errs := s2.AlterUserScramCredentials(ctx, []ScramChange{
		{User: "al,i=ce", Mechanism: scramcred.SHA512, Credential: a512},
		{User: "bob", Mechanism: scramcred.SHA512, Credential: b512},
		{User: "al,i=ce", Mechanism: scramcred.SHA256, Credential: a256},
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	want := map[string]map[string]string{
		"al,i=ce": {scramcred.SHA512: a512.String(), scramcred.SHA256: a256.String()},
		"bob":     {scramcred.SHA512: b512.String()},
	}
	waitForCredentials(t, "both sessions", want, s1, s2)
	// The quota is kept and stays the only key in ClientQuotas; bob's
	// znode, which holds no quota, is an entity without quotas.
	wantQuotas := map[zkpaths.QuotaEntity]map[string]string{alice: {"producer_byte_rate": "1024"}, {User: "bob"}: {}}
	waitForQuotas(t, "both sessions", wantQuotas, s1, s2)
	data, _ := in.mustGet("/config/users/al%2Ci%3Dce")
	entity, err := zkpaths.UnmarshalConfigEntity(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entity.Config) != 3 || entity.Config["producer_byte_rate"] != "1024" || entity.Config[scramcred.SHA512] != a512.String() {
		t.Errorf("/config/users/al%%2Ci%%3Dce = %s", data)
	}
	// One notification per user, named as Kafka names them.
	var named []string
	for _, name := range slices.Sorted(slices.Values(in.children(zkpaths.ConfigChangesPath)))[notificationsBefore:] {
		data, _ := in.mustGet(zkpaths.ConfigChangesPath + "/" + name)
		n, err := zkpaths.UnmarshalConfigChangeNotification(data)
		if err != nil {
			t.Fatal(err)
		}
		named = append(named, n.EntityPath)
	}
	if strings.Join(named, " ") != "users/al%2Ci%3Dce users/bob" {
		t.Errorf("notifications name %v, want users/al%%2Ci%%3Dce and users/bob", named)
	}

	// Failures are per user: every change of a user with a bad change
	// fails, other users' changes apply.
	errs = s1.AlterUserScramCredentials(ctx, []ScramChange{
		{User: "bob", Mechanism: scramcred.SHA256},                         // not there
		{User: "bob", Mechanism: scramcred.SHA512},                         // fine alone
		{User: "al,i=ce", Mechanism: scramcred.SHA512},                     // deletes
		{User: "carol", Mechanism: scramcred.SHA256, Credential: a256},     // duplicate
		{User: "carol", Mechanism: scramcred.SHA256},                       // duplicate
		{User: "", Mechanism: scramcred.SHA256, Credential: a256},          // no user
		{User: "<default>", Mechanism: scramcred.SHA256, Credential: a256}, // not a user
		{User: "dave", Mechanism: "SCRAM-SHA-1", Credential: a256},         // unknown
	})
	for i, want := range []error{ErrScramCredentialNotFound, ErrScramCredentialNotFound, nil, ErrDuplicateScramChange, ErrDuplicateScramChange,
		scramcred.ErrUnacceptableCredential, scramcred.ErrUnacceptableCredential, scramcred.ErrUnknownMechanism} {
		if !errors.Is(errs[i], want) || (want == nil) != (errs[i] == nil) {
			t.Errorf("change %d: %v, want %v", i, errs[i], want)
		}
	}
	want = map[string]map[string]string{
		"al,i=ce": {scramcred.SHA256: a256.String()},
		"bob":     {scramcred.SHA512: b512.String()},
	}
	waitForCredentials(t, "both sessions after the deletion", want, s1, s2)
	for _, p := range []string{"/config/users/carol", "/config/users/dave"} {
		if in.exists(p) {
			t.Errorf("a failed change created %s", p)
		}
	}

	// The last credential deleted, the znode stays with its quota.
	if errs := s1.AlterUserScramCredentials(ctx, []ScramChange{{User: "al,i=ce", Mechanism: scramcred.SHA256}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	delete(want, "al,i=ce")
	waitForCredentials(t, "both sessions after the last deletion", want, s1, s2)
	waitForQuotas(t, "both sessions after the last deletion", wantQuotas, s1, s2)

	// A session started now reads them all; one written on a bare
	// connection (as kzoo users scram set --zookeeper does) reaches every
	// session; an unreadable one is left out, the others kept.
	s3 := env.start(t, env.config(3))
	waitForCredentials(t, "a new session", want, s3)
	e256 := newCredential(t, scramcred.SHA256, "e")
	if err := scramzk.Write(in.conn, env.chroot, nil, "User:CN=eve", []scramzk.Change{{Mechanism: scramcred.SHA256, Credential: e256}}); err != nil {
		t.Fatal(err)
	}
	want["User:CN=eve"] = map[string]string{scramcred.SHA256: e256.String()}
	waitForCredentials(t, "every session after a bare write", want, s1, s2, s3)
	in.create(zkpaths.QuotaEntityPath(zkpaths.QuotaEntity{User: "mallory"}), mustMarshalConfig(t, map[string]string{scramcred.SHA256: "salt=x", scramcred.SHA512: b512.String()}))
	in.create(zkpaths.ConfigChangeSequencePath(), []byte(`{"version":2,"entity_path":"users/mallory"}`), zk.FlagSequence)
	want["mallory"] = map[string]string{scramcred.SHA512: b512.String()}
	waitForCredentials(t, "every session after an unreadable credential", want, s1, s2, s3)
	if _, err := scramzk.Read(in.conn, env.chroot, "mallory"); err == nil {
		t.Error("scramzk.Read of an unreadable credential succeeded")
	}
	got, err := scramzk.Read(in.conn, env.chroot, "User:CN=eve")
	if err != nil || len(got) != 1 || got[scramcred.SHA256].String() != e256.String() {
		t.Errorf("scramzk.Read = %v, %v", got, err)
	}

	// A user znode deleted (and announced) takes its credentials along.
	in.delete("/config/users/bob")
	in.create(zkpaths.ConfigChangeSequencePath(), []byte(`{"version":2,"entity_path":"users/bob"}`), zk.FlagSequence)
	delete(want, "bob")
	waitForCredentials(t, "every session after a znode deletion", want, s1, s2, s3)
}

// testScramZKWrite: scramzk.Write on an empty ZooKeeper (no broker ever ran)
// creates Kafka's parents, and a broker started afterwards reads the
// credential.
func testScramZKWrite(t *testing.T, env *zkEnv) {
	in := env.inspector(t) // creates the chroot, nothing else
	c := newCredential(t, scramcred.SHA512, "admin-secret")
	if err := scramzk.Write(in.conn, env.chroot+"/deeper", nil, "admin", []scramzk.Change{{Mechanism: scramcred.SHA512, Credential: c}}); err != nil {
		t.Fatal(err)
	}
	if err := scramzk.Write(in.conn, env.chroot+"/deeper", nil, "admin", []scramzk.Change{{Mechanism: scramcred.SHA256}}); !errors.Is(err, scramzk.ErrNotFound) {
		t.Errorf("deleting a missing credential: %v", err)
	}
	cfg := env.config(1)
	cfg.Connect += "/deeper"
	s := env.start(t, cfg)
	waitForCredentials(t, "a session started after the write", map[string]map[string]string{"admin": {scramcred.SHA512: c.String()}}, s)
}

// testScramKafkaTool: a credential Kafka 2.4.1's kafka-configs.sh
// --zookeeper writes, next to a quota, reaches a session and logs in with its
// password; one kzoo wrote is what the tool describes.
func testScramKafkaTool(t *testing.T, env *zkEnv) {
	tool := kafkaConfigsTool(t)
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
	run("--entity-type", "users", "--entity-name", "kafka user", "--alter",
		"--add-config", "SCRAM-SHA-512=[password=kafka-secret],SCRAM-SHA-256=[iterations=8192,password=other],producer_byte_rate=1024")
	user := "kafka user"
	waitFor(t, "Kafka's credentials to reach the session", func() (bool, string) {
		snap := s.Snapshot()
		return len(snap.ScramCredentials[user]) == 2 && maps.Equal(snap.ClientQuotas[zkpaths.QuotaEntity{User: user}], map[string]string{"producer_byte_rate": "1024"}),
			fmt.Sprint(snap.ScramCredentials, snap.ClientQuotas)
	})
	for mech, password := range map[string]string{scramcred.SHA512: "kafka-secret", scramcred.SHA256: "other"} {
		c, _ := s.Snapshot().ScramCredential(mech, user)
		salted, err := scramcred.SaltPassword(mech, password, c.Salt, c.Iterations)
		if err != nil {
			t.Fatal(err)
		}
		again, err := scramcred.FromSaltedPassword(mech, c.Salt, salted, c.Iterations)
		if err != nil || again.String() != c.String() {
			t.Errorf("%s: Kafka's credential does not match its password: %v", mech, err)
		}
	}

	// kzoo's write keeps Kafka's quota and other credential, and the tool
	// reads it back.
	mine := newCredential(t, scramcred.SHA512, "kzoo-secret")
	if errs := s.AlterUserScramCredentials(context.Background(), []ScramChange{{User: user, Mechanism: scramcred.SHA512, Credential: mine}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	out := run("--describe", "--entity-type", "users", "--entity-name", user)
	for _, want := range []string{"SCRAM-SHA-512=" + mine.String(), "SCRAM-SHA-256=salt=", "producer_byte_rate=1024"} {
		if !strings.Contains(out, want) {
			t.Errorf("kafka-configs --describe lacks %s:\n%s", want, out)
		}
	}
	// And Kafka's deletion reaches the session.
	run("--entity-type", "users", "--entity-name", user, "--alter", "--delete-config", "SCRAM-SHA-512")
	waitFor(t, "Kafka's deletion to reach the session", func() (bool, string) {
		creds := s.Snapshot().ScramCredentials[user]
		_, has512 := creds[scramcred.SHA512]
		return len(creds) == 1 && !has512, fmt.Sprint(creds)
	})
}
