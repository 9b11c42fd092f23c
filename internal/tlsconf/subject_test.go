package tlsconf

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"testing"

	"github.com/kzoo/kzoo/internal/tlsconf/tlstest"
)

var (
	oidCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidL      = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidST     = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidStreet = asn1.ObjectIdentifier{2, 5, 4, 9}
	oidSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidUID    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

func ava(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: oid, Value: v}
}

// subjectCases are subjects and what Java 17's
// X509Certificate.getSubjectX500Principal().getName() prints for them
// (TestSubjectNameMatchesJava checks them when Java is at hand). The values
// of a multi-valued RDN keep their encoded (DER-sorted) order: OU before CN
// here, not sorted by keyword.
var subjectCases = []struct {
	name string
	rdns pkix.RDNSequence
	want string
}{
	{"plain", pkix.RDNSequence{
		{ava(oidC, "US")}, {ava(oidO, "kzoo")}, {ava(oidOU, "kzoo")}, {ava(oidCN, "client")},
	}, "CN=client,OU=kzoo,O=kzoo,C=US"},
	{"multi-valued RDN", pkix.RDNSequence{
		{ava(oidC, "US")}, {ava(oidOU, "ops"), ava(oidCN, "a-much-longer-common-name")}, {ava(oidUID, "u1"), ava(oidL, "Paris")},
	}, "L=Paris+UID=u1,OU=ops+CN=a-much-longer-common-name,C=US"},
	{"escaping", pkix.RDNSequence{
		{ava(oidO, "a+b;c")}, {ava(oidOU, `x=y<z>"q"\`)}, {ava(oidCN, "Tkac, Adam")},
	}, `CN=Tkac\, Adam,OU=x\=y\<z\>\"q\"\\,O=a\+b\;c`},
	{"hash and spaces", pkix.RDNSequence{
		{ava(oidL, "#1 street#")}, {ava(oidST, "  lead")}, {ava(oidStreet, "trail  ")}, {ava(oidCN, " ")},
	}, `CN=\ ,STREET=trail\ \ ,ST=\ \ lead,L=\#1 street\#`},
	{"keywords and OIDs", pkix.RDNSequence{
		{ava(oidDC, "com")}, {ava(oidDC, "example")}, {ava(oidUID, "jdoe")}, {ava(oidSerial, "1234")}, {ava(oidEmail, asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("jdoe@example.com")})}, {ava(oidCN, "John Doe")},
	}, "CN=John Doe,1.2.840.113549.1.9.1=#16106a646f65406578616d706c652e636f6d,2.5.4.5=#130431323334,UID=jdoe,DC=example,DC=com"},
	{"not ASCII", pkix.RDNSequence{
		{ava(oidO, "Bücher & Co")}, {ava(oidCN, "Jürgen Ærø")},
	}, "CN=Jürgen Ærø,O=Bücher & Co"},
}

func TestSubjectName(t *testing.T) {
	ca := tlstest.NewCA(t)
	for _, tc := range subjectCases {
		t.Run(tc.name, func(t *testing.T) {
			cert := certWithSubject(t, ca, tc.rdns)
			if got := SubjectName(cert); got != tc.want {
				t.Errorf("SubjectName = %s\n                 want %s", got, tc.want)
			}
		})
	}
}

// certWithSubject issues a certificate whose subject is rdns exactly as
// given (pkix.Name would merge multi-valued RDNs).
func certWithSubject(t *testing.T, ca *tlstest.CA, rdns pkix.RDNSequence) *x509.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _ := ca.IssueTemplate(t, &x509.Certificate{RawSubject: raw})
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestSubjectNameOfIssued(t *testing.T) {
	ca := tlstest.NewCA(t)
	certPEM, _ := ca.Issue(t, "client", "localhost")
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := SubjectName(cert), "CN=client,OU=kzoo,O=kzoo,C=US"; got != want {
		t.Errorf("SubjectName = %s; want %s", got, want)
	}
}
