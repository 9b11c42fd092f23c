package zkpaths

import (
	"encoding/base64"
	"fmt"
	"io"
)

// UUID is Kafka's 128-bit identifier (topic ids, cluster ids). Its text form is
// the 22-character URL-safe base64 of its bytes, without padding.
type UUID [16]byte

// ZeroUUID means "no id", e.g. a topic written before topic ids existed.
var ZeroUUID UUID

var uuidEncoding = base64.RawURLEncoding

// String returns the 22-character base64 form.
func (u UUID) String() string {
	return uuidEncoding.EncodeToString(u[:])
}

// IsZero reports whether u is the zero UUID.
func (u UUID) IsZero() bool {
	return u == ZeroUUID
}

// ParseUUID parses the 22-character base64 form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if uuidEncoding.EncodedLen(len(u)) != len(s) {
		return u, fmt.Errorf("parse uuid %q: want %d characters, got %d", s, uuidEncoding.EncodedLen(len(u)), len(s))
	}
	n, err := uuidEncoding.Decode(u[:], []byte(s))
	if err != nil {
		return UUID{}, fmt.Errorf("parse uuid %q: %w", s, err)
	}
	if n != len(u) {
		return UUID{}, fmt.Errorf("parse uuid %q: decoded %d bytes, want %d", s, n, len(u))
	}
	return u, nil
}

// NewRandomUUID reads a version 4 UUID from random (normally crypto/rand.Reader).
// Like Kafka it never returns the zero id or one whose text starts with '-', which
// command-line tools would take for a flag.
func NewRandomUUID(random io.Reader) (UUID, error) {
	// A source of real randomness passes on the first or second try; the bound
	// only keeps a broken source from spinning forever.
	const attempts = 64
	for range attempts {
		var u UUID
		if _, err := io.ReadFull(random, u[:]); err != nil {
			return UUID{}, fmt.Errorf("generate uuid: %w", err)
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // IETF variant
		if !u.IsZero() && u.String()[0] != '-' {
			return u, nil
		}
	}
	return UUID{}, fmt.Errorf("generate uuid: %d draws in a row began with '-'", attempts)
}
