// Package tlstest makes certificates for tests, without openssl: a CA,
// certificates it issues for servers and clients, and PKCS12 keystores and
// truststores as Kafka's tools would make them.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// validity is how long issued certificates last: longer than any test.
const validity = 7 * 24 * time.Hour

// CA is a certificate authority for tests. Its methods are safe for
// concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	serial  atomic.Int64
}

// NewCA makes a CA with a fresh ECDSA P-256 key, named CN=kzoo-test-ca.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kzoo-test-ca", Organization: []string{"kzoo"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("tlstest: CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: CA certificate: %v", err)
	}
	ca := &CA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.serial.Store(1)
	return ca
}

// CertPEM returns the CA's certificate, PEM-encoded: a truststore's
// contents (ssl.truststore.certificates, or a PEM truststore file).
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Certificate returns the CA's parsed certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Pool returns a pool holding only the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issue makes a certificate for both server and client use with subject
// "CN=<commonName>,OU=kzoo,O=kzoo,C=US" (as SubjectName prints it) and the
// hosts as subject alternative names (IP addresses as IP SANs). It returns
// the certificate and its PKCS#8 key, PEM-encoded.
func (ca *CA) Issue(t testing.TB, commonName string, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.IssueSubject(t, pkix.Name{
		Country:            []string{"US"},
		Organization:       []string{"kzoo"},
		OrganizationalUnit: []string{"kzoo"},
		CommonName:         commonName,
	}, hosts...)
}

// IssueSubject is Issue with any subject; pkix.Name's ExtraNames allow
// attributes Issue does not set.
func (ca *CA) IssueSubject(t testing.TB, subject pkix.Name, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	tmpl := &x509.Certificate{Subject: subject}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.IssueTemplate(t, tmpl)
}

// IssueTemplate issues a certificate from tmpl after filling in what it
// leaves zero: serial number, validity, key usages.
func (ca *CA) IssueTemplate(t testing.TB, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	c := *tmpl
	if c.SerialNumber == nil {
		c.SerialNumber = big.NewInt(ca.serial.Add(1))
	}
	if c.NotBefore.IsZero() {
		c.NotBefore = time.Now().Add(-time.Hour)
	}
	if c.NotAfter.IsZero() {
		c.NotAfter = time.Now().Add(validity)
	}
	if c.KeyUsage == 0 {
		c.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if c.ExtKeyUsage == nil {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, &c, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatalf("tlstest: issue %v: %v", c.Subject, err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: key: %v", err)
	}
	return key
}

// WritePKCS12 writes a PKCS12 keystore to path holding the key, its
// certificate and the chain after it (each PEM; the chain may be several
// certificates in one), all under password, with the modern algorithms
// (AES-256, PBKDF2) that OpenSSL 3 and Java 17+ use.
func WritePKCS12(t testing.TB, path, password string, certPEM, keyPEM []byte, chainPEM ...[]byte) {
	t.Helper()
	certs := parseCerts(t, certPEM)
	var chain []*x509.Certificate
	for _, c := range chainPEM {
		chain = append(chain, parseCerts(t, c)...)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("tlstest: WritePKCS12: no PEM key")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("tlstest: WritePKCS12: key: %v", err)
	}
	data, err := pkcs12.Modern.Encode(key, certs[0], append(certs[1:], chain...), password)
	if err != nil {
		t.Fatalf("tlstest: WritePKCS12: %v", err)
	}
	writeFile(t, path, data)
}

// WritePKCS12TrustStore writes a PKCS12 truststore to path holding the
// certificates (PEM, one or several each), marked trusted as Java's keytool
// marks them, under password.
func WritePKCS12TrustStore(t testing.TB, path, password string, certsPEM ...[]byte) {
	t.Helper()
	var certs []*x509.Certificate
	for _, c := range certsPEM {
		certs = append(certs, parseCerts(t, c)...)
	}
	data, err := pkcs12.Modern.EncodeTrustStore(certs, password)
	if err != nil {
		t.Fatalf("tlstest: WritePKCS12TrustStore: %v", err)
	}
	writeFile(t, path, data)
}

func parseCerts(t testing.TB, data []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("tlstest: certificate: %v", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		t.Fatal("tlstest: no PEM certificate")
	}
	return certs
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("tlstest: %v", err)
	}
}
