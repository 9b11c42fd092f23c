package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The users scripts/cluster makes in a secured cluster. Both are super users
// (super.users); admin is for tests and people, broker for replication.
const (
	AdminUser  = "admin"
	BrokerUser = "broker"
)

// ClientCertUser is the user of the second client certificate of a secured
// cluster, which, unlike admin's, is no super user: tests grant it ACLs. Its
// subject CN=client,OU=clients,O=kzoo maps to User:client through
// ssl.principal.mapping.rules.
const ClientCertUser = "client"

// secureMaterial is what clients of a secured cluster need, as
// scripts/cluster wrote it to $KZOO_HOME/secure.
type secureMaterial struct {
	dir       string
	roots     *x509.CertPool
	passwords map[string]string          // SCRAM user -> password
	certs     map[string]tls.Certificate // client certificate by user
}

func loadSecureMaterial(dir string) (*secureMaterial, error) {
	m := &secureMaterial{
		dir:       dir,
		roots:     x509.NewCertPool(),
		passwords: map[string]string{},
		certs:     map[string]tls.Certificate{},
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("secured cluster: %w", err)
	}
	if !m.roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("secured cluster: no certificate in %s", filepath.Join(dir, "ca.pem"))
	}
	for _, user := range []string{AdminUser, BrokerUser} {
		data, err := os.ReadFile(filepath.Join(dir, user+".password"))
		if err != nil {
			return nil, fmt.Errorf("secured cluster: password of %s: %w", user, err)
		}
		m.passwords[user] = strings.TrimSpace(string(data))
	}
	for _, user := range []string{AdminUser, ClientCertUser} {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, user+".pem"), filepath.Join(dir, user+".key"))
		if err != nil {
			return nil, fmt.Errorf("secured cluster: certificate of %s: %w", user, err)
		}
		m.certs[user] = cert
	}
	return m, nil
}

// mustSecure returns the cluster's secure material; it fails the test if the
// cluster is not a secured one, a mistake in the test itself.
func (c *Cluster) mustSecure() *secureMaterial {
	c.tb.Helper()
	if c.secure == nil {
		c.tb.Fatal("cluster: a Secure* accessor on a cluster started without Options.Secure")
	}
	return c.secure
}

// SSLAddr returns the address of broker id's (1-5) mTLS listener (the
// listener named SSL, ssl.client.auth=required) in a secured cluster.
func (c *Cluster) SSLAddr(id int) string {
	return loopback(sslPortBase + id + c.opts.PortOffset)
}

// SSLBootstrap returns the mTLS addresses of the brokers in BrokerIDs.
func (c *Cluster) SSLBootstrap() []string {
	ids := c.BrokerIDs()
	addrs := make([]string, 0, len(ids))
	for _, id := range ids {
		addrs = append(addrs, c.SSLAddr(id))
	}
	return addrs
}

// SecureDir returns the directory of a secured cluster's CA, certificates,
// keys, passwords and client settings ($KZOO_HOME/secure).
func (c *Cluster) SecureDir() string {
	return c.mustSecure().dir
}

// SecureCAPath returns the PEM file of the CA that signed every certificate
// of a secured cluster: the truststore of its clients.
func (c *Cluster) SecureCAPath() string {
	return filepath.Join(c.mustSecure().dir, "ca.pem")
}

// SecureClientCertPaths returns the PEM certificate and key files of user's
// client certificate: AdminUser or ClientCertUser.
func (c *Cluster) SecureClientCertPaths(user string) (certPath, keyPath string) {
	dir := c.mustSecure().dir
	return filepath.Join(dir, user+".pem"), filepath.Join(dir, user+".key")
}

// SecureTLSConfig returns a client TLS configuration trusting the cluster's
// CA, without a client certificate (for SASL_SSL). Each call returns a new
// configuration; the server name is left to the client, which takes it from
// the address it dials (the certificates name 127.0.0.1 and localhost).
func (c *Cluster) SecureTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: c.mustSecure().roots, MinVersion: tls.VersionTLS12}
}

// SecureMTLSConfig is SecureTLSConfig presenting user's client certificate:
// AdminUser (a super user) or ClientCertUser.
func (c *Cluster) SecureMTLSConfig(user string) *tls.Config {
	c.tb.Helper()
	m := c.mustSecure()
	cert, ok := m.certs[user]
	if !ok {
		c.tb.Fatalf("cluster: no client certificate for %q", user)
	}
	cfg := c.SecureTLSConfig()
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

// SecurePassword returns the SCRAM password of AdminUser or BrokerUser; both
// have SCRAM-SHA-256 and SCRAM-SHA-512 credentials.
func (c *Cluster) SecurePassword(user string) string {
	c.tb.Helper()
	pw, ok := c.mustSecure().passwords[user]
	if !ok {
		c.tb.Fatalf("cluster: no SCRAM password for %q", user)
	}
	return pw
}

// CommandConfigPath returns the client .properties file of a secured
// cluster: SASL_SSL with SCRAM-SHA-512 as AdminUser, for `kzoo
// --command-config` and Kafka's tools.
func (c *Cluster) CommandConfigPath() string {
	return filepath.Join(c.mustSecure().dir, "client.properties")
}

// SSLCommandConfigPath returns the client .properties file for the mTLS
// listeners (SSLBootstrap), with AdminUser's certificate.
func (c *Cluster) SSLCommandConfigPath() string {
	return filepath.Join(c.mustSecure().dir, "client-ssl.properties")
}
