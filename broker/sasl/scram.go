package sasl

import (
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kzoo/kzoo/internal/scramcred"
)

// scramExchange is the server side of RFC 5802: client-first, then
// server-first; client-final, then server-final.
type scramExchange struct {
	server    *Server
	mechanism string
	hash      func() hash.Hash
	state     scramState

	user       string
	credential scramcred.Credential
	// known is false for an unknown user: the exchange runs on a made-up
	// credential and fails at the proof.
	known bool
	// gs2Header is the client-first message's header, which the
	// client-final message's channel binding must repeat.
	gs2Header         string
	clientFirstBare   string
	serverFirst       string
	nonce             string
	authenticatedUser string
}

type scramState int

const (
	scramClientFirst scramState = iota
	scramClientFinal
	scramDone
	scramFailed
)

func (e *scramExchange) Principal() string { return e.authenticatedUser }

func (e *scramExchange) Step(token []byte) (challenge []byte, done bool, err error) {
	if len(token) > MaxTokenSize {
		e.state = scramFailed
		return nil, false, failed("SCRAM message of %d bytes exceeds %d", len(token), MaxTokenSize)
	}
	switch e.state {
	case scramClientFirst:
		challenge, err = e.clientFirst(string(token))
	case scramClientFinal:
		challenge, err = e.clientFinal(string(token))
		done = err == nil
	default:
		err = failed("unexpected SCRAM message after the exchange ended")
	}
	if err != nil {
		e.state = scramFailed
		e.credential = scramcred.Credential{}
		return nil, false, err
	}
	return challenge, done, nil
}

// clientFirst reads
//
//	gs2-cbind-flag "," [ "a=" saslname ] "," "n=" saslname ",r=" c-nonce ["," extensions]
//
// and answers "r=" c-nonce s-nonce ",s=" salt ",i=" iterations.
func (e *scramExchange) clientFirst(msg string) ([]byte, error) {
	if !utf8.ValidString(msg) || strings.IndexByte(msg, 0) >= 0 {
		return nil, failed("invalid SCRAM client-first message: not UTF-8 text")
	}
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, failed("invalid SCRAM client-first message: no GS2 header")
	}
	switch {
	case flag == "n" || flag == "y":
		// No channel binding; "y" says the client could bind but
		// thinks the server cannot, which is so.
	case strings.HasPrefix(flag, "p="):
		return nil, failed("SCRAM channel binding is not supported")
	default:
		return nil, failed("invalid SCRAM client-first message: bad GS2 channel binding flag")
	}
	authzField, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, failed("invalid SCRAM client-first message: no GS2 header")
	}
	authzid := ""
	if authzField != "" {
		name, ok := strings.CutPrefix(authzField, "a=")
		if !ok {
			return nil, failed("invalid SCRAM client-first message: bad authorization id field")
		}
		if authzid, ok = decodeSaslName(name); !ok {
			return nil, failed("invalid SCRAM client-first message: bad authorization id")
		}
	}
	e.gs2Header = msg[:len(msg)-len(bare)]
	e.clientFirstBare = bare

	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return nil, failed("SCRAM mandatory extensions are not supported")
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, failed("invalid SCRAM client-first message: want n=<user>,r=<nonce>")
	}
	user, ok := decodeSaslName(attrs[0][2:])
	if !ok || user == "" {
		return nil, failed("invalid SCRAM client-first message: bad user name")
	}
	clientNonce := attrs[1][2:]
	if !validNonce(clientNonce) {
		return nil, failed("invalid SCRAM client-first message: bad nonce")
	}
	for _, ext := range attrs[2:] {
		key, value, ok := strings.Cut(ext, "=")
		if !ok || key == "" || value == "" || !isAlpha(key) {
			return nil, failed("invalid SCRAM client-first message: bad extension")
		}
		// Other extensions are ignored, as Kafka does; this one asks
		// for delegation-token authentication, which kzoo lacks.
		if key == "tokenauth" && strings.EqualFold(value, "true") {
			return nil, failed("delegation token authentication is not supported")
		}
	}
	if authzid != "" && authzid != user {
		return nil, failed("client requested an authorization id that is different from username")
	}

	e.user = user
	if e.server.Scram != nil {
		e.credential, e.known = e.server.Scram.ScramCredential(e.mechanism, user)
	}
	if e.known {
		if e.credential.Iterations < scramcred.MinIterations {
			// As Kafka: a credential this weak is refused.
			return nil, failed("the stored credential has fewer than %d iterations", scramcred.MinIterations)
		}
		size := e.hash().Size()
		if len(e.credential.Salt) == 0 || len(e.credential.StoredKey) != size || len(e.credential.ServerKey) != size {
			return nil, failed("the stored credential is malformed")
		}
	} else {
		fake, err := e.server.fakeCredential(e.mechanism, user)
		if err != nil {
			return nil, failed("cannot make a SCRAM challenge")
		}
		e.credential = fake
	}
	serverNonce, err := e.server.serverNonce()
	if err != nil || !validNonce(serverNonce) {
		return nil, failed("cannot make a SCRAM nonce")
	}
	e.nonce = clientNonce + serverNonce
	e.serverFirst = "r=" + e.nonce + ",s=" + base64.StdEncoding.EncodeToString(e.credential.Salt) + ",i=" + strconv.Itoa(e.credential.Iterations)
	e.state = scramClientFinal
	return []byte(e.serverFirst), nil
}

