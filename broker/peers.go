package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/peer"
)

const (
	// peerRequestTimeout bounds one request of a coordinator to another
	// broker: the time a leader may wait for its in-sync replicas before it
	// answers, and some.
	peerRequestTimeout = markerWriteTimeout + 5*time.Second
	// maxPeerResponse bounds a response to such a request: a few bytes per
	// partition.
	maxPeerResponse = 16 << 20
	// idlePeerConns is how many idle connections to each broker the pool
	// keeps for the next requests.
	idlePeerConns = 4
)

// peerPool holds connections from this broker to the others for the
// transaction coordinator's requests (markers, KIP-890 verifications), a
// few idle ones per broker. Replica fetchers have connections of their own.
type peerPool struct {
	s *Server

	mu     sync.Mutex
	idle   map[int32][]*peer.Conn // by broker id
	closed bool
}

func newPeerPool(s *Server) *peerPool {
	return &peerPool{s: s, idle: make(map[int32][]*peer.Conn)}
}

// request sends req, at the version it has, to broker id and decodes the
// answer into resp.
func (p *peerPool) request(ctx context.Context, id int32, req kmsg.Request, resp kmsg.Response) error {
	pc, err := p.conn(ctx, id)
	if err != nil {
		return err
	}
	if err := pc.Request(req, resp); err != nil {
		pc.Close() // unusable after an error
		return fmt.Errorf("%s to broker %d: %w", kmsg.NameForKey(req.Key()), id, err)
	}
	p.release(id, pc)
	return nil
}

// conn returns an idle connection to broker id, or dials one.
func (p *peerPool) conn(ctx context.Context, id int32) (*peer.Conn, error) {
	p.mu.Lock()
	if conns := p.idle[id]; len(conns) > 0 {
		pc := conns[len(conns)-1]
		p.idle[id] = conns[:len(conns)-1]
		p.mu.Unlock()
		return pc, nil
	}
	p.mu.Unlock()
	addr, err := replicaCluster{p.s}.ReplicationAddr(id)
	if err != nil {
		return nil, err
	}
	clientID := "kzoo-broker-" + strconv.Itoa(int(p.s.cfg.ID))
	return peer.Dial(ctx, addr, clientID, peerRequestTimeout, maxPeerResponse, p.s.peerSecurity)
}

// release keeps pc for the next request to broker id, unless enough are
// kept already or the pool is closed.
func (p *peerPool) release(id int32, pc *peer.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[id]) >= idlePeerConns {
		pc.Close()
		return
	}
	p.idle[id] = append(p.idle[id], pc)
}

// close closes the idle connections; connections in use are closed as
// their requests end.
func (p *peerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, conns := range p.idle {
		for _, pc := range conns {
			pc.Close()
		}
		delete(p.idle, id)
	}
}
