package console

import (
	"math"
	"regexp"
	"strconv"
	"testing"
)

// themeJS reads the colours the cluster page is drawn in: main's text
// colour and the background behind it, the first one not transparent
// from main up to the root ("" when none is, the browser's canvas).
const themeJS = `
	const main = document.getElementById('main');
	let bg = '';
	for (let e = main; e; e = e.parentElement) {
		const c = getComputedStyle(e).backgroundColor;
		if (c && c !== 'transparent' && !/^rgba\(.*,\s*0\)$/.test(c)) { bg = c; break; }
	}
	return {color: getComputedStyle(main).color, background: bg, scheme: getComputedStyle(document.documentElement).colorScheme};
`

type theme struct {
	Color      string `json:"color"`
	Background string `json:"background"`
	Scheme     string `json:"scheme"`
}

// checkThemes checks that the cluster page is readable when the reader
// prefers a dark scheme and when they prefer a light one: light text on a
// dark background or the reverse, with a contrast ratio of at least 4.5
// (WCAG AA for body text). A screenshot of each is kept.
func checkThemes(t *testing.T, b *browser) {
	t.Helper()
	defer b.colorScheme("")
	for _, scheme := range []string{"dark", "light"} {
		b.colorScheme(scheme)
		b.open("/")
		var th theme
		b.eval(themeJS, &th)
		fg, okF := luminance(th.Color)
		bg, okB := 0.0, true
		if th.Background != "" {
			bg, okB = luminance(th.Background)
		} else if scheme == "light" {
			bg = 1 // the canvas of a light scheme is white, of a dark one black
		}
		contrast := (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
		dark := fg > bg
		if !okF || !okB || contrast < 4.5 || dark != (scheme == "dark") {
			t.Errorf("cluster page preferring a %s scheme: text %s on background %q (color-scheme %q), contrast %.1f; want %s text, contrast at least 4.5",
				scheme, th.Color, th.Background, th.Scheme, contrast, map[bool]string{true: "light", false: "dark"}[scheme == "dark"])
		}
		b.screenshot("cluster-" + scheme)
	}
}

var rgbRE = regexp.MustCompile(`^rgba?\((\d+(?:\.\d+)?),\s*(\d+(?:\.\d+)?),\s*(\d+(?:\.\d+)?)`)

// luminance is the relative luminance (WCAG 2) of a computed CSS colour,
// rgb(r, g, b) or rgba(r, g, b, a).
func luminance(color string) (float64, bool) {
	m := rgbRE.FindStringSubmatch(color)
	if m == nil {
		return 0, false
	}
	var lin [3]float64
	for i, s := range m[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, false
		}
		v /= 255
		if v <= 0.03928 {
			lin[i] = v / 12.92
		} else {
			lin[i] = math.Pow((v+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*lin[0] + 0.7152*lin[1] + 0.0722*lin[2], true
}
