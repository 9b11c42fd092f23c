package broker

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
	franzsasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/peer"
	"github.com/kzoo/kzoo/broker/sasl"
	"github.com/kzoo/kzoo/internal/jaas"
	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/internal/tlsconf"
)

// This file sets up how each listener secures its connections (TLS, SASL)
// and how this broker authenticates to the others; conn.go runs the
// handshakes and sasl_conn.go the SASL state machine.

// anonymousPrincipal is the user name of a connection that has not
// authenticated: every connection of a PLAINTEXT listener, and one of an
// SSL listener without a client certificate. Kafka calls it ANONYMOUS too.
const anonymousPrincipal = "ANONYMOUS"

// listenerSecurity is one listener's security, loaded.
type listenerSecurity struct {
	name string
	cfg  config.ListenerSecurity
	// tls is the server side of the TLS handshake, from tlsSource (the
	// keystore and truststore, reloaded as they change); both nil unless
	// the listener uses TLS.
	tls       *tls.Config
	tlsSource *tlsconf.Source
	// principals maps a client certificate's subject to a user name on an
	// SSL listener (on SASL_SSL the SASL user is the principal).
	principals *tlsconf.PrincipalMapper
	// sasl runs the SASL exchanges; nil unless the listener uses SASL.
	sasl *sasl.Server
}

// scramStore finds SCRAM credentials in the latest cluster view, so that a
// user changed through AlterUserScramCredentials can log in as soon as the
// change reaches this broker.
type scramStore struct{ meta Metadata }

func (s scramStore) ScramCredential(mechanism, user string) (scramcred.Credential, bool) {
	return s.meta.Snapshot().ScramCredential(mechanism, user)
}

// loadSecurity loads every listener's TLS material and SASL settings, and
// the inter-broker client's, failing start-up on a keystore that cannot be
// read or a JAAS configuration that does not parse.
func loadSecurity(cfg *config.Broker, meta Metadata, logger logrus.FieldLogger) (map[string]*listenerSecurity, peer.Security, error) {
	out := make(map[string]*listenerSecurity, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		ls, err := newListenerSecurity(l.Name, cfg.Security[l.Name], meta, logger.WithField("listener", l.Name))
		if err != nil {
			return nil, peer.Security{}, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		out[l.Name] = ls
	}
	inter, err := interBrokerSecurity(cfg, out[cfg.InterBrokerListener], logger)
	if err != nil {
		return nil, peer.Security{}, fmt.Errorf("inter-broker listener %s: %w", cfg.InterBrokerListener, err)
	}
	return out, inter, nil
}

func newListenerSecurity(name string, cfg config.ListenerSecurity, meta Metadata, logger logrus.FieldLogger) (*listenerSecurity, error) {
	ls := &listenerSecurity{name: name, cfg: cfg}
	if cfg.UsesTLS() {
		var err error
		if ls.tlsSource, err = loadTLS(cfg.TLS, logger); err != nil {
			return nil, err
		}
		if ls.tls, err = ls.tlsSource.ServerConfig(); err != nil {
			return nil, err
		}
		ls.principals = ls.tlsSource.PrincipalMapper() // checked by Load
	}
	if cfg.UsesSASL() {
		ls.sasl = &sasl.Server{Mechanisms: cfg.SASLMechanisms, Scram: scramStore{meta}}
		for _, m := range cfg.SASLMechanisms {
			if m != sasl.Plain {
				continue
			}
			entries, err := jaas.Parse(cfg.JAAS[m])
			if err != nil {
				return nil, fmt.Errorf("listener.name.%s.plain.sasl.jaas.config: %w", strings.ToLower(name), err)
			}
			if ls.sasl.PlainUsers, err = sasl.PlainUsersFromJAAS(entries); err != nil {
				return nil, fmt.Errorf("listener.name.%s.plain.sasl.jaas.config: %w", strings.ToLower(name), err)
			}
		}
	}
	return ls, nil
}

// interBrokerSecurity is how this broker connects to the others: the
// inter-broker listener's protocol, its truststore (and keystore, for
// brokers that ask for client certificates), and the credentials of
// sasl.mechanism.inter.broker.protocol from that listener's JAAS entry
// (username and password, as Kafka's login modules take them).
//
// bound is this broker's own listener of that name, whose keystore and
// truststore it shares; nil when the listener is only advertised.
func interBrokerSecurity(cfg *config.Broker, bound *listenerSecurity, logger logrus.FieldLogger) (peer.Security, error) {
	ls := cfg.Security[cfg.InterBrokerListener]
	var sec peer.Security
	if ls.UsesTLS() {
		var src *tlsconf.Source
		if bound != nil {
			src = bound.tlsSource
		} else {
			var err error
			if src, err = loadTLS(ls.TLS, logger); err != nil {
				return sec, err
			}
		}
		var err error
		if sec.TLS, err = src.ClientConfig(""); err != nil {
			return sec, err
		}
	}
	if ls.UsesSASL() {
		m := cfg.InterBrokerSASLMechanism
		entries, err := jaas.Parse(ls.JAAS[m])
		if err != nil {
			return sec, fmt.Errorf("%s JAAS configuration: %w", m, err)
		}
		user, pass, err := loginCredentials(entries)
		if err != nil {
			return sec, fmt.Errorf("%s JAAS configuration: %w", m, err)
		}
		sec.SASL = clientMechanism(m, user, pass)
	}
	return sec, nil
}

// loadTLS loads a keystore and truststore, logging the reloads that fail.
func loadTLS(props map[string]string, logger logrus.FieldLogger) (*tlsconf.Source, error) {
	src, err := tlsconf.Load(tlsconf.Props(props))
	if err != nil {
		return nil, err
	}
	src.OnReloadError(func(err error) {
		logger.WithError(err).Error("cannot reload the keystore or truststore; keeping the certificates loaded before")
	})
	return src, nil
}

// loginCredentials are the username and password options of the first
// JAAS entry that has them: the identity a login module logs in with.
func loginCredentials(entries []jaas.Entry) (user, pass string, err error) {
	for _, e := range entries {
		u, okU := e.Options["username"]
		p, okP := e.Options["password"]
		if okU && okP {
			return u, p, nil
		}
	}
	return "", "", fmt.Errorf("no login module entry with both username and password options")
}

// clientMechanism is franz-go's client side of a mechanism config accepts.
func clientMechanism(mechanism, user, pass string) franzsasl.Mechanism {
	switch mechanism {
	case scramcred.SHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case scramcred.SHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	default:
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	}
}
