// Package tlsconf builds TLS configurations from Kafka's ssl.* properties,
// for the broker's listeners, the inter-broker client, the kzoo CLI and the
// ZooKeeper client alike, so that one set of keystore, truststore and
// client-auth rules holds everywhere.
//
// Keystores and truststores are PEM (files or inline text, KIP-651) or
// PKCS12 (read with software.sslmate.com/src/go-pkcs12, which also reads
// the AES/PBKDF2 files OpenSSL 3 writes). JKS is refused with a message
// saying how to convert it. A Source rereads its files when they change
// (looked at no more than once a second, when a handshake needs them), so
// that certificates can be rotated without a restart; a rewrite that does
// not load keeps the old material and is reported.
//
// The package also maps client certificates to principals as Kafka does:
// SubjectName formats a subject as Java's X500Principal.getName(), and
// PrincipalMapper applies ssl.principal.mapping.rules to it.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Props holds Kafka ssl.* properties by their unprefixed Kafka names:
// ssl.keystore.type (JKS is refused with a clear error; PEM and PKCS12
// accepted), ssl.keystore.location, ssl.keystore.password,
// ssl.key.password, ssl.keystore.certificate.chain, ssl.keystore.key (PEM
// text inline), ssl.truststore.type (PEM|PKCS12), ssl.truststore.location,
// ssl.truststore.password, ssl.truststore.certificates (PEM inline),
// ssl.client.auth (none|requested|required),
// ssl.endpoint.identification.algorithm ("https" default = check host
// name; "" = don't), ssl.enabled.protocols (TLSv1.2,TLSv1.3),
// ssl.cipher.suites (IANA names, as Java's), ssl.principal.mapping.rules.
// Other keys are ignored, so a caller may pass every ssl.* key it has.
type Props map[string]string

// The property names.
const (
	KeystoreType                    = "ssl.keystore.type"
	KeystoreLocation                = "ssl.keystore.location"
	KeystorePassword                = "ssl.keystore.password"
	KeyPassword                     = "ssl.key.password"
	KeystoreCertificateChain        = "ssl.keystore.certificate.chain"
	KeystoreKey                     = "ssl.keystore.key"
	TruststoreType                  = "ssl.truststore.type"
	TruststoreLocation              = "ssl.truststore.location"
	TruststorePassword              = "ssl.truststore.password"
	TruststoreCertificates          = "ssl.truststore.certificates"
	ClientAuth                      = "ssl.client.auth"
	EndpointIdentificationAlgorithm = "ssl.endpoint.identification.algorithm"
	EnabledProtocols                = "ssl.enabled.protocols"
	CipherSuites                    = "ssl.cipher.suites"
	PrincipalMappingRules           = "ssl.principal.mapping.rules"
)

// reloadInterval is how long a Source trusts what it last read before it
// looks at its files again.
const reloadInterval = time.Second

// Source is a loaded keystore and truststore that reloads itself when the
// files change (checked at most once a second, on use); a reload that
// fails keeps the old material and is reported via OnReloadError. It is
// safe for concurrent use.
type Source struct {
	settings settings
	files    []string // the keystore and truststore files, watched for changes

	// now and interval are fields so that tests can drive the clock.
	now      func() time.Time
	interval time.Duration

	mu       sync.Mutex
	cur      *material
	sum      fingerprint // of the files cur was built from
	checked  time.Time   // when the files were last looked at
	reported string      // the last reload error reported, not repeated while it lasts
	onError  func(error)
}

// material is what one reading of the stores gives; it never changes.
type material struct {
	cert   *tls.Certificate // the keystore's; nil without a keystore
	roots  *x509.CertPool   // the truststore's; nil = the system's roots
	server *tls.Config      // the listener's config, when there is a certificate
}

// Load reads the stores the properties name and checks every property it
// knows, so that a broker refuses a bad configuration at start.
func Load(p Props) (*Source, error) {
	st, err := parseSettings(p)
	if err != nil {
		return nil, err
	}
	s := &Source{settings: st, now: time.Now, interval: reloadInterval}
	for _, f := range []string{st.keystore.location, st.truststore.location} {
		if f != "" {
			s.files = append(s.files, f)
		}
	}
	contents, sum, err := readFiles(s.files)
	if err != nil {
		return nil, err
	}
	m, err := st.build(contents)
	if err != nil {
		return nil, err
	}
	s.cur, s.sum, s.checked = m, sum, s.now()
	return s, nil
}

