package zksecure

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// newClientConfigSource loads the stores. This stand-in reads PEM files
// only and never reloads them; internal/tlsconf replaces it.
func newClientConfigSource(p tlsParams) (clientConfigSource, error) {
	s := &pemSource{verifyHostname: p.verifyHostname}
	if p.keystoreLocation != "" {
		if p.keystoreType != "PEM" {
			return nil, fmt.Errorf("keystore %s: type %s is not supported, only PEM", p.keystoreLocation, p.keystoreType)
		}
		data, err := os.ReadFile(p.keystoreLocation)
		if err != nil {
			return nil, fmt.Errorf("keystore: %w", err)
		}
		// The file holds the chain and the key; X509KeyPair picks each out.
		cert, err := tls.X509KeyPair(data, data)
		if err != nil {
			return nil, fmt.Errorf("keystore %s: %w", p.keystoreLocation, err)
		}
		s.certs = []tls.Certificate{cert}
	}
	if p.truststoreLocation != "" {
		if p.truststoreType != "PEM" {
			return nil, fmt.Errorf("truststore %s: type %s is not supported, only PEM", p.truststoreLocation, p.truststoreType)
		}
		data, err := os.ReadFile(p.truststoreLocation)
		if err != nil {
			return nil, fmt.Errorf("truststore: %w", err)
		}
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("truststore %s: no PEM certificate", p.truststoreLocation)
		}
	}
	return s, nil
}

type pemSource struct {
	certs          []tls.Certificate
	roots          *x509.CertPool // nil: the system's
	verifyHostname bool
}

func (s *pemSource) ClientConfig(serverName string) (*tls.Config, error) {
	cfg := &tls.Config{Certificates: s.certs, RootCAs: s.roots, ServerName: serverName}
	if !s.verifyHostname {
		// The chain is still checked, only not against the name.
		roots := s.roots
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("server sent no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return fmt.Errorf("server certificate: %w", err)
				}
				certs[i] = c
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range certs[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := certs[0].Verify(opts)
			return err
		}
	}
	return cfg, nil
}
