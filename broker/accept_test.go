package broker

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// scriptedListener returns the results in script from Accept, one per
// call, then blocks until it is closed.
type scriptedListener struct {
	script []acceptResult
	closed chan struct{}
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func newScriptedListener(script ...acceptResult) *scriptedListener {
	return &scriptedListener{script: script, closed: make(chan struct{})}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	if len(l.script) > 0 {
		r := l.script[0]
		l.script = l.script[1:]
		return r.conn, r.err
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *scriptedListener) Close() error   { close(l.closed); return nil }
func (l *scriptedListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// acceptErr is err as the net package returns it from a TCP listener.
func acceptErr(errno syscall.Errno) acceptResult {
	return acceptResult{err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}}
}

func testBackoff(counter prometheus.Counter) (*acceptBackoff, *logtest.Hook) {
	log, hook := logtest.NewNullLogger()
	b := newAcceptBackoff(log, counter)
	// No waiting to speak of, and a log interval no test run comes near:
	// every line after the first of a run is then a line too many.
	b.min, b.max, b.logInterval = time.Microsecond, 8*time.Microsecond, time.Hour
	return b, hook
}

func TestAcceptLoopKeepsAcceptingThroughTemporaryErrors(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	var script []acceptResult
	for range 10 {
		script = append(script, acceptErr(syscall.EMFILE))
	}
	script = append(script, acceptErr(syscall.ENFILE), acceptErr(syscall.ECONNABORTED),
		acceptResult{err: &net.OpError{Op: "accept", Net: "tcp", Err: os.ErrDeadlineExceeded}},
		acceptResult{conn: server})
	ln := newScriptedListener(script...)
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_accept_errors_total"})
	b, hook := testBackoff(counter)

	served := make(chan net.Conn, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		acceptLoop(t.Context(), ln, b, func(nc net.Conn) bool {
			served <- nc
			return true
		})
	}()
	select {
	case nc := <-served:
		if nc != server {
			t.Fatalf("served %v, want the connection the listener accepted", nc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connection after the errors was not served")
	}
	ln.Close()
	<-done

	if got := testutil.ToFloat64(counter); got != 13 {
		t.Errorf("counted %v failed accepts, want 13", got)
	}
	var failing, recovered int
	for _, e := range hook.AllEntries() {
		switch e.Message {
		case "cannot accept connections; retrying":
			failing++
		case "accepting connections again":
			recovered++
			if e.Data["failures"] != 13 {
				t.Errorf("recovery logged %v failures, want 13", e.Data["failures"])
			}
		default:
			t.Errorf("unexpected log line %q", e.Message)
		}
	}
	if failing != 1 || recovered != 1 {
		t.Errorf("logged %d failure and %d recovery lines for one run of 13 failures within the log interval, want 1 and 1", failing, recovered)
	}
}

func TestAcceptLoopStopsOnPermanentError(t *testing.T) {
	ln := newScriptedListener(acceptResult{err: errors.New("listener broken")})
	defer ln.Close()
	b, hook := testBackoff(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		acceptLoop(t.Context(), ln, b, func(net.Conn) bool {
			t.Error("served a connection")
			return true
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("accept loop still running after a permanent error")
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.ErrorLevel {
		t.Errorf("last log entry %v, want the error that stopped the listener", e)
	}
}

func TestAcceptLoopStopsWhileWaiting(t *testing.T) {
	ln := newScriptedListener(acceptErr(syscall.EMFILE))
	defer ln.Close()
	b, _ := testBackoff(nil)
	b.min, b.max = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		acceptLoop(ctx, ln, b, func(net.Conn) bool { return true })
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("accept loop still waiting out its backoff after its context ended")
	}
}

func TestAcceptBackoffDoublesUpToItsCap(t *testing.T) {
	b, _ := testBackoff(nil)
	var got []time.Duration
	for range 5 {
		b.wait(t.Context(), syscall.EMFILE)
		got = append(got, b.delay)
	}
	want := []time.Duration{1, 2, 4, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Microsecond {
			t.Fatalf("delays %v, want %v µs", got, want)
		}
	}
	b.succeeded()
	b.wait(t.Context(), syscall.EMFILE)
	if b.delay != b.min {
		t.Errorf("first delay after a success %v, want %v", b.delay, b.min)
	}
}

func TestTemporaryAcceptError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{acceptErr(syscall.EMFILE).err, true},
		{acceptErr(syscall.ENFILE).err, true},
		{acceptErr(syscall.ECONNABORTED).err, true},
		{acceptErr(syscall.ENOBUFS).err, true},
		{&net.OpError{Op: "accept", Err: os.ErrDeadlineExceeded}, true},
		{acceptErr(syscall.EINVAL).err, false},
		{net.ErrClosed, false},
		{errors.New("other"), false},
	} {
		if got := temporaryAcceptError(c.err); got != c.want {
			t.Errorf("temporaryAcceptError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
