package console

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// The readers below are bodies of JavaScript functions (see browser.eval)
// that read one page's figures through the DOM contract of the console's
// pages, and the Go types they decode into.

const clusterPageJS = `return {
	brokers: all(document, 'table#brokers tr[data-broker]').map(r => ({
		id: r.dataset.broker, address: txt(r, 'td.address'), alive: txt(r, 'td.alive'), led: txt(r, 'td.led'),
	})),
	controller: txt(document, '#controller'),
	epoch: txt(document, '#controller-epoch'),
	online: txt(document, '[data-state-count="Online"]'),
	offlineCount: txt(document, '[data-state-count="Offline"]'),
	offline: txt(document, '#offline'),
	urp: txt(document, '#under-replicated'),
	zk: all(document, 'ul#zk-servers li').map(li => ({text: li.textContent.trim(), connected: li.dataset.connected === 'true'})),
	charts: all(document, 'svg.throughput-chart').length,
};`

type clusterPage struct {
	Brokers []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
		Alive   string `json:"alive"`
		Led     string `json:"led"`
	} `json:"brokers"`
	Controller   string `json:"controller"`
	Epoch        string `json:"epoch"`
	Online       string `json:"online"`
	OfflineCount string `json:"offlineCount"`
	Offline      string `json:"offline"`
	URP          string `json:"urp"`
	ZK           []struct {
		Text      string `json:"text"`
		Connected bool   `json:"connected"`
	} `json:"zk"`
	Charts int `json:"charts"`
}

