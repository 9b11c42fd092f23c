package console

import "sync"

// MaxSubscribers bounds the live pages open at once on one broker: each
// holds an SSE stream and refetches its page at every change.
const MaxSubscribers = 64

// subscribers fans the State's Version out to the live pages. Each has a
// channel of one slot that a publish overwrites with the newest version:
// a slow page misses versions in between, never the latest, and a publish
// never waits for anyone.
type subscribers struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch chan uint64
}

// add subscribes, unless MaxSubscribers already are.
func (s *subscribers) add() (*subscriber, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) >= MaxSubscribers {
		return nil, false
	}
	if s.subs == nil {
		s.subs = make(map[*subscriber]struct{})
	}
	sub := &subscriber{ch: make(chan uint64, 1)}
	s.subs[sub] = struct{}{}
	return sub, true
}

func (s *subscribers) remove(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, sub)
}

// publish hands v to every subscriber, replacing a version it has not
// read yet. Only publish sends, under mu, so after the drain the send
// always finds the slot free.
func (s *subscribers) publish(v uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case <-sub.ch:
		default:
		}
		select {
		case sub.ch <- v:
		default:
		}
	}
}

func (s *subscribers) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Subscribe returns a channel that receives the State's Version each time
// it grows (coalesced: a slow reader sees the latest), and a function that
// ends the subscription. ok is false when too many pages are subscribed
// (MaxSubscribers). The channel is never closed: a reader stops on its own
// context, then calls cancel (more than once is harmless).
func (c *Console) Subscribe() (versions <-chan uint64, cancel func(), ok bool) {
	sub, ok := c.subs.add()
	if !ok {
		return nil, func() {}, false
	}
	var once sync.Once
	return sub.ch, func() { once.Do(func() { c.subs.remove(sub) }) }, true
}
