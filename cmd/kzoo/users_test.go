package main

import (
	"bytes"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl/scram"

	brokersasl "github.com/kzoo/kzoo/broker/sasl"
	"github.com/kzoo/kzoo/internal/scramcred"
)

func parseScramTestArgs(t *testing.T, set bool, args ...string) (scramSet, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := addScramFlags(fs, set, !set)
	rest, _, err := parseArgs(fs, "", args, io.Discard)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return parseScramArgs(set, rest, f)
}

func TestParseScramArgs(t *testing.T) {
	got, err := parseScramTestArgs(t, true, "alice", "--mechanism", "SCRAM-SHA-512", "--password", "pw")
	if want := (scramSet{User: "alice", Mechanisms: []string{"SCRAM-SHA-512"}, Password: "pw", Iterations: 4096}); err != nil ||
		got.User != want.User || !slices.Equal(got.Mechanisms, want.Mechanisms) || got.Password != want.Password || got.Iterations != want.Iterations {
		t.Errorf("set: %+v, %v; want %+v", got, err, want)
	}
	got, err = parseScramTestArgs(t, true, "--mechanism", "SCRAM-SHA-256", "bob", "--mechanism", "SCRAM-SHA-512",
		"--mechanism", "SCRAM-SHA-256", "--password", " spaced ", "--iterations", "16384")
	if err != nil || got.User != "bob" || !slices.Equal(got.Mechanisms, []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}) ||
		got.Password != " spaced " || got.Iterations != 16384 {
		t.Errorf("set with both mechanisms: %+v, %v", got, err)
	}
	got, err = parseScramTestArgs(t, false, "carol", "--mechanism", "SCRAM-SHA-256")
	if err != nil || got.User != "carol" || !slices.Equal(got.Mechanisms, []string{"SCRAM-SHA-256"}) {
		t.Errorf("delete: %+v, %v", got, err)
	}

	for _, tc := range []struct {
		set  bool
		args []string
		want string
	}{
		{true, []string{"--mechanism", "SCRAM-SHA-512", "--password", "pw"}, "give the user"},
		{true, []string{"a", "b", "--mechanism", "SCRAM-SHA-512", "--password", "pw"}, "one user at a time"},
		{true, []string{"", "--mechanism", "SCRAM-SHA-512", "--password", "pw"}, "empty user name"},
		{true, []string{"<default>", "--mechanism", "SCRAM-SHA-512", "--password", "pw"}, "default quota entity"},
		{true, []string{"alice", "--password", "pw"}, "give --mechanism SCRAM-SHA-256 or SCRAM-SHA-512"},
		{true, []string{"alice", "--mechanism", "PLAIN", "--password", "pw"}, `--mechanism "PLAIN": want SCRAM-SHA-256 or SCRAM-SHA-512`},
		{true, []string{"alice", "--mechanism", "scram-sha-512", "--password", "pw"}, `--mechanism "scram-sha-512"`},
		{true, []string{"alice", "--mechanism", "SCRAM-SHA-512"}, "give --password"},
		{true, []string{"alice", "--mechanism", "SCRAM-SHA-512", "--password", ""}, "--password: an empty password"},
		{true, []string{"alice", "--mechanism", "SCRAM-SHA-512", "--password", "pw", "--iterations", "4095"}, "--iterations 4095: want 4096 to 16384"},
		{true, []string{"alice", "--mechanism", "SCRAM-SHA-512", "--password", "pw", "--iterations", "16385"}, "--iterations 16385"},
		{false, []string{"alice"}, "give --mechanism"},
		{false, nil, "give the user"},
	} {
		_, err := parseScramTestArgs(t, tc.set, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}

	// delete takes no password, describe no mechanism.
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	addScramFlags(fs, false, true)
	if fs.Lookup("password") != nil || fs.Lookup("iterations") != nil || fs.Lookup("zookeeper") == nil {
		t.Error("delete's flags: want --mechanism and the ZooKeeper flags only")
	}
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	addScramFlags(fs, false, false)
	if fs.Lookup("mechanism") != nil || fs.Lookup("zk-digest") == nil {
		t.Error("describe's flags: want the ZooKeeper flags only")
	}
}

