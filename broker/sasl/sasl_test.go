package sasl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	fscram "github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/kzoo/kzoo/internal/jaas"
	"github.com/kzoo/kzoo/internal/scramcred"
)

// store is a CredentialStore over a map keyed by mechanism, then user.
type store map[string]map[string]scramcred.Credential

func (s store) ScramCredential(mechanism, user string) (scramcred.Credential, bool) {
	c, ok := s[mechanism][user]
	return c, ok
}

func credential(t *testing.T, mechanism, password string) scramcred.Credential {
	t.Helper()
	c, err := scramcred.FromPassword(mechanism, password, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func allMechanisms() []string { return []string{Plain, scramcred.SHA256, scramcred.SHA512} }

// TestRFC7677 runs RFC 7677's SCRAM-SHA-256 example, byte for byte, with its
// fixed server nonce.
func TestRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	salted, err := scramcred.SaltPassword(scramcred.SHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := scramcred.FromSaltedPassword(scramcred.SHA256, salt, salted, 4096)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Mechanisms: []string{scramcred.SHA256},
		Scram:      store{scramcred.SHA256: {"user": cred}},
		nonce:      func() (string, error) { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", nil },
	}
	ex, err := s.Start(scramcred.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	challenge, done, err := ex.Step([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil || done {
		t.Fatalf("client-first: %q, %t, %v", challenge, done, err)
	}
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; string(challenge) != want {
		t.Fatalf("server-first = %q\nwant %q", challenge, want)
	}
	if ex.Principal() != "" {
		t.Errorf("Principal before the end = %q", ex.Principal())
	}
	challenge, done, err = ex.Step([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !done {
		t.Fatalf("client-final: %q, %t, %v", challenge, done, err)
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(challenge) != want {
		t.Errorf("server-final = %q, want %q", challenge, want)
	}
	if ex.Principal() != "user" {
		t.Errorf("Principal = %q, want user", ex.Principal())
	}
	if _, _, err := ex.Step([]byte("c=biws")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("a step after the end: %v", err)
	}
}

// franzExchange runs franz-go's SCRAM client against s and returns the
// server's principal or the first error.
func franzExchange(t *testing.T, s *Server, mechanism string, auth fscram.Auth) (string, error) {
	t.Helper()
	m := auth.AsSha512Mechanism()
	if mechanism == scramcred.SHA256 {
		m = auth.AsSha256Mechanism()
	}
	session, msg, err := m.Authenticate(context.Background(), "broker")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.Start(mechanism)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		challenge, serverDone, err := ex.Step(msg)
		if err != nil {
			return "", err
		}
		clientDone, next, err := session.Challenge(challenge)
		if err != nil {
			t.Fatalf("franz-go refuses the server's answer %q: %v", challenge, err)
		}
		if serverDone != clientDone {
			t.Fatalf("server done %t, client done %t", serverDone, clientDone)
		}
		if serverDone {
			return ex.Principal(), nil
		}
		msg = next
	}
	t.Fatal("the exchange does not end")
	return "", nil
}

// xdgExchange does the same with xdg-go's client.
func xdgExchange(t *testing.T, s *Server, mechanism, user, password, authzid string) (string, error) {
	t.Helper()
	gen := xscram.SHA512
	if mechanism == scramcred.SHA256 {
		gen = xscram.SHA256
	}
	client, err := gen.NewClient(user, password, authzid)
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	msg, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.Start(mechanism)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		challenge, done, err := ex.Step([]byte(msg))
		if err != nil {
			return "", err
		}
		msg, err = conv.Step(string(challenge))
		if err != nil {
			t.Fatalf("xdg-go refuses the server's answer %q: %v", challenge, err)
		}
		if done {
			if !conv.Valid() {
				t.Fatal("xdg-go does not accept the server's signature")
			}
			return ex.Principal(), nil
		}
	}
	t.Fatal("the exchange does not end")
	return "", nil
}

func TestScramClients(t *testing.T) {
	users := store{}
	for _, mech := range scramcred.Mechanisms {
		users[mech] = map[string]scramcred.Credential{
			"alice":        credential(t, mech, "alice-secret"),
			"we,ird=name":  credential(t, mech, "p=w,d"),
			"ünïcode user": credential(t, mech, "pässword"),
		}
	}
	s := &Server{Mechanisms: allMechanisms(), Scram: users}
	for _, mech := range scramcred.Mechanisms {
		for _, tc := range []struct{ user, password string }{
			{"alice", "alice-secret"}, {"we,ird=name", "p=w,d"},
		} {
			got, err := franzExchange(t, s, mech, fscram.Auth{User: tc.user, Pass: tc.password})
			if err != nil || got != tc.user {
				t.Errorf("%s franz-go %q: principal %q, %v", mech, tc.user, got, err)
			}
			got, err = xdgExchange(t, s, mech, tc.user, tc.password, "")
			if err != nil || got != tc.user {
				t.Errorf("%s xdg-go %q: principal %q, %v", mech, tc.user, got, err)
			}
		}
		// franz-go uses the password's bytes as they are, as Kafka.
		got, err := franzExchange(t, s, mech, fscram.Auth{User: "ünïcode user", Pass: "pässword"})
		if err != nil || got != "ünïcode user" {
			t.Errorf("%s franz-go non-ASCII: principal %q, %v", mech, got, err)
		}
		// An authorization id equal to the user is fine, another is not.
		if got, err := franzExchange(t, s, mech, fscram.Auth{User: "alice", Pass: "alice-secret", Zid: "alice"}); err != nil || got != "alice" {
			t.Errorf("%s authzid = user: %q, %v", mech, got, err)
		}
		if _, err := xdgExchange(t, s, mech, "alice", "alice-secret", "admin"); !errors.Is(err, ErrAuthenticationFailed) || !strings.Contains(err.Error(), "authorization id") {
			t.Errorf("%s authzid admin for alice: %v", mech, err)
		}
		if _, err := franzExchange(t, s, mech, fscram.Auth{User: "alice", Pass: "wrong"}); !errors.Is(err, ErrAuthenticationFailed) {
			t.Errorf("%s wrong password: %v", mech, err)
		}
		if _, err := franzExchange(t, s, mech, fscram.Auth{User: "alice", Pass: "alice-secret", IsToken: true}); err == nil || !strings.Contains(err.Error(), "delegation token") {
			t.Errorf("%s delegation token: %v", mech, err)
		}
	}
	// A credential of one mechanism does not log in with the other.
	only512 := &Server{Mechanisms: allMechanisms(), Scram: store{scramcred.SHA512: users[scramcred.SHA512]}}
	if _, err := franzExchange(t, only512, scramcred.SHA256, fscram.Auth{User: "alice", Pass: "alice-secret"}); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("SHA-256 login with only a SHA-512 credential: %v", err)
	}
}

// TestKafkaWrittenCredential logs in with a credential Kafka 2.4.1's
// kafka-configs.sh wrote (password "x"), whose salt is text, not random
// bytes.
func TestKafkaWrittenCredential(t *testing.T) {
	c, err := scramcred.Parse("salt=cjQzZTh1cDA4ejhhbjBuMm45Njl5Y3U2dw==,stored_key=wF0WacVqLPYvFCbgWtc78aUVt84A8htmqlqAewUqaXVpg6aseWfGM34gWsRTSLwreaJRJezDhmpeqfIL1FYnfA==,server_key=6bI6nU45qgOEmdic7Jz8qWQVjS7EHgEKCVx7LySJV+Lg8KNfsCQWbgCsp9mNfJ1mGF+OilCtkO3pnVFZT5CMFQ==,iterations=4096")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Mechanisms: []string{scramcred.SHA512}, Scram: store{scramcred.SHA512: {"al,i=ce": c}}}
	if got, err := franzExchange(t, s, scramcred.SHA512, fscram.Auth{User: "al,i=ce", Pass: "x"}); err != nil || got != "al,i=ce" {
		t.Errorf("franz-go: %q, %v", got, err)
	}
	if _, err := xdgExchange(t, s, scramcred.SHA512, "al,i=ce", "y", ""); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("wrong password: %v", err)
	}
}

// TestUnknownUser: an unknown user gets a server-first message like a real
// user's, the same salt every time, and the wrong-password error at the end.
func TestUnknownUser(t *testing.T) {
	s := &Server{Mechanisms: allMechanisms(), Scram: store{scramcred.SHA512: {"alice": credential(t, scramcred.SHA512, "pw")}}}
	first := func(user string) string {
		ex, err := s.Start(scramcred.SHA512)
		if err != nil {
			t.Fatal(err)
		}
		challenge, _, err := ex.Step([]byte("n,,n=" + user + ",r=abc"))
		if err != nil {
			t.Fatalf("client-first of %s: %v", user, err)
		}
		_, salt, _ := strings.Cut(string(challenge), ",s=")
		return salt
	}
	if a, b := first("mallory"), first("mallory"); a != b {
		t.Errorf("an unknown user's salt changes: %s, %s", a, b)
	}
	if first("mallory") == first("eve") {
		t.Error("two unknown users share a salt")
	}
	_, wrongPassword := franzExchange(t, s, scramcred.SHA512, fscram.Auth{User: "alice", Pass: "nope"})
	_, unknown := franzExchange(t, s, scramcred.SHA512, fscram.Auth{User: "mallory", Pass: "nope"})
	if !errors.Is(unknown, ErrAuthenticationFailed) || unknown.Error() != wrongPassword.Error() {
		t.Errorf("unknown user: %v; wrong password: %v", unknown, wrongPassword)
	}
	// Nor with no store at all.
	none := &Server{Mechanisms: allMechanisms()}
	if _, err := franzExchange(t, none, scramcred.SHA256, fscram.Auth{User: "alice", Pass: "pw"}); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("no store: %v", err)
	}
}

func TestWeakStoredCredential(t *testing.T) {
	c := credential(t, scramcred.SHA256, "pw")
	c.Iterations = 1000
	s := &Server{Mechanisms: allMechanisms(), Scram: store{scramcred.SHA256: {"alice": c}}}
	if _, err := franzExchange(t, s, scramcred.SHA256, fscram.Auth{User: "alice", Pass: "pw"}); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("1000 iterations: %v", err)
	}
	c = credential(t, scramcred.SHA256, "pw")
	c.StoredKey = c.StoredKey[:5]
	s.Scram = store{scramcred.SHA256: {"alice": c}}
	if _, err := franzExchange(t, s, scramcred.SHA256, fscram.Auth{User: "alice", Pass: "pw"}); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("short stored key: %v", err)
	}
}

