// Package scramcred holds SCRAM credentials (RFC 5802, RFC 7677) as Kafka
// stores them: the salt, StoredKey and ServerKey of a password and the
// iteration count, never the password itself, written in ZooKeeper as the
// SCRAM-SHA-256 and SCRAM-SHA-512 keys of /config/users/<user> in Kafka's
// "salt=...,stored_key=...,server_key=...,iterations=..." form.
//
// Passwords are used as their UTF-8 bytes, without SASLprep, as Kafka's
// ScramFormatter does, so that credentials made here and by Kafka's tools
// log the same clients in.
package scramcred

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// The SCRAM mechanisms Kafka supports, by their SASL names (also the config
// keys credentials are stored under).
const (
	SHA256 = "SCRAM-SHA-256"
	SHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the supported SCRAM mechanisms. Callers must not modify it.
var Mechanisms = []string{SHA256, SHA512}

// The iteration counts Kafka accepts for both mechanisms (ScramMechanism's
// minIterations and maxIterations). Kafka's brokers refuse to log a user in
// with fewer than MinIterations.
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// ErrUnknownMechanism is returned for a mechanism other than SHA256 and
// SHA512 (Kafka answers UNSUPPORTED_SASL_MECHANISM).
var ErrUnknownMechanism = errors.New("unknown SCRAM mechanism")

// ErrUnacceptableCredential is returned for a credential Kafka would refuse
// to store: an iteration count out of range, an empty salt or password
// (Kafka answers UNACCEPTABLE_CREDENTIAL).
var ErrUnacceptableCredential = errors.New("unacceptable SCRAM credential")

// Credential is what a server keeps of a SCRAM password: enough to check a
// client's proof and prove itself, not enough to log in as the user.
type Credential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int
}

// String formats c as Kafka's ScramCredentialUtils does, the form stored in
// ZooKeeper: "salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>",
// standard base64 with padding.
func (c Credential) String() string {
	enc := base64.StdEncoding.EncodeToString
	return "salt=" + enc(c.Salt) + ",stored_key=" + enc(c.StoredKey) + ",server_key=" + enc(c.ServerKey) + ",iterations=" + strconv.Itoa(c.Iterations)
}

// Parse reads a credential in the form String writes. As Kafka, it wants
// exactly the four keys, in any order; it also accepts base64 without
// padding, as Java's decoder does. The error never quotes s: it holds keys
// that must not reach logs.
func Parse(s string) (Credential, error) {
	var c Credential
	seen := make(map[string]bool, 4)
	for _, field := range strings.Split(s, ",") {
		key, value, ok := strings.Cut(field, "=")
		if !ok || key == "" {
			return Credential{}, errors.New("parse SCRAM credential: want key=value pairs separated by commas")
		}
		if seen[key] {
			return Credential{}, fmt.Errorf("parse SCRAM credential: %q appears twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "salt":
			c.Salt, err = decodeBase64(value)
		case "stored_key":
			c.StoredKey, err = decodeBase64(value)
		case "server_key":
			c.ServerKey, err = decodeBase64(value)
		case "iterations":
			c.Iterations, err = strconv.Atoi(value)
			if err == nil && c.Iterations <= 0 {
				err = errors.New("not positive")
			}
		default:
			return Credential{}, fmt.Errorf("parse SCRAM credential: unknown key %q", key)
		}
		if err != nil {
			// Only the key: the value may be a secret.
			return Credential{}, fmt.Errorf("parse SCRAM credential: invalid %s", key)
		}
	}
	for _, key := range []string{"salt", "stored_key", "server_key", "iterations"} {
		if !seen[key] {
			return Credential{}, fmt.Errorf("parse SCRAM credential: %s missing", key)
		}
	}
	if len(c.Salt) == 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
		return Credential{}, errors.New("parse SCRAM credential: empty salt or key")
	}
	return c, nil
}

func decodeBase64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") || len(s)%4 == 0 {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

// HashFunc returns the hash function of a SCRAM mechanism.
func HashFunc(mechanism string) (func() hash.Hash, error) {
	switch mechanism {
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("%w %q: want %s or %s", ErrUnknownMechanism, mechanism, SHA256, SHA512)
}

// SaltPassword is RFC 5802's Hi(password, salt, iterations): PBKDF2 with the
// mechanism's HMAC, one hash length of output. The password is used as its
// UTF-8 bytes (no SASLprep, as Kafka).
func SaltPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h, err := HashFunc(mechanism)
	if err != nil {
		return nil, err
	}
	if iterations <= 0 {
		return nil, fmt.Errorf("%w: iterations %d is not positive", ErrUnacceptableCredential, iterations)
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return nil, fmt.Errorf("salt password: %w", err)
	}
	return salted, nil
}

// FromSaltedPassword makes a credential from a salted password (KIP-554's
// AlterUserScramCredentials carries the salt and salted password, never the
// password). It checks what Kafka's broker checks: a known mechanism,
// iterations within [MinIterations, MaxIterations], a salt and a salted
// password.
func FromSaltedPassword(mechanism string, salt, salted []byte, iterations int) (Credential, error) {
	h, err := HashFunc(mechanism)
	if err != nil {
		return Credential{}, err
	}
	if err := checkIterations(iterations); err != nil {
		return Credential{}, err
	}
	switch {
	case len(salt) == 0:
		return Credential{}, fmt.Errorf("%w: empty salt", ErrUnacceptableCredential)
	case len(salted) == 0:
		return Credential{}, fmt.Errorf("%w: empty salted password", ErrUnacceptableCredential)
	}
	clientKey := hmacSum(h, salted, "Client Key")
	storedKey := h()
	storedKey.Write(clientKey)
	return Credential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  storedKey.Sum(nil),
		ServerKey:  hmacSum(h, salted, "Server Key"),
		Iterations: iterations,
	}, nil
}

// FromPassword makes a credential for password with a new random 32-byte
// salt. The password must not be empty.
func FromPassword(mechanism, password string, iterations int) (Credential, error) {
	if _, err := HashFunc(mechanism); err != nil {
		return Credential{}, err
	}
	if password == "" {
		return Credential{}, fmt.Errorf("%w: empty password", ErrUnacceptableCredential)
	}
	// Before the salting, which costs in proportion to iterations.
	if err := checkIterations(iterations); err != nil {
		return Credential{}, err
	}
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return Credential{}, fmt.Errorf("make SCRAM salt: %w", err)
	}
	salted, err := SaltPassword(mechanism, password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return FromSaltedPassword(mechanism, salt, salted, iterations)
}

func checkIterations(iterations int) error {
	switch {
	case iterations < MinIterations:
		return fmt.Errorf("%w: too few iterations (%d, the minimum is %d)", ErrUnacceptableCredential, iterations, MinIterations)
	case iterations > MaxIterations:
		return fmt.Errorf("%w: too many iterations (%d, the maximum is %d)", ErrUnacceptableCredential, iterations, MaxIterations)
	}
	return nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
