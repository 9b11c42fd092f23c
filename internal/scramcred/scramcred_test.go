package scramcred

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC7677Keys: the keys of RFC 7677's example user (password "pencil",
// salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations). The RFC gives the
// exchange, not the keys: these were computed with Python's hashlib and hmac,
// and broker/sasl's test runs the RFC's exchange on them end to end.
func TestRFC7677Keys(t *testing.T) {
	salt := mustB64(t, "W22ZaJ0SNY7soEsUEjb6gQ==")
	salted, err := SaltPassword(SHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := "xKSVEDI6tPlSysH6mUQZOeeOp01r6B3fcJbodRPcYV0="
	if got := base64.StdEncoding.EncodeToString(salted); got != want {
		t.Errorf("SaltedPassword = %s, want %s", got, want)
	}
	c, err := FromSaltedPassword(SHA256, salt, salted, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := base64.StdEncoding.EncodeToString(c.StoredKey), "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="; got != want {
		t.Errorf("StoredKey = %s, want %s", got, want)
	}
	if got, want := base64.StdEncoding.EncodeToString(c.ServerKey), "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="; got != want {
		t.Errorf("ServerKey = %s, want %s", got, want)
	}
}

// TestSaltPasswordSHA512 pins Hi() for SHA-512 to a vector computed with
// Python's hashlib.pbkdf2_hmac('sha512', b'pencil', salt, 4096).
func TestSaltPasswordSHA512(t *testing.T) {
	salted, err := SaltPassword(SHA512, "pencil", mustB64(t, "W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(salted) != 64 {
		t.Fatalf("SHA-512 salted password is %d bytes, want 64", len(salted))
	}
	want := "8W7+G+Z/HQlQLr1e2SYv3f+6Wjd6tPC2h+XtW6D1Boa4pK4WZHbairO5UdL6kji2OZj0VGG8M6RkgUlJzsljHQ=="
	if got := base64.StdEncoding.EncodeToString(salted); got != want {
		t.Errorf("SaltedPassword = %s, want %s", got, want)
	}
}

// kafkaCredential is what Kafka 2.4.1's kafka-configs.sh --zookeeper
// --add-config 'SCRAM-SHA-512=[password=x]' stores: its salt is the bytes of
// a random base-36 string, not random bytes.
const kafkaCredential = "salt=cjQzZTh1cDA4ejhhbjBuMm45Njl5Y3U2dw==,stored_key=wF0WacVqLPYvFCbgWtc78aUVt84A8htmqlqAewUqaXVpg6aseWfGM34gWsRTSLwreaJRJezDhmpeqfIL1FYnfA==,server_key=6bI6nU45qgOEmdic7Jz8qWQVjS7EHgEKCVx7LySJV+Lg8KNfsCQWbgCsp9mNfJ1mGF+OilCtkO3pnVFZT5CMFQ==,iterations=4096"

// kafkaCredential256 is the SCRAM-SHA-256 credential of password "pencil"
// with iterations=8192, written by the same tool.
const kafkaCredential256 = "salt=enVzMGM1Znpwd202bnJ5ZTJwOTl4c3FkNw==,stored_key=vKivJ+SHDV0aiqz9PDScB7VNgznSDmzCCc+shc0KFhk=,server_key=b80pKFBbs6KqGT9nEP+5jXF2wV4k7Vbp4zL9uS2PvVA=,iterations=8192"

// TestKafkaCredentialFormat: a credential written by Kafka's tool parses,
// prints back identically, and its keys are those of its password.
func TestKafkaCredentialFormat(t *testing.T) {
	c, err := Parse(kafkaCredential)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != kafkaCredential {
		t.Errorf("String() = %s\nwant      %s", c.String(), kafkaCredential)
	}
	if string(c.Salt) != "r43e8up08z8an0n2n969ycu6w" || c.Iterations != 4096 {
		t.Errorf("parsed %q, %d", c.Salt, c.Iterations)
	}
	salted, err := SaltPassword(SHA512, "x", c.Salt, c.Iterations)
	if err != nil {
		t.Fatal(err)
	}
	again, err := FromSaltedPassword(SHA512, c.Salt, salted, c.Iterations)
	if err != nil {
		t.Fatal(err)
	}
	if again.String() != kafkaCredential {
		t.Errorf("the credential of password x with Kafka's salt is\n%s\nwant\n%s", again, kafkaCredential)
	}

	c, err = Parse(kafkaCredential256)
	if err != nil {
		t.Fatal(err)
	}
	salted, err = SaltPassword(SHA256, "pencil", c.Salt, c.Iterations)
	if err != nil {
		t.Fatal(err)
	}
	if again, err = FromSaltedPassword(SHA256, c.Salt, salted, c.Iterations); err != nil || again.String() != kafkaCredential256 {
		t.Errorf("the SHA-256 credential of password pencil with Kafka's salt is\n%s (%v)\nwant\n%s", again, err, kafkaCredential256)
	}
}

func TestFromPasswordRoundTrip(t *testing.T) {
	for _, mech := range Mechanisms {
		c, err := FromPassword(mech, "s3cret, with=signs", 4096)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Salt) != 32 || c.Iterations != 4096 {
			t.Errorf("%s: salt of %d bytes, %d iterations", mech, len(c.Salt), c.Iterations)
		}
		s := c.String()
		if !strings.HasPrefix(s, "salt=") || !strings.HasSuffix(s, ",iterations=4096") {
			t.Errorf("%s: String() = %s", mech, s)
		}
		back, err := Parse(s)
		if err != nil {
			t.Fatalf("%s: Parse(String()): %v", mech, err)
		}
		if !bytes.Equal(back.Salt, c.Salt) || !bytes.Equal(back.StoredKey, c.StoredKey) || !bytes.Equal(back.ServerKey, c.ServerKey) || back.Iterations != c.Iterations {
			t.Errorf("%s: round trip changed the credential", mech)
		}
		other, err := FromPassword(mech, "s3cret, with=signs", 4096)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(other.Salt, c.Salt) {
			t.Errorf("%s: two credentials share a salt", mech)
		}
	}
}

func TestParseOrderAndPadding(t *testing.T) {
	c, err := Parse("iterations=8192,server_key=c2s,stored_key=c3Q=,salt=c2FsdA")
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Salt) != "salt" || string(c.StoredKey) != "st" || string(c.ServerKey) != "sk" || c.Iterations != 8192 {
		t.Errorf("Parse = %+v", c)
	}
}

func TestParseRejects(t *testing.T) {
	good := "salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=4096"
	if _, err := Parse(good); err != nil {
		t.Fatalf("Parse(%q): %v", good, err)
	}
	for _, bad := range []string{
		"",
		"salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=",
		good + ",extra=1",
		good + ",salt=c2FsdA==",
		"salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=0",
		"salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=-1",
		"salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=4k",
		"salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=99999999999999999999",
		"salt=!!!!,stored_key=c3Q=,server_key=c2s=,iterations=4096",
		"salt=,stored_key=c3Q=,server_key=c2s=,iterations=4096",
		"salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=4096,",
		"=x,salt=c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=4096",
		"salt c2FsdA==,stored_key=c3Q=,server_key=c2s=,iterations=4096",
		strings.Repeat(",", 1000),
	} {
		if c, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", bad, c)
		} else if strings.Contains(err.Error(), "c3Q") {
			t.Errorf("Parse(%q) error quotes a key: %v", bad, err)
		}
	}
}

