package tlsconf

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"software.sslmate.com/src/go-pkcs12"
)

// fingerprint identifies the contents of a Source's files, so that a reload
// happens on any change, even one that keeps the size and modification time.
type fingerprint [sha256.Size]byte

// readFiles reads every file and fingerprints their contents together.
func readFiles(paths []string) (map[string][]byte, fingerprint, error) {
	contents := make(map[string][]byte, len(paths))
	h := sha256.New()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fingerprint{}, fmt.Errorf("tls: %w", err)
		}
		contents[p] = data
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(data)))
		h.Write(n[:])
		h.Write(data)
	}
	var sum fingerprint
	h.Sum(sum[:0])
	return contents, sum, nil
}

// Magic numbers of Java's own keystore formats, to name them in errors
// whatever ssl.*.type says.
const (
	jksMagic   = 0xFEEDFEED
	jceksMagic = 0xCECECECE
)

// storeKind tells a store file's format from its first bytes when its type
// is not set, and refuses Java's proprietary formats.
func storeKind(key, path, typ string, data []byte) (string, error) {
	if len(data) >= 4 {
		switch binary.BigEndian.Uint32(data) {
		case jksMagic:
			return "", fmt.Errorf("tls: %s %s is a JKS keystore, which kzoo cannot read: convert it to PKCS12 "+
				"(keytool -importkeystore -srckeystore %[2]s -destkeystore store.p12 -deststoretype PKCS12) or use PEM", key, path)
		case jceksMagic:
			return "", fmt.Errorf("tls: %s %s is a JCEKS keystore, which kzoo cannot read: convert it to PKCS12 or use PEM", key, path)
		}
	}
	if typ != "" {
		return typ, nil
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return "PEM", nil
	}
	return "PKCS12", nil
}

// loadKeystore reads the keystore: a file (PEM or PKCS12) or the inline
// PEM properties.
func loadKeystore(ks storeSettings, keyPass string, file []byte) (*tls.Certificate, error) {
	if ks.location == "" {
		cert, err := pemKeyPair([]byte(ks.inline), []byte(ks.key), keyPass)
		if err != nil {
			return nil, fmt.Errorf("tls: ssl.keystore.key and ssl.keystore.certificate.chain: %w", err)
		}
		return cert, nil
	}
	kind, err := storeKind("ssl.keystore.location", ks.location, ks.typ, file)
	if err != nil {
		return nil, err
	}
	if kind == "PEM" {
		if ks.hasPass {
			return nil, errors.New("tls: ssl.keystore.password cannot be set with a PEM keystore; only ssl.key.password may be")
		}
		cert, err := pemKeyPair(file, file, keyPass)
		if err != nil {
			return nil, fmt.Errorf("tls: PEM keystore %s: %w", ks.location, err)
		}
		return cert, nil
	}
	// PKCS12 has one password for the file and its key (keytool refuses a
	// separate key password for PKCS12), so ssl.key.password is not used.
	key, leaf, chain, err := pkcs12.DecodeChain(file, ks.password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, fmt.Errorf("tls: PKCS12 keystore %s: ssl.keystore.password is %s", ks.location, wrongOrMissing(ks.hasPass))
		}
		return nil, fmt.Errorf("tls: PKCS12 keystore %s: %w", ks.location, err)
	}
	return keyPair(key, leafFirst(key, append([]*x509.Certificate{leaf}, chain...)))
}

// leafFirst moves the certificate of key to the front: keytool does not
// always write a key's own certificate first.
func leafFirst(key crypto.PrivateKey, certs []*x509.Certificate) []*x509.Certificate {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return certs
	}
	for i, c := range certs {
		if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(signer.Public()) {
			out := append([]*x509.Certificate{c}, certs[:i]...)
			return append(out, certs[i+1:]...)
		}
	}
	return certs
}

