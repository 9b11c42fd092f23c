package broker

import (
	"net"
	"strconv"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/coordinator"
)

// boundListener is one bound socket of listeners, with the listener name
// its connections are answered in.
type boundListener struct {
	name string
	ln   net.Listener
}

// listenerEndpoint returns b's advertised endpoint of the listener named
// listener. A client is answered with the endpoints of the listener it
// connected through, and brokers reach each other through
// inter.broker.listener.name, so a broker without that listener cannot be
// reached that way (ok is false).
func listenerEndpoint(b coordinator.Broker, listener string) (host string, port int32, ok bool) {
	for _, e := range b.Endpoints {
		if e.Listener == listener && e.Port >= 0 {
			return e.Host, e.Port, true
		}
	}
	return "", -1, false
}

// reachableBroker is a live broker as a client of one listener reaches it.
type reachableBroker struct {
	id   int32
	host string
	port int32
	rack *string // nil without a rack
}

// brokersOn lists the live brokers of snap that have an endpoint of
// listener, in id order: those Metadata and DescribeCluster name.
func brokersOn(snap *coordinator.Snapshot, listener string) []reachableBroker {
	var out []reachableBroker
	for _, id := range snap.LiveBrokerIDs() {
		b := snap.Brokers[id]
		host, port, ok := listenerEndpoint(b, listener)
		if !ok {
			continue // not reachable through the client's listener
		}
		rb := reachableBroker{id: b.ID, host: host, port: port}
		if b.Rack != "" {
			rack := b.Rack
			rb.rack = &rack
		}
		out = append(out, rb)
	}
	return out
}

// hasListener reports whether b advertises an endpoint of listener.
func hasListener(b coordinator.Broker, listener string) bool {
	_, _, ok := listenerEndpoint(b, listener)
	return ok
}

// brokerAddr is the host:port of broker id's endpoint of listener in snap.
func brokerAddr(snap *coordinator.Snapshot, id int32, listener string) (string, bool) {
	b, live := snap.Brokers[id]
	if !live {
		return "", false
	}
	host, port, ok := listenerEndpoint(b, listener)
	if !ok {
		return "", false
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), true
}

// interBrokerListener is the listener this broker uses to reach the others.
func (s *Server) interBrokerListener() string {
	if s.cfg.InterBrokerListener == "" {
		return config.PlaintextProtocol // a config not built by Values.Broker
	}
	return s.cfg.InterBrokerListener
}
