package broker

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/scramcred"
)

// scramUpsertion sets user's credential of mechanism (1: SHA-256, 2:
// SHA-512) for a password salted by the client.
func scramUpsertion(user string, mechanism int8, iterations int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
	u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	u.Name, u.Mechanism, u.Iterations = user, mechanism, iterations
	u.Salt, u.SaltedPassword = []byte("salt-of-"+user), bytes.Repeat([]byte{7}, 32)
	return u
}

func scramDeletion(user string, mechanism int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
	d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	d.Name, d.Mechanism = user, mechanism
	return d
}

func TestAlterUserScramCredentialsErrors(t *testing.T) {
	s, meta := authzServer(t)
	existing, err := scramcred.FromPassword(scramcred.SHA256, "pw", 4096)
	if err != nil {
		t.Fatal(err)
	}
	meta.update(func(snap *coordinator.Snapshot) {
		snap.ScramCredentials = map[string]map[string]scramcred.Credential{"old": {scramcred.SHA256: existing}}
	})
	in := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	in.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
		scramUpsertion("alice", 2, 8192),
		scramUpsertion("", 2, 8192),
		scramUpsertion("unknown-mechanism", 3, 8192),
		scramUpsertion("too-few", 1, 4095),
		scramUpsertion("too-many", 1, 16385),
		scramUpsertion("twice", 1, 4096),
		scramUpsertion("twice", 1, 8192),
		scramUpsertion("both-fail", 1, 1),
		func() kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
			u := scramUpsertion("no-salt", 1, 4096)
			u.Salt = nil
			return u
		}(),
	}
	in.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{
		scramDeletion("old", 1),
		scramDeletion("missing", 2),
		scramDeletion("old-512", 2),
		scramDeletion("both-fail", 2),
	}
	resp := adminCall(s, in).(*kmsg.AlterUserSCRAMCredentialsResponse)
	want := map[string]int16{
		"alice": 0, "": kerr.UnacceptableCredential.Code, "unknown-mechanism": kerr.UnsupportedSaslMechanism.Code,
		"too-few": kerr.UnacceptableCredential.Code, "too-many": kerr.UnacceptableCredential.Code,
		"twice": kerr.DuplicateResource.Code, "old": 0, "missing": kerr.ResourceNotFound.Code,
		"old-512": kerr.ResourceNotFound.Code, "both-fail": kerr.UnacceptableCredential.Code,
		"no-salt": kerr.UnacceptableCredential.Code,
	}
	got := make(map[string]int16)
	for _, r := range resp.Results {
		if _, twice := got[r.User]; twice {
			t.Errorf("user %q answered twice", r.User)
		}
		got[r.User] = r.ErrorCode
		if r.ErrorCode != 0 && r.ErrorMessage == nil {
			t.Errorf("user %q: error %d without a message", r.User, r.ErrorCode)
		}
	}
	for user, code := range want {
		if c, ok := got[user]; !ok || c != code {
			t.Errorf("user %q: error %d (answered %v), want %d", user, c, ok, code)
		}
	}
	if len(got) != len(want) {
		t.Errorf("answered %v, want %d users", got, len(want))
	}

	// Only alice's upsertion and old's deletion reached the coordinator,
	// the credential made from the salted password as Kafka makes it.
	wantCred, err := scramcred.FromSaltedPassword(scramcred.SHA512, []byte("salt-of-alice"), bytes.Repeat([]byte{7}, 32), 8192)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(meta.scramChanges); n != 2 {
		t.Fatalf("%d changes stored, want 2: %+v", n, meta.scramChanges)
	}
	for _, c := range meta.scramChanges {
		switch c.User {
		case "old":
			if c.Mechanism != scramcred.SHA256 || c.Credential != nil {
				t.Errorf("old's change: %+v, want the deletion of SCRAM-SHA-256", c)
			}
		case "alice":
			if c.Mechanism != scramcred.SHA512 || c.Credential == nil || c.Credential.String() != wantCred.String() {
				t.Errorf("alice's change: %+v, want %s", c, wantCred)
			}
		default:
			t.Errorf("change of %q stored", c.User)
		}
	}
}

func TestDescribeUserScramCredentials(t *testing.T) {
	s, meta := authzServer(t)
	cred := func(iterations int) scramcred.Credential {
		c, err := scramcred.FromPassword(scramcred.SHA512, "pw", iterations)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	meta.update(func(snap *coordinator.Snapshot) {
		snap.ScramCredentials = map[string]map[string]scramcred.Credential{
			"bob":   {scramcred.SHA512: cred(8192), scramcred.SHA256: cred(4096)},
			"alice": {scramcred.SHA512: cred(4096)},
			"gone":  {},
		}
	})
	describe := func(users ...string) *kmsg.DescribeUserSCRAMCredentialsResponse {
		in := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		for _, u := range users {
			du := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
			du.Name = u
			in.Users = append(in.Users, du)
		}
		return adminCall(s, in).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	}

	all := describe()
	if all.ErrorCode != 0 || len(all.Results) != 2 || all.Results[0].User != "alice" || all.Results[1].User != "bob" {
		t.Fatalf("describe all: %+v, want alice then bob", all)
	}
	if infos := all.Results[1].CredentialInfos; len(infos) != 2 || infos[0].Mechanism != 1 || infos[0].Iterations != 4096 ||
		infos[1].Mechanism != 2 || infos[1].Iterations != 8192 {
		t.Errorf("bob's credentials: %+v, want SHA-256 at 4096 then SHA-512 at 8192", infos)
	}

	some := describe("bob", "", "nobody", "alice", "alice")
	want := []struct {
		user string
		code int16
	}{{"bob", 0}, {"", kerr.ResourceNotFound.Code}, {"nobody", kerr.ResourceNotFound.Code}, {"alice", kerr.DuplicateResource.Code}}
	if len(some.Results) != len(want) {
		t.Fatalf("results %+v, want %d", some.Results, len(want))
	}
	for i, w := range want {
		if r := some.Results[i]; r.User != w.user || r.ErrorCode != w.code || (w.code != 0) != (r.ErrorMessage != nil) {
			t.Errorf("result %d: %q error %d, want %q error %d", i, r.User, r.ErrorCode, w.user, w.code)
		}
	}
}
