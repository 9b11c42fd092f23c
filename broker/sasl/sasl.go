// Package sasl is the broker's side of SASL authentication exchanges: PLAIN
// (RFC 4616) against users listed in the listener's JAAS config, and
// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) against credentials
// stored as Kafka stores them. It does no I/O: the connection hands each
// client token to Exchange.Step and sends back what it returns, inside
// SaslAuthenticate (or, for clients of SaslHandshake v0, raw frames).
//
// Behaviour follows Kafka's PlainSaslServer and ScramSaslServer, with one
// deliberate difference: Kafka refuses an unknown SCRAM user at the first
// message, which tells a client which user names exist; here an unknown
// user goes through the whole exchange with a made-up credential and fails
// at the proof, exactly as a wrong password does.
package sasl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/kzoo/kzoo/internal/jaas"
	"github.com/kzoo/kzoo/internal/scramcred"
)

// Plain is the SASL name of the PLAIN mechanism; scramcred.SHA256 and
// scramcred.SHA512 name the SCRAM ones.
const Plain = "PLAIN"

// MaxTokenSize bounds a client token. Real PLAIN and SCRAM messages are a few
// hundred bytes; the bound keeps a hostile client from making the server hash
// megabytes. (Kafka's frame bound, sasl.server.max.receive.size, is the
// connection's business.)
const MaxTokenSize = 64 << 10

// ErrUnsupportedMechanism is returned by Start for a mechanism that is not
// enabled on the listener or not known (Kafka's UNSUPPORTED_SASL_MECHANISM).
var ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")

// ErrAuthenticationFailed is wrapped by every error of Exchange.Step (Kafka's
// SASL_AUTHENTICATION_FAILED). The wrapping message says why in terms safe to
// show the client: it never holds a password or key, and never tells an
// unknown user from a wrong password.
var ErrAuthenticationFailed = errors.New("authentication failed")

// CredentialStore finds the SCRAM credential of a user for a mechanism.
type CredentialStore interface {
	ScramCredential(mechanism, user string) (scramcred.Credential, bool)
}

// Server starts exchanges for one listener. Its fields are read, never
// changed, by Start and the exchanges; it is safe for concurrent use once
// set up. A Server must not be copied after first use.
type Server struct {
	// Mechanisms are those enabled on the listener.
	Mechanisms []string
	// PlainUsers maps user names to passwords for PLAIN (see
	// PlainUsersFromJAAS). Nil means nobody can log in with PLAIN.
	PlainUsers map[string]string
	// Scram holds the SCRAM credentials. Nil means nobody can log in with
	// SCRAM.
	Scram CredentialStore

	// nonce, when set, makes the server's part of SCRAM nonces (tests use
	// RFC 7677's fixed one).
	nonce func() (string, error)

	// fakeKey derives the made-up credentials of unknown SCRAM users,
	// stable for the life of the Server so that asking twice for the same
	// unknown user gives the same salt, as for a real one.
	fakeOnce sync.Once
	fakeKey  []byte
	fakeErr  error
}

// Exchange is one authentication in progress. It is used by one goroutine.
type Exchange interface {
	// Step takes the client's next token and returns the server's
	// answer; done is true when the client is authenticated (the
	// challenge, possibly empty, must still be sent). Every error wraps
	// ErrAuthenticationFailed and ends the exchange: later steps fail too.
	Step(token []byte) (challenge []byte, done bool, err error)
	// Principal is the authenticated user name once done, "" before.
	Principal() string
}

// Start begins an exchange with mechanism, which must be enabled on the
// listener (Mechanisms) and known.
func (s *Server) Start(mechanism string) (Exchange, error) {
	if !slices.Contains(s.Mechanisms, mechanism) {
		return nil, fmt.Errorf("%w: %q is not enabled (enabled: %s)", ErrUnsupportedMechanism, mechanism, strings.Join(s.Mechanisms, ", "))
	}
	switch mechanism {
	case Plain:
		return &plainExchange{users: s.PlainUsers}, nil
	case scramcred.SHA256, scramcred.SHA512:
		h, err := scramcred.HashFunc(mechanism)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnsupportedMechanism, err)
		}
		return &scramExchange{server: s, mechanism: mechanism, hash: h}, nil
	}
	return nil, fmt.Errorf("%w: %q is not one kzoo knows (%s, %s, %s)", ErrUnsupportedMechanism, mechanism, Plain, scramcred.SHA256, scramcred.SHA512)
}