// OnReloadError sets the function told of each reload that fails (the old
// material stays in use). It is called from a handshake's goroutine, once
// per distinct failure, without the Source's lock held.
func (s *Source) OnReloadError(f func(error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onError = f
}

// current returns the material to use now, first rereading the files if
// the interval has passed and they changed.
func (s *Source) current() *material {
	s.mu.Lock()
	if len(s.files) == 0 || s.now().Sub(s.checked) < s.interval {
		defer s.mu.Unlock()
		return s.cur
	}
	s.checked = s.now()
	err := s.reloadLocked()
	m, report := s.cur, s.onError
	if err != nil && err.Error() != s.reported {
		s.reported = err.Error()
	} else {
		report = nil
	}
	s.mu.Unlock()
	if report != nil {
		report(err)
	}
	return m
}

func (s *Source) reloadLocked() error {
	contents, sum, err := readFiles(s.files)
	if err != nil {
		return fmt.Errorf("tls reload: %w (keeping the previous certificates)", err)
	}
	if sum == s.sum {
		s.reported = "" // back to what is loaded: a later failure is news again
		return nil
	}
	m, err := s.settings.build(contents)
	if err != nil {
		return fmt.Errorf("tls reload: %w (keeping the previous certificates)", err)
	}
	s.cur, s.sum, s.reported = m, sum, ""
	return nil
}

// ServerConfig returns a listener's configuration: the keystore's
// certificate (an error without a keystore), client certificates asked for
// by ssl.client.auth and verified against the truststore (the system's
// roots without one). Each handshake takes the material current then, so a
// certificate rewritten on disk is presented from the next connection on.
func (s *Source) ServerConfig() (*tls.Config, error) {
	s.mu.Lock()
	hasCert := s.cur.cert != nil
	s.mu.Unlock()
	if !hasCert {
		return nil, errors.New("tls: a listener needs a keystore: set ssl.keystore.location, or ssl.keystore.key and ssl.keystore.certificate.chain")
	}
	base := s.settings.baseConfig()
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return s.current().server, nil
	}
	return base, nil
}

// ClientConfig returns a client's configuration for a server named
// serverName (it may be left empty for a caller, such as franz-go's
// dialer, that sets ServerName on a copy per connection): the truststore
// as roots (the system's without one), the host name checked unless
// ssl.endpoint.identification.algorithm is empty, and the keystore's
// certificate, if any, presented when the server asks for one. The client
// certificate follows reloads; the roots are those current when
// ClientConfig is called, since Go checks host names only against a
// config's fixed RootCAs: a long-lived client that must follow a new
// truststore asks for a new config.
func (s *Source) ClientConfig(serverName string) (*tls.Config, error) {
	m := s.current()
	cfg := s.settings.baseConfig()
	cfg.ServerName = serverName
	cfg.RootCAs = m.roots
	if m.cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := s.current().cert; c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil
		}
	}
	if !s.settings.verifyHost {
		// Java still checks the chain when endpoint identification is off;
		// Go can only skip both, so the chain is checked here.
		roots := m.roots
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, roots, x509.ExtKeyUsageServerAuth)
		}
	}
	return cfg, nil
}

// PrincipalMapper returns the mapper of ssl.principal.mapping.rules, which
// Load has checked (DEFAULT when the property is not set).
func (s *Source) PrincipalMapper() *PrincipalMapper { return s.settings.mapper }

// verifyChain checks a peer's chain against roots without a host name.
func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("tls: the peer sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return fmt.Errorf("tls: peer certificate %q: %w", SubjectName(certs[0]), err)
	}
	return nil
}

// settings are the properties, checked and parsed.
type settings struct {
	keystore   storeSettings
	truststore storeSettings
	keyPass    string // ssl.key.password
	clientAuth tls.ClientAuthType
	verifyHost bool
	minVersion uint16
	maxVersion uint16
	suites     []uint16
	mapper     *PrincipalMapper
}

