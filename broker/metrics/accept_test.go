package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAcceptErrorsExportsEveryListenerFromTheStart(t *testing.T) {
	a := NewAcceptErrors([]string{"PLAINTEXT", "EXTERNAL"})
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(a); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(a, "kzoo_listener_accept_errors_total"); n != 2 {
		t.Fatalf("%d series before any failure, want one per listener", n)
	}
	a.Listener("EXTERNAL").Inc()
	a.Listener("EXTERNAL").Inc()
	if got := testutil.ToFloat64(a.Listener("EXTERNAL")); got != 2 {
		t.Errorf("EXTERNAL counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(a.Listener("PLAINTEXT")); got != 0 {
		t.Errorf("PLAINTEXT counted %v, want 0", got)
	}
}

func TestNilAcceptErrorsCountsNothing(t *testing.T) {
	var a *AcceptErrors
	if c := a.Listener("PLAINTEXT"); c != nil {
		t.Errorf("nil AcceptErrors gave counter %v, want nil", c)
	}
	if n := testutil.CollectAndCount(a); n != 0 {
		t.Errorf("nil AcceptErrors collected %d series", n)
	}
}
