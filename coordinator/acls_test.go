package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/zkpaths"
)

func aclBinding(typ kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) acl.Binding {
	return acl.Binding{
		Resource: acl.Resource{Type: typ, Name: name, Pattern: pattern},
		Entry:    acl.Entry{Principal: principal, Host: "*", Operation: op, Permission: perm},
	}
}

func sortedBindings(bs ...acl.Binding) []acl.Binding {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, acl.Binding.Compare)
	return bs
}

// waitForACLs waits until every session's snapshot holds exactly want.
func waitForACLs(t *testing.T, what string, want []acl.Binding, sessions ...*Session) {
	t.Helper()
	want = sortedBindings(want...)
	for i, s := range sessions {
		waitFor(t, fmt.Sprintf("session %d to show %s", i+1, what), func() (bool, string) {
			got := s.Snapshot().ACLs.Bindings()
			return reflect.DeepEqual(got, want) || len(got) == 0 && len(want) == 0, fmt.Sprint(got)
		})
	}
}

// testACLs: ACLs created through one session reach the others' snapshots,
// and a new session's; they are stored as Kafka stores them; deletes by
// filter go the same way; concurrent writers lose nothing; old notifications
// are purged.
func testACLs(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	var clockOffset atomic.Int64
	cfg1 := env.config(1)
	cfg1.Now = func() time.Time { return time.Now().Add(time.Duration(clockOffset.Load())) }
	s1 := env.start(t, cfg1)
	waitForController(t, in, 1)
	s2 := env.start(t, env.config(2))
	ctx := context.Background()

	for i, s := range []*Session{s1, s2} {
		if set := s.Snapshot().ACLs; set == nil || set.Len() != 0 {
			t.Fatalf("session %d starts with ACLs %v", i+1, set)
		}
	}
	for _, p := range zkpaths.ACLPaths() {
		if !in.exists(p) {
			t.Errorf("%s was not created at start", p)
		}
	}

	const (
		topic    = kmsg.ACLResourceTypeTopic
		group    = kmsg.ACLResourceTypeGroup
		literal  = kmsg.ACLResourcePatternTypeLiteral
		prefixed = kmsg.ACLResourcePatternTypePrefixed
		allow    = kmsg.ACLPermissionTypeAllow
		deny     = kmsg.ACLPermissionTypeDeny
	)
	aliceRead := aclBinding(topic, "orders", literal, "User:alice", kmsg.ACLOperationRead, allow)
	aliceWrite := aclBinding(topic, "orders", literal, "User:alice", kmsg.ACLOperationWrite, allow)
	bobDeny := aclBinding(topic, "ord", prefixed, "User:bob", kmsg.ACLOperationAll, deny)
	groupAll := aclBinding(group, "*", literal, "User:*", kmsg.ACLOperationRead, allow)
	invalid := aclBinding(topic, "x", kmsg.ACLResourcePatternTypeMatch, "User:alice", kmsg.ACLOperationRead, allow)

	errs := s1.CreateACLs(ctx, []acl.Binding{aliceRead, invalid, bobDeny, aliceWrite, groupAll, aliceRead})
	for i, err := range errs {
		if (i == 1) != (err != nil) || i == 1 && !errors.Is(err, acl.ErrInvalid) {
			t.Errorf("CreateACLs error %d: %v", i, err)
		}
	}
	all := []acl.Binding{aliceRead, aliceWrite, bobDeny, groupAll}
	// The creating session's snapshot shows them when CreateACLs returns.
	if got := s1.Snapshot().ACLs.Bindings(); !reflect.DeepEqual(got, sortedBindings(all...)) {
		t.Errorf("the creating session's snapshot right after CreateACLs: %v", got)
	}
	waitForACLs(t, "the created ACLs", all, s1, s2)

	data, _ := in.mustGet("/kafka-acl/Topic/orders")
	want := `{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"},` +
		`{"principal":"User:alice","permissionType":"Allow","operation":"Write","host":"*"}]}`
	if string(data) != want {
		t.Errorf("/kafka-acl/Topic/orders = %s\nwant %s", data, want)
	}
	if data, _ := in.mustGet("/kafka-acl-extended/prefixed/Topic/ord"); !strings.Contains(string(data), `"operation":"All"`) {
		t.Errorf("prefixed ACL znode %s", data)
	}
	literalChanges := in.children(zkpaths.LiteralACLChangesPath)
	extendedChanges := in.children(zkpaths.ExtendedACLChangesPath)
	if len(literalChanges) != 2 || len(extendedChanges) != 1 {
		t.Errorf("one notification per changed resource expected: literal %v, extended %v", literalChanges, extendedChanges)
	}

	// Creating what exists changes nothing and announces nothing.
	if errs := s2.CreateACLs(ctx, []acl.Binding{aliceRead}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := in.children(zkpaths.LiteralACLChangesPath); len(got) != len(literalChanges) {
		t.Errorf("re-creating an ACL wrote a notification: %v", got)
	}

	// A session started now reads every ACL at start.
	s3 := env.start(t, env.config(3))
	if got := s3.Snapshot().ACLs.Bindings(); !reflect.DeepEqual(got, sortedBindings(all...)) {
		t.Errorf("a new session's ACLs: %v", got)
	}

	// The authorizer's view of the published set.
	authz := &acl.Authorizer{}
	set := s3.Snapshot().ACLs
	if !authz.Authorize(set, "User:alice", "10.0.0.1", kmsg.ACLOperationDescribe, topic, "orders") {
		t.Error("alice may not describe orders")
	}
	if !authz.Authorize(set, "User:bob", "10.0.0.1", kmsg.ACLOperationRead, group, "g") {
		t.Error("the wildcard group ACL does not let bob read a group")
	}
	if authz.Authorize(set, "User:bob", "10.0.0.1", kmsg.ACLOperationDescribe, topic, "orders") {
		t.Error("bob's prefixed DENY ALL does not apply to orders")
	}

	// Concurrent writers to one resource pattern lose nothing.
	var wg sync.WaitGroup
	var concurrent []acl.Binding
	for i, s := range []*Session{s1, s2, s3} {
		for j := range 3 {
			b := aclBinding(topic, "busy", literal, fmt.Sprintf("User:u%d-%d", i, j), kmsg.ACLOperationRead, allow)
			concurrent = append(concurrent, b)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs := s.CreateACLs(ctx, []acl.Binding{b}); errs[0] != nil {
					t.Errorf("concurrent CreateACLs: %v", errs[0])
				}
			}()
		}
	}
	wg.Wait()
	all = append(all, concurrent...)
	waitForACLs(t, "the concurrently created ACLs", all, s1, s2, s3)

	// Deletes by filter: a binding matched by two filters counts for the
	// first; an invalid filter fails alone.
	alice, orders := "User:alice", "orders"
	byAlice := acl.MatchAll()
	byAlice.Principal = &alice
	matchOrders := acl.MatchAll()
	matchOrders.ResourceType, matchOrders.Name, matchOrders.Pattern = topic, &orders, kmsg.ACLResourcePatternTypeMatch
	badFilter := acl.MatchAll()
	badFilter.Operation = kmsg.ACLOperationUnknown
	deleted, errs := s2.DeleteACLs(ctx, []acl.Filter{byAlice, badFilter, matchOrders})
	if errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], acl.ErrInvalid) {
		t.Errorf("DeleteACLs errors %v", errs)
	}
	wantDeleted := [][]acl.Binding{sortedBindings(aliceRead, aliceWrite), nil, sortedBindings(bobDeny)}
	if !reflect.DeepEqual(deleted, wantDeleted) {
		t.Errorf("DeleteACLs deleted %v\nwant %v", deleted, wantDeleted)
	}
	all = append([]acl.Binding{groupAll}, concurrent...)
	waitForACLs(t, "the ACLs left after the deletes", all, s1, s2, s3)
	if in.exists("/kafka-acl/Topic/orders") || in.exists("/kafka-acl-extended/prefixed/Topic/ord") {
		t.Error("a resource pattern without ACLs kept its znode")
	}

	// ACLs written to ZooKeeper without a notification are unknown to the
	// snapshots, yet a filter naming their resource deletes them: deletes
	// read ZooKeeper.
	hidden := aclBinding(topic, "hidden", literal, "User:eve", kmsg.ACLOperationRead, allow)
	payload, err := zkpaths.MarshalACLs([]zkpaths.ACLEntry{zkpaths.ACLEntry(hidden.Entry)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.conn.Create(in.chroot+"/kafka-acl/Topic/hidden", payload, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	hiddenName := "hidden"
	byName := acl.MatchAll()
	byName.ResourceType, byName.Name = topic, &hiddenName
	deleted, errs = s1.DeleteACLs(ctx, []acl.Filter{byName})
	if errs[0] != nil || !reflect.DeepEqual(deleted[0], []acl.Binding{hidden}) {
		t.Errorf("delete of an ACL the snapshot did not know: %v, %v", deleted, errs)
	}
	// Nothing matched (also a name no znode can have), nothing written.
	before := len(in.children(zkpaths.LiteralACLChangesPath))
	slashed := "a/b"
	bySlashedName := acl.MatchAll()
	bySlashedName.ResourceType, bySlashedName.Name = topic, &slashed
	deleted, errs = s1.DeleteACLs(ctx, []acl.Filter{byName, bySlashedName})
	if errs[0] != nil || errs[1] != nil || deleted[0] != nil || deleted[1] != nil || len(in.children(zkpaths.LiteralACLChangesPath)) != before {
		t.Errorf("deletes matching nothing: %v, %v", deleted, errs)
	}

	// Everything goes.
	deleted, errs = s3.DeleteACLs(ctx, []acl.Filter{acl.MatchAll()})
	if errs[0] != nil || !reflect.DeepEqual(deleted[0], sortedBindings(all...)) {
		t.Errorf("delete of everything: %v, %v", deleted, errs)
	}
	waitForACLs(t, "no ACLs", nil, s1, s2, s3)

	// Fifteen minutes later the controller purges the notifications.
	clockOffset.Store(int64(20 * time.Minute))
	if errs := s2.CreateACLs(ctx, []acl.Binding{groupAll}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	waitFor(t, "the old ACL change notifications to be purged", func() (bool, string) {
		l, e := in.children(zkpaths.LiteralACLChangesPath), in.children(zkpaths.ExtendedACLChangesPath)
		return len(l) <= 1 && len(e) == 0, fmt.Sprint(l, e)
	})
	// The next purge is a minute away: a change made now reaches everyone.
	if errs := s2.CreateACLs(ctx, []acl.Binding{bobDeny}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	waitForACLs(t, "the ACLs created after the purge", []acl.Binding{groupAll, bobDeny}, s1, s2, s3)
}

// testACLsAfterSessionLoss: a session whose ZooKeeper session expired reads
// every ACL again, including changes whose notifications were purged while
// it was away.
func testACLsAfterSessionLoss(t *testing.T, env *zkEnv, zkAddr string) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	s2, proxy := env.startBehindProxy(t, 2, zkAddr)
	ctx := context.Background()
	first := aclBinding(kmsg.ACLResourceTypeTopic, "t1", kmsg.ACLResourcePatternTypeLiteral, "User:a", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	second := aclBinding(kmsg.ACLResourceTypeTopic, "t2", kmsg.ACLResourcePatternTypePrefixed, "User:a", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow)
	if errs := s1.CreateACLs(ctx, []acl.Binding{first}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	waitForACLs(t, "the first ACL", []acl.Binding{first}, s2)

	proxy.setBlocked(true)
	waitFor(t, "session 2 to expire", func() (bool, string) {
		return !in.exists("/brokers/ids/2"), "still registered"
	})
	if errs := s1.CreateACLs(ctx, []acl.Binding{second}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if _, errs := s1.DeleteACLs(ctx, []acl.Filter{acl.MatchAll()}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if errs := s1.CreateACLs(ctx, []acl.Binding{second}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	// Purge every notification by hand: only a full read can find the
	// changes now.
	for _, folder := range aclChangeFolders {
		for _, name := range in.children(folder) {
			if err := in.conn.Delete(in.chroot+folder+"/"+name, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	proxy.setBlocked(false)
	waitForACLs(t, "the ACLs changed while the session was away", []acl.Binding{second}, s1, s2)
}

// testACLsKafkaTool: Kafka 2.4.1's kafka-acls.sh, writing to ZooKeeper
// directly, and kzoo read each other's ACLs.
func testACLsKafkaTool(t *testing.T, env *zkEnv) {
	tool := filepath.Join(filepath.Dir(kafkaConfigsTool(t)), "kafka-acls.sh")
	s := env.start(t, env.config(1))
	connect := strings.Join(env.servers, ",") + env.chroot
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tool, append([]string{"--authorizer-properties", "zookeeper.connect=" + connect}, args...)...)
		cmd.Env = append(os.Environ(), "LOG_DIR="+t.TempDir(), "KAFKA_HEAP_OPTS=-Xmx256m",
			"KAFKA_JVM_PERFORMANCE_OPTS=-XX:+UseSerialGC -XX:TieredStopAtLevel=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-acls %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	const (
		topic    = kmsg.ACLResourceTypeTopic
		literal  = kmsg.ACLResourcePatternTypeLiteral
		prefixed = kmsg.ACLResourcePatternTypePrefixed
		allow    = kmsg.ACLPermissionTypeAllow
	)

	// Kafka writes, kzoo reads.
	run("--add", "--allow-principal", "User:alice", "--allow-host", "10.1.2.3", "--operation", "Read", "--operation", "Describe", "--topic", "k-orders")
	run("--add", "--deny-principal", "User:bob", "--operation", "Write", "--topic", "k-", "--resource-pattern-type", "prefixed")
	run("--add", "--allow-principal", "User:carol", "--operation", "IdempotentWrite", "--cluster")
	run("--add", "--allow-principal", "User:carol", "--operation", "Write", "--transactional-id", "tx-", "--resource-pattern-type", "prefixed")
	kafkaWritten := []acl.Binding{
		{Resource: acl.Resource{Type: topic, Name: "k-orders", Pattern: literal}, Entry: acl.Entry{Principal: "User:alice", Host: "10.1.2.3", Operation: kmsg.ACLOperationRead, Permission: allow}},
		{Resource: acl.Resource{Type: topic, Name: "k-orders", Pattern: literal}, Entry: acl.Entry{Principal: "User:alice", Host: "10.1.2.3", Operation: kmsg.ACLOperationDescribe, Permission: allow}},
		aclBinding(topic, "k-", prefixed, "User:bob", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeDeny),
		aclBinding(kmsg.ACLResourceTypeCluster, "kafka-cluster", literal, "User:carol", kmsg.ACLOperationIdempotentWrite, allow),
		aclBinding(kmsg.ACLResourceTypeTransactionalId, "tx-", prefixed, "User:carol", kmsg.ACLOperationWrite, allow),
	}
	waitForACLs(t, "the ACLs kafka-acls.sh wrote", kafkaWritten, s)

	// kzoo writes, Kafka reads.
	kzooWritten := []acl.Binding{
		aclBinding(topic, "z-orders", literal, "User:dave", kmsg.ACLOperationDescribeConfigs, allow),
		aclBinding(kmsg.ACLResourceTypeGroup, "z-", prefixed, "User:dave", kmsg.ACLOperationRead, allow),
	}
	for _, err := range s.CreateACLs(context.Background(), kzooWritten) {
		if err != nil {
			t.Fatal(err)
		}
	}
	out := run("--list")
	for _, want := range []string{
		"Topic:LITERAL:z-orders", "User:dave has Allow permission for operations: DescribeConfigs from hosts: *",
		"Group:PREFIXED:z-", "User:dave has Allow permission for operations: Read from hosts: *",
		"Topic:LITERAL:k-orders", "TransactionalId:PREFIXED:tx-",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kafka-acls --list lacks %q:\n%s", want, out)
		}
	}

	// Each removes the other's.
	run("--remove", "--force", "--topic", "z-orders")
	run("--remove", "--force", "--group", "z-", "--resource-pattern-type", "prefixed")
	waitForACLs(t, "kafka-acls.sh's removal of kzoo's ACLs", kafkaWritten, s)
	deleted, errs := s.DeleteACLs(context.Background(), []acl.Filter{acl.MatchAll()})
	if errs[0] != nil || !reflect.DeepEqual(deleted[0], sortedBindings(kafkaWritten...)) {
		t.Errorf("delete of Kafka's ACLs: %v, %v", deleted, errs)
	}
	if out := run("--list"); strings.Contains(out, "User:") {
		t.Errorf("kafka-acls --list after kzoo deleted everything:\n%s", out)
	}
}
