package console

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestElectPreferredConfirmsThenRuns(t *testing.T) {
	src := &fakeSource{}
	h := newTestHandler(newFakeReader(), src)
	same := []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"}

	rec, d := post(t, h, "/topics/orders/elect-preferred", "", same...)
	if rec.Code != http.StatusOK {
		t.Fatalf("first POST: status %d:\n%s", rec.Code, rec.Body)
	}
	if len(src.elected) != 0 {
		t.Fatal("the election ran without a confirmation")
	}
	form := d.one("form#confirm-elect")
	if a, _ := attrOf(form, "action"); a != "/topics/orders/elect-preferred" {
		t.Errorf("confirmation form posts to %q", a)
	}
	if v := d.attr(`form#confirm-elect input[name="confirm"]`, "value"); v != "yes" {
		t.Errorf("confirmation value %q", v)
	}
	if d.attr("body", "data-live") != "false" {
		t.Error("the confirmation page would refresh itself by GET")
	}

	rec, d = post(t, h, "/topics/orders/elect-preferred", "confirm=yes", same...)
	if rec.Code != http.StatusOK {
		t.Fatalf("confirmed POST: status %d:\n%s", rec.Code, rec.Body)
	}
	if !slices.Equal(src.elected, []string{"orders"}) {
		t.Fatalf("elections %v, want one over orders", src.elected)
	}
	res := d.one("#action-result")
	if v, _ := attrOf(res, "data-ok"); v != "false" {
		t.Errorf("data-ok %q, want false (partition 1 failed)", v)
	}
	if got := d.text(`#action-result li[data-partition="1"]`); !strings.Contains(got, "not in the ISR") {
		t.Errorf("failed partition: %q", got)
	}
}

func TestElectPreferredFailure(t *testing.T) {
	src := &fakeSource{electErr: errFake("no controller")}
	h := newTestHandler(newFakeReader(), src)
	rec, d := post(t, h, "/topics/orders/elect-preferred", "confirm=yes")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	if !strings.Contains(d.text("#action-result"), "no controller") {
		t.Errorf("result %q", d.text("#action-result"))
	}
}

func TestElectPreferredAuthorization(t *testing.T) {
	src := &fakeSource{authErr: ErrAuthRequired}
	h := newTestHandler(newFakeReader(), src)
	for _, form := range []string{"", "confirm=yes"} {
		rec, _ := post(t, h, "/topics/orders/elect-preferred", form)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%q without credentials: status %d, want 401", form, rec.Code)
		}
		if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="kzoo console"`) {
			t.Errorf("challenge %q", got)
		}
	}

	src.authErr = ErrDenied
	rec, _ := post(t, h, "/topics/orders/elect-preferred", "confirm=yes", "Authorization", basic("alice", "pw"))
	if rec.Code != http.StatusForbidden {
		t.Errorf("denied principal: status %d, want 403", rec.Code)
	}
	// httptest's requests come from 192.0.2.1:1234; the ACLs see the host.
	if c := src.gotCreds; !c.Present || c.User != "alice" || c.Password != "pw" || c.Host != "192.0.2.1" {
		t.Errorf("credentials handed to Authorize: %+v", c)
	}
	if len(src.elected) != 0 {
		t.Fatal("an election ran for a refused request")
	}

	src.authErr = nil
	rec, d := post(t, h, "/topics/orders/elect-preferred", "", "Authorization", basic("bob", "pw"))
	if rec.Code != http.StatusOK || !strings.Contains(d.text("main"), "User:bob") {
		t.Errorf("allowed principal: status %d, page %q", rec.Code, d.text("main"))
	}
}

func basic(user, pw string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

func TestElectPreferredRefusesCrossOrigin(t *testing.T) {
	src := &fakeSource{}
	h := newTestHandler(newFakeReader(), src)
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "http://evil.example"},
	} {
		rec, _ := post(t, h, "/topics/orders/elect-preferred", "confirm=yes", hdr...)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%v: status %d, want 403", hdr, rec.Code)
		}
	}
	if len(src.elected) != 0 {
		t.Fatal("a cross-origin POST ran an election")
	}
	// The console's own page (Origin = its host, httptest's example.com).
	if rec, _ := post(t, h, "/topics/orders/elect-preferred", "confirm=yes", "Origin", "http://example.com"); rec.Code != http.StatusOK {
		t.Errorf("same origin: status %d", rec.Code)
	}
}

func TestElectPreferredBadInput(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	if rec, _ := post(t, h, "/topics/missing/elect-preferred", "confirm=yes"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown topic: status %d, want 404", rec.Code)
	}
	if rec, _ := post(t, h, "/topics/orders/elect-preferred", "confirm=maybe"); rec.Code != http.StatusBadRequest {
		t.Errorf("confirm=maybe: status %d, want 400", rec.Code)
	}
	if rec, _ := get(t, h, "/topics/orders/elect-preferred"); rec.Code == http.StatusOK {
		t.Error("GET ran or confirmed an election")
	}
	// A form beyond maxFormBytes is refused unread, even if it confirms.
	src := &fakeSource{}
	h = newTestHandler(newFakeReader(), src)
	huge := "confirm=yes&pad=" + strings.Repeat("x", 2*maxFormBytes)
	if rec, _ := post(t, h, "/topics/orders/elect-preferred", huge); rec.Code != http.StatusBadRequest {
		t.Errorf("oversized form: status %d, want 400", rec.Code)
	}
	if len(src.elected) != 0 {
		t.Error("an oversized form ran an election")
	}
}
