package console

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

func TestNiceCeil(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{0, 1}, {-3, 1}, {math.NaN(), 1}, {math.Inf(1), 1},
		{1, 1}, {1.2, 2}, {2, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {10, 10}, {11, 20},
		{999, 1000}, {1536, 2000}, {0.03, 0.05},
	} {
		if got := niceCeil(c.in); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestPow2Ceil(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{0, 1}, {0.5, 1}, {1, 1}, {1.5, 2}, {1000, 1024}, {1024, 1024}, {4600, 8192}, {math.Inf(1), 1},
	} {
		if got := pow2Ceil(c.in); got != c.want {
			t.Errorf("pow2Ceil(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestLineChartBinaryAxis(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	d := chartDoc(t, chart{Format: formatRate, Binary: true, Series: []series{
		{Name: "in", Points: []Point{{t0, 1000}, {t0.Add(time.Minute), 4600}}},
	}})
	var ticks []string
	for _, n := range d.all("svg text.tick") {
		ticks = append(ticks, textOf(n))
	}
	if got := strings.Join(ticks[:5], " | "); got != "0 B/s | 2.0 KiB/s | 4.0 KiB/s | 6.0 KiB/s | 8.0 KiB/s" {
		t.Errorf("y ticks %s", got)
	}
}

func chartDoc(t *testing.T, c chart) *doc {
	t.Helper()
	return parseDoc(t, "<!DOCTYPE html><html><body>"+string(lineChart(c))+"</body></html>")
}

func TestLineChart(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	c := chart{ID: "lag-chart", Class: "lag-chart", Title: "Lag <total>", Format: formatCount, Series: []series{
		{Name: "<b>x</b>", Points: []Point{{t0, 0}, {t0.Add(30 * time.Second), 600}, {t0.Add(time.Minute), 1200}}},
		{Name: "other", Points: []Point{{t0.Add(30 * time.Second), 100}}},
	}}
	d := chartDoc(t, c)
	svg := d.one("svg#lag-chart.chart.lag-chart")
	if vb, _ := attrOf(svg, "viewBox"); vb != "0 0 640 220" {
		t.Errorf("viewBox %q", vb)
	}
	line := d.one("svg polyline.line.s0")
	pts := strings.Fields(func() string { v, _ := attrOf(line, "points"); return v }())
	if len(pts) != 3 {
		t.Fatalf("%d points, want 3", len(pts))
	}
	// The first point sits on the axes' corner; the last at the right
	// edge, below the top (1200 of a 2000 axis).
	if pts[0] != "72,180" {
		t.Errorf("first point %s, want the origin 72,180", pts[0])
	}
	if pts[2] != "628,87.6" {
		t.Errorf("last point %s, want 628,87.6", pts[2])
	}
	d.one("svg circle.dot.s1") // a lone sample is a dot
	var ticks []string
	for _, n := range d.all("svg text.tick") {
		ticks = append(ticks, textOf(n))
	}
	got := strings.Join(ticks, " ")
	for _, want := range []string{"0", "500", "1k", "1.5k", "2k", "05:00:00", "05:01:00"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("ticks %q lack %q", got, want)
		}
	}
	// Names are text, escaped.
	src := string(lineChart(c))
	if strings.Contains(src, "<b>") || !strings.Contains(src, "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("a series name became markup")
	}
	if strings.Contains(src, "style=") {
		t.Error("a style attribute: the CSP would block it")
	}
	if n := len(d.all("svg rect.swatch")); n != 2 {
		t.Errorf("%d legend swatches, want 2", n)
	}
}

func TestLineChartEmpty(t *testing.T) {
	d := chartDoc(t, chart{Class: "throughput-chart", Title: "Bytes", Series: []series{{Name: "in"}}})
	d.one("svg.throughput-chart text.no-data")
	if len(d.all("svg polyline")) != 0 {
		t.Error("lines without data")
	}
}

func TestLineChartOneInstantAndFlat(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	// Two series at one instant, all zero: a valid axis, no NaN.
	src := string(lineChart(chart{Series: []series{
		{Name: "a", Points: []Point{{t0, 0}}},
		{Name: "b", Points: []Point{{t0, 0}, {t0, math.NaN()}}},
	}}))
	if strings.Contains(src, "NaN") || strings.Contains(src, "Inf") {
		t.Errorf("bad coordinates:\n%s", src)
	}
}

func TestPartitionGrid(t *testing.T) {
	parts := make([]coordinator.Partition, 120)
	for i := range parts {
		parts[i] = coordinator.Partition{Topic: "t", Partition: int32(i), State: zkpaths.StateOnline, Leader: 1,
			Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	}
	parts[7].ISR = []int32{1}
	parts[8].State, parts[8].Leader = zkpaths.StateOffline, -1
	parts[9].State = zkpaths.StateNew
	d := parseDoc(t, "<html><body>"+string(partitionGrid(parts, false))+"</body></html>")
	cells := d.all("#partition-grid rect[data-partition]")
	if len(cells) != 120 {
		t.Fatalf("%d cells, want 120", len(cells))
	}
	for n, want := range map[string]string{"0": "cell state-online", "7": "cell state-online urp",
		"8": "cell state-offline", "9": "cell state-new"} {
		if cls, _ := attrOf(d.one(`#partition-grid rect[data-partition="`+n+`"]`), "class"); cls != want {
			t.Errorf("cell %s: class %q, want %q", n, cls, want)
		}
	}
	// 50 a row: partition 50 starts the second row.
	c50 := d.one(`#partition-grid rect[data-partition="50"]`)
	if x, _ := attrOf(c50, "x"); x != "2" {
		t.Errorf("cell 50 at x=%s, want 2", x)
	}
	if y, _ := attrOf(c50, "y"); y != "16" {
		t.Errorf("cell 50 at y=%s, want 16", y)
	}
	if href := d.attr(`#partition-grid a rect[data-partition="7"]`, "class"); href == "" {
		t.Error("no link around cell 7")
	}
	var links []string
	for _, a := range d.all("#partition-grid a") {
		v, _ := attrOf(a, "href")
		links = append(links, v)
	}
	if len(links) != 120 || links[7] != "?page=1#p-7" {
		t.Errorf("%d links, the 8th %q", len(links), links[min(7, len(links)-1)])
	}
	if !strings.Contains(textOf(d.one(`#partition-grid rect[data-partition="7"]`)), "under-replicated") {
		t.Error("the tooltip does not say under-replicated")
	}
	// Being deleted: nothing is under-replicated.
	d = parseDoc(t, "<html><body>"+string(partitionGrid(parts, true))+"</body></html>")
	if n := len(d.all("#partition-grid rect.urp")); n != 0 {
		t.Errorf("%d urp cells of a topic being deleted", n)
	}
	// No partitions: still a valid svg.
	parseDoc(t, string(partitionGrid(nil, false))).one("svg#partition-grid")
}