// checkClusterPage checks that / shows every broker of c alive at its
// address, leading the partitions md says it leads, md's controller, every
// partition online and in sync, and three ZooKeeper servers, one of them
// connected. Its screenshot is named shot.
func checkClusterPage(t *testing.T, b *browser, c *cluster.Cluster, md kadm.Metadata, shot string) {
	t.Helper()
	total := partitionCount(md)
	led := map[string]int{}
	for _, td := range md.Topics {
		for _, pd := range td.Partitions {
			led[strconv.Itoa(int(pd.Leader))]++
		}
	}
	b.open("/")
	until(b, consoleTimeout, "the cluster page to show the cluster", clusterPageJS, func(p clusterPage) (bool, string) {
		var bad []string
		var ids []string
		for _, r := range p.Brokers {
			ids = append(ids, r.ID)
			id, _ := strconv.Atoi(r.ID)
			if r.Alive != "yes" {
				bad = append(bad, fmt.Sprintf("broker %s: td.alive %q", r.ID, r.Alive))
			}
			if !strings.Contains(r.Address, c.BrokerAddr(id)) {
				bad = append(bad, fmt.Sprintf("broker %s: td.address %q, want %s", r.ID, r.Address, c.BrokerAddr(id)))
			}
			if n, ok := number(r.Led); !ok || n != int64(led[r.ID]) {
				bad = append(bad, fmt.Sprintf("broker %s: td.led %q, want %d", r.ID, r.Led, led[r.ID]))
			}
		}
		var want []string
		for _, id := range c.BrokerIDs() {
			want = append(want, strconv.Itoa(id))
		}
		if !slices.Equal(ids, want) {
			bad = append(bad, fmt.Sprintf("broker rows %v, want %v", ids, want))
		}
		if p.Controller != strconv.Itoa(int(md.Controller)) {
			bad = append(bad, fmt.Sprintf("#controller %q, want %d", p.Controller, md.Controller))
		}
		if _, ok := number(p.Epoch); !ok {
			bad = append(bad, fmt.Sprintf("#controller-epoch %q", p.Epoch))
		}
		if n, ok := number(p.Online); !ok || n != int64(total) {
			bad = append(bad, fmt.Sprintf("Online count %q, want %d", p.Online, total))
		}
		for name, v := range map[string]string{"Offline count": p.OfflineCount, "#offline": p.Offline, "#under-replicated": p.URP} {
			if n, ok := number(v); !ok || n != 0 {
				bad = append(bad, fmt.Sprintf("%s %q, want 0", name, v))
			}
		}
		connected := 0
		for _, z := range p.ZK {
			if z.Connected {
				connected++
			}
		}
		if len(p.ZK) != 3 || connected != 1 {
			bad = append(bad, fmt.Sprintf("ZooKeeper servers %+v, want 3, one connected", p.ZK))
		}
		if p.Charts == 0 {
			bad = append(bad, "no svg.throughput-chart")
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	b.screenshot(shot)
}

const topicsPageJS = `return all(document, 'table#topics tr[data-topic]').map(r => ({
	topic: r.dataset.topic, partitions: txt(r, 'td.partitions'), rf: txt(r, 'td.rf'), size: txt(r, 'td.size'),
}));`

type topicsRow struct {
	Topic      string `json:"topic"`
	Partitions string `json:"partitions"`
	RF         string `json:"rf"`
	Size       string `json:"size"`
}

// checkTopicsPage checks that /topics lists the test's topic with its
// partition count and replication factor, and that ?q= filters.
func checkTopicsPage(t *testing.T, b *browser) {
	t.Helper()
	want := topicsRow{Topic: topic, Partitions: strconv.Itoa(partitions), RF: strconv.Itoa(replicationFactor)}
	check := func(rows []topicsRow) (bool, string) {
		for _, r := range rows {
			if r.Topic == topic {
				ok := r.Partitions == want.Partitions && r.RF == want.RF && r.Size != ""
				return ok, fmt.Sprintf("%+v, want %+v and a size", r, want)
			}
		}
		return false, fmt.Sprintf("no row for %s among %+v", topic, rows)
	}
	b.open("/topics")
	until(b, consoleTimeout, "the topics page to list "+topic, topicsPageJS, check)
	b.screenshot("topics")

	b.open("/topics?q=" + url.QueryEscape("e2e"))
	until(b, consoleTimeout, "the topics page filtered by ?q=e2e", topicsPageJS, func(rows []topicsRow) (bool, string) {
		for _, r := range rows {
			if !strings.Contains(r.Topic, "e2e") {
				return false, fmt.Sprintf("row %q does not match q=e2e", r.Topic)
			}
		}
		return check(rows)
	})
}

const topicPageJS = `return {
	version: document.body.dataset.version ?? null,
	marker: window.kzooE2EMarker ?? null,
	count: txt(document, '#partition-count'),
	rows: all(document, 'table#partitions tr[data-partition]').map(r => ({
		partition: r.dataset.partition, state: txt(r, 'td.state'), leader: txt(r, 'td.leader'),
		epoch: txt(r, 'td.epoch'), replicas: txt(r, 'td.replicas'), isr: txt(r, 'td.isr'),
		missing: all(r, 'td.isr s.missing').map(s => s.textContent.trim()),
		logStart: txt(r, 'td.log-start'), logEnd: txt(r, 'td.log-end'),
	})),
	grid: all(document, '#partition-grid [data-partition]').map(e => ({partition: e.dataset.partition, classes: e.getAttribute('class') ?? ''})),
	config: (() => { const r = document.querySelector('table#configs tr[data-config="` + overriddenConfig + `"]'); return r ? {value: txt(r, 'td.value'), source: txt(r, 'td.source')} : null; })(),
	configs: all(document, 'table#configs tr[data-config]').length,
	charts: all(document, 'svg.throughput-chart').length,
	elect: !!document.querySelector('form#elect-preferred'),
};`

type partitionRow struct {
	Partition string   `json:"partition"`
	State     string   `json:"state"`
	Leader    string   `json:"leader"`
	Epoch     string   `json:"epoch"`
	Replicas  string   `json:"replicas"`
	ISR       string   `json:"isr"`
	Missing   []string `json:"missing"`
	LogStart  string   `json:"logStart"`
	LogEnd    string   `json:"logEnd"`
}

type topicPage struct {
	Version string         `json:"version"`
	Marker  string         `json:"marker"`
	Count   string         `json:"count"`
	Rows    []partitionRow `json:"rows"`
	Grid    []struct {
		Partition string `json:"partition"`
		Classes   string `json:"classes"`
	} `json:"grid"`
	Config *struct {
		Value  string `json:"value"`
		Source string `json:"source"`
	} `json:"config"`
	Configs int  `json:"configs"`
	Charts  int  `json:"charts"`
	Elect   bool `json:"elect"`
}

func (p topicPage) row(partition int) (partitionRow, bool) {
	for _, r := range p.Rows {
		if r.Partition == strconv.Itoa(partition) {
			return r, true
		}
	}
	return partitionRow{}, false
}

// checkTopicPage checks that /topics/NAME shows every partition of the
// test's topic with md's leader, replicas and ISR, offsets from 0 to what
// was written, online grid cells, the config override and the preferred
// election form.
func checkTopicPage(t *testing.T, b *browser, md kadm.Metadata) {
	t.Helper()
	td := md.Topics[topic]
	b.open("/topics/" + topic)
	until(b, consoleTimeout, "the topic page to show "+topic, topicPageJS, func(p topicPage) (bool, string) {
		var bad []string
		if p.Count != strconv.Itoa(partitions) {
			bad = append(bad, fmt.Sprintf("#partition-count %q, want %d", p.Count, partitions))
		}
		if len(p.Rows) != partitions {
			bad = append(bad, fmt.Sprintf("%d partition rows, want %d", len(p.Rows), partitions))
		}
		for part := range partitions {
			r, ok := p.row(part)
			if !ok {
				continue
			}
			pd := td.Partitions[int32(part)]
			if leader, ok := leadingInt(r.Leader); !ok || leader != int(pd.Leader) {
				bad = append(bad, fmt.Sprintf("partition %d: td.leader %q, want %d", part, r.Leader, pd.Leader))
			}
			if got, want := sortedInts(r.Replicas), sortedIDs(pd.Replicas); !slices.Equal(got, want) {
				bad = append(bad, fmt.Sprintf("partition %d: td.replicas %q, want %v", part, r.Replicas, want))
			}
			if got, want := isrShown(r), sortedIDs(pd.ISR); !slices.Equal(got, want) || len(r.Missing) > 0 {
				bad = append(bad, fmt.Sprintf("partition %d: td.isr %q (missing %v), want %v, none missing", part, r.ISR, r.Missing, want))
			}
			wantEnd := int64(records / partitions)
			if part < records%partitions {
				wantEnd++
			}
			if n, ok := number(r.LogStart); !ok || n != 0 {
				bad = append(bad, fmt.Sprintf("partition %d: td.log-start %q, want 0", part, r.LogStart))
			}
			if n, ok := number(r.LogEnd); !ok || n != wantEnd {
				bad = append(bad, fmt.Sprintf("partition %d: td.log-end %q, want %d", part, r.LogEnd, wantEnd))
			}
		}
		online := 0
		for _, cell := range p.Grid {
			classes := strings.Fields(cell.Classes)
			if slices.Contains(classes, "state-online") && !slices.Contains(classes, "urp") {
				online++
			}
		}
		if len(p.Grid) != partitions || online != partitions {
			bad = append(bad, fmt.Sprintf("partition grid %+v, want %d cells state-online, none urp", p.Grid, partitions))
		}
		if p.Config == nil || p.Config.Value != overriddenValue || !strings.Contains(strings.ToLower(p.Config.Source), "topic") {
			bad = append(bad, fmt.Sprintf("config %s: %+v, want value %s from a topic source", overriddenConfig, p.Config, overriddenValue))
		}
		if p.Charts == 0 {
			bad = append(bad, "no svg.throughput-chart")
		}
		if !p.Elect {
			bad = append(bad, "no form#elect-preferred")
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	b.screenshot("topic")
}

// checkLeaderChangeLive opens the topic page, SIGKILLs victim, the leader
// of partition 0 of the test's topic, and waits for the page to show
// partition 0's new leader and victim missing from its ISR, without a
// reload: a marker set in the page's window must survive, and body
// data-version must grow. It returns the new leader, once the cluster's
// metadata agrees.
func checkLeaderChangeLive(t *testing.T, b *browser, c *cluster.Cluster, victim int) int {
	t.Helper()
	b.open("/topics/" + topic)
	until(b, consoleTimeout, fmt.Sprintf("the topic page to show partition 0 led by %d", victim), topicPageJS, func(p topicPage) (bool, string) {
		r, _ := p.row(0)
		leader, ok := leadingInt(r.Leader)
		return ok && leader == victim, fmt.Sprintf("partition 0: %+v", r)
	})
	var before string
	b.eval(`window.kzooE2EMarker = "not reloaded"; return document.body.dataset.version ?? "";`, &before)
	v0, ok := number(before)
	if !ok {
		t.Fatalf("body data-version %q before the SIGKILL", before)
	}
	if err := c.KillBroker(victim); err != nil {
		t.Fatal(err)
	}
	p := until(b, liveTimeout, "the open topic page to show partition 0's new leader", topicPageJS, func(p topicPage) (bool, string) {
		if p.Marker != "not reloaded" {
			return false, "the page was reloaded (its window marker is gone)"
		}
		r, ok := p.row(0)
		if !ok {
			return false, "no row for partition 0"
		}
		leader, ok := leadingInt(r.Leader)
		v, _ := number(p.Version)
		saw := fmt.Sprintf("data-version %q (was %d), partition 0: td.leader %q, td.isr %q, missing %v", p.Version, v0, r.Leader, r.ISR, r.Missing)
		return v > v0 && ok && leader >= 0 && leader != victim && slices.Contains(sortedInts(strings.Join(r.Missing, " ")), victim), saw
	})
	b.screenshot("topic-after-kill")
	r, _ := p.row(0)
	shown, _ := leadingInt(r.Leader)

	var live []string
	for _, id := range c.BrokerIDs() {
		if id != victim {
			live = append(live, c.BrokerAddr(id))
		}
	}
	_, adm := admin(t, live)
	waitMetadata(t, adm, "the cluster to name the leader the page shows", func(md kadm.Metadata) (bool, string) {
		leader := md.Topics[topic].Partitions[0].Leader
		return int(leader) == shown, fmt.Sprintf("partition 0 led by %d, the page shows %d", leader, shown)
	}, topic)
	return shown
}

const statesPageJS = `return all(document, 'table#state-events tr.event').map(r => ({
	topic: r.dataset.topic, partition: r.dataset.partition, time: txt(r, 'td.time'), from: txt(r, 'td.from'),
	to: txt(r, 'td.to'), leader: txt(r, 'td.leader'), epoch: txt(r, 'td.epoch'), cause: txt(r, 'td.cause'),
}));`

type stateEvent struct {
	Topic     string `json:"topic"`
	Partition string `json:"partition"`
	Time      string `json:"time"`
	From      string `json:"from"`
	To        string `json:"to"`
	Leader    string `json:"leader"`
	Epoch     string `json:"epoch"`
	Cause     string `json:"cause"`
}

// checkStatesPage checks that /states has an event of partition 0 of the
// test's topic getting leader newLeader, with a time, states and a cause.
func checkStatesPage(t *testing.T, b *browser, newLeader int) {
	t.Helper()
	b.open("/states")
	until(b, consoleTimeout, fmt.Sprintf("the states page to show %s-0 led by %d", topic, newLeader), statesPageJS, func(events []stateEvent) (bool, string) {
		var mine []stateEvent
		for _, e := range events {
			if e.Topic != topic || e.Partition != "0" {
				continue
			}
			mine = append(mine, e)
			if leader, ok := lastInt(e.Leader); ok && leader == newLeader && e.Time != "" && e.From != "" && e.To != "" && e.Cause != "" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, of %s-0: %+v", len(events), topic, mine)
	})
	b.screenshot("states")
}

const controllerPageJS = `return all(document, 'table#controller-events tr.event').map(r => ({time: txt(r, 'td.time'), text: txt(r, 'td.text')}));`

// checkControllerPage checks that /controller has an event naming the
// broker that was killed and restarted.
func checkControllerPage(t *testing.T, b *browser, victim int) {
	t.Helper()
	mentions := regexp.MustCompile(`\b` + strconv.Itoa(victim) + `\b`)
	b.open("/controller")
	until(b, consoleTimeout, fmt.Sprintf("the controller page to show an event of broker %d", victim), controllerPageJS, func(events []struct {
		Time string `json:"time"`
		Text string `json:"text"`
	}) (bool, string) {
		for _, e := range events {
			if e.Time != "" && mentions.MatchString(e.Text) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", events)
	})
	b.screenshot("controller")
}

// checkReassignmentsPage checks that /reassignments shows none, as none
// runs.
func checkReassignmentsPage(t *testing.T, b *browser) {
	t.Helper()
	b.open("/reassignments")
	var rows int
	b.eval(`return all(document, 'table#reassignments tr[data-topic]').length;`, &rows)
	if rows != 0 {
		t.Errorf("/reassignments: %d rows, but no reassignment runs", rows)
	}
	b.screenshot("reassignments")
}

// number parses a figure as the pages print it, perhaps with thousands
// separators.
func number(s string) (int64, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ',', ' ', '_', '\u00a0', '\u202f', '\u2009':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

var leadingIntRE = regexp.MustCompile(`^-?\d+`)

// leadingInt parses the number a cell starts with: td.leader may follow
// the broker id with a remark.
func leadingInt(s string) (int, bool) {
	m := leadingIntRE.FindString(strings.TrimSpace(s))
	if m == "" {
		return 0, false
	}
	n, err := strconv.Atoi(m)
	return n, err == nil
}

var intRE = regexp.MustCompile(`-?\d+`)

// lastInt parses the number a cell ends with: the states page's td.leader
// may show the previous leader first ("2 → 3").
func lastInt(s string) (int, bool) {
	all := intRE.FindAllString(s, -1)
	if len(all) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(all[len(all)-1])
	return n, err == nil
}

var idRE = regexp.MustCompile(`\d+`)

// sortedInts returns every number in s, sorted: a list of broker ids.
func sortedInts(s string) []int {
	var ids []int
	for _, m := range idRE.FindAllString(s, -1) {
		n, _ := strconv.Atoi(m)
		ids = append(ids, n)
	}
	slices.Sort(ids)
	return ids
}

// isrShown returns the ids td.isr lists as in sync: those not marked
// missing.
func isrShown(r partitionRow) []int {
	missing := sortedInts(strings.Join(r.Missing, " "))
	return slices.DeleteFunc(sortedInts(r.ISR), func(id int) bool { return slices.Contains(missing, id) })
}

func sortedIDs(ids []int32) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		out = append(out, int(id))
	}
	slices.Sort(out)
	return out
}
