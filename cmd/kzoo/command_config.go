package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kzoo/kzoo/internal/jaas"
	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/internal/tlsconf"
)

// This file turns a --command-config file, the client .properties file of
// Kafka's tools, into franz-go options: TLS from the ssl.* keys, SASL from
// sasl.mechanism and sasl.jaas.config. Other keys are ignored, as Kafka's
// clients ignore (with a warning) keys they do not know; kzoo's clients
// take their other settings from flags.

// The login modules whose username and password kzoo's clients use. Kafka's
// clients take either one for PLAIN and SCRAM alike (both only hand the
// credentials over), and so does kzoo.
const (
	plainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	scramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
)

// commandConfigOpts reads the command config file at path.
func commandConfigOpts(path string) ([]kgo.Opt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--command-config: %w", err)
	}
	props, err := parseProperties(data)
	if err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	opts, err := securityOpts(props)
	if err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	return opts, nil
}

// securityOpts returns the client options of a Kafka client config's
// security settings. Its errors never hold a password.
func securityOpts(props map[string]string) ([]kgo.Opt, error) {
	// Kafka trims string and password config values, and reads the
	// protocol in any case.
	protocol := strings.ToUpper(strings.TrimSpace(props["security.protocol"]))
	var useTLS, useSASL bool
	switch protocol {
	case "", "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, fmt.Errorf("security.protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", props["security.protocol"])
	}
	var opts []kgo.Opt
	if useTLS {
		o, err := tlsOpt(props)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	if useSASL {
		m, err := saslMechanism(protocol, props)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// tlsOpt dials brokers with TLS set up from the ssl.* keys: the truststore
// (the system's roots without one), a keystore for a client certificate,
// host name checks unless ssl.endpoint.identification.algorithm is empty.
func tlsOpt(props map[string]string) (kgo.Opt, error) {
	p := tlsconf.Props{}
	for k, v := range props {
		if strings.HasPrefix(k, "ssl.") {
			p[k] = v
		}
	}
	src, err := tlsconf.Load(p)
	if err != nil {
		return nil, err
	}
	// No server name: franz-go sets each connection's to the broker's host.
	cfg, err := src.ClientConfig("")
	if err != nil {
		return nil, err
	}
	return kgo.DialTLSConfig(cfg), nil
}

// saslMechanism returns the SASL mechanism of sasl.mechanism with the
// credentials of sasl.jaas.config.
func saslMechanism(protocol string, props map[string]string) (sasl.Mechanism, error) {
	name, ok := props["sasl.mechanism"]
	name = strings.TrimSpace(name)
	switch {
	case !ok || name == "":
		return nil, fmt.Errorf("security.protocol %s: set sasl.mechanism to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (Kafka's default, GSSAPI, is not supported)", protocol)
	case name != "PLAIN" && name != scramcred.SHA256 && name != scramcred.SHA512:
		return nil, fmt.Errorf("sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name)
	}
	user, password, token, err := jaasCredentials(props["sasl.jaas.config"])
	if err != nil {
		return nil, err
	}
	switch name {
	case "PLAIN":
		if token {
			return nil, errors.New("sasl.jaas.config: tokenauth is for SCRAM, not PLAIN")
		}
		return plain.Auth{User: user, Pass: password}.AsMechanism(), nil
	case scramcred.SHA256:
		return scram.Auth{User: user, Pass: password, IsToken: token}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: user, Pass: password, IsToken: token}.AsSha512Mechanism(), nil
	}
}

// jaasCredentials reads the username and password of a client's
// sasl.jaas.config: one PlainLoginModule or ScramLoginModule entry, as
// Kafka's clients want exactly one. token reports ScramLoginModule's
// tokenauth="true", a delegation token's credentials.
func jaasCredentials(config string) (user, password string, token bool, err error) {
	if strings.TrimSpace(config) == "" {
		return "", "", false, errors.New("sasl.jaas.config is not set: kzoo reads credentials only from it, as in " +
			`sasl.jaas.config=` + scramLoginModule + ` required username="USER" password="PASSWORD";`)
	}
	entries, err := jaas.Parse(config)
	if err != nil {
		return "", "", false, fmt.Errorf("sasl.jaas.config: %w", err)
	}
	if len(entries) != 1 {
		return "", "", false, fmt.Errorf("sasl.jaas.config: %d login modules; a client takes exactly 1", len(entries))
	}
	e := entries[0]
	if e.LoginModule != plainLoginModule && e.LoginModule != scramLoginModule {
		return "", "", false, fmt.Errorf("sasl.jaas.config: login module %s is not supported: want %s or %s", e.LoginModule, plainLoginModule, scramLoginModule)
	}
	user, hasUser := e.Options["username"]
	password, hasPassword := e.Options["password"]
	switch {
	case !hasUser || user == "":
		return "", "", false, fmt.Errorf("sasl.jaas.config: %s has no username", e.LoginModule)
	case !hasPassword || password == "":
		return "", "", false, fmt.Errorf("sasl.jaas.config: %s has no password", e.LoginModule)
	}
	token = strings.EqualFold(e.Options["tokenauth"], "true")
	return user, password, token, nil
}