// storeSettings describe a keystore or truststore.
type storeSettings struct {
	typ      string // PEM or PKCS12, "" to tell from the contents
	location string
	password string
	hasPass  bool
	inline   string // PEM text: the certificates (and key, for a keystore)
	key      string // ssl.keystore.key
}

func (st *settings) baseConfig() *tls.Config {
	return &tls.Config{MinVersion: st.minVersion, MaxVersion: st.maxVersion, CipherSuites: st.suites}
}

// build makes the material from the files' contents (by path) and the
// inline properties.
func (st *settings) build(contents map[string][]byte) (*material, error) {
	m := &material{}
	if st.keystore.location != "" || st.keystore.key != "" {
		cert, err := loadKeystore(st.keystore, st.keyPass, contents[st.keystore.location])
		if err != nil {
			return nil, err
		}
		m.cert = cert
	}
	if st.truststore.location != "" || st.truststore.inline != "" {
		roots, err := loadTruststore(st.truststore, contents[st.truststore.location])
		if err != nil {
			return nil, err
		}
		m.roots = roots
	}
	if m.cert != nil {
		m.server = st.baseConfig()
		m.server.Certificates = []tls.Certificate{*m.cert}
		m.server.ClientAuth = st.clientAuth
		m.server.ClientCAs = m.roots
	}
	return m, nil
}

// parseSettings checks the properties as Kafka's DefaultSslEngineFactory
// and config definitions do.
func parseSettings(p Props) (settings, error) {
	get := func(key string) string { return strings.TrimSpace(p[key]) }
	password := func(key string) (string, bool) { v, ok := p[key]; return v, ok && v != "" }
	var st settings

	ks := storeSettings{typ: strings.ToUpper(get(KeystoreType)), location: get(KeystoreLocation),
		inline: p[KeystoreCertificateChain], key: p[KeystoreKey]}
	ks.password, ks.hasPass = password(KeystorePassword)
	st.keyPass, _ = password(KeyPassword)
	if err := checkStoreType("ssl.keystore.type", ks.typ); err != nil {
		return st, err
	}
	switch {
	case strings.TrimSpace(ks.key) != "":
		switch {
		case ks.typ != "" && ks.typ != "PEM":
			return st, fmt.Errorf("tls: ssl.keystore.key can be set only with ssl.keystore.type PEM, not %s", ks.typ)
		case strings.TrimSpace(ks.inline) == "":
			return st, errors.New("tls: ssl.keystore.key is set but ssl.keystore.certificate.chain is not")
		case ks.location != "":
			return st, errors.New("tls: ssl.keystore.location and ssl.keystore.key are both set; use one")
		case ks.hasPass:
			return st, errors.New("tls: ssl.keystore.password cannot be set with a PEM keystore; only ssl.key.password may be")
		}
		ks.typ = "PEM"
	case strings.TrimSpace(ks.inline) != "":
		return st, errors.New("tls: ssl.keystore.certificate.chain is set but ssl.keystore.key is not")
	case ks.location == "" && ks.hasPass:
		return st, errors.New("tls: ssl.keystore.password is set but ssl.keystore.location is not")
	case ks.location != "" && ks.typ == "PEM" && ks.hasPass:
		return st, errors.New("tls: ssl.keystore.password cannot be set with a PEM keystore; only ssl.key.password may be")
	case ks.location != "" && ks.typ == "PKCS12" && !ks.hasPass:
		return st, fmt.Errorf("tls: ssl.keystore.location %s is set but ssl.keystore.password is not", ks.location)
	}
	ks.key = strings.TrimSpace(ks.key)
	ks.inline = strings.TrimSpace(ks.inline)
	st.keystore = ks

	ts := storeSettings{typ: strings.ToUpper(get(TruststoreType)), location: get(TruststoreLocation),
		inline: strings.TrimSpace(p[TruststoreCertificates])}
	ts.password, ts.hasPass = password(TruststorePassword)
	if err := checkStoreType("ssl.truststore.type", ts.typ); err != nil {
		return st, err
	}
	switch {
	case ts.inline != "":
		switch {
		case ts.typ != "" && ts.typ != "PEM":
			return st, fmt.Errorf("tls: ssl.truststore.certificates can be set only with ssl.truststore.type PEM, not %s", ts.typ)
		case ts.location != "":
			return st, errors.New("tls: ssl.truststore.location and ssl.truststore.certificates are both set; use one")
		case ts.hasPass:
			return st, errors.New("tls: ssl.truststore.password cannot be set with a PEM truststore")
		}
		ts.typ = "PEM"
	case ts.location == "" && ts.hasPass:
		return st, errors.New("tls: ssl.truststore.password is set but ssl.truststore.location is not")
	case ts.location != "" && ts.typ == "PEM" && ts.hasPass:
		return st, errors.New("tls: ssl.truststore.password cannot be set with a PEM truststore")
	}
	st.truststore = ts

	switch auth := strings.ToLower(get(ClientAuth)); auth {
	case "", "none":
		st.clientAuth = tls.NoClientCert
	case "requested":
		st.clientAuth = tls.VerifyClientCertIfGiven
	case "required":
		st.clientAuth = tls.RequireAndVerifyClientCert
	default:
		return st, fmt.Errorf("tls: ssl.client.auth %q is not none, requested or required", p[ClientAuth])
	}

	st.verifyHost = true
	if alg, ok := p[EndpointIdentificationAlgorithm]; ok {
		switch strings.ToLower(strings.TrimSpace(alg)) {
		case "":
			st.verifyHost = false
		case "https":
		default:
			return st, fmt.Errorf("tls: ssl.endpoint.identification.algorithm %q is not https or empty", alg)
		}
	}

	var err error
	if st.minVersion, st.maxVersion, err = parseProtocols(get(EnabledProtocols)); err != nil {
		return st, err
	}
	if st.suites, err = parseCipherSuites(get(CipherSuites)); err != nil {
		return st, err
	}
	if st.mapper, err = ParsePrincipalMappingRules(p[PrincipalMappingRules]); err != nil {
		return st, fmt.Errorf("tls: %w", err)
	}
	return st, nil
}

