package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// TestZooKeeperSecurity runs brokers with zookeeper.set.acl, connected to
// ZooKeeper over TLS with a digest identity (scripts/cluster's
// KZOO_ZK_SECURE=1). A ZooKeeper client without credentials can read the
// cluster's znodes but not change them, and cannot read /config/users; the
// brokers keep working; kzoo zk-secure --disable opens the znodes and
// --enable secures them again, the namespace root included.
func TestZooKeeperSecurity(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 21200, Env: map[string]string{cluster.ZKSecureEnv: "1"}})
	digest, err := c.ZKDigest()
	if err != nil {
		t.Fatal(err)
	}
	user, _, _ := strings.Cut(digest, ":")
	bootstrap := c.Bootstrap()

	createTopic(t, bootstrap, "zk-secure", 3, 3, nil)
	produceConsumeRoundTrip(t, bootstrap, "zk-secure", "before")
	// A user quota makes /config/users/alice, a sensitive znode.
	setUserQuota(t, bootstrap, "alice")

	// The brokers' identity owns what they created; the world may read it.
	anon := plainZK(t, c)
	acl, _, err := anon.GetACL(zkpaths.TopicPath("zk-secure"))
	if err != nil {
		t.Fatal(err)
	}
	if !hasACL(acl, "digest", user+":", zk.PermAll) || !hasACL(acl, "world", "anyone", zk.PermRead) || len(acl) != 2 {
		t.Fatalf("ACL of %s: %v; want ALL for the brokers' digest %s and READ for the world", zkpaths.TopicPath("zk-secure"), acl, user)
	}
	// Without a chroot the brokers secured ZooKeeper's root at start, so
	// that nobody else can delete /controller or create top-level znodes.
	checkLockedOut(t, anon, "zk-secure", "alice")

	// zk-secure --disable: everything is open again.
	out, err := kzoo(t, c, "zk-secure", "--zookeeper", c.ZKConnect(), "--disable", "--zk-digest", digest)
	if err != nil {
		t.Fatalf("zk-secure --disable: %v\n%s", err, out)
	}
	t.Logf("zk-secure --disable: %s", out)
	if _, _, err := anon.Get(zkpaths.ConfigEntityPath(zkpaths.ConfigTypeUser, "alice")); err != nil {
		t.Fatalf("after zk-secure --disable, read /config/users/alice: %v", err)
	}
	probe := zkpaths.TopicConfigPath("zz-probe")
	if _, err := anon.Create(probe, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("after zk-secure --disable, create %s: %v", probe, err)
	}
	if err := anon.Delete(probe, -1); err != nil {
		t.Fatalf("after zk-secure --disable, delete %s: %v", probe, err)
	}
	if acl, _, err := anon.GetACL(zkpaths.ControllerPath); err != nil || !slices.Equal(acl, zk.WorldACL(zk.PermAll)) {
		t.Fatalf("after zk-secure --disable, ACL of /controller: %v, %v", acl, err)
	}
	produceConsumeRoundTrip(t, bootstrap, "zk-secure", "open")

	// zk-secure --enable, over TLS with the brokers' certificate and
	// digest: locked again, the root too.
	out, err = kzoo(t, c, "zk-secure", "--zookeeper", c.ZKSecureConnect(), "--enable",
		"--zk-tls-config-file", c.ZKTLSConfigFile(), "--zk-digest", digest)
	if err != nil {
		t.Fatalf("zk-secure --enable: %v\n%s", err, out)
	}
	t.Logf("zk-secure --enable: %s", out)
	checkLockedOut(t, anon, "zk-secure", "alice")

	// The brokers still own it all: a new topic (the controller writes
	// its znodes) while a ZooKeeper node is down, so that some brokers
	// reconnect and must authenticate again, then produce and consume.
	if err := c.StopZK(1); err != nil {
		t.Fatal(err)
	}
	createTopic(t, bootstrap, "zk-secure-after", 2, 3, nil)
	produceConsumeRoundTrip(t, bootstrap, "zk-secure-after", "after")
	if err := c.StartZK(1); err != nil {
		t.Fatal(err)
	}
	checkLockedOut(t, anon, "zk-secure-after", "alice")

	// kzoo cluster reads the cluster over TLS with the digest.
	out, err = kzoo(t, c, "cluster", "--zookeeper", c.ZKSecureConnect(),
		"--zk-tls-config-file", c.ZKTLSConfigFile(), "--zk-digest", digest)
	if err != nil || !strings.Contains(out, "Brokers: 3\n") || !strings.Contains(out, "Controller: broker ") {
		t.Fatalf("kzoo cluster over TLS: %v\n%s", err, out)
	}
}

// plainZK is a ZooKeeper client on the plain port without any credentials.
func plainZK(t *testing.T, c *cluster.Cluster) *zk.Conn {
	t.Helper()
	conn, events, err := zk.Connect(strings.Split(c.ZKConnect(), ","), 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				return conn
			}
		case <-deadline:
			t.Fatal("no ZooKeeper session")
		}
	}
}