func TestStart(t *testing.T) {
	s := &Server{Mechanisms: []string{Plain, scramcred.SHA512, "GSSAPI"}}
	for _, mech := range []string{Plain, scramcred.SHA512} {
		if _, err := s.Start(mech); err != nil {
			t.Errorf("Start(%s): %v", mech, err)
		}
	}
	for _, mech := range []string{scramcred.SHA256, "GSSAPI", "plain", "", "OAUTHBEARER"} {
		if _, err := s.Start(mech); !errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("Start(%q) = %v, want ErrUnsupportedMechanism", mech, err)
		}
	}
}

func TestPlain(t *testing.T) {
	s := &Server{Mechanisms: []string{Plain}, PlainUsers: map[string]string{"alice": "alice-secret", "bob": "b\x01b", "ünï": "cödé"}}
	tests := []struct {
		name, token, principal, reason string
	}{
		{"ok", "\x00alice\x00alice-secret", "alice", ""},
		{"authzid is the user", "alice\x00alice\x00alice-secret", "alice", ""},
		{"control byte in password", "\x00bob\x00b\x01b", "bob", ""},
		{"non-ASCII", "\x00ünï\x00cödé", "ünï", ""},
		{"other authzid", "admin\x00alice\x00alice-secret", "", "authorization id"},
		{"wrong password", "\x00alice\x00alice", "", "invalid credentials"},
		{"unknown user", "\x00mallory\x00alice-secret", "", "invalid credentials"},
		{"empty user", "\x00\x00alice-secret", "", "username not specified"},
		{"empty password", "\x00alice\x00", "", "password not specified"},
		{"two fields", "alice\x00alice-secret", "", "expected 3"},
		{"four fields", "\x00alice\x00alice-secret\x00", "", "expected 3"},
		{"NUL in password", "\x00alice\x00alice\x00secret", "", "expected 3"},
		{"no NUL", "alice alice-secret", "", "expected 3"},
		{"empty", "", "", "expected 3"},
		{"not UTF-8", "\x00alice\x00\xff\xfe", "", "UTF-8"},
		{"password prefix", "\x00alice\x00alice-secre", "", "invalid credentials"},
		{"password longer", "\x00alice\x00alice-secrett", "", "invalid credentials"},
	}
	for _, tc := range tests {
		ex, err := s.Start(Plain)
		if err != nil {
			t.Fatal(err)
		}
		challenge, done, err := ex.Step([]byte(tc.token))
		if tc.reason == "" {
			if err != nil || !done || len(challenge) != 0 || ex.Principal() != tc.principal {
				t.Errorf("%s: %q, %t, %v, principal %q", tc.name, challenge, done, err, ex.Principal())
			}
		} else if !errors.Is(err, ErrAuthenticationFailed) || !strings.Contains(err.Error(), tc.reason) || done || ex.Principal() != "" {
			t.Errorf("%s: %t, %v, principal %q; want a failure saying %q", tc.name, done, err, ex.Principal(), tc.reason)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error quotes the password: %v", tc.name, err)
		}
		// PLAIN is one message: a second is out of order.
		if _, _, err := ex.Step([]byte("\x00alice\x00alice-secret")); !errors.Is(err, ErrAuthenticationFailed) {
			t.Errorf("%s: a second PLAIN message: %v", tc.name, err)
		}
	}
	// Without users, nobody gets in.
	none := &Server{Mechanisms: []string{Plain}}
	ex, _ := none.Start(Plain)
	if _, _, err := ex.Step([]byte("\x00alice\x00")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("no users: %v", err)
	}
	ex, _ = none.Start(Plain)
	if _, _, err := ex.Step([]byte("\x00alice\x00x")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("no users: %v", err)
	}
}