// clientFinal reads
//
//	"c=" base64(gs2-header) ",r=" nonce ["," extensions] ",p=" base64(proof)
//
// checks the proof and answers "v=" base64(ServerSignature).
func (e *scramExchange) clientFinal(msg string) ([]byte, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, failed("invalid SCRAM client-final message: no proof")
	}
	withoutProof, proofB64 := msg[:i], msg[i+len(",p="):]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, failed("invalid SCRAM client-final message: want c=<binding>,r=<nonce>,...,p=<proof>")
	}
	binding, err := base64.StdEncoding.Strict().DecodeString(attrs[0][2:])
	if err != nil || string(binding) != e.gs2Header {
		return nil, failed("SCRAM channel binding does not match the GS2 header")
	}
	// Kafka checks only that the nonce ends with the one it sent, and
	// librdkafka (2.0 at least) relies on it: it sends its own nonce again
	// in front of the combined one. The proof covers the message as sent.
	if !strings.HasSuffix(attrs[1][2:], e.nonce) {
		return nil, failed("invalid client nonce in the final client message")
	}
	proof, err := base64.StdEncoding.Strict().DecodeString(proofB64)
	size := e.hash().Size()
	if err != nil || len(proof) != size {
		return nil, failed("invalid SCRAM client-final message: bad proof")
	}

	authMessage := []byte(e.clientFirstBare + "," + e.serverFirst + "," + withoutProof)
	clientSignature := e.hmac(e.credential.StoredKey, authMessage)
	clientKey := make([]byte, size)
	subtle.XORBytes(clientKey, proof, clientSignature)
	h := e.hash()
	h.Write(clientKey)
	match := subtle.ConstantTimeCompare(h.Sum(nil), e.credential.StoredKey) == 1
	if !match || !e.known {
		return nil, errInvalidCredentials
	}
	serverSignature := e.hmac(e.credential.ServerKey, authMessage)
	e.state = scramDone
	e.authenticatedUser = e.user
	e.credential = scramcred.Credential{}
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), nil
}

func (e *scramExchange) hmac(key, msg []byte) []byte {
	m := hmac.New(e.hash, key)
	m.Write(msg)
	return m.Sum(nil)
}

// decodeSaslName undoes RFC 5802's escaping of ',' as "=2C" and '=' as
// "=3D"; any other '=' is invalid.
func decodeSaslName(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// validNonce: printable ASCII other than ',' (RFC 5802), and not empty.
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