// checkLockedOut checks that conn, a client without credentials, can read
// but not change the znodes of topic, the controller's and the configs, and
// cannot read user's SCRAM and quota znode, nor delete /controller or
// create top-level znodes (which takes the namespace root's ACL).
func checkLockedOut(t *testing.T, conn *zk.Conn, topic, user string) {
	t.Helper()
	if _, err := conn.Sync("/"); err != nil {
		t.Fatal(err)
	}
	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s without credentials: %v, want %v", what, err, zk.ErrNoAuth)
		}
	}
	state := zkpaths.PartitionStatePath(topic, 0)
	_, err := conn.Create(zkpaths.TopicPath("intruder"), []byte("{}"), 0, zk.WorldACL(zk.PermAll))
	denied("create /brokers/topics/intruder", err)
	_, err = conn.Set(zkpaths.TopicPath(topic), []byte("{}"), -1)
	denied("change "+zkpaths.TopicPath(topic), err)
	_, err = conn.Set(state, []byte("{}"), -1)
	denied("change "+state, err)
	denied("delete "+state, conn.Delete(state, -1))
	_, err = conn.Create(zkpaths.TopicConfigPath("intruder"), []byte("{}"), 0, zk.WorldACL(zk.PermAll))
	denied("create /config/topics/intruder", err)
	_, err = conn.Set(zkpaths.TopicConfigPath(topic), []byte("{}"), -1)
	denied("change "+zkpaths.TopicConfigPath(topic), err)
	denied("delete "+zkpaths.TopicConfigPath(topic), conn.Delete(zkpaths.TopicConfigPath(topic), -1))
	_, err = conn.Create(zkpaths.ConfigChangeSequencePath(), []byte("{}"), zk.FlagSequence, zk.WorldACL(zk.PermAll))
	denied("create a config change notification", err)
	_, err = conn.Set(zkpaths.ControllerPath, []byte("{}"), -1)
	denied("change /controller", err)
	_, err = conn.Set(zkpaths.ControllerEpochPath, []byte("999"), -1)
	denied("change /controller_epoch", err)
	denied("delete /brokers/ids/1", conn.Delete(zkpaths.BrokerIDPath(1), -1))
	denied("delete /controller", conn.Delete(zkpaths.ControllerPath, -1))
	_, err = conn.Create("/intruder", nil, 0, zk.WorldACL(zk.PermAll))
	denied("create /intruder", err)

	userPath := zkpaths.ConfigEntityPath(zkpaths.ConfigTypeUser, user)
	_, _, err = conn.Get(userPath)
	denied("read "+userPath, err)
	_, _, err = conn.Children(zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeUser))
	denied("list /config/users", err)

	// Everything else stays readable.
	for _, p := range []string{zkpaths.TopicPath(topic), state, zkpaths.ControllerPath, zkpaths.BrokerIDPath(1), zkpaths.TopicConfigPath(topic)} {
		if _, _, err := conn.Get(p); err != nil {
			t.Errorf("read %s without credentials: %v", p, err)
		}
	}
}

func hasACL(acl []zk.ACL, scheme, idPrefix string, perms int32) bool {
	return slices.ContainsFunc(acl, func(a zk.ACL) bool {
		return a.Scheme == scheme && strings.HasPrefix(a.ID, idPrefix) && a.Perms == perms
	})
}

// produceConsumeRoundTrip produces ten records with acks=all and reads
// them back from the start of a fresh group.
func produceConsumeRoundTrip(t *testing.T, bootstrap []string, topic, prefix string) {
	t.Helper()
	p, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := make(map[string]bool)
	var recs []*kgo.Record
	for i := range 10 {
		v := fmt.Sprintf("%s-%d", prefix, i)
		want[v] = true
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup("zk-secure-"+prefix), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	poll.Until(t, 40*time.Second, fmt.Sprintf("the records %s-* back from %s", prefix, topic), func() bool {
		fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cons.PollFetches(fctx).EachRecord(func(r *kgo.Record) { delete(want, string(r.Value)) })
		return len(want) == 0
	})
}

// setUserQuota gives user a producer quota, which the brokers store in
// /config/users/<user>.
func setUserQuota(t *testing.T, bootstrap []string, user string) {
	t.Helper()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	e := kmsg.NewAlterClientQuotasRequestEntry()
	ec := kmsg.NewAlterClientQuotasRequestEntryEntity()
	ec.Type, ec.Name = "user", kmsg.StringPtr(user)
	e.Entity = append(e.Entity, ec)
	op := kmsg.NewAlterClientQuotasRequestEntryOp()
	op.Key, op.Value = "producer_byte_rate", 1e9
	e.Ops = append(e.Ops, op)
	req.Entries = append(req.Entries, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, admin(t, bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Entries[0].ErrorCode); err != nil {
		t.Fatalf("quota of user %s: %v", user, err)
	}
}
