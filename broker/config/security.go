package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kzoo/kzoo/internal/configvalue"
)

// The security protocols of listeners (listener.security.protocol.map).
const (
	PlaintextProtocol     = "PLAINTEXT"
	SSLProtocol           = "SSL"
	SASLPlaintextProtocol = "SASL_PLAINTEXT"
	SASLSSLProtocol       = "SASL_SSL"
)

// AuthorizerClassName is the authorizer.class.name that turns ACLs on:
// Kafka's own class, named as a switch since kzoo loads no classes.
const (
	AuthorizerClassName       = "kafka.security.authorizer.AclAuthorizer"
	legacyAuthorizerClassName = "kafka.security.auth.SimpleAclAuthorizer"
)

// checkAuthorizer accepts Kafka's ACL authorizer classes as the switch
// that turns kzoo's ACLs on.
func checkAuthorizer(value string) error {
	switch value {
	case "", AuthorizerClassName, legacyAuthorizerClassName:
		return nil
	}
	return fmt.Errorf("kzoo's authorizer is Kafka's ACL authorizer: set %s, or leave the key empty for none (got %q)", AuthorizerClassName, value)
}

// The SASL mechanisms kzoo serves. Kafka also has GSSAPI (Kerberos) and
// OAUTHBEARER; kzoo refuses them by name, so that a Kafka config that
// enables them fails at start-up instead of at a client's handshake.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// listenerPrefix starts the keys that apply to one listener only, as in
// Kafka: listener.name.<listener name in lower case>.<key>.
const listenerPrefix = "listener.name."

// listenerScopedNames are the keys a listener may set for itself; a
// listener's own value wins over the broker-wide one.
var listenerScopedNames = []string{
	"ssl.keystore.type", "ssl.keystore.location", "ssl.keystore.password", "ssl.key.password",
	"ssl.keystore.certificate.chain", "ssl.keystore.key",
	"ssl.truststore.type", "ssl.truststore.location", "ssl.truststore.password", "ssl.truststore.certificates",
	"ssl.client.auth", "ssl.endpoint.identification.algorithm", "ssl.enabled.protocols", "ssl.cipher.suites", "ssl.principal.mapping.rules",
	"sasl.enabled.mechanisms", "sasl.server.max.receive.size", "connections.max.reauth.ms",
}

// jaasSuffix ends a listener's per-mechanism JAAS key:
// listener.name.<listener>.<mechanism in lower case>.sasl.jaas.config.
const jaasSuffix = ".sasl.jaas.config"

// splitListenerKey splits listener.name.<listener>.<key> into the listener
// name (upper-cased, as listener names are) and the key.
func splitListenerKey(name string) (listener, key string, ok bool) {
	rest, ok := strings.CutPrefix(name, listenerPrefix)
	if !ok {
		return "", "", false
	}
	listener, key, ok = strings.Cut(rest, ".")
	if !ok || listener == "" || key == "" {
		return "", "", false
	}
	return strings.ToUpper(listener), key, true
}

// listenerScopedKey is the key a listener-scoped name sets: one of
// listenerScopedNames, or a mechanism's JAAS configuration.
func listenerScopedKey(key string) (Key, bool) {
	if slices.Contains(listenerScopedNames, key) {
		return lookup(brokerKeys, key)
	}
	if mechanism, ok := strings.CutSuffix(key, jaasSuffix); ok && mechanism != "" && !strings.Contains(mechanism, ".") {
		return Key{Name: key, Type: TypePassword, Doc: "JAAS configuration of one SASL mechanism on one listener."}, true
	}
	return Key{}, false
}

// ListenerSecurity is how one listener secures its connections.
type ListenerSecurity struct {
	// Protocol is the listener's security protocol (PLAINTEXT, SSL,
	// SASL_PLAINTEXT or SASL_SSL).
	Protocol string
	// TLS holds the listener's ssl.* keys in effect (its own, else the
	// broker-wide ones), by their unprefixed names; nil unless the
	// protocol uses TLS.
	TLS map[string]string
	// SASLMechanisms are the mechanisms a SASL listener accepts; JAAS is
	// each one's sasl.jaas.config, by mechanism (absent when not set).
	SASLMechanisms []string
	JAAS           map[string]string
	// SASLMaxReceiveSize bounds a frame before authentication.
	SASLMaxReceiveSize int32
	// MaxReauth is connections.max.reauth.ms: the longest a SASL session
	// lasts before the client must re-authenticate (0: forever).
	MaxReauth time.Duration
}

// UsesTLS reports whether the listener's connections start with a TLS
// handshake.
func (l ListenerSecurity) UsesTLS() bool {
	return l.Protocol == SSLProtocol || l.Protocol == SASLSSLProtocol
}

// UsesSASL reports whether the listener's clients authenticate with SASL.
func (l ListenerSecurity) UsesSASL() bool {
	return l.Protocol == SASLPlaintextProtocol || l.Protocol == SASLSSLProtocol
}

// Authorization is the ACL authorizer's configuration.
type Authorization struct {
	// Enabled is set by authorizer.class.name.
	Enabled bool
	// SuperUsers are super.users' principals ("User:admin").
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is allow.everyone.if.no.acl.found.
	AllowEveryoneIfNoACLFound bool
}