func TestPlainUsersFromJAAS(t *testing.T) {
	entries, err := jaas.Parse(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice secret";`)
	if err != nil {
		t.Fatal(err)
	}
	users, err := PlainUsersFromJAAS(entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users["admin"] != "admin-secret" || users["alice"] != "alice secret" {
		t.Errorf("users = %v", users)
	}
	for _, bad := range []string{
		`org.apache.kafka.common.security.scram.ScramLoginModule required user_a="b";`,
		`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b"; org.apache.kafka.common.security.plain.PlainLoginModule required user_c="d";`,
		`org.apache.kafka.common.security.plain.PlainLoginModule required user_="b";`,
	} {
		entries, err := jaas.Parse(bad)
		if err != nil {
			t.Fatal(err)
		}
		if users, err := PlainUsersFromJAAS(entries); err == nil {
			t.Errorf("PlainUsersFromJAAS(%s) = %v, want an error", bad, users)
		}
	}
}

// TestScramBadInput: malformed, out-of-order and oversized messages fail the
// exchange with ErrAuthenticationFailed, and it stays failed.
func TestScramBadInput(t *testing.T) {
	cred := credential(t, scramcred.SHA256, "pw")
	s := &Server{Mechanisms: allMechanisms(), Scram: store{scramcred.SHA256: {"alice": cred, "a=b": cred}}}
	firsts := []struct{ name, msg string }{
		{"empty", ""},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
		{"client-final first", "c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="},
		{"channel binding", "p=tls-unique,,n=alice,r=abc"},
		{"bad flag", "x,,n=alice,r=abc"},
		{"no header", "n=alice,r=abc"},
		{"mandatory extension", "n,,m=ext,n=alice,r=abc"},
		{"no nonce", "n,,n=alice"},
		{"empty nonce", "n,,n=alice,r="},
		{"nonce with space", "n,,n=alice,r=a b"},
		{"swapped", "n,,r=abc,n=alice"},
		{"empty user", "n,,n=,r=abc"},
		{"bad escape", "n,,n=a=2Db,r=abc"},
		{"lone equals", "n,,n=a=,r=abc"},
		{"bad authzid field", "n,b=x,n=alice,r=abc"},
		{"bad extension", "n,,n=alice,r=abc,=x"},
		{"NUL", "n,,n=al\x00ice,r=abc"},
		{"not UTF-8", "n,,n=\xffalice,r=abc"},
		{"huge", "n,,n=alice,r=" + strings.Repeat("a", MaxTokenSize)},
	}
	for _, tc := range firsts {
		ex, err := s.Start(scramcred.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if challenge, done, err := ex.Step([]byte(tc.msg)); !errors.Is(err, ErrAuthenticationFailed) || done || challenge != nil {
			t.Errorf("client-first %s: %q, %t, %v", tc.name, challenge, done, err)
			continue
		}
		// Failed for good: even a valid message now fails.
		if _, _, err := ex.Step([]byte("n,,n=alice,r=abc")); !errors.Is(err, ErrAuthenticationFailed) {
			t.Errorf("%s: the exchange goes on after failing: %v", tc.name, err)
		}
	}
	// Escaped names decode: "a=3Db" is the user "a=b".
	ex, _ := s.Start(scramcred.SHA256)
	if _, _, err := ex.Step([]byte("n,,n=a=3Db,r=abc")); err != nil {
		t.Errorf("escaped name: %v", err)
	}

	start := func() (Exchange, string) {
		t.Helper()
		ex, err := s.Start(scramcred.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		challenge, _, err := ex.Step([]byte("n,,n=alice,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		nonce := strings.TrimPrefix(strings.Split(string(challenge), ",")[0], "r=")
		return ex, nonce
	}
	proof := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	_, nonce := start()
	finals := []struct{ name, msg string }{
		{"client-first again", "n,,n=alice,r=abc"},
		{"empty", ""},
		{"garbage", "\xff\xfe\x00"},
		{"no proof", "c=biws,r=" + nonce},
		{"wrong nonce", "c=biws,r=abc,p=" + proof},
		{"other binding", "c=eSws,r=NONCE,p=" + proof},
		{"bad base64 binding", "c=b!ws,r=NONCE,p=" + proof},
		{"short proof", "c=biws,r=NONCE,p=AAAA"},
		{"bad proof base64", "c=biws,r=NONCE,p=!!!!"},
		{"wrong proof", "c=biws,r=NONCE,p=" + proof},
		{"huge", "c=biws,r=NONCE," + strings.Repeat("x", MaxTokenSize) + ",p=" + proof},
	}
	for _, tc := range finals {
		ex, nonce := start()
		msg := strings.ReplaceAll(tc.msg, "NONCE", nonce)
		if challenge, done, err := ex.Step([]byte(msg)); !errors.Is(err, ErrAuthenticationFailed) || done || challenge != nil {
			t.Errorf("client-final %s: %q, %t, %v", tc.name, challenge, done, err)
		}
		if ex.Principal() != "" {
			t.Errorf("client-final %s: principal %q", tc.name, ex.Principal())
		}
	}
}

// FuzzScram feeds arbitrary first and final messages: the exchange never
// panics and never succeeds.
func FuzzScram(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("y,a=user,n=user,r=x,ext=1"), []byte("c=eSxhPXVzZXIs,r=x,p="))
	f.Add([]byte("n,,n=a=3D=2C,r=x"), []byte(",p=,p=,p="))
	cred, err := scramcred.FromPassword(scramcred.SHA256, "pencil", 4096)
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{Mechanisms: allMechanisms(), Scram: store{scramcred.SHA256: {"user": cred}}}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		ex, err := s.Start(scramcred.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ex.Step(first); err != nil {
			return
		}
		if _, done, err := ex.Step(final); done || err == nil {
			t.Fatalf("an exchange without the password succeeded: %q %q", first, final)
		}
	})
}

func FuzzPlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00pw"))
	f.Add([]byte("alice\x00alice\x00pw\x00"))
	s := &Server{Mechanisms: []string{Plain}, PlainUsers: map[string]string{"alice": "pw"}}
	f.Fuzz(func(t *testing.T, token []byte) {
		ex, err := s.Start(Plain)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := ex.Step(token)
		if done != (err == nil) {
			t.Fatalf("done %t with error %v", done, err)
		}
		if done && ex.Principal() != "alice" {
			t.Fatalf("principal %q from %q", ex.Principal(), token)
		}
	})
}

// TestScramNonceRepeatedAsLibrdkafkaSends: librdkafka 2.0 sends its own
// nonce again in front of the combined one in its final message; Kafka
// checks only that the nonce ends with the one it sent, and so must kzoo,
// while a nonce that does not end with it still fails.
func TestScramNonceRepeatedAsLibrdkafkaSends(t *testing.T) {
	cred := credential(t, scramcred.SHA512, "pw")
	s := &Server{
		Mechanisms: []string{scramcred.SHA512},
		Scram:      store{scramcred.SHA512: {"user": cred}},
		nonce:      func() (string, error) { return "servernonce", nil },
	}
	salted, err := scramcred.SaltPassword(scramcred.SHA512, "pw", cred.Salt, cred.Iterations)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha512.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	for _, tc := range []struct {
		nonce string
		ok    bool
	}{
		{"clientnonceclientnonceservernonce", true},
		{"clientnonceservernonceX", false},
	} {
		ex, err := s.Start(scramcred.SHA512)
		if err != nil {
			t.Fatal(err)
		}
		serverFirst, _, err := ex.Step([]byte("n,,n=user,r=clientnonce"))
		if err != nil {
			t.Fatal(err)
		}
		withoutProof := "c=biws,r=" + tc.nonce
		clientKey := mac(salted, "Client Key")
		storedKey := sha512.Sum512(clientKey)
		signature := mac(storedKey[:], "n=user,r=clientnonce,"+string(serverFirst)+","+withoutProof)
		proof := make([]byte, len(clientKey))
		subtle.XORBytes(proof, clientKey, signature)
		_, done, err := ex.Step([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)))
		if got := err == nil && done; got != tc.ok {
			t.Errorf("nonce %q: done %t, err %v; want success %t", tc.nonce, done, err, tc.ok)
		}
	}
}
