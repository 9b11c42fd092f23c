package broker

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
)

// connLimitLogInterval spaces the warnings about refused connections, so
// that a client retrying in a loop does not flood the log.
const connLimitLogInterval = 10 * time.Second

// connLimiter bounds the client connections open at once: max.connections
// over every listener but the inter-broker one (as in Kafka, so that a
// crowd of clients never cuts replication off), and max.connections.per.ip
// from each address on all listeners (max.connections.per.ip.overrides
// for some). The limits change at run time
// (dynamic broker configs); a lowered limit closes no open connection, it
// refuses new ones until enough have gone. It is safe for concurrent use.
type connLimiter struct {
	interBroker string // listener name exempt from the total
	logger      logrus.FieldLogger

	mu      sync.Mutex
	limits  config.ConnectionLimits
	total   int            // open connections counted against limits.Total
	perIP   map[string]int // open connections by remote host, all listeners
	refused int            // since the last warning
	warned  time.Time
}

func newConnLimiter(interBroker string, limits config.ConnectionLimits, logger logrus.FieldLogger) *connLimiter {
	return &connLimiter{interBroker: interBroker, limits: limits, perIP: make(map[string]int), logger: logger}
}

// setLimits changes the limits for the connections accepted from now on.
func (l *connLimiter) setLimits(limits config.ConnectionLimits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limits = limits
}

// perIPLimitLocked is the limit of connections from host. l.mu is held.
func (l *connLimiter) perIPLimitLocked(host string) int {
	if n, ok := l.limits.PerIPOverrides[host]; ok {
		return n
	}
	return l.limits.PerIP
}

// admit counts nc, just accepted on listener, against the limits. Within
// them it returns nc wrapped so that closing it gives its place back;
// beyond them it closes nc and returns nil.
func (l *connLimiter) admit(nc net.Conn, listener string) net.Conn {
	host := remoteHost(nc.RemoteAddr())
	counted := listener != l.interBroker
	l.mu.Lock()
	if (counted && l.total >= l.limits.Total) || l.perIP[host] >= l.perIPLimitLocked(host) {
		l.refused++
		l.warnLocked(host)
		l.mu.Unlock()
		nc.Close()
		return nil
	}
	if counted {
		l.total++
	}
	l.perIP[host]++
	l.mu.Unlock()
	return &limitedConn{Conn: nc, release: func() { l.release(host, counted) }}
}

func (l *connLimiter) release(host string, counted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if counted {
		l.total--
	}
	if l.perIP[host]--; l.perIP[host] <= 0 {
		delete(l.perIP, host)
	}
}

// warnLocked logs the refused connections at most once per interval. l.mu
// is held.
func (l *connLimiter) warnLocked(host string) {
	now := time.Now()
	if now.Sub(l.warned) < connLimitLogInterval {
		return
	}
	l.logger.WithFields(logrus.Fields{
		"refused": l.refused, "last_from": host, "open": l.total, "open_from_last": l.perIP[host],
		"max_connections": l.limits.Total, "max_connections_from_last": l.perIPLimitLocked(host),
	}).Warn("refusing connections beyond max.connections or max.connections.per.ip")
	l.refused, l.warned = 0, now
}

// remoteHost is the address a connection is counted under: its IP.
func remoteHost(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// limitedConn is an admitted connection; closing it frees its place once.
// It passes SyscallConn through, so that fetches still reach the socket
// with sendfile.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("connection has no file descriptor")
	}
	return sc.SyscallConn()
}
