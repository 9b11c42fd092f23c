package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

func TestFormatBytes(t *testing.T) {
	for in, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 10 << 10: "10 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 1 << 40: "1.0 TiB", -1: "–",
	} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0 B/s", 0.5: "0.5 B/s", 12.25: "12 B/s", 1536: "1.5 KiB/s", 200 << 20: "200 MiB/s"} {
		if got := formatRate(in); got != want {
			t.Errorf("formatRate(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestPaginate(t *testing.T) {
	for _, c := range []struct {
		query        string
		total        int
		page, lo, hi int
		prev, next   bool
		err          bool
	}{
		{"", 0, 1, 0, 0, false, false, false},
		{"", 450, 1, 0, 200, false, true, false},
		{"page=2", 450, 2, 200, 400, true, true, false},
		{"page=3", 450, 3, 400, 450, true, false, false},
		{"page=4", 450, 0, 0, 0, false, false, true},
		{"page=1", 0, 1, 0, 0, false, false, false},
		{"page=2", 0, 0, 0, 0, false, false, true},
		{"page=two", 450, 0, 0, 0, false, false, true},
		{"page=", 450, 0, 0, 0, false, false, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/topics?q=x&"+c.query, nil)
		p, err := paginate(r, c.total, pageSize)
		if (err != nil) != c.err {
			t.Errorf("%q of %d: error %v", c.query, c.total, err)
			continue
		}
		if err != nil {
			continue
		}
		if p.Page != c.page || p.lo != c.lo || p.hi != c.hi || (p.Prev != "") != c.prev || (p.Next != "") != c.next {
			t.Errorf("%q of %d: %+v", c.query, c.total, p)
		}
		if p.Next != "" && !strings.Contains(p.Next, "q=x") {
			t.Errorf("next link %q drops the filter", p.Next)
		}
	}
}

// TestTopicsPaged: 450 topics make three pages of at most 200 rows.
func TestTopicsPaged(t *testing.T) {
	fr := newFakeReader()
	snap := &coordinator.Snapshot{ControllerID: 1, Topics: map[string]*coordinator.Topic{}}
	for i := range 450 {
		name := fmt.Sprintf("t%03d", i)
		snap.Topics[name] = &coordinator.Topic{Name: name, Partitions: []coordinator.Partition{
			{Topic: name, State: zkpaths.StateOnline, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}}
	}
	fr.state.Snap = snap
	h := newTestHandler(fr, &fakeSource{})
	rows := "table#topics tr[data-topic]"
	checkRows(t, h, "/topics", rows, "data-topic", "200 rows t000..t199")
	checkRows(t, h, "/topics?page=2", rows, "data-topic", "200 rows t200..t399")
	checkRows(t, h, "/topics?page=3", rows, "data-topic", "50 rows t400..t449")
	checkRows(t, h, "/topics?q=t44", rows, "data-topic", "10 rows t440..t449")
}

// checkRows checks which rows (sel) path shows: "N rows FIRST..LAST" of
// their attribute attr.
func checkRows(t *testing.T, h http.Handler, path, sel, attr, want string) *doc {
	t.Helper()
	rec, d := get(t, h, path)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: status %d", path, rec.Code)
	}
	rows := d.all(sel)
	got := "0 rows"
	if len(rows) > 0 {
		first, _ := attrOf(rows[0], attr)
		last, _ := attrOf(rows[len(rows)-1], attr)
		got = fmt.Sprintf("%d rows %s..%s", len(rows), first, last)
	}
	if got != want {
		t.Errorf("%s: %s, want %s", path, got, want)
	}
	return d
}

// TestPartitionsPaged: a 1,000-partition topic shows 200 a page, the grid
// all of them.
func TestPartitionsPaged(t *testing.T) {
	fr := newFakeReader()
	fr.state.Snap = pagesSnapshot(1000, 0)
	h := newTestHandler(fr, &fakeSource{})
	d := checkRows(t, h, "/topics/big?page=5", "table#partitions tr[data-partition]", "data-partition", "200 rows 800..999")
	d.expect("#partition-count", "1000")
	if n := len(d.all("#partition-grid [data-partition]")); n != 1000 {
		t.Errorf("%d grid cells, want 1000", n)
	}
	links := d.all("#partition-grid a")
	if v, _ := attrOf(links[850], "href"); v != "?page=5#p-850" {
		t.Errorf("grid cell 850 links to %q", v)
	}
	d.one("table#partitions tr#p-850")
	if rec, _ := get(t, h, "/topics/big?page=6"); rec.Code != http.StatusBadRequest {
		t.Errorf("page 6 of 5: status %d", rec.Code)
	}
}

// TestGroupsPaged: 450 groups page by 200; a group's 450 committed
// offsets too.
func TestGroupsPaged(t *testing.T) {
	fr := newFakeReader()
	var groups []GroupReport
	var offsets []OffsetReport
	for i := range 450 {
		groups = append(groups, GroupReport{Group: fmt.Sprintf("g%03d", i), State: "Empty"})
		offsets = append(offsets, OffsetReport{TopicPartition: zkpaths.TopicPartition{Topic: "orders", Partition: int32(i)},
			Committed: 1, End: 2, Lag: 1})
	}
	groups[0].Offsets = offsets
	fr.state.Stats.Groups = groups
	h := newTestHandler(fr, &fakeSource{})
	checkRows(t, h, "/groups?page=3", "table#groups tr[data-group]", "data-group", "50 rows g400..g449")
	d := checkRows(t, h, "/groups/g000?page=2", "table#offsets tr[data-partition]", "data-partition", "200 rows 200..399")
	d.expect("#group-lag", "450")
}

// TestStatesPaged: 250 state changes make three pages of 100, newest first.
func TestStatesPaged(t *testing.T) {
	fr := newFakeReader()
	fr.state.StateEvents = nil
	for i := range 250 {
		fr.state.StateEvents = append(fr.state.StateEvents, Event{Kind: EventPartition,
			Partition: zkpaths.TopicPartition{Topic: "orders", Partition: int32(i)},
			From:      zkpaths.StateOnline, To: zkpaths.StateOnline, Leader: 1, PrevLeader: 2})
	}
	h := newTestHandler(fr, &fakeSource{})
	rows := "table#state-events tr.event"
	checkRows(t, h, "/states", rows, "data-partition", "100 rows 0..99")
	checkRows(t, h, "/states?page=3", rows, "data-partition", "50 rows 200..249")
	checkRows(t, h, "/states?topic=orders&page=2", rows, "data-partition", "100 rows 100..199")
}
