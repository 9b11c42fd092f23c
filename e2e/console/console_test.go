package console

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

const (
	// The topic the pages show: RF 3, so that its partitions get a new
	// leader when one broker dies, with a config override to find on its
	// page.
	topic             = "console-e2e"
	partitions        = 6
	replicationFactor = 3
	overriddenConfig  = "retention.ms"
	overriddenValue   = "86400000"
	// records are written to topic, spread evenly over its partitions.
	records = 1000
	// lagGroup has committed offset 0 of every partition of topic and no
	// consumer: its lag is records.
	lagGroup = "console-lag"
	// htmlGroup is a group id that would be markup if the console did not
	// escape it (topic names cannot hold < or >, group ids can).
	htmlGroup = "<b>x</b>"

	// sessionTimeout is the brokers' ZooKeeper session timeout: a killed
	// broker's partitions get new leaders once its session expires.
	sessionTimeout = 4 * time.Second
	// consoleTimeout bounds each wait for a page to show a figure: the
	// console gathers every broker's report each tick (5 s by default).
	consoleTimeout = 45 * time.Second
	// liveTimeout bounds the wait for an open page to show a new leader
	// after its broker's SIGKILL: session expiry, election, the console's
	// watch, the SSE message and the page's fetch of its new content.
	liveTimeout = sessionTimeout + 45*time.Second
)

// TestConsole checks every page of the console of a three-broker cluster in
// headless Chromium against what the cluster itself says, and that an open
// page follows a leader change live.
func TestConsole(t *testing.T) {
	start := time.Now()
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("skipping: neither chromium nor chromium-browser is on PATH (make deps installs Debian's chromium)")
	}
	if !clusterRunsConsole(t) {
		t.Skip("skipping: scripts/cluster does not turn the web console on (no console.listen)")
	}
	opts := cluster.Options{Brokers: 3, PortOffset: 23100, Env: map[string]string{
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS": strconv.Itoa(int(sessionTimeout / time.Millisecond)),
	}}
	c := cluster.Start(t, opts)
	t.Logf("cluster up after %v", time.Since(start).Round(time.Millisecond))

	cl, adm := admin(t, c.Bootstrap())
	setUp(t, cl, adm)
	md := waitLeaders(t, adm, "every partition of every topic led")
	victim := int(md.Topics[topic].Partitions[0].Leader)
	viewer := otherThan(c.BrokerIDs(), victim)
	base := "http://" + c.ConsoleAddr(viewer)
	waitServes(t, base+"/")
	t.Logf("topic %s written and group %s committed; viewing broker %d's console at %s", topic, lagGroup, viewer, base)

	b := newBrowser(t, chromium, base)
	checkClusterPage(t, b, c, md, "cluster")
	checkTopicsPage(t, b)
	checkTopicPage(t, b, md)
	checkGroupsPage(t, b)
	checkGroupPage(t, b)
	checkHTMLGroup(t, b)
	checkReassignmentsPage(t, b)

	newLeader := checkLeaderChangeLive(t, b, c, victim)
	if err := c.StartBroker(victim); err != nil {
		t.Fatal(err)
	}
	md = waitLeaders(t, adm, "every partition led after broker "+strconv.Itoa(victim)+" restarted")
	checkClusterPage(t, b, c, md, "cluster-after-restart")
	checkStatesPage(t, b, newLeader)
	checkControllerPage(t, b, victim)
	checkElectPreferred(t, b, adm)
	checkThemes(t, b)

	checkErrorPages(t, b)
	checkEvents(t, base)
	b.checkConsole()
	t.Logf("TestConsole took %v", time.Since(start).Round(time.Millisecond))
}

// clusterRunsConsole reports whether scripts/cluster gives its brokers a
// console.
func clusterRunsConsole(t *testing.T) bool {
	t.Helper()
	repo, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(repo, "scripts", "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(script, []byte("console.listen"))
}

// waitServes waits until url answers 200: a broker accepts Kafka
// connections before or after its console listens.
func waitServes(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	poll.UntilSaw(t, consoleTimeout, url+" to answer 200", func() (bool, string) {
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// get fetches url with a deadline and returns its status, content type and
// at most 1 MiB of its body.
func get(t *testing.T, url string) (status int, contentType, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 1<<20)); err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), buf.String()
}