func TestChecks(t *testing.T) {
	salt, salted := []byte("salt"), bytes.Repeat([]byte{1}, 32)
	for _, tc := range []struct {
		mech       string
		salt, key  []byte
		iterations int
		want       error
	}{
		{"SCRAM-SHA-1", salt, salted, 4096, ErrUnknownMechanism},
		{"scram-sha-256", salt, salted, 4096, ErrUnknownMechanism},
		{SHA256, salt, salted, 4095, ErrUnacceptableCredential},
		{SHA512, salt, salted, 16385, ErrUnacceptableCredential},
		{SHA256, nil, salted, 4096, ErrUnacceptableCredential},
		{SHA256, salt, nil, 4096, ErrUnacceptableCredential},
		{SHA512, salt, salted, 16384, nil},
	} {
		_, err := FromSaltedPassword(tc.mech, tc.salt, tc.key, tc.iterations)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("FromSaltedPassword(%s, %d iterations) = %v, want %v", tc.mech, tc.iterations, err, tc.want)
		}
	}
	if _, err := FromPassword(SHA256, "", 4096); !errors.Is(err, ErrUnacceptableCredential) {
		t.Errorf("FromPassword with an empty password: %v", err)
	}
	if _, err := FromPassword(SHA256, "p", 100); !errors.Is(err, ErrUnacceptableCredential) {
		t.Errorf("FromPassword with 100 iterations: %v", err)
	}
	if _, err := FromPassword("PLAIN", "p", 4096); !errors.Is(err, ErrUnknownMechanism) {
		t.Errorf("FromPassword(PLAIN): %v", err)
	}
	if _, err := SaltPassword(SHA256, "p", salt, 0); err == nil {
		t.Error("SaltPassword with 0 iterations succeeded")
	}
}
