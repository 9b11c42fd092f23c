package tlsconf

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// rfc2253Keywords are the attribute types Java's X500Principal names by a
// keyword in its RFC 2253 form; every other type is written as its dotted
// OID with a hex value (emailAddress is "1.2.840.113549.1.9.1=#16...").
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// The string types Java's AVA prints as text in RFC 2253 form; any other
// value is printed as "#" and the hex of its DER encoding.
var textTags = map[int]bool{
	asn1.TagPrintableString: true,
	asn1.TagT61String:       true,
	asn1.TagIA5String:       true,
	27:                      true, // GeneralString
	asn1.TagBMPString:       true,
	asn1.TagUTF8String:      true,
}

// rawAVA and rawRDNSET keep each value's DER bytes (pkix.Name drops them,
// and merges multi-valued RDNs) so that the name prints as Java prints it.
type rawAVA struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rawRDNSET []rawAVA

// SubjectName formats a certificate's subject as Java's
// X500Principal.getName() does (RFC 2253), the string Kafka hands to
// ssl.principal.mapping.rules: RDNs most specific first, "CN=client,
// OU=kzoo,O=kzoo,C=US"; the values of a multi-valued RDN joined by "+" in
// their encoded order; the characters , = + < > # ; " \ escaped with a
// backslash, as are leading and trailing spaces. A subject that is not
// valid DER falls back to Go's own formatting.
func SubjectName(cert *x509.Certificate) string {
	var rdns []rawRDNSET
	rest, err := asn1.Unmarshal(cert.RawSubject, &rdns)
	if err != nil || len(rest) != 0 {
		return cert.Subject.String()
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i < len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, ava := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAVA(&b, ava)
		}
	}
	return b.String()
}

func writeAVA(b *strings.Builder, ava rawAVA) {
	oid := ava.Type.String()
	keyword, named := rfc2253Keywords[oid]
	if !named || ava.Value.Class != asn1.ClassUniversal || !textTags[ava.Value.Tag] {
		if named {
			b.WriteString(keyword)
		} else {
			b.WriteString(oid)
		}
		b.WriteString("=#")
		b.WriteString(hex.EncodeToString(ava.Value.FullBytes))
		return
	}
	b.WriteString(keyword)
	b.WriteByte('=')
	// Java decodes every string type's bytes as UTF-8, BMPString included.
	value := []rune(strings.ToValidUTF8(string(ava.Value.Bytes), string(utf8.RuneError)))
	var escaped []rune
	for _, c := range value {
		switch {
		case strings.ContainsRune(`,=+<>#;"\`, c):
			escaped = append(escaped, '\\', c)
		case c == 0:
			escaped = append(escaped, '\\', '0', '0')
		default:
			escaped = append(escaped, c)
		}
	}
	// Leading and trailing spaces (and carriage returns) are escaped too.
	lead := 0
	for lead < len(escaped) && (escaped[lead] == ' ' || escaped[lead] == '\r') {
		lead++
	}
	trail := len(escaped) - 1
	for trail >= 0 && (escaped[trail] == ' ' || escaped[trail] == '\r') {
		trail--
	}
	for i, c := range escaped {
		if i < lead || i > trail {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
}
