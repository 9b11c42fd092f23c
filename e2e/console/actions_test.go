package console

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// checkElectPreferred runs the topic page's preferred leader election the
// way a person does: the form, then the confirmation, then the result; the
// cluster must then have every partition of the test's topic led by its
// first replica, and the topic page show it. The cluster runs without
// security, so the console lets anyone run it. adm must reach the cluster.
func checkElectPreferred(t *testing.T, b *browser, adm *kadm.Client) {
	t.Helper()
	waitMetadata(t, adm, "every replica of "+topic+" in its ISR", func(md kadm.Metadata) (bool, string) {
		var bad []string
		for _, pd := range md.Topics[topic].Partitions.Sorted() {
			if len(pd.ISR) != len(pd.Replicas) || pd.Leader < 0 {
				bad = append(bad, fmt.Sprintf("%d: leader %d, replicas %v, ISR %v", pd.Partition, pd.Leader, pd.Replicas, pd.ISR))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	}, topic)

	b.open("/topics/" + topic)
	b.submit(`form#elect-preferred [type="submit"]`)
	var asked struct {
		Confirm bool `json:"confirm"`
		Result  bool `json:"result"`
	}
	b.eval(`return {
		confirm: !!document.querySelector('main#main form[method="post" i] input[name="confirm"][value="yes"]'),
		result: !!document.getElementById('action-result'),
	};`, &asked)
	if !asked.Confirm || asked.Result {
		t.Fatalf("the election form led to a page with a confirmation form: %v, a result: %v; want a confirmation and no result yet", asked.Confirm, asked.Result)
	}
	b.screenshot("elect-confirm")
	b.submit(`main#main form:has(input[name="confirm"][value="yes"]) [type="submit"]`)
	var result string
	b.eval(`return txt(document, '#action-result') ?? '';`, &result)
	if result == "" {
		t.Fatal("the confirmed election led to a page without #action-result")
	}
	b.screenshot("elect-result")

	md := waitMetadata(t, adm, "every partition of "+topic+" led by its preferred replica", func(md kadm.Metadata) (bool, string) {
		var bad []string
		for _, pd := range md.Topics[topic].Partitions.Sorted() {
			if len(pd.Replicas) == 0 || pd.Leader != pd.Replicas[0] {
				bad = append(bad, fmt.Sprintf("%d: leader %d, replicas %v", pd.Partition, pd.Leader, pd.Replicas))
			}
		}
		return len(bad) == 0, fmt.Sprintf("result %q; %s", result, strings.Join(bad, "; "))
	}, topic)
	b.open("/topics/" + topic)
	until(b, consoleTimeout, "the topic page to show the preferred leaders", topicPageJS, func(p topicPage) (bool, string) {
		var bad []string
		for _, pd := range md.Topics[topic].Partitions.Sorted() {
			r, _ := p.row(int(pd.Partition))
			if leader, ok := leadingInt(r.Leader); !ok || leader != int(pd.Leader) {
				bad = append(bad, fmt.Sprintf("partition %d: td.leader %q, want %d", pd.Partition, r.Leader, pd.Leader))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
}
