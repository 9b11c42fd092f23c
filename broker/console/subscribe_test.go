package console

import (
	"testing"
)

func TestSubscribeLimitAndCancel(t *testing.T) {
	c := New(&stubSource{id: 1}, Config{})
	var cancels []func()
	for range MaxSubscribers {
		_, cancel, ok := c.Subscribe()
		if !ok {
			t.Fatalf("refused after %d subscribers", len(cancels))
		}
		cancels = append(cancels, cancel)
	}
	if ch, cancel, ok := c.Subscribe(); ok || ch != nil || cancel == nil {
		t.Fatalf("subscriber %d accepted (ok %v, ch %v)", MaxSubscribers+1, ok, ch)
	}
	cancels[0]()
	cancels[0]() // twice is harmless, and does not free a second slot
	if c.subs.count() != MaxSubscribers-1 {
		t.Fatalf("%d subscribers after one cancel", c.subs.count())
	}
	if _, _, ok := c.Subscribe(); !ok {
		t.Fatal("a cancelled subscription's slot was not freed")
	}
	if _, _, ok := c.Subscribe(); ok {
		t.Fatal("a second subscriber took the one freed slot")
	}
}

// TestSubscribeCoalesces: a reader that reads late sees the newest
// version, once.
func TestSubscribeCoalesces(t *testing.T) {
	c := New(&stubSource{id: 1}, Config{})
	versions, cancel, ok := c.Subscribe()
	if !ok {
		t.Fatal("Subscribe refused")
	}
	defer cancel()
	snap := baseSnapshot()
	for range 10 {
		n := nextView(snap)
		n.ControllerEpoch++
		c.Observe(n)
		snap = n
	}
	if v := <-versions; v != 10 {
		t.Errorf("read version %d, want the newest, 10", v)
	}
	select {
	case v := <-versions:
		t.Errorf("a second version %d waiting: the channel did not coalesce", v)
	default:
	}
	// A cancelled subscriber is not sent to any more.
	cancel()
	c.Observe(nextView(snap))
	select {
	case v := <-versions:
		t.Errorf("version %d sent after cancel", v)
	default:
	}
}
