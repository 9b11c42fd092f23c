package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

func zkConn(t *testing.T, c *cluster.Cluster) *zk.Conn {
	t.Helper()
	conn, _, err := zk.Connect(strings.Split(c.ZKConnect(), ","), 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// testCleanShutdown stops a broker with SIGTERM: it must deregister at once
// (not after a session timeout) and leave its logs marked cleanly shut down,
// then start again and rejoin.
func testCleanShutdown(t *testing.T, c *cluster.Cluster) {
	conn := zkConn(t, c)
	if ok, _, err := conn.Exists("/brokers/ids/3"); err != nil || !ok {
		t.Fatalf("broker 3 not registered before the test: %v", err)
	}
	if err := c.StopBroker(3); err != nil {
		t.Fatal(err)
	}
	// Sync so that this read sees everything the ensemble has committed.
	if _, err := conn.Sync("/brokers/ids"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := conn.Exists("/brokers/ids/3"); err != nil || ok {
		t.Fatalf("/brokers/ids/3 still exists after SIGTERM (err %v)", err)
	}
	marker := filepath.Join(c.Home(), "broker-3", "data", ".kafka_cleanshutdown")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no clean-shutdown marker after SIGTERM: %v", err)
	}
	if log := c.BrokerLog(3); !strings.Contains(log, "broker stopped") {
		t.Fatalf("broker 3's log does not end with its clean stop:\n%s", tail(log, 20))
	}
	if err := c.StartBroker(3); err != nil {
		t.Fatal(err)
	}
	waitForLiveBrokers(t, c.Bootstrap(), 3)
}

// testRetention produces past a topic's retention.bytes with small
// segments: the broker's background retention deletes whole old segments
// and the log start offset moves forward.
func testRetention(t *testing.T, bootstrap []string) {
	const topic = "retention"
	createTopic(t, bootstrap, topic, 1, 1, map[string]string{"segment.bytes": "4096", "retention.bytes": "16384"})
	// Ten rounds, so that there are at least ten batches and so segments.
	for round := 0; round < 10; round++ {
		produceFranz(t, bootstrap, topic, newWorkload(200, 10, "ret"))
	}
	var start int64
	poll.Until(t, 30*time.Second, "retention to delete old segments", func() bool {
		start = logStartOf(t, bootstrap, topic, 0)
		return start > 0
	})
	if hw := highWatermarks(t, bootstrap, topic, 1)[0]; hw != 2000 || start >= hw {
		t.Fatalf("log start %d, high watermark %d: want 0 < start < 2000 = hw", start, hw)
	}
	// What remains is readable from the new start, in order.
	got := consumeFranz(t, bootstrap, topic, []int64{2000 - start})
	if len(got) == 0 || got[0].offset != start {
		t.Fatalf("first record read at offset %d, want the log start %d", got[0].offset, start)
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
