package broker

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
)

// How a listener rides out errors that pass once resources are freed, as
// Go's net/http server does: the first retry after acceptRetryMin, each
// further one after twice the wait before, up to acceptRetryMax.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
	// acceptLogInterval spaces the log lines of a listener that keeps
	// failing: a broker out of descriptors fails every accept for as long
	// as it stays so, and a line per failure would flood its log.
	acceptLogInterval = 10 * time.Second
)

// acceptLoop accepts connections from ln and hands each to serve until ln
// is closed, ctx is done, or serve returns false. A temporary error (see
// temporaryAcceptError) is waited out with b; any other error ends the
// loop, logged, as a listener that fails that way will not recover.
func acceptLoop(ctx context.Context, ln net.Listener, b *acceptBackoff, serve func(net.Conn) bool) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			if !temporaryAcceptError(err) {
				b.logger.WithError(err).Error("accept failed; the listener accepts no more connections")
				return
			}
			if !b.wait(ctx, err) {
				return
			}
			continue
		}
		b.succeeded()
		if !serve(nc) {
			return
		}
	}
}

// temporaryAcceptError reports whether err, from Accept, passes once some
// resource is freed: descriptors (EMFILE for the process, ENFILE for the
// system), socket buffers or memory, a connection reset before it was
// accepted, or a deadline.
func temporaryAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// acceptBackoff paces one listener's accept loop through a run of
// temporary errors. It is owned by that loop's goroutine.
type acceptBackoff struct {
	min, max    time.Duration
	logInterval time.Duration
	logger      logrus.FieldLogger
	// errors counts every failed accept; nil counts nothing.
	errors prometheus.Counter

	// failures is the length of the current run of failed accepts; delay
	// is the wait after the last of them (0 when failures is 0).
	failures int
	delay    time.Duration
	loggedAt time.Time
}

func newAcceptBackoff(logger logrus.FieldLogger, errors prometheus.Counter) *acceptBackoff {
	return &acceptBackoff{
		min:         acceptRetryMin,
		max:         acceptRetryMax,
		logInterval: acceptLogInterval,
		logger:      logger,
		errors:      errors,
	}
}

// wait counts err and sleeps before the next accept: b.min after the first
// failure of a run, twice as long after each further one, at most b.max.
// It logs the first failure of a run and then at most one line per
// b.logInterval. It returns false if ctx is done first.
func (b *acceptBackoff) wait(ctx context.Context, err error) bool {
	if b.errors != nil {
		b.errors.Inc()
	}
	b.failures++
	b.delay = min(max(2*b.delay, b.min), b.max)
	if now := time.Now(); b.failures == 1 || now.Sub(b.loggedAt) >= b.logInterval {
		b.loggedAt = now
		b.logger.WithError(err).WithFields(logrus.Fields{
			"failures": b.failures,
			"retry_in": b.delay,
		}).Error("cannot accept connections; retrying")
	}
	t := time.NewTimer(b.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// succeeded ends a run of failures, if any.
func (b *acceptBackoff) succeeded() {
	if b.failures == 0 {
		return
	}
	b.logger.WithField("failures", b.failures).Info("accepting connections again")
	b.failures, b.delay = 0, 0
}

// listenerNames returns the names of listeners, in order.
func listenerNames(listeners []config.Listener) []string {
	names := make([]string, len(listeners))
	for i, l := range listeners {
		names[i] = l.Name
	}
	return names
}