// What set sends a broker is a salt and a salted password from which the
// broker's credential logs the user in with the password, and with no
// other; the password itself is not in the request.
func TestScramUpsertions(t *testing.T) {
	s := scramSet{User: "alice", Mechanisms: []string{scramcred.SHA256, scramcred.SHA512}, Password: "alice-secret", Iterations: 8192}
	ups, err := scramUpsertions(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 2 {
		t.Fatalf("%d upsertions, want 2", len(ups))
	}
	store := scramStore{}
	for i, u := range ups {
		mech := s.Mechanisms[i]
		if u.Name != "alice" || u.Mechanism != scramMechanismTypes[mech] || u.Iterations != 8192 || len(u.Salt) != 32 {
			t.Errorf("upsertion %d: %s mechanism %d iterations %d salt %d bytes", i, u.Name, u.Mechanism, u.Iterations, len(u.Salt))
		}
		if bytes.Contains(u.SaltedPassword, []byte("alice-secret")) || bytes.Contains(u.Salt, []byte("alice-secret")) {
			t.Errorf("upsertion %d carries the password", i)
		}
		c, err := scramcred.FromSaltedPassword(mech, u.Salt, u.SaltedPassword, int(u.Iterations))
		if err != nil {
			t.Fatal(err)
		}
		store[mech+"/alice"] = c
	}
	if bytes.Equal(ups[0].Salt, ups[1].Salt) {
		t.Error("both mechanisms got the same salt")
	}
	server := &brokersasl.Server{Mechanisms: scramcred.Mechanisms, Scram: store}
	for _, mech := range scramcred.Mechanisms {
		for _, tc := range []struct {
			password string
			ok       bool
		}{{"alice-secret", true}, {"alice-secreT", false}} {
			auth := scram.Auth{User: "alice", Pass: tc.password}
			m := auth.AsSha512Mechanism()
			if mech == scramcred.SHA256 {
				m = auth.AsSha256Mechanism()
			}
			principal, err := exchange(t, server, m)
			if tc.ok && (err != nil || principal != "alice") {
				t.Errorf("%s with the password: %q, %v", mech, principal, err)
			}
			if !tc.ok && err == nil {
				t.Errorf("%s with a wrong password logged in", mech)
			}
		}
	}
}

func TestWriteScramUsers(t *testing.T) {
	var out strings.Builder
	writeScramUsers(&out, []scramUser{
		{User: "alice", Credentials: []scramInfo{{scramcred.SHA256, 8192}, {scramcred.SHA512, 4096}}},
		{User: "bob", Credentials: []scramInfo{{scramcred.SHA512, 4096}}},
	})
	want := "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192, SCRAM-SHA-512=iterations=4096\n" +
		"SCRAM credential configs for user-principal 'bob' are SCRAM-SHA-512=iterations=4096\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if scramMechanismName(1) != scramcred.SHA256 || scramMechanismName(2) != scramcred.SHA512 || scramMechanismName(9) != "UNKNOWN(9)" {
		t.Error("mechanism numbers are not Kafka's ScramMechanism types (1 SHA-256, 2 SHA-512)")
	}
}

func TestUsersCommandArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"users"}, "users: want scram (try kzoo users --help)"},
		{[]string{"users", "scram"}, "users scram: want set, describe or delete (try kzoo users scram --help)"},
		{[]string{"users", "scram", "set", "alice", "--mechanism", "SCRAM-SHA-512"}, "users scram set: give --password"},
		{[]string{"users", "scram", "set", "alice", "--mechanism", "SCRAM-SHA-512", "--password", "p", "--zookeeper", "nohost"}, "want host:port"},
		{[]string{"users", "scram", "set", "alice", "--mechanism", "SCRAM-SHA-512", "--password", "p", "--zookeeper", "127.0.0.1:1", "--zk-digest", "nocolon"}, "--zk-digest"},
	} {
		err := run(append([]string{"--bootstrap-server", "127.0.0.1:1"}, tc.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	var help strings.Builder
	if err := run([]string{"users", "scram", "set", "--help"}, &help); err != nil || !strings.Contains(help.String(), "kzoo users scram set USER") {
		t.Errorf("users scram set --help: %v\n%s", err, help.String())
	}
}
