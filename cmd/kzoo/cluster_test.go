package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/internal/zksecure"
	"github.com/kzoo/kzoo/zkpaths"
)

// fakeZnodes is an in-memory namespace: path → data.
type fakeZnodes map[string][]byte

func (f fakeZnodes) Get(p string) ([]byte, error) {
	data, ok := f[p]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", p, zk.ErrNoNode)
	}
	return data, nil
}

func (f fakeZnodes) Children(p string) ([]string, error) {
	var out []string
	found := false
	for k := range f {
		if k == p {
			found = true
		}
		if rest, ok := strings.CutPrefix(k, p+"/"); ok {
			found = true
			child, _, _ := strings.Cut(rest, "/")
			if !slices.Contains(out, child) {
				out = append(out, child)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("list %s: %w", p, zk.ErrNoNode)
	}
	return out, nil
}

func (f fakeZnodes) put(t *testing.T, p string, data []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	f[p] = data
}

func TestReadClusterReport(t *testing.T) {
	f := fakeZnodes{}
	now := time.UnixMilli(1_700_000_000_000)
	for id, rack := range map[int32]string{1: "r1", 2: ""} {
		reg := zkpaths.NewBrokerRegistration([]zkpaths.BrokerEndpoint{{
			Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: 9090 + id,
		}}, rack, now)
		data, err := reg.Marshal()
		f.put(t, zkpaths.BrokerIDPath(id), data, err)
	}
	data, err := zkpaths.ClusterID{ID: "abc"}.Marshal()
	f.put(t, zkpaths.ClusterIDPath, data, err)
	data, err = zkpaths.ControllerRegistration{BrokerID: 2, Timestamp: now}.Marshal()
	f.put(t, zkpaths.ControllerPath, data, err)
	f.put(t, zkpaths.ControllerEpochPath, zkpaths.MarshalControllerEpoch(7), nil)

	data, err = zkpaths.NewTopicAssignment(zkpaths.UUID{}, [][]int32{{1, 2}, {2, 1}, {1}, {2}, {1}}).Marshal()
	f.put(t, zkpaths.TopicPath("t"), data, err)
	for p, s := range map[int32]zkpaths.PartitionState{
		0: {Leader: 1, ISR: []int32{1, 2}, State: zkpaths.StateOnline},
		1: {Leader: 2, ISR: []int32{2}, State: zkpaths.StateOnline},
		2: {Leader: zkpaths.NoLeader, ISR: []int32{1}, State: zkpaths.StateOffline},
		3: {Leader: zkpaths.NoLeader, State: zkpaths.StateNew},
		// 4 has no state znode yet: NonExistent.
	} {
		data, err := s.Marshal()
		f.put(t, zkpaths.PartitionStatePath("t", p), data, err)
	}

	report, err := readClusterReport(f)
	if err != nil {
		t.Fatal(err)
	}
	if report.ClusterID != "abc" || report.Controller != 2 || report.ControllerEpoch != 7 || report.Topics != 1 {
		t.Errorf("report = %+v", report)
	}
	wantBrokers := []brokerRow{{1, "127.0.0.1:9091", "r1"}, {2, "127.0.0.1:9092", ""}}
	if !slices.Equal(report.Brokers, wantBrokers) {
		t.Errorf("brokers = %v, want %v", report.Brokers, wantBrokers)
	}
	wantStates := map[string]int{"Online": 2, "Offline": 1, "New": 1, "NonExistent": 1}
	if !maps.Equal(report.PartitionStates, wantStates) {
		t.Errorf("states = %v, want %v", report.PartitionStates, wantStates)
	}

	var out strings.Builder
	if err := writeClusterReport(&out, report); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Cluster ID: abc", "Controller: broker 2 (epoch 7)", "127.0.0.1:9091", "r1", "Partitions: 5 in 1 topics"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if fields := strings.Fields(lineWith(out.String(), "NonExistent")); !slices.Equal(fields, []string{"NonExistent", "1"}) {
		t.Errorf("NonExistent row = %v", fields)
	}
}

func TestReadClusterReportEmpty(t *testing.T) {
	report, err := readClusterReport(fakeZnodes{zkpaths.BrokerIDsPath: nil})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := writeClusterReport(&out, report); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Controller: none") || !strings.Contains(out.String(), "Brokers: 0") {
		t.Errorf("empty cluster:\n%s", out.String())
	}
}

func TestReadClusterReportOutsideACluster(t *testing.T) {
	if _, err := readClusterReport(fakeZnodes{"/zookeeper": nil}); err == nil || !strings.Contains(err.Error(), "chroot") {
		t.Errorf("namespace without /brokers/ids: %v, want an error suggesting the chroot", err)
	}
}

func TestReadClusterReportRefusesCorruptZnodes(t *testing.T) {
	f := fakeZnodes{zkpaths.BrokerIDsPath: nil, zkpaths.TopicPath("t"): []byte(`{"version":2,"partitions":{"0":[1]}}`)}
	f[zkpaths.PartitionStatePath("t", 0)] = []byte(`{not json`)
	if _, err := readClusterReport(f); err == nil || !strings.Contains(err.Error(), "partition t-0") {
		t.Errorf("corrupt state znode: %v, want an error naming t-0", err)
	}
}

func TestParseZKConnect(t *testing.T) {
	for _, tc := range []struct {
		connect string
		servers []string
		chroot  string
	}{
		{"127.0.0.1:2181", []string{"127.0.0.1:2181"}, ""},
		{"a:1,b:2/kzoo/x", []string{"a:1", "b:2"}, "/kzoo/x"},
		{"a:1/", []string{"a:1"}, ""},
	} {
		servers, chroot, err := parseZKConnect(tc.connect)
		if err != nil || !slices.Equal(servers, tc.servers) || chroot != tc.chroot {
			t.Errorf("parseZKConnect(%q) = %v, %q, %v", tc.connect, servers, chroot, err)
		}
	}
	for _, bad := range []string{"", "a:1,,b:2", "a:1/x/", "a:1/x//y", "nohost"} {
		if _, _, err := parseZKConnect(bad); err == nil {
			t.Errorf("parseZKConnect(%q) succeeded", bad)
		}
	}
}

func TestDialZooKeeperGivesUp(t *testing.T) {
	// Nothing listens on port 1; the dial must end with the context.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	conn, err := dialZooKeeper(ctx, []string{"127.0.0.1:1"}, zksecure.Settings{})
	if err == nil {
		conn.Close()
		t.Fatal("dialZooKeeper succeeded without a server")
	}
	if !strings.Contains(err.Error(), "cannot reach ZooKeeper at 127.0.0.1:1") {
		t.Errorf("error %v, want one naming the server", err)
	}
}
