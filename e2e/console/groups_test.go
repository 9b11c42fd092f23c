package console

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

const groupsPageJS = `return all(document, 'table#groups tr[data-group]').map(r => ({
	group: r.dataset.group, state: txt(r, 'td.state'), members: txt(r, 'td.members'), lag: txt(r, 'td.lag'),
	text: r.textContent, bold: r.querySelectorAll('b').length,
}));`

type groupsRow struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members string `json:"members"`
	Lag     string `json:"lag"`
	Text    string `json:"text"`
	Bold    int    `json:"bold"`
}

// checkGroupsPage checks that /groups shows lagGroup with no members and a
// lag of every record written, and htmlGroup's id as text, not markup.
func checkGroupsPage(t *testing.T, b *browser) {
	t.Helper()
	b.open("/groups")
	until(b, consoleTimeout, fmt.Sprintf("the groups page to show %s with lag %d and %q as text", lagGroup, records, htmlGroup), groupsPageJS, func(rows []groupsRow) (bool, string) {
		var lag, html *groupsRow
		for i, r := range rows {
			switch r.Group {
			case lagGroup:
				lag = &rows[i]
			case htmlGroup:
				html = &rows[i]
			}
		}
		var bad []string
		if lag == nil {
			bad = append(bad, "no row for "+lagGroup)
		} else {
			if n, ok := number(lag.Lag); !ok || n != records {
				bad = append(bad, fmt.Sprintf("%s: td.lag %q, want %d", lagGroup, lag.Lag, records))
			}
			if n, ok := number(lag.Members); !ok || n != 0 {
				bad = append(bad, fmt.Sprintf("%s: td.members %q, want 0", lagGroup, lag.Members))
			}
			if lag.State == "" {
				bad = append(bad, lagGroup+": empty td.state")
			}
		}
		if html == nil {
			bad = append(bad, fmt.Sprintf("no row whose data-group is %q", htmlGroup))
		} else if html.Bold != 0 || !strings.Contains(html.Text, htmlGroup) {
			bad = append(bad, fmt.Sprintf("row of %q: %d <b> elements, text %q; want none and the id as text", htmlGroup, html.Bold, html.Text))
		}
		if len(bad) > 0 {
			var seen []string
			for _, r := range rows {
				seen = append(seen, strconv.Quote(r.Group))
			}
			bad = append(bad, "groups shown: "+strings.Join(seen, ", "))
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	b.screenshot("groups")
}

const groupPageJS = `return {
	state: txt(document, '#group-state'),
	lag: txt(document, '#group-lag'),
	members: all(document, 'table#members tr[data-member]').length,
	offsets: all(document, 'table#offsets tr[data-topic][data-partition]').map(r => ({
		topic: r.dataset.topic, partition: r.dataset.partition,
		committed: txt(r, 'td.committed'), end: txt(r, 'td.end'), lag: txt(r, 'td.lag'),
	})),
	chart: !!document.querySelector('svg#lag-chart'),
};`

type groupPage struct {
	State   string `json:"state"`
	Lag     string `json:"lag"`
	Members int    `json:"members"`
	Offsets []struct {
		Topic     string `json:"topic"`
		Partition string `json:"partition"`
		Committed string `json:"committed"`
		End       string `json:"end"`
		Lag       string `json:"lag"`
	} `json:"offsets"`
	Chart bool `json:"chart"`
}

// checkGroupPage checks that lagGroup's page shows its total lag, offset 0
// committed in every partition with the partition's end offset and lag,
// and its lag chart.
func checkGroupPage(t *testing.T, b *browser) {
	t.Helper()
	b.open("/groups/" + url.PathEscape(lagGroup))
	until(b, consoleTimeout, fmt.Sprintf("the page of group %s to show lag %d", lagGroup, records), groupPageJS, func(p groupPage) (bool, string) {
		var bad []string
		if n, ok := number(p.Lag); !ok || n != records {
			bad = append(bad, fmt.Sprintf("#group-lag %q, want %d", p.Lag, records))
		}
		if p.State == "" || p.Members != 0 {
			bad = append(bad, fmt.Sprintf("#group-state %q, %d members; want a state and no member", p.State, p.Members))
		}
		var end, lag int64
		for _, o := range p.Offsets {
			c, okC := number(o.Committed)
			e, okE := number(o.End)
			l, okL := number(o.Lag)
			if o.Topic != topic || !okC || !okE || !okL || c != 0 || l != e-c {
				bad = append(bad, fmt.Sprintf("offsets row %+v, want topic %s, committed 0, lag = end - committed", o, topic))
			}
			end += e
			lag += l
		}
		if len(p.Offsets) != partitions || end != records || lag != records {
			bad = append(bad, fmt.Sprintf("%d offsets rows with end offsets summing to %d and lags to %d, want %d rows, %d and %d", len(p.Offsets), end, lag, partitions, records, records))
		}
		if !p.Chart {
			bad = append(bad, "no svg#lag-chart")
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	b.screenshot("group")
}

// checkHTMLGroup checks that the page of htmlGroup, reached by its escaped
// id, shows the id as text.
func checkHTMLGroup(t *testing.T, b *browser) {
	t.Helper()
	b.open("/groups/" + url.PathEscape(htmlGroup))
	var p struct {
		Bold int    `json:"bold"`
		Text string `json:"text"`
	}
	b.eval(`return {bold: [...document.querySelectorAll('b')].filter(e => e.textContent === 'x').length, text: document.getElementById('main').textContent};`, &p)
	if p.Bold != 0 || !strings.Contains(p.Text, htmlGroup) {
		t.Errorf("page of group %q: %d <b>x</b> elements, main's text %q; want none and the id as text", htmlGroup, p.Bold, p.Text)
	}
	b.screenshot("group-html")
}
