package console

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kzoo/kzoo/coordinator"
)

// The charts are drawn on the server as inline SVG: no chart library, no
// script, nothing the Content-Security-Policy has to allow. Colours come
// from CSS classes (s0, s1, ... and state-*), so that both themes restyle
// them; no element carries a style attribute.

// series is one line of a chart.
type series struct {
	Name   string
	Points []Point
}

// chart describes a line chart.
type chart struct {
	// ID and Class are the svg element's (ID may be "").
	ID, Class string
	Title     string
	// Format writes a value of the y axis.
	Format func(float64) string
	// Binary makes the axis's top a power of two (bytes: its quarters
	// are round in KiB, MiB, ...) instead of 1, 2, 2.5 or 5 times a power
	// of ten.
	Binary bool
	Series []series
}

// The chart's geometry, in the viewBox's units.
const (
	chartW, chartH                   = 640, 220
	padLeft, padRight, padTop, padBt = 72, 12, 26, 40
	seriesColours                    = 8
	legendMax                        = 12
)

// lineChart draws c: a y axis from 0 to a round value above the largest
// point with four labelled steps, a time axis with labels at both ends and
// between, one polyline per series and a legend. With no points at all it
// says so instead.
func lineChart(c chart) template.HTML {
	var b strings.Builder
	b.WriteString(`<svg`)
	if c.ID != "" {
		attr(&b, "id", c.ID)
	}
	attr(&b, "class", strings.TrimSpace("chart "+c.Class))
	attr(&b, "viewBox", "0 0 "+strconv.Itoa(chartW)+" "+strconv.Itoa(chartH))
	b.WriteString(` role="img" xmlns="http://www.w3.org/2000/svg">`)
	b.WriteString(`<title>`)
	b.WriteString(template.HTMLEscapeString(c.Title))
	b.WriteString(`</title>`)
	text(&b, "chart-title", padLeft, 16, "start", c.Title)

	var t0, t1 time.Time
	top := 0.0
	n := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if n == 0 || p.Time.Before(t0) {
				t0 = p.Time
			}
			if n == 0 || p.Time.After(t1) {
				t1 = p.Time
			}
			if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
				top = max(top, p.Value)
			}
			n++
		}
	}
	x0, x1 := float64(padLeft), float64(chartW-padRight)
	y0, y1 := float64(chartH-padBt), float64(padTop)
	if n == 0 {
		text(&b, "no-data", (x0+x1)/2, (y0+y1)/2, "middle", "no data yet")
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	if !t1.After(t0) { // one instant: give the axis a minute
		t0 = t1.Add(-time.Minute)
	}
	ymax := niceCeil(top)
	if c.Binary {
		ymax = pow2Ceil(top)
	}
	format := c.Format
	if format == nil {
		format = func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	}
	span := t1.Sub(t0).Seconds()
	px := func(t time.Time) float64 { return x0 + (x1-x0)*t.Sub(t0).Seconds()/span }
	py := func(v float64) float64 { return y0 - (y0-y1)*v/ymax }

	// Grid and y labels.
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		y := py(v)
		line(&b, "grid", x0, y, x1, y)
		text(&b, "tick", x0-6, y+4, "end", format(v))
	}
	// Time labels.
	for i := 0; i <= 3; i++ {
		t := t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / 3))
		x := px(t)
		line(&b, "tick-mark", x, y0, x, y0+4)
		anchor := "middle"
		if i == 0 {
			anchor = "start"
		} else if i == 3 {
			anchor = "end"
		}
		text(&b, "tick", x, y0+16, anchor, t.UTC().Format("15:04:05"))
	}
	line(&b, "axis", x0, y0, x1, y0)
	line(&b, "axis", x0, y0, x0, y1)

	// Lines, then the legend under the axis.
	for i, s := range c.Series {
		cls := "line s" + strconv.Itoa(i%seriesColours)
		var pts strings.Builder
		drawn := 0
		for _, p := range s.Points {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
				continue
			}
			if drawn > 0 {
				pts.WriteByte(' ')
			}
			pts.WriteString(num(px(p.Time)) + "," + num(py(max(p.Value, 0))))
			drawn++
		}
		switch drawn {
		case 0:
		case 1: // a lone sample is a dot, not an invisible line
			xy := strings.Split(pts.String(), ",")
			b.WriteString(`<circle r="2.5"`)
			attr(&b, "class", "dot s"+strconv.Itoa(i%seriesColours))
			attr(&b, "cx", xy[0])
			attr(&b, "cy", xy[1])
			b.WriteString(`><title>` + template.HTMLEscapeString(s.Name) + `</title></circle>`)
		default:
			b.WriteString(`<polyline fill="none"`)
			attr(&b, "class", cls)
			attr(&b, "points", pts.String())
			b.WriteString(`><title>` + template.HTMLEscapeString(s.Name) + `</title></polyline>`)
		}
	}
	lx := x0
	for i, s := range c.Series {
		if i == legendMax {
			text(&b, "legend", lx, chartH-6, "start", "+"+strconv.Itoa(len(c.Series)-legendMax)+" more")
			break
		}
		b.WriteString(`<rect width="10" height="10"`)
		attr(&b, "class", "swatch s"+strconv.Itoa(i%seriesColours))
		attr(&b, "x", num(lx))
		attr(&b, "y", num(chartH-15))
		b.WriteString(`></rect>`)
		text(&b, "legend", lx+14, chartH-6, "start", s.Name)
		lx += 14 + 7*float64(len([]rune(s.Name))) + 14
		if lx > x1-40 {
			break
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil returns the smallest of 1, 2, 2.5, 5 times a power of ten that
// is at least v (1 for nothing), so that the axis's quarters are round.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*exp >= v*(1-1e-12) {
			return f * exp
		}
	}
	return 10 * exp
}

