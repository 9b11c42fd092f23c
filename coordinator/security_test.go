package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/internal/zksecure"
	"github.com/kzoo/kzoo/zkpaths"
)

// testSecureACLs runs a session with zookeeper.set.acl and a digest
// identity in a fresh chroot: everything it creates, the chroot included,
// is the brokers' to change and the world's to read, /config/users
// excepted; after its session expires it authenticates again and goes on
// writing; another identity cannot register.
func testSecureACLs(t *testing.T, env *zkEnv, zkAddr string) {
	digest := zksecure.Digest{User: "kzoo", Password: "secret"}
	cfg := env.config(1)
	cfg.ZooKeeperSecurity = zksecure.Settings{SetACL: true, Digest: digest}

	// Refused without an identity to own the znodes.
	bad := env.config(1)
	bad.ZooKeeperSecurity = zksecure.Settings{SetACL: true}
	if s, err := Start(context.Background(), bad); err == nil {
		s.Close()
		t.Fatal("Start with zookeeper.set.acl and no identity succeeded")
	}

	proxy := newProxy(t, zkAddr)
	cfg.Connect = proxy.addr() + env.chroot
	cfg.SessionTimeout = 2 * time.Second
	s := env.start(t, cfg)
	waitFor(t, "broker 1 to be controller", func() (bool, string) {
		c := s.Snapshot().ControllerID
		return c == 1, fmt.Sprint(c)
	})
	if err := s.CreateTopic(context.Background(), "secured", [][]int32{{1}}, nil); err != nil {
		t.Fatal(err)
	}
	in := env.inspector(t) // after the session made the chroot, which it keeps
	waitForState(t, in, "secured", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})

	// ZooKeeper shows a digest ACL's hash, and the ACL of a znode the
	// reader may not read at all, only to an identity with the right.
	admin := env.inspector(t)
	if err := cfg.ZooKeeperSecurity.Authenticate(admin.conn); err != nil {
		t.Fatal(err)
	}
	owner := zk.DigestACL(zk.PermAll, digest.User, digest.Password)
	readable := append(slices.Clone(owner), zk.WorldACL(zk.PermRead)...)
	for p, want := range map[string][]zk.ACL{
		"/":                                      readable, // the chroot
		zkpaths.BrokerIDPath(1):                  readable,
		zkpaths.ControllerPath:                   readable,
		zkpaths.TopicPath("secured"):             readable,
		zkpaths.PartitionStatePath("secured", 0): readable,
		zkpaths.TopicConfigPath("secured"):       readable,
		zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeUser):   owner,
		zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeBroker): owner,
		zkpaths.ConsumersPath: zk.WorldACL(zk.PermAll),
	} {
		abs := in.chroot + p
		if p == "/" {
			abs = in.chroot
		}
		acl, _, err := admin.conn.GetACL(abs)
		if err != nil {
			t.Fatalf("ACL of %s: %v", p, err)
		}
		if !slices.Equal(acl, want) {
			t.Errorf("ACL of %s: %v, want %v", p, acl, want)
		}
	}

	// An unauthenticated client reads, but changes nothing.
	denied := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s: %v, want %v", what, err, zk.ErrNoAuth)
		}
	}
	abs := func(p string) string { return in.chroot + p }
	denied("delete /controller", in.conn.Delete(abs(zkpaths.ControllerPath), -1))
	_, err := in.conn.Set(abs(zkpaths.ControllerEpochPath), []byte("99"), -1)
	denied("set /controller_epoch", err)
	_, err = in.conn.Create(abs(zkpaths.TopicPath("intruder")), []byte("{}"), 0, zk.WorldACL(zk.PermAll))
	denied("create a topic", err)
	_, err = in.conn.Create(abs("/intruder"), nil, 0, zk.WorldACL(zk.PermAll))
	denied("create in the chroot", err)
	_, _, err = in.conn.Children(abs(zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeUser)))
	denied("list /config/users", err)
	if _, _, err := in.conn.Get(abs(zkpaths.PartitionStatePath("secured", 0))); err != nil {
		t.Errorf("read a partition state: %v", err)
	}

	// Another identity cannot take a broker id.
	other := env.config(2)
	other.ZooKeeperSecurity = zksecure.Settings{SetACL: true, Digest: zksecure.Digest{User: "kzoo", Password: "wrong"}}
	if s2, err := Start(context.Background(), other); err == nil {
		s2.Close()
		t.Fatal("a session with another digest registered")
	} else if !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("a session with another digest: %v, want %v", err, zk.ErrNoAuth)
	}

	// After its session expires, the session authenticates again on the
	// new one: it registers under /brokers/ids, which only its identity may.
	oldEpoch := s.BrokerEpoch()
	proxy.setBlocked(true)
	waitFor(t, "the session to expire and its registration to go", func() (bool, string) {
		return !in.exists(zkpaths.BrokerIDPath(1)), "still registered"
	})
	proxy.setBlocked(false)
	waitFor(t, "re-registration under a new epoch", func() (bool, string) {
		_, stat, err := in.get(zkpaths.BrokerIDPath(1))
		if err != nil {
			return false, err.Error()
		}
		return stat.Czxid != oldEpoch && stat.Czxid == s.BrokerEpoch(), fmt.Sprintf("czxid %d, old epoch %d", stat.Czxid, oldEpoch)
	})
	if err := s.CreateTopic(context.Background(), "after-expiry", [][]int32{{1}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "after-expiry", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})
}