// PlainUsersFromJAAS reads the users of a PLAIN listener from its JAAS
// config, as Kafka's PlainServerCallbackHandler does: every option
// user_<name>="<password>" of the PlainLoginModule entry (its username and
// password options are the broker's own, for inter-broker connections, and
// are not users here unless listed as user_ too). The config must hold
// exactly one PlainLoginModule entry.
func PlainUsersFromJAAS(entries []jaas.Entry) (map[string]string, error) {
	var plain *jaas.Entry
	for i := range entries {
		if entries[i].LoginModule != jaas.PlainLoginModule {
			continue
		}
		if plain != nil {
			return nil, fmt.Errorf("PLAIN JAAS config: %s appears more than once", jaas.PlainLoginModule)
		}
		plain = &entries[i]
	}
	if plain == nil {
		return nil, fmt.Errorf("PLAIN JAAS config: no %s entry", jaas.PlainLoginModule)
	}
	users := make(map[string]string)
	for key, password := range plain.Options {
		name, ok := strings.CutPrefix(key, "user_")
		if !ok {
			continue
		}
		if name == "" {
			return nil, errors.New("PLAIN JAAS config: option user_ names no user")
		}
		users[name] = password
	}
	return users, nil
}

// failed wraps ErrAuthenticationFailed with a reason.
func failed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrAuthenticationFailed, fmt.Sprintf(format, args...))
}

// errInvalidCredentials is the one answer to an unknown user and a wrong
// password alike.
var errInvalidCredentials = fmt.Errorf("%w: invalid credentials", ErrAuthenticationFailed)

// plainExchange is RFC 4616: one client message, [authzid] NUL authcid NUL
// passwd, and nothing back.
type plainExchange struct {
	users     map[string]string
	principal string
	over      bool
}

func (e *plainExchange) Step(token []byte) ([]byte, bool, error) {
	if e.over {
		return nil, false, failed("unexpected PLAIN message after the exchange ended")
	}
	e.over = true
	if len(token) > MaxTokenSize {
		return nil, false, failed("PLAIN message of %d bytes exceeds %d", len(token), MaxTokenSize)
	}
	if !utf8.Valid(token) {
		return nil, false, failed("invalid SASL/PLAIN message: not UTF-8")
	}
	// Exactly three fields, as Kafka's PlainSaslServer: a password cannot
	// hold a NUL.
	fields := strings.Split(string(token), "\x00")
	if len(fields) != 3 {
		return nil, false, failed("invalid SASL/PLAIN message: expected 3 NUL-separated fields, got %d", len(fields))
	}
	authzid, user, password := fields[0], fields[1], fields[2]
	if user == "" {
		return nil, false, failed("username not specified")
	}
	if password == "" {
		return nil, false, failed("password not specified")
	}
	want, ok := e.users[user]
	// Compared even for an unknown user, so that timing tells nothing.
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	if !ok || !match {
		return nil, false, errInvalidCredentials
	}
	if authzid != "" && authzid != user {
		return nil, false, failed("client requested an authorization id that is different from username")
	}
	e.principal = user
	return []byte{}, true, nil
}

func (e *plainExchange) Principal() string { return e.principal }

// fakeCredential is the made-up credential of an unknown user: its salt is
// an HMAC of the user name under a per-Server random key, so it is stable
// and looks like any other; its keys match no password anyone knows.
func (s *Server) fakeCredential(mechanism, user string) (scramcred.Credential, error) {
	s.fakeOnce.Do(func() {
		s.fakeKey = make([]byte, 32)
		if _, err := rand.Read(s.fakeKey); err != nil {
			s.fakeErr = err
		}
	})
	if s.fakeErr != nil {
		return scramcred.Credential{}, s.fakeErr
	}
	h, err := scramcred.HashFunc(mechanism)
	if err != nil {
		return scramcred.Credential{}, err
	}
	derive := func(label string) []byte {
		m := hmac.New(h, s.fakeKey)
		m.Write([]byte(label + "\x00" + mechanism + "\x00" + user))
		return m.Sum(nil)
	}
	return scramcred.Credential{
		Salt:       derive("salt")[:32],
		StoredKey:  derive("stored"),
		ServerKey:  derive("server"),
		Iterations: scramcred.MinIterations,
	}, nil
}

// serverNonce is the server's part of a SCRAM nonce: 144 random bits in
// base64, which has no ','.
func (s *Server) serverNonce() (string, error) {
	if s.nonce != nil {
		return s.nonce()
	}
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
