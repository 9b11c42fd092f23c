package scale

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/internal/verify"
)

const (
	// failoverTopics × failoverPartitionsPerTopic RF 3 partitions are
	// what TestManyPartitionsSurviveFailover runs: 15,000 replicas on three
	// brokers, more segment files than a broker could keep open without its
	// descriptor cache (kzoo.max.open.files).
	failoverTopics             = 5
	failoverPartitionsPerTopic = 1000
	// failoverSessionTimeout is the brokers' zookeeper.session.timeout.ms:
	// a new controller is elected once the killed one's session expires.
	failoverSessionTimeout = 4 * time.Second
	// failoverRate is each topic's producer's records per second: every
	// partition gets a record every few seconds, and the replicas of a
	// restarted broker little to catch up with.
	failoverRate = 100
	// failoverWait bounds each wait for leaders and full ISRs: at 5,000
	// partitions on a loaded 2-core machine a restarted broker took
	// nearly two minutes to rejoin every ISR.
	failoverWait = 4 * time.Minute
)

// TestManyPartitionsSurviveFailover keeps an acks=all idempotent producer
// per topic writing across thousands of RF 3 partitions (min.insync.replicas
// 2) while the controller is SIGKILLed, then restarted, and then another
// broker is restarted (SIGTERM, start). After each fault every partition
// must get a live leader, and after the restarts every ISR must be full
// again; at the end every acknowledged record must be in the log at its
// acknowledged offset, once and in order, and every follower's log must
// match its leader's.
func TestManyPartitionsSurviveFailover(t *testing.T) {
	start := time.Now()
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 22700, Env: map[string]string{
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS": strconv.Itoa(int(failoverSessionTimeout / time.Millisecond)),
	}})
	const prefix = "survive"
	topics := topicNames(prefix, failoverTopics)
	total := failoverTopics * failoverPartitionsPerTopic
	all := c.BrokerIDs()
	createTopics(t, newClient(t, c.Bootstrap()), topics, failoverPartitionsPerTopic, 3, map[string]string{"min.insync.replicas": "2"})
	allLedAndInSync := func(l leadership) bool { return l.partitions == total && l.led == total && l.fullISR == total }
	everyBrokerSees(t, c, all, failoverWait, "every partition led and in sync", topics, prefix, -1, allLedAndInSync)
	t.Logf("%d partitions created, led and in sync after %v", total, time.Since(start).Round(time.Millisecond))

	producers := make([]*verify.Producer, len(topics))
	for i, topic := range topics {
		p, err := verify.StartProducer(verify.ProducerConfig{
			Bootstrap:  c.Bootstrap(),
			Topic:      topic,
			Partitions: failoverPartitionsPerTopic,
			Rate:       failoverRate,
			// Longer than any outage here, so that records wait for a
			// leader rather than fail.
			DeliveryTimeout: failoverWait,
		})
		if err != nil {
			t.Fatal(err)
		}
		producers[i] = p
		t.Cleanup(func() { p.Stop() })
	}
	// Every partition written to before each fault and after the last.
	progress := func(what string) {
		t.Helper()
		from := make([]int, len(producers))
		for i, p := range producers {
			from[i] = p.Acknowledged()
		}
		poll.UntilSaw(t, 2*time.Minute, what, func() (bool, string) {
			var saw []string
			done := true
			for i, p := range producers {
				acked := p.Acknowledged() - from[i]
				done = done && acked >= failoverPartitionsPerTopic
				saw = append(saw, fmt.Sprintf("%s: %d acknowledged, failures %v", topics[i], acked, p.Failures()))
			}
			return done, strings.Join(saw, "; ")
		})
	}
	progress("a record acknowledged in every partition")

	md, err := metadataFrom(context.Background(), newClient(t, c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	controller := int(md.ControllerID)
	if controller < 0 {
		t.Fatal("no controller")
	}
	killed := time.Now()
	if err := c.KillBroker(controller); err != nil {
		t.Fatal(err)
	}
	live := without(all, controller)
	everyBrokerSees(t, c, live, failoverSessionTimeout+failoverWait, "a new controller and a live leader of every partition", topics, prefix, int32(controller),
		func(l leadership) bool {
			return l.controller >= 0 && l.controller != int32(controller) && l.partitions == total && l.led == total
		})
	t.Logf("controller %d killed: every partition led again after %v", controller, time.Since(killed).Round(time.Millisecond))

	restarted := time.Now()
	if err := c.StartBroker(controller); err != nil {
		t.Fatal(err)
	}
	up := time.Since(restarted)
	everyBrokerSees(t, c, all, failoverWait, "every partition led and in sync after the restart", topics, prefix, -1, allLedAndInSync)
	t.Logf("broker %d restarted: accepting connections after %v, back in every ISR after %v",
		controller, up.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))

	// Another broker, restarted the orderly way: not the one just back,
	// and not the new controller, whose failover the kill already tried.
	md, err = metadataFrom(context.Background(), newClient(t, c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	other := -1
	for _, id := range all {
		if id != controller && id != int(md.ControllerID) {
			other = id
		}
	}
	restarted = time.Now()
	if err := c.StopBroker(other); err != nil {
		t.Fatal(err)
	}
	stopped := time.Since(restarted)
	if err := c.StartBroker(other); err != nil {
		t.Fatal(err)
	}
	up = time.Since(restarted)
	everyBrokerSees(t, c, all, failoverWait, "every partition led and in sync after the second restart", topics, prefix, -1, allLedAndInSync)
	t.Logf("broker %d restarted: stopped (SIGTERM) after %v, accepting connections after %v, back in every ISR after %v",
		other, stopped.Round(time.Millisecond), up.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	progress("a record acknowledged in every partition after the restarts")

	results := make([]verify.Result, len(producers))
	for i, p := range producers {
		results[i] = p.Stop()
	}
	// Stopping waited for the last acknowledgements; the followers may
	// still be fetching them.
	everyBrokerSees(t, c, all, failoverWait, "every partition in sync after the last writes", topics, prefix, -1, allLedAndInSync)
	dataDirs := map[int32]string{}
	for _, id := range all {
		dataDirs[int32(id)] = c.BrokerLogDir(id)
	}
	for i, topic := range topics {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		rep, err := verify.Check(ctx, verify.CheckConfig{
			Bootstrap: c.Bootstrap(), Topic: topic, Partitions: failoverPartitionsPerTopic, DataDirs: dataDirs,
		}, results[i])
		cancel()
		if err != nil {
			t.Fatalf("verify %s: %v", topic, err)
		}
		t.Logf("%s: sent=%d %s", topic, results[i].Sent, rep)
		if !rep.OK() || rep.Acknowledged == 0 {
			t.Errorf("%s: acknowledged writes not kept:\n%s", topic, verify.Summary(rep))
		}
		if want := failoverPartitionsPerTopic * 2; rep.ReplicasCompared != want {
			t.Errorf("%s: %d follower logs compared with their leaders', want %d", topic, rep.ReplicasCompared, want)
		}
	}
	t.Logf("%d partitions RF 3: %v in all", total, time.Since(start).Round(time.Millisecond))
}

// without returns ids without id.
func without(ids []int, id int) []int {
	var out []int
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
