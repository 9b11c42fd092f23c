package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"
)

const (
	// readHeaderTimeout bounds how long a connection may take to send its
	// request headers, so that idle or slow clients cannot hold sockets.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes kept-alive connections nobody uses.
	idleTimeout = 2 * time.Minute
	// shutdownTimeout bounds how long a stopping console waits for the
	// requests in flight. Live streams end at once (their contexts are
	// cancelled when the shutdown starts); a topic page waiting on another
	// broker's answer waits at most PeerTimeout.
	shutdownTimeout = 5 * time.Second
	// maxHeaderBytes: the console's requests carry small headers.
	maxHeaderBytes = 64 << 10
)

// Server is the HTTP endpoint of the console, on console.listen.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log logrus.FieldLogger
	// stopStreams cancels every request's context when the shutdown
	// starts: without it the live streams (/events) would hold the
	// shutdown for its whole timeout.
	stopStreams context.CancelFunc
}

// Listen binds addr (host:port; port 0 picks a free one) so that a port
// conflict fails the broker's start-up, and prepares to serve h, which is
// normally (*Console).Handler(). Nothing is served until Serve.
func Listen(addr string, h http.Handler, log logrus.FieldLogger) (*Server, error) {
	log = orDiscard(log)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w", addr, err)
	}
	base, stop := context.WithCancel(context.Background())
	s := &Server{ln: ln, log: log, stopStreams: stop}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	s.srv.RegisterOnShutdown(stop)
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers requests until ctx is done, then stops accepting, ends the
// live streams, lets the requests in flight finish (for a bounded time) and
// returns. It returns an error if serving failed rather than being stopped.
func (s *Server) Serve(ctx context.Context) error {
	defer s.stopStreams()
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("console: serve on %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(stopCtx); err != nil {
		s.log.WithError(err).Warn("console: requests still running at shutdown; closing their connections")
		_ = s.srv.Close() // its only error is the listener's, already closed
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("console: serve on %s: %w", s.ln.Addr(), err)
	}
	return nil
}

// orDiscard returns log, or a logger that discards everything when it is nil.
func orDiscard(log logrus.FieldLogger) logrus.FieldLogger {
	if log != nil {
		return log
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// reader is what the pages read from the console: exactly the Console's
// methods, so that the handler tests render from a fixed view.
type reader interface {
	State() State
	LagHistory(group string) []Point
	ThroughputHistory(id int32, topic string) (in, out []Point)
	TopicPartitions(ctx context.Context, topic string) map[int32]PartitionReport
	Subscribe() (versions <-chan uint64, cancel func(), ok bool)
}

var _ reader = (*Console)(nil)

// Handler returns the console's pages, its live stream (/events), its
// assets and the report the other brokers' consoles fetch (/api/broker).
func (c *Console) Handler() http.Handler {
	return newHandler(c, c.src, c.serveBrokerReport, c.cfg.Logger)
}

// handler serves the pages from a reader and a Source.
type handler struct {
	r   reader
	src Source
	log logrus.FieldLogger
	// heartbeat is how often a live stream sends a comment, so that
	// proxies and browsers keep an idle stream open.
	heartbeat time.Duration
}

// defaultHeartbeat is the live stream's comment interval.
const defaultHeartbeat = 15 * time.Second

// newHandler routes the console's paths. api serves /api/broker.
func newHandler(r reader, src Source, api http.HandlerFunc, log logrus.FieldLogger) http.Handler {
	h := &handler{r: r, src: src, log: orDiscard(log), heartbeat: defaultHeartbeat}
	return h.routes(api)
}

func (h *handler) routes(api http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.cluster)
	mux.HandleFunc("GET /topics", h.topics)
	mux.HandleFunc("GET /topics/{topic}", h.topic)
	mux.HandleFunc("POST /topics/{topic}/elect-preferred", h.electPreferred)
	mux.HandleFunc("GET /states", h.states)
	mux.HandleFunc("GET /groups", h.groups)
	mux.HandleFunc("GET /groups/{group}", h.group)
	mux.HandleFunc("GET /reassignments", h.reassignments)
	mux.HandleFunc("GET /controller", h.controller)
	mux.HandleFunc("GET /events", h.events)
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /api/broker", api)
	// Everything else is a page that does not exist.
	mux.HandleFunc("/", h.notFound)

	// Only the preferred election changes anything; a browser sends it
	// with the Basic credentials it holds for the console wherever the
	// form came from, so a POST another site made is refused
	// (Sec-Fetch-Site, else Origin against Host). Clients that send
	// neither header (curl) are not browsers and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusForbidden, "Cross-origin request refused",
			"The console only accepts actions from its own pages.")
	}))
	return securityHeaders(cop.Handler(mux))
}

// contentSecurityPolicy lets a page load only the console's own scripts,
// styles and connections: no inline script or style, nothing from
// elsewhere, no framing. Text the cluster names (topic and group ids) is
// escaped by html/template; the policy is the second fence.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every answer carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		// same-origin, not no-referrer: with no-referrer a browser sends
		// "Origin: null" on the console's own POSTs.
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// notFound answers a path no page has.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "Not found", fmt.Sprintf("There is no page %s.", r.URL.Path))
}

// badRequest answers a request whose query parameter param is wrong.
func (h *handler) badRequest(w http.ResponseWriter, r *http.Request, param, problem string) {
	h.fail(w, r, http.StatusBadRequest, "Bad request",
		fmt.Sprintf("Query parameter %q: %s.", param, problem))
}

// fail answers with an error page: status, a title and what went wrong.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	st := h.r.State()
	h.render(w, r, status, "error", page{
		Title:   title,
		Version: st.Version,
		Broker:  st.Broker,
		Data:    errorView{Status: status, Title: title, Message: msg},
	})
}

// errorView is what the error page shows.
type errorView struct {
	Status         int
	Title, Message string
}