// pow2Ceil returns the smallest power of two at least v (1 for nothing
// or less).
func pow2Ceil(v float64) float64 {
	if v <= 1 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	return math.Pow(2, math.Ceil(math.Log2(v)))
}

// Grid geometry: cells of gridCell with gridGap between, gridCols a row.
const (
	gridCell, gridGap = 12, 2
	gridCols          = 50
)

// partitionGrid draws one cell per partition, coloured by state (class
// state-online, state-offline, state-new, state-nonexistent) and marked
// urp when under-replicated, each with a tooltip naming the partition and
// a link to its row (#p-N on the table's page, assuming parts[i] is
// partition number i's place in the topic).
// deleting topics' partitions are not under-replicated: deletion empties
// their ISRs on purpose.
func partitionGrid(parts []coordinator.Partition, deleting bool) template.HTML {
	cols := min(gridCols, max(1, len(parts)))
	rows := (len(parts) + cols - 1) / cols
	w := cols*(gridCell+gridGap) + gridGap
	h := max(1, rows)*(gridCell+gridGap) + gridGap
	var b strings.Builder
	b.Grow(len(parts) * 150)
	b.WriteString(`<svg id="partition-grid" class="grid-map" role="img" xmlns="http://www.w3.org/2000/svg"`)
	attr(&b, "viewBox", "0 0 "+strconv.Itoa(w)+" "+strconv.Itoa(h))
	attr(&b, "width", strconv.Itoa(w))
	b.WriteString(`><title>Partitions by state</title>`)
	for i := range parts {
		p := &parts[i]
		cls := "cell state-" + strings.ToLower(string(p.State))
		urp := !deleting && p.UnderReplicated()
		if urp {
			cls += " urp"
		}
		// A cell links to its row in the partition table's page.
		b.WriteString(`<a`)
		attr(&b, "href", "?page="+strconv.Itoa(int(p.Partition)/pageSize+1)+"#p-"+strconv.Itoa(int(p.Partition)))
		b.WriteString(`><rect`)
		attr(&b, "class", cls)
		attr(&b, "data-partition", strconv.Itoa(int(p.Partition)))
		attr(&b, "x", strconv.Itoa(gridGap+(i%cols)*(gridCell+gridGap)))
		attr(&b, "y", strconv.Itoa(gridGap+(i/cols)*(gridCell+gridGap)))
		b.WriteString(` width="12" height="12"><title>`)
		tip := "partition " + strconv.Itoa(int(p.Partition)) + ": " + string(p.State) +
			", leader " + strconv.Itoa(int(p.Leader)) + ", ISR " + formatIDs(p.ISR) + " of " + formatIDs(p.Replicas)
		if urp {
			tip += " (under-replicated)"
		}
		b.WriteString(template.HTMLEscapeString(tip))
		b.WriteString(`</title></rect></a>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// attr writes ` name="value"`, the value escaped.
func attr(b *strings.Builder, name, value string) {
	b.WriteByte(' ')
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(template.HTMLEscapeString(value))
	b.WriteByte('"')
}

func line(b *strings.Builder, cls string, x1, y1, x2, y2 float64) {
	b.WriteString(`<line`)
	attr(b, "class", cls)
	attr(b, "x1", num(x1))
	attr(b, "y1", num(y1))
	attr(b, "x2", num(x2))
	attr(b, "y2", num(y2))
	b.WriteString(`></line>`)
}

func text(b *strings.Builder, cls string, x, y float64, anchor, s string) {
	b.WriteString(`<text`)
	attr(b, "class", cls)
	attr(b, "x", num(x))
	attr(b, "y", num(y))
	attr(b, "text-anchor", anchor)
	b.WriteByte('>')
	b.WriteString(template.HTMLEscapeString(s))
	b.WriteString(`</text>`)
}

// num writes a coordinate with one decimal at most.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}