// listenerValue is key's value for listener: its listener-scoped value if
// set, else the broker-wide one (or the default).
func (v Values) listenerValue(listener, key string) (string, bool) {
	if s, ok := v[listenerPrefix+strings.ToLower(listener)+"."+key]; ok {
		return s, true
	}
	return v.get(key)
}

// listenerSecurity resolves the security settings of listener, whose
// protocol is protocol.
func (v Values) listenerSecurity(listener, protocol string) (ListenerSecurity, error) {
	ls := ListenerSecurity{Protocol: protocol}
	if ls.UsesTLS() {
		ls.TLS = make(map[string]string)
		for _, key := range listenerScopedNames {
			if !strings.HasPrefix(key, "ssl.") {
				continue
			}
			// An empty value is kept: ssl.endpoint.identification.algorithm=
			// turns the host name check off.
			if s, ok := v.listenerValue(listener, key); ok {
				ls.TLS[key] = s
			}
		}
	}
	if !ls.UsesSASL() {
		return ls, nil
	}
	mechanisms, _ := v.listenerValue(listener, "sasl.enabled.mechanisms")
	for _, m := range configvalue.SplitList(mechanisms) {
		m = strings.ToUpper(m)
		if !slices.Contains(saslMechanisms, m) {
			return ls, fmt.Errorf("listener %s: sasl.enabled.mechanisms: kzoo does not support %s (it supports %s)", listener, m, strings.Join(saslMechanisms, ", "))
		}
		if !slices.Contains(ls.SASLMechanisms, m) {
			ls.SASLMechanisms = append(ls.SASLMechanisms, m)
		}
	}
	if len(ls.SASLMechanisms) == 0 {
		return ls, fmt.Errorf("listener %s: sasl.enabled.mechanisms is empty", listener)
	}
	ls.JAAS = make(map[string]string)
	for _, m := range ls.SASLMechanisms {
		if s, ok := v[listenerPrefix+strings.ToLower(listener)+"."+strings.ToLower(m)+jaasSuffix]; ok {
			ls.JAAS[m] = s
		}
	}
	size, _ := v.listenerValue(listener, "sasl.server.max.receive.size")
	reauth, _ := v.listenerValue(listener, "connections.max.reauth.ms")
	n, _ := strconv.ParseInt(size, 10, 32) // validated by set or the default table
	ms, _ := strconv.ParseInt(reauth, 10, 64)
	ls.SASLMaxReceiveSize = int32(n)
	ls.MaxReauth = time.Duration(ms) * time.Millisecond
	return ls, nil
}

// resolveSecurity fills in b.Security, b.InterBrokerSASLMechanism and
// b.Authorization; the listeners must be resolved already.
func (v Values) resolveSecurity(b *Broker) error {
	for name := range v {
		if listener, _, ok := splitListenerKey(name); ok {
			if _, known := b.ListenerSecurityProtocols[listener]; !known {
				return fmt.Errorf("%s: listener %s is not one of listeners", name, listener)
			}
		}
	}
	b.Security = make(map[string]ListenerSecurity, len(b.Listeners))
	for _, l := range b.Listeners {
		ls, err := v.listenerSecurity(l.Name, b.ListenerSecurityProtocols[l.Name])
		if err != nil {
			return err
		}
		b.Security[l.Name] = ls
	}
	inter := b.Security[b.InterBrokerListener]
	if inter.Protocol == "" {
		// The inter-broker listener is advertised but not bound here;
		// its protocol still comes from the map.
		protocols, _ := ParseSecurityProtocolMap(v.Value("listener.security.protocol.map"))
		var err error
		if inter, err = v.listenerSecurity(b.InterBrokerListener, protocols[b.InterBrokerListener]); err != nil {
			return err
		}
		b.Security[b.InterBrokerListener] = inter
	}
	if inter.UsesSASL() {
		m := strings.ToUpper(v.Value("sasl.mechanism.inter.broker.protocol"))
		if !slices.Contains(inter.SASLMechanisms, m) {
			return fmt.Errorf("sasl.mechanism.inter.broker.protocol: %s is not enabled on the inter-broker listener %s (sasl.enabled.mechanisms: %s)",
				m, b.InterBrokerListener, strings.Join(inter.SASLMechanisms, ","))
		}
		if _, ok := inter.JAAS[m]; !ok {
			return fmt.Errorf("sasl.mechanism.inter.broker.protocol %s: set %s%s.%s%s with the broker's own username and password",
				m, listenerPrefix, strings.ToLower(b.InterBrokerListener), strings.ToLower(m), jaasSuffix)
		}
		b.InterBrokerSASLMechanism = m
	}
	b.Authorization = Authorization{
		Enabled:                   v.Value("authorizer.class.name") != "",
		AllowEveryoneIfNoACLFound: v.bool("allow.everyone.if.no.acl.found"),
	}
	for _, p := range strings.Split(v.Value("super.users"), ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			return fmt.Errorf("super.users: %q is not a principal of the form User:name", p)
		}
		b.Authorization.SuperUsers = append(b.Authorization.SuperUsers, p)
	}
	return nil
}