func checkStoreType(key, typ string) error {
	switch typ {
	case "", "PEM", "PKCS12":
		return nil
	case "JKS":
		return fmt.Errorf("tls: %s JKS is not supported: convert the store to PKCS12 "+
			"(keytool -importkeystore -srckeystore store.jks -destkeystore store.p12 -deststoretype PKCS12) "+
			"or use PEM", key)
	}
	return fmt.Errorf("tls: %s %s is not supported; use PEM or PKCS12", key, typ)
}

var protocolVersions = map[string]uint16{
	"TLSv1":   tls.VersionTLS10,
	"TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12,
	"TLSv1.3": tls.VersionTLS13,
}

// parseProtocols reads ssl.enabled.protocols. Go enables a range of
// versions, so the list must not leave a gap in the versions it names.
func parseProtocols(list string) (minV, maxV uint16, err error) {
	if list == "" {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	have := map[uint16]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		v, ok := protocolVersions[name]
		if !ok {
			return 0, 0, fmt.Errorf("tls: ssl.enabled.protocols: %q is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", name)
		}
		have[v] = true
		if minV == 0 || v < minV {
			minV = v
		}
		maxV = max(maxV, v)
	}
	if minV == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	for v := minV; v <= maxV; v++ {
		if !have[v] {
			return 0, 0, fmt.Errorf("tls: ssl.enabled.protocols %q leaves out %s between the versions it names; kzoo can enable only a range", list, tls.VersionName(v))
		}
	}
	return minV, maxV, nil
}

// parseCipherSuites reads ssl.cipher.suites, whose IANA names Java and Go
// share. They restrict TLS 1.2 and below; Go chooses TLS 1.3's itself.
func parseCipherSuites(list string) ([]uint16, error) {
	if list == "" {
		return nil, nil
	}
	known := map[string]uint16{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		known[cs.Name] = cs.ID
	}
	var ids []uint16
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		id, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("tls: ssl.cipher.suites: %q is not a cipher suite Go supports", name)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