// loadTruststore reads the truststore's certificates into a pool.
func loadTruststore(ts storeSettings, file []byte) (*x509.CertPool, error) {
	var certs []*x509.Certificate
	var err error
	switch {
	case ts.location == "":
		certs, err = pemCertificates([]byte(ts.inline))
		if err != nil {
			return nil, fmt.Errorf("tls: ssl.truststore.certificates: %w", err)
		}
	default:
		kind, err := storeKind("ssl.truststore.location", ts.location, ts.typ, file)
		if err != nil {
			return nil, err
		}
		if kind == "PEM" {
			if ts.hasPass {
				return nil, errors.New("tls: ssl.truststore.password cannot be set with a PEM truststore")
			}
			if certs, err = pemCertificates(file); err != nil {
				return nil, fmt.Errorf("tls: PEM truststore %s: %w", ts.location, err)
			}
			break
		}
		certs, err = pkcs12.DecodeTrustStore(file, ts.password)
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			return nil, fmt.Errorf("tls: PKCS12 truststore %s: ssl.truststore.password is %s", ts.location, wrongOrMissing(ts.hasPass))
		case err != nil && err.Error() == "pkcs12: trust store contains a certificate that is not marked as trusted":
			// OpenSSL before 3.2 writes no trust mark; Java ignores such
			// certificates and then trusts nothing.
			return nil, fmt.Errorf("tls: PKCS12 truststore %s holds certificates not marked trusted for Java "+
				"(as openssl pkcs12 -export writes them before OpenSSL 3.2): make it with keytool -importcert, "+
				"or openssl pkcs12 -export -jdktrust anyExtendedKeyUsage, or use ssl.truststore.type PEM", ts.location)
		case err != nil:
			return nil, fmt.Errorf("tls: PKCS12 truststore %s: %w", ts.location, err)
		}
		if len(certs) == 0 {
			return nil, fmt.Errorf("tls: PKCS12 truststore %s holds no certificates", ts.location)
		}
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func wrongOrMissing(set bool) string {
	if set {
		return "wrong"
	}
	return "needed but not set"
}

// pemCertificates reads every CERTIFICATE block; text around the blocks is
// ignored, as Kafka's PEM parser ignores it.
func pemCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE in PEM")
	}
	return certs, nil
}

// pemKeyPair reads a certificate chain (leaf first) and exactly one private
// key, PKCS#8 as Kafka requires ("PRIVATE KEY", or "ENCRYPTED PRIVATE KEY"
// with ssl.key.password); PKCS#1 and SEC 1 keys are accepted too.
func pemKeyPair(certPEM, keyPEM []byte, keyPass string) (*tls.Certificate, error) {
	certs, err := pemCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	var keys []*pem.Block
	for rest := keyPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			keys = append(keys, block)
		}
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("expected one private key, found %d", len(keys))
	}
	key, err := parsePrivateKey(keys[0], keyPass)
	if err != nil {
		return nil, err
	}
	return keyPair(key, certs)
}

func parsePrivateKey(block *pem.Block, keyPass string) (crypto.PrivateKey, error) {
	if _, legacy := block.Headers["Proc-Type"]; legacy {
		return nil, errors.New("the private key uses legacy PEM encryption (Proc-Type); re-encode it as PKCS#8: openssl pkcs8 -topk8 -v2 aes-256-cbc")
	}
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if keyPass == "" {
			return nil, errors.New("the private key is encrypted but ssl.key.password is not set")
		}
		der, err := decryptPKCS8(block.Bytes, []byte(keyPass))
		if err != nil {
			return nil, err
		}
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, errors.New("cannot decrypt the private key: ssl.key.password is wrong")
		}
		return key, nil
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	}
	return x509.ParsePKCS8PrivateKey(block.Bytes)
}

// keyPair checks that the key belongs to the first certificate.
func keyPair(key crypto.PrivateKey, chain []*x509.Certificate) (*tls.Certificate, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	pub, ok := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(signer.Public()) {
		return nil, fmt.Errorf("the private key does not match the certificate %q (the first in the chain)", SubjectName(chain[0]))
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}
