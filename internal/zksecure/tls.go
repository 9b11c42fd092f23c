package zksecure

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kzoo/kzoo/internal/configvalue"
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

// TLS is a loaded ZooKeeper client TLS setup.
type TLS struct {
	source   clientConfigSource
	hasCert  bool
	versions []uint16
}

// clientConfigSource builds the client side of a TLS connection to one
// server; it may reload its files between calls.
type clientConfigSource interface {
	ClientConfig(serverName string) (*tls.Config, error)
}

// LoadTLS loads the ZooKeeper client TLS setup from Kafka's zookeeper.ssl.*
// properties (by their Kafka names; missing ones take Kafka's defaults). It
// returns nil and no error when zookeeper.ssl.client.enable is not true.
//
// Keystores and truststores are PEM or PKCS12 files; a missing type is
// taken from the file name's extension (.pem, .crt, .p12, .pfx) as
// ZooKeeper does. Without a truststore the system's roots are trusted.
// Unless zookeeper.ssl.endpoint.identification.algorithm is empty, the
// server's certificate must name the host (or IP address) the client dials.
func LoadTLS(props map[string]string) (*TLS, error) {
	enabled, err := configvalue.ParseBool(orDefault(props[PropClientEnable], "false"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PropClientEnable, err)
	}
	if !enabled {
		return nil, nil
	}
	versions, err := protocolVersions(props)
	if err != nil {
		return nil, err
	}
	p := tlsParams{
		keystoreLocation:   strings.TrimSpace(props[PropKeystoreLocation]),
		keystorePassword:   props[PropKeystorePassword],
		truststoreLocation: strings.TrimSpace(props[PropTruststoreLocation]),
		truststorePassword: props[PropTruststorePassword],
		versions:           versions,
	}
	if p.keystoreLocation != "" {
		if p.keystoreType, err = storeType(PropKeystoreType, props[PropKeystoreType], p.keystoreLocation); err != nil {
			return nil, err
		}
	}
	if p.truststoreLocation != "" {
		if p.truststoreType, err = storeType(PropTruststoreType, props[PropTruststoreType], p.truststoreLocation); err != nil {
			return nil, err
		}
	}
	// Present but empty turns host name checks off, as in Kafka.
	alg, set := props[PropEndpointIdentification]
	if !set {
		alg = DefaultEndpointIdentification
	}
	switch alg = strings.TrimSpace(alg); {
	case strings.EqualFold(alg, "HTTPS"):
		p.verifyHostname = true
	case alg == "":
	default:
		return nil, fmt.Errorf("%s: %q is not HTTPS or empty", PropEndpointIdentification, alg)
	}
	source, err := newClientConfigSource(p)
	if err != nil {
		return nil, fmt.Errorf("ZooKeeper TLS: %w", err)
	}
	return &TLS{source: source, hasCert: p.keystoreLocation != "", versions: versions}, nil
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
	cfg.MinVersion, cfg.MaxVersion = slices.Min(t.versions), slices.Max(t.versions)
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("ZooKeeper TLS handshake with %s: %w", address, err)
	}
	return tc, nil
}

// tlsParams is LoadTLS's reading of the properties, for the loader.
type tlsParams struct {
	keystoreLocation, keystorePassword, keystoreType       string
	truststoreLocation, truststorePassword, truststoreType string
	verifyHostname                                         bool
	versions                                               []uint16
}

// protocolVersions is the TLS versions allowed: zookeeper.ssl.enabled.protocols,
// or else zookeeper.ssl.protocol alone (ZooKeeper enables only the context's
// protocol when no list is given). "TLS" allows both versions Go speaks.
func protocolVersions(props map[string]string) ([]uint16, error) {
	key, value := PropEnabledProtocols, strings.TrimSpace(props[PropEnabledProtocols])
	if value == "" {
		key, value = PropProtocol, orDefault(props[PropProtocol], DefaultProtocol)
	}
	var versions []uint16
	for _, name := range configvalue.SplitList(value) {
		switch name {
		case "TLSv1.2":
			versions = append(versions, tls.VersionTLS12)
		case "TLSv1.3":
			versions = append(versions, tls.VersionTLS13)
		case "TLS":
			versions = append(versions, tls.VersionTLS12, tls.VersionTLS13)
		default:
			return nil, fmt.Errorf("%s: %q is not TLSv1.2, TLSv1.3 or TLS (older versions are refused)", key, name)
		}
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%s: no protocol", key)
	}
	return versions, nil
}

// storeType is a store's type, from its key or else its file name.
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
		return "JKS", nil
	}
	return "", fmt.Errorf("%s is not set and %s does not end in .pem, .crt, .p12, .pfx or .jks", key, location)
}

// orDefault is v, or def when v is empty.
func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
