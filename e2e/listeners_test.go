package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// TestNamedListeners runs two brokers with an INTERNAL listener on
// 127.0.0.1 (the inter-broker one) and an EXTERNAL one on 127.0.0.2, the
// same port on another loopback address. Each broker registers both, a
// client is answered with every broker's endpoint of the listener it
// connected through, and replication (acks=all, RF 2, min ISR 2) runs over
// INTERNAL.
func TestNamedListeners(t *testing.T) {
	const externalHost = "127.0.0.2"
	c := cluster.Start(t, cluster.Options{Brokers: 2, PortOffset: 15000, Env: map[string]string{
		"KZOO_EXTERNAL_HOST": externalHost,
	}})
	internal := c.Bootstrap()
	external := make([]string, len(internal))
	want := map[string]map[int32]string{"INTERNAL": {}, "EXTERNAL": {}}
	for i, addr := range internal {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		external[i] = net.JoinHostPort(externalHost, port)
		want["INTERNAL"][int32(i+1)] = addr
		want["EXTERNAL"][int32(i+1)] = external[i]
	}
	waitForLiveBrokers(t, external, 2)

	conn := zkConn(t, c)
	data, _, err := conn.Get("/brokers/ids/1")
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Endpoints   []string          `json:"endpoints"`
		ProtocolMap map[string]string `json:"listener_security_protocol_map"`
	}
	if err := json.Unmarshal(data, &reg); err != nil {
		t.Fatalf("registration %s: %v", data, err)
	}
	wantEndpoints := []string{"INTERNAL://" + want["INTERNAL"][1], "EXTERNAL://" + want["EXTERNAL"][1]}
	wantMap := map[string]string{"INTERNAL": "PLAINTEXT", "EXTERNAL": "PLAINTEXT"}
	if !slices.Equal(reg.Endpoints, wantEndpoints) || !maps.Equal(reg.ProtocolMap, wantMap) {
		t.Errorf("registration %s: want endpoints %v and map %v", data, wantEndpoints, wantMap)
	}

	for listener, bootstrap := range map[string][]string{"INTERNAL": internal, "EXTERNAL": external} {
		cl := admin(t, bootstrap)
		md := metadataFrom(cl)
		if md == nil {
			t.Fatalf("no Metadata through %s", listener)
		}
		got := make(map[int32]string)
		for _, b := range md.Brokers {
			got[b.NodeID] = net.JoinHostPort(b.Host, fmt.Sprint(b.Port))
		}
		if !maps.Equal(got, want[listener]) {
			t.Errorf("Metadata through %s names brokers %v, want %v", listener, got, want[listener])
		}
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey = "named-listeners"
		poll.Until(t, 30*time.Second, "a group coordinator through "+listener, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := fc.RequestWith(ctx, cl)
			if err != nil || resp.ErrorCode != 0 {
				return false
			}
			if addr := net.JoinHostPort(resp.Host, fmt.Sprint(resp.Port)); addr != want[listener][resp.NodeID] {
				t.Errorf("FindCoordinator through %s: %s, want broker %d's %s", listener, addr, resp.NodeID, want[listener][resp.NodeID])
			}
			return true
		})
	}

	const topic = "named-listeners"
	createTopic(t, external, topic, 1, 2, map[string]string{"min.insync.replicas": "2"})
	waitForLeaders(t, external, topic, 1)
	producer, err := kgo.NewClient(kgo.SeedBrokers(external...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	const records = 20
	for i := range records {
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		err := producer.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr()
		cancel()
		if err != nil {
			t.Fatalf("acks=all produce %d through EXTERNAL (needs both replicas in sync over INTERNAL): %v", i, err)
		}
	}
	// Both replicas hold every record: the follower fetched them over
	// INTERNAL, and the high watermark (the ISR minimum) reached the end.
	if hw := highWatermarks(t, external, topic, 1); hw[0] != records {
		t.Errorf("high watermark %d, want %d", hw[0], records)
	}
	md := metadataFrom(admin(t, external), topic)
	if md == nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 1 || len(md.Topics[0].Partitions[0].ISR) != 2 {
		t.Errorf("Metadata %+v: want one partition with both replicas in the ISR", md)
	}
}
