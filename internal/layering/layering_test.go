package layering

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/kzoo/kzoo/"

// deps maps every production package of the module to the module's packages
// it depends on, directly or not (tests excluded).
func deps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "github.com/kzoo/kzoo/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph := make(map[string][]string)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(fields[0], module)
		graph[pkg] = nil
		for _, d := range fields[1:] {
			if strings.HasPrefix(d, module) {
				graph[pkg] = append(graph[pkg], strings.TrimPrefix(d, module))
			}
		}
	}
	if len(graph) < 10 {
		t.Fatalf("go list found %d packages; the module has many more", len(graph))
	}
	return graph
}

func under(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

func TestLayers(t *testing.T) {
	rules := []struct {
		from, to string // no package under from depends on a package under to
		why      string
	}{
		{"broker", "e2e", "production code never depends on the test tree"},
		{"coordinator", "e2e", "production code never depends on the test tree"},
		{"zkpaths", "e2e", "production code never depends on the test tree"},
		{"internal", "e2e", "production code never depends on the test tree"},
		{"cmd", "e2e", "production code never depends on the test tree"},
		{"coordinator", "broker", "the controller knows ZooKeeper and the cluster, not how a broker serves it"},
		{"broker/group", "broker/storage", "the group coordinator sees its partitions as a group.Log"},
		{"broker/group", "broker/replica", "the group coordinator sees its partitions as a group.Log"},
		{"broker/txn", "broker/storage", "the transaction coordinator sees its partitions as a txn.Log"},
		{"broker/txn", "broker/replica", "the transaction coordinator sees its partitions as a txn.Log"},
		{"broker/txn", "broker/group", "the broker hands the coordinator the offsets partition of a group"},
		{"broker/record", "broker/storage", "the batch codec knows nothing of logs"},
		{"broker/storage", "broker/replica", "storage holds bytes; who may write them is the replica manager's business"},
		{"cmd/kzoo", "broker", "the CLI is a client: it speaks the protocol"},
	}
	graph := deps(t)
	if !slices.Contains(graph["broker"], "broker/replica") {
		t.Fatalf("the graph misses broker's dependency on broker/replica: %v", graph["broker"])
	}
	for pkg, ds := range graph {
		for _, d := range ds {
			for _, r := range rules {
				if under(pkg, r.from) && under(d, r.to) {
					t.Errorf("%s depends on %s: %s", pkg, d, r.why)
				}
			}
		}
	}
	// The transaction coordinator reaches the cluster only through its
	// interfaces, which the broker implements.
	if slices.Contains(graph["broker/txn"], "broker") {
		t.Error("broker/txn depends on broker: the broker implements txn's interfaces, not the other way round")
	}
	// The CLI shares placement's rules, but never needs a ZooKeeper session.
	if slices.Contains(graph["cmd/kzoo"], "coordinator") {
		t.Error("cmd/kzoo depends on coordinator: the CLI reads ZooKeeper through zkpaths")
	}
	// The shared vocabulary and the pure rules depend on nothing of kzoo,
	// so that any layer may use them.
	for _, leaf := range []string{"zkpaths", "coordinator/placement", "broker/record", "broker/peer", "internal/configvalue", "internal/kafkahash"} {
		if ds := graph[leaf]; len(ds) > 0 {
			t.Errorf("%s depends on %v; it must depend on nothing of kzoo", leaf, ds)
		}
	}
}
