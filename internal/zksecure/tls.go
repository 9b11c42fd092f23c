package zksecure

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/kzoo/kzoo/internal/configvalue"
	"github.com/kzoo/kzoo/internal/tlsconf"
)

// Kafka's ZooKeeper client TLS keys: the broker config keys, and what a
// --zk-tls-config-file holds (Kafka's ZkSecurityMigrator reads the same
// file). Other keys of such a file are ignored, as Kafka ignores them.
const (
	PropClientEnable           = "zookeeper.ssl.client.enable"
	PropClientCnxnSocket       = "zookeeper.clientCnxnSocket" // a Java class name; accepted, meaningless here
	PropKeystoreLocation       = "zookeeper.ssl.keystore.location"
	PropKeystorePassword       = "zookeeper.ssl.keystore.password"
	PropKeystoreType           = "zookeeper.ssl.keystore.type"
	PropTruststoreLocation     = "zookeeper.ssl.truststore.location"
	PropTruststorePassword     = "zookeeper.ssl.truststore.password"
	PropTruststoreType         = "zookeeper.ssl.truststore.type"
	PropProtocol               = "zookeeper.ssl.protocol"
	PropEnabledProtocols       = "zookeeper.ssl.enabled.protocols"
	PropEndpointIdentification = "zookeeper.ssl.endpoint.identification.algorithm"
)

// Kafka's defaults of zookeeper.ssl.protocol and
// zookeeper.ssl.endpoint.identification.algorithm.
const (
	DefaultProtocol               = "TLSv1.2"
	DefaultEndpointIdentification = "HTTPS"
)

// TLSPropertyNames returns the keys LoadTLS reads.
func TLSPropertyNames() []string {
	return []string{PropClientEnable, PropClientCnxnSocket, PropKeystoreLocation, PropKeystorePassword,
		PropKeystoreType, PropTruststoreLocation, PropTruststorePassword, PropTruststoreType, PropProtocol,
		PropEnabledProtocols, PropEndpointIdentification}
}

// TLS is a loaded ZooKeeper client TLS setup. Its stores are reread when
// their files change (see tlsconf.Source), so a reconnect after a
// certificate rotation uses the new certificate.
type TLS struct {
	source  *tlsconf.Source
	hasCert bool
}

// LoadTLS loads the ZooKeeper client TLS setup from Kafka's zookeeper.ssl.*
// properties (by their Kafka names; missing ones take Kafka's defaults). It
// returns nil and no error when zookeeper.ssl.client.enable is not true.
//
// Keystores and truststores are PEM or PKCS12 files (JKS is refused); a
// missing type is taken from the file name's extension as ZooKeeper does
// (.pem, .crt, .p12, .pfx), else from the file's contents. A PEM keystore's
// password decrypts its key, as in ZooKeeper. Without a truststore the
// system's roots are trusted. Unless
// zookeeper.ssl.endpoint.identification.algorithm is empty, the server's
// certificate must name the host (or IP address) the client dials.
// zookeeper.ssl.enabled.protocols, or else zookeeper.ssl.protocol alone
// (ZooKeeper enables only the context's protocol when no list is given),
// are the TLS versions allowed; "TLS" allows 1.2 and 1.3, and versions
// before 1.2 are refused.
func LoadTLS(props map[string]string) (*TLS, error) {
	enabled, err := configvalue.ParseBool(orDefault(props[PropClientEnable], "false"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PropClientEnable, err)
	}
	if !enabled {
		return nil, nil
	}
	p := tlsconf.Props{}
	if p[tlsconf.EnabledProtocols], err = protocols(props); err != nil {
		return nil, err
	}
	if err := storeProps(p, PropKeystoreType, PropKeystoreLocation, PropKeystorePassword, props,
		tlsconf.KeystoreType, tlsconf.KeystoreLocation, tlsconf.KeystorePassword, tlsconf.KeyPassword); err != nil {
		return nil, err
	}
	if err := storeProps(p, PropTruststoreType, PropTruststoreLocation, PropTruststorePassword, props,
		tlsconf.TruststoreType, tlsconf.TruststoreLocation, tlsconf.TruststorePassword, ""); err != nil {
		return nil, err
	}
	// Present but empty turns host name checks off, as in Kafka.
	alg, set := props[PropEndpointIdentification]
	if !set {
		alg = DefaultEndpointIdentification
	}
	switch alg = strings.TrimSpace(alg); {
	case strings.EqualFold(alg, "HTTPS"):
		p[tlsconf.EndpointIdentificationAlgorithm] = "https"
	case alg == "":
		p[tlsconf.EndpointIdentificationAlgorithm] = ""
	default:
		return nil, fmt.Errorf("%s: %q is not HTTPS or empty", PropEndpointIdentification, alg)
	}
	source, err := tlsconf.Load(p)
	if err != nil {
		return nil, fmt.Errorf("ZooKeeper TLS: %w", err)
	}
	return &TLS{source: source, hasCert: p[tlsconf.KeystoreLocation] != ""}, nil
}

