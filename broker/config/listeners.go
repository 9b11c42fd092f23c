package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kzoo/kzoo/internal/configvalue"
)

// securityProtocols are the protocols a listener may be mapped to.
var securityProtocols = []string{PlaintextProtocol, SSLProtocol, SASLPlaintextProtocol, SASLSSLProtocol}

// ParseSecurityProtocolMap parses listener.security.protocol.map:
// "NAME:PROTOCOL,...". Names are upper-cased as listener names are.
func ParseSecurityProtocolMap(s string) (map[string]string, error) {
	out := make(map[string]string)
	for _, item := range configvalue.SplitList(s) {
		name, protocol, ok := strings.Cut(item, ":")
		name, protocol = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(protocol))
		if !ok || name == "" || protocol == "" {
			return nil, fmt.Errorf("entry %q: want NAME:PROTOCOL", item)
		}
		if !slices.Contains(securityProtocols, protocol) {
			return nil, fmt.Errorf("entry %q: unknown security protocol %q (one of %s)", item, protocol, strings.Join(securityProtocols, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("listener name %s is mapped twice", name)
		}
		out[name] = protocol
	}
	return out, nil
}

// resolveListeners checks that listeners, advertised.listeners,
// listener.security.protocol.map and inter.broker.listener.name fit
// together, as Kafka's KafkaConfig validation does, and fills in
// b.ListenerSecurityProtocols and b.InterBrokerListener. b.Listeners and
// b.AdvertisedListeners must be parsed already.
func (v Values) resolveListeners(b *Broker) error {
	protocols, err := ParseSecurityProtocolMap(v.Value("listener.security.protocol.map"))
	if err != nil {
		return fmt.Errorf("listener.security.protocol.map: %w", err)
	}
	if err := uniqueNames("listeners", b.Listeners); err != nil {
		return err
	}
	if err := uniqueNames("advertised.listeners", b.AdvertisedListeners); err != nil {
		return err
	}
	for _, l := range b.Listeners {
		if _, ok := protocols[l.Name]; !ok {
			return fmt.Errorf("listeners: listener %s has no security protocol in listener.security.protocol.map", l.Name)
		}
	}
	for _, l := range b.AdvertisedListeners {
		if !slices.ContainsFunc(b.Listeners, func(bound Listener) bool { return bound.Name == l.Name }) {
			return fmt.Errorf("advertised.listeners: listener %s is not one of listeners", l.Name)
		}
	}

	// Kafka derives the default from security.inter.broker.protocol
	// (PLAINTEXT), whose listener name is the protocol's own name.
	inter := PlaintextProtocol
	if name, ok := v["inter.broker.listener.name"]; ok && strings.TrimSpace(name) != "" {
		inter = strings.ToUpper(strings.TrimSpace(name))
		if _, ok := protocols[inter]; !ok {
			return fmt.Errorf("inter.broker.listener.name: listener %s is not in listener.security.protocol.map", inter)
		}
	}
	if !slices.ContainsFunc(b.AdvertisedListeners, func(l Listener) bool { return l.Name == inter }) {
		return fmt.Errorf("inter.broker.listener.name: listener %s must be one of advertised.listeners (set inter.broker.listener.name to the listener other brokers should use)", inter)
	}

	b.ListenerSecurityProtocols = make(map[string]string, len(b.Listeners))
	for _, l := range b.Listeners {
		b.ListenerSecurityProtocols[l.Name] = protocols[l.Name]
	}
	b.InterBrokerListener = inter
	return nil
}

// uniqueNames fails when two entries of key share a listener name.
func uniqueNames(key string, listeners []Listener) error {
	seen := make(map[string]bool, len(listeners))
	for _, l := range listeners {
		if seen[l.Name] {
			return fmt.Errorf("%s: listener name %s is used more than once", key, l.Name)
		}
		seen[l.Name] = true
	}
	return nil
}
