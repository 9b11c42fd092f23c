package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kzoo/kzoo/internal/poll"
)

const (
	// stepTimeout bounds one browser action: starting the browser, a
	// navigation, one evaluation, a screenshot.
	stepTimeout = 30 * time.Second
	// evalTimeout bounds one evaluation inside a poll, so that a hung
	// renderer fails the poll's deadline rather than the whole test's.
	evalTimeout = 10 * time.Second
)

// chromiumPath returns the Chromium binary to drive, or "" if none is
// installed: Debian's package installs chromium, others chromium-browser.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// browser is one headless Chromium tab, closed when the test ends.
type browser struct {
	t   *testing.T
	ctx context.Context
	// base is the console's URL without a path: http://host:port.
	base string
	// shots is where screenshots go.
	shots string

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage // what the tab's console got
}

// newBrowser starts Chromium at path with one tab on the console at base.
// The browser runs without its sandbox, as the tests run as root in CI
// containers where the sandbox cannot start.
func newBrowser(t *testing.T, path, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1024),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first action starts the browser; it is bounded like every other
	// step, but through a timer rather than the action's context, as that
	// context would otherwise become the browser's lifetime.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start %s: %v", path, err)
		}
	case <-time.After(stepTimeout):
		cancelTab()
		cancelAlloc()
		<-started
		t.Fatalf("start %s: no browser after %v", path, stepTimeout)
	}
	shots := t.ArtifactDir()
	t.Logf("screenshots go to %s (go test -artifacts keeps them)", shots)
	b := &browser{t: t, ctx: ctx, base: base, shots: shots}
	// The tab's messages are kept for checkConsole; the reader ends with
	// the tab.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// checkConsole fails the test if a page threw an exception that nothing
// caught or the browser refused something under the pages' Content
// Security Policy, and logs every other error the tab's console saw (the
// 404 pages the test asks for are among them).
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.messages {
		switch {
		case m.IsException(), strings.Contains(m.Text, "Content Security Policy"):
			b.t.Errorf("browser console: %s (%s:%d)", m.Text, m.URL, m.Line+1)
		case m.Type == "error":
			b.t.Logf("browser console: %s (%s:%d)", m.Text, m.URL, m.Line+1)
		}
	}
}

// open loads the page at path (with the query, if any) and waits for its
// main element. The page must answer 200 and have every navigation link.
func (b *browser) open(path string) {
	b.t.Helper()
	b.openStatus(path, http.StatusOK)
}

// openStatus loads the page at path, which must answer want, and waits for
// its main element; every page has one and the navigation links, error
// pages too.
func (b *browser) openStatus(path string, want int64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	url := b.base + path
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("load %s: %v", url, err)
	}
	if resp == nil || resp.Status != want {
		status := int64(0)
		if resp != nil {
			status = resp.Status
		}
		b.t.Fatalf("load %s: status %d, want %d", url, status, want)
	}
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("main#main"))); err != nil {
		b.t.Fatalf("load %s: no main#main: %v", url, err)
	}
	var nav struct {
		Version string   `json:"version"`
		Missing []string `json:"missing"`
	}
	b.eval(`{
		const want = ["/", "/topics", "/states", "/groups", "/reassignments", "/controller"];
		return {
			version: document.body.dataset.version ?? null,
			missing: want.filter(h => !document.querySelector('a[href="' + h + '"]')),
		};
	}`, &nav)
	if nav.Version == "" {
		b.t.Errorf("%s: body has no data-version", url)
	}
	if len(nav.Missing) > 0 {
		b.t.Errorf("%s: no navigation link to %v", url, nav.Missing)
	}
}

// submit clicks the element sel selects, a form's submit button, and waits
// for the page the form leads to, which must answer 200.
func (b *browser) submit(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("submit %s: %v", sel, err)
	}
	if resp == nil || resp.Status != http.StatusOK {
		status := int64(0)
		if resp != nil {
			status = resp.Status
		}
		b.t.Fatalf("submit %s: status %d, want 200", sel, status)
	}
}

// colorScheme makes the page's prefers-color-scheme scheme ("dark" or
// "light"), or the browser's default for "".
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	var params emulation.SetEmulatedMediaParams
	if scheme != "" {
		params.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, params); err != nil {
		b.t.Fatalf("emulate prefers-color-scheme %q: %v", scheme, err)
	}
}

// evalPrelude defines what the expressions of eval and until may use:
// txt(root, selector), the trimmed text of the first match or null, and
// all(root, selector), every match as an array.
const evalPrelude = `
	const txt = (root, sel) => { const e = root.querySelector(sel); return e ? e.textContent.trim() : null; };
	const all = (root, sel) => [...root.querySelectorAll(sel)];
`

// evalRaw runs body, the body of a JavaScript function that returns a
// value, in the page and returns that value as JSON. The function keeps its
// names to itself, so that evaluations do not collide.
func (b *browser) evalRaw(body string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, evalTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify((() => {`+evalPrelude+body+`})())`))
}

// eval runs body as evalRaw does and decodes its value into out.
func (b *browser) eval(body string, out any) {
	b.t.Helper()
	raw, err := b.evalRaw(body)
	if err != nil {
		b.t.Fatalf("evaluate in %s: %v", b.base, err)
	}
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		b.t.Fatalf("decode %s: %v", raw, err)
	}
}

// until evaluates body (as eval does, into a fresh T each time) until check
// accepts what it read, failing the test after timeout with what check said
// last. It returns the accepted value.
func until[T any](b *browser, timeout time.Duration, what, body string, check func(T) (bool, string)) T {
	b.t.Helper()
	var last T
	poll.UntilSaw(b.t, timeout, what, func() (bool, string) {
		raw, err := b.evalRaw(body)
		if err != nil {
			return false, err.Error()
		}
		var v T
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return false, fmt.Sprintf("decode %s: %v", raw, err)
		}
		last = v
		ok, saw := check(v)
		return ok, saw
	})
	return last
}

// screenshot saves the whole page as name.png in the screenshot directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.shots, strings.ReplaceAll(name, "/", "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
	}
}