// HasClientCertificate reports whether the client presents a certificate,
// which ZooKeeper takes as an x509 identity.
func (t *TLS) HasClientCertificate() bool { return t.hasCert }

// Client runs the client handshake over conn to the server at address
// (host:port), within ctx.
func (t *TLS) Client(ctx context.Context, conn net.Conn, address string) (*tls.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	cfg, err := t.source.ClientConfig(host)
	if err != nil {
		return nil, fmt.Errorf("ZooKeeper TLS to %s: %w", address, err)
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("ZooKeeper TLS handshake with %s: %w", address, err)
	}
	return tc, nil
}

// protocols is the ssl.enabled.protocols list for tlsconf.
func protocols(props map[string]string) (string, error) {
	key, value := PropEnabledProtocols, strings.TrimSpace(props[PropEnabledProtocols])
	if value == "" {
		key, value = PropProtocol, orDefault(props[PropProtocol], DefaultProtocol)
	}
	var names []string
	for _, name := range configvalue.SplitList(value) {
		switch name {
		case "TLSv1.2", "TLSv1.3":
			names = append(names, name)
		case "TLS":
			names = append(names, "TLSv1.2", "TLSv1.3")
		default:
			return "", fmt.Errorf("%s: %q is not TLSv1.2, TLSv1.3 or TLS (older versions are refused)", key, name)
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%s: no protocol", key)
	}
	return strings.Join(names, ","), nil
}

// storeProps maps one store's three ZooKeeper keys to tlsconf's. The
// password of a PEM store goes to keyPassword (its key's), as ZooKeeper
// uses it, or is refused for a PEM truststore, which has nothing to
// decrypt (keyPassword "").
func storeProps(p tlsconf.Props, typeKey, locationKey, passwordKey string, props map[string]string,
	toType, toLocation, toPassword, keyPassword string) error {
	location := strings.TrimSpace(props[locationKey])
	if location == "" {
		return nil
	}
	typ, err := storeType(typeKey, props[typeKey], location)
	if err != nil {
		return err
	}
	p[toLocation], p[toType] = location, typ
	password := props[passwordKey]
	switch {
	case password == "":
	case typ == "PEM" && keyPassword != "":
		p[keyPassword] = password
	case typ == "PEM":
		// A PEM truststore has nothing to decrypt; ZooKeeper ignores
		// the password then, and so does kzoo.
	default:
		p[toPassword] = password
	}
	return nil
}

// storeType is a store's type: its key's value, else told from the file
// name as ZooKeeper does, else "" for tlsconf to tell from the contents.
func storeType(key, value, location string) (string, error) {
	if value = strings.ToUpper(strings.TrimSpace(value)); value != "" {
		if value != "PEM" && value != "PKCS12" && value != "JKS" {
			return "", fmt.Errorf("%s: %q is not PEM, PKCS12 or JKS", key, value)
		}
		return value, nil
	}
	switch strings.ToLower(filepath.Ext(location)) {
	case ".pem", ".crt":
		return "PEM", nil
	case ".p12", ".pfx", ".pkcs12":
		return "PKCS12", nil
	case ".jks":
		return "JKS", nil // refused by tlsconf, with how to convert it
	}
	return "", nil
}

// orDefault is v, or def when v is empty.
func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
