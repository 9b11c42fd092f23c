package broker

import (
	"net"
	"syscall"
	"testing"

	"github.com/kzoo/kzoo/broker/config"
)

// addrConn is an accepted connection from ip; it records its Close.
type addrConn struct {
	net.Conn
	ip     string
	closed bool
}

func (c *addrConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.ParseIP(c.ip), Port: 40000} }
func (c *addrConn) Close() error         { c.closed = true; return nil }

func TestConnLimiter(t *testing.T) {
	l := newConnLimiter("INTERNAL", config.ConnectionLimits{Total: 2, PerIP: 3}, discardLogger())
	admit := func(ip, listener string) (net.Conn, *addrConn) {
		raw := &addrConn{ip: ip}
		return l.admit(raw, listener), raw
	}
	a, _ := admit("10.0.0.1", "PLAINTEXT")
	b, _ := admit("10.0.0.2", "PLAINTEXT")
	if a == nil || b == nil {
		t.Fatal("connections within max.connections refused")
	}
	if c, raw := admit("10.0.0.3", "PLAINTEXT"); c != nil || !raw.closed {
		t.Fatal("a third client connection beyond max.connections=2 was admitted or left open")
	}
	// The inter-broker listener is not counted against max.connections,
	// but is against max.connections.per.ip.
	if c, _ := admit("10.0.0.1", "INTERNAL"); c == nil {
		t.Fatal("an inter-broker connection was refused by max.connections")
	}
	if c, _ := admit("10.0.0.1", "INTERNAL"); c == nil {
		t.Fatal("the third connection from 10.0.0.1 was refused below max.connections.per.ip=3")
	}
	if c, raw := admit("10.0.0.1", "INTERNAL"); c != nil || !raw.closed {
		t.Fatal("a fourth connection from 10.0.0.1 beyond max.connections.per.ip=3 was admitted")
	}
	// Closing frees the place, once however often it is closed.
	a.Close()
	a.Close()
	if total, fromHost := l.open("10.0.0.1"); total != 1 || fromHost != 2 {
		t.Fatalf("after a close: %d counted, %d from 10.0.0.1; want 1, 2", total, fromHost)
	}
	if c, _ := admit("10.0.0.3", "PLAINTEXT"); c == nil {
		t.Fatal("a client connection refused after one was closed")
	}
	// Limits change at run time.
	l.setLimits(config.ConnectionLimits{Total: 10, PerIP: 10})
	if c, _ := admit("10.0.0.4", "PLAINTEXT"); c == nil {
		t.Fatal("a connection refused after max.connections was raised")
	}
	l.setLimits(config.ConnectionLimits{Total: 10, PerIP: 0, PerIPOverrides: map[string]int{"10.0.0.6": 1}})
	if c, _ := admit("10.0.0.5", "PLAINTEXT"); c != nil {
		t.Fatal("a connection admitted with max.connections.per.ip=0")
	}
	if c, _ := admit("10.0.0.6", "PLAINTEXT"); c == nil {
		t.Fatal("a connection refused within its address's override")
	}
	if c, _ := admit("10.0.0.6", "PLAINTEXT"); c != nil {
		t.Fatal("a connection admitted beyond its address's override")
	}
}

// TestLimitedConnKeepsTheSocket: an admitted TCP connection still hands
// its file descriptor to sendfile (zero-copy fetch).
func TestLimitedConnKeepsTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	admitted := newConnLimiter("", config.ConnectionLimits{Total: 1, PerIP: 1}, discardLogger()).admit(nc, "PLAINTEXT")
	defer admitted.Close()
	sc, ok := admitted.(syscall.Conn)
	if !ok {
		t.Fatal("an admitted connection is not a syscall.Conn")
	}
	if _, err := sc.SyscallConn(); err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
}

// open returns the connections counted against max.connections and those
// from host.
func (l *connLimiter) open(host string) (total, fromHost int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perIP[host]
}
