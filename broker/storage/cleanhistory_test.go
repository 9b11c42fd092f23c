package storage

import (
	"slices"
	"testing"
)

func TestCleanHistory(t *testing.T) {
	const retention = 100
	var h cleanHistory
	h.record(0, 1_000, retention) // a clean of nothing
	h.record(10, 1_000, retention)
	h.record(20, 1_050, retention)
	h.record(15, 1_060, retention) // already covered: keeps its earlier time
	h.record(30, 1_040, retention) // the clock stepped back: the history does not
	want := []cleanStep{{10, 1_000}, {20, 1_050}, {30, 1_050}}
	if !slices.Equal(h.steps, want) {
		t.Fatalf("steps %v, want %v", h.steps, want)
	}
	for _, tt := range []struct{ now, want int64 }{
		{1_099, 0}, {1_100, 10}, {1_149, 10}, {1_150, 30}, {5_000, 30},
	} {
		if got := h.expiredBelow(tt.now, retention); got != tt.want {
			t.Errorf("expiredBelow(%d) = %d, want %d", tt.now, got, tt.want)
		}
	}

	// Expired steps collapse into the newest of them, which keeps their end.
	h.record(40, 1_160, retention)
	if want := []cleanStep{{30, 1_050}, {40, 1_160}}; !slices.Equal(h.steps, want) {
		t.Fatalf("steps %v after expiry, want %v", h.steps, want)
	}

	parsed, err := parseCleanHistory(formatCleanHistory(h))
	if err != nil || !slices.Equal(parsed.steps, h.steps) {
		t.Fatalf("round trip: %v, %v", parsed.steps, err)
	}
	for _, bad := range []string{"", "0\n", "1\n0\n", "0\n2\n10 5\n", "0\n2\n10 5\n10 6\n", "0\n2\n10 5\n20 4\n", "0\n1\n0 5\n", "0\n1\nx 5\n"} {
		if _, err := parseCleanHistory([]byte(bad)); err == nil {
			t.Errorf("accepted malformed history %q", bad)
		}
	}

	h.truncate(35)
	if want := []cleanStep{{30, 1_050}, {35, 1_160}}; !slices.Equal(h.steps, want) {
		t.Fatalf("steps %v after truncating to 35, want %v", h.steps, want)
	}
	h.truncate(30)
	if want := []cleanStep{{30, 1_050}}; !slices.Equal(h.steps, want) {
		t.Fatalf("steps %v after truncating to 30, want %v", h.steps, want)
	}
	h.coverUpTo(50, 2_000)
	if want := []cleanStep{{30, 1_050}, {50, 2_000}}; !slices.Equal(h.steps, want) {
		t.Fatalf("steps %v after covering up to 50, want %v", h.steps, want)
	}
}

func TestCleanHistoryStaysBoundedAndConservative(t *testing.T) {
	const retention = 1 << 40 // nothing expires
	var h cleanHistory
	for i := int64(1); i <= 3*maxCleanSteps; i++ {
		at := i * 10
		if i%7 == 0 {
			at += 3 // uneven gaps, so that merges have a choice
		}
		h.record(i*100, at, retention)
	}
	if len(h.steps) != maxCleanSteps {
		t.Fatalf("%d steps, want %d", len(h.steps), maxCleanSteps)
	}
	// Merging may date offsets later than their clean, never earlier.
	for i := int64(1); i <= 3*maxCleanSteps; i++ {
		offset := i*100 - 1
		j, _ := slices.BinarySearchFunc(h.steps, offset, func(s cleanStep, o int64) int {
			if s.end <= o {
				return -1
			}
			return 1
		})
		if got := h.steps[j].cleanedAtMs; got < i*10 {
			t.Fatalf("offset %d dated %d, before its clean at %d", offset, got, i*10)
		}
	}
}
