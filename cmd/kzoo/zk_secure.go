package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/internal/zksecure"
	"github.com/kzoo/kzoo/zkpaths"
)

const zkSecureHelp = `Usage: kzoo zk-secure --zookeeper HOST:PORT[,HOST:PORT...][/chroot] (--enable | --disable)
                     [--zk-digest USER:PASSWORD] [--zk-tls-config-file FILE]

Sets the ACLs of the cluster's existing znodes, as Kafka's
zookeeper-security-migration does (--zookeeper.acl secure|unsecure is
accepted too):

  --enable   the secure ACLs brokers with zookeeper.set.acl=true create znodes
             with: every permission for this tool's identity (its digest user,
             else its TLS client certificate), read for everyone, nothing for
             anyone else under /config/users and /config/brokers; /consumers
             stays open
  --disable  every permission for everyone (world:anyone), as brokers without
             zookeeper.set.acl create znodes

It changes the root of the namespace (the chroot, or ZooKeeper's root) and the
trees of Kafka's top-level znodes (/brokers, /config, /admin, /controller, ...),
nothing else. The identity must be the brokers' own: run it with their digest
credentials or certificate, and set zookeeper.set.acl on the brokers to match
(a broker with it off creates open znodes again). Either way it needs an
identity, as Kafka's tool does, since it must be allowed to change secured ACLs.

` + zkSecurityFlagsHelp + `  --digest USER:PASSWORD
      the same as --zk-digest
`

// zkSecureCommand runs `kzoo zk-secure`.
func zkSecureCommand(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("zk-secure", flag.ContinueOnError)
	connect := fs.String("zookeeper", envOr("KZOO_ZOOKEEPER", defaultZooKeeper), "")
	enable := fs.Bool("enable", false, "")
	disable := fs.Bool("disable", false, "")
	kafkaACL := fs.String("zookeeper.acl", "", "")
	zkFlags := addZKSecurityFlags(fs)
	fs.StringVar(&zkFlags.digest, "digest", zkFlags.digest, "")
	rest, helped, err := parseArgs(fs, zkSecureHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("zk-secure: unexpected argument %q", rest[0])
	}
	switch *kafkaACL {
	case "secure":
		*enable = true
	case "unsecure":
		*disable = true
	case "":
	default:
		return fmt.Errorf("zk-secure: --zookeeper.acl %q: want secure or unsecure", *kafkaACL)
	}
	if *enable == *disable {
		return errors.New("zk-secure: want one of --enable and --disable (try --help)")
	}
	servers, chroot, err := parseZKConnect(*connect)
	if err != nil {
		return fmt.Errorf("zk-secure: %w", err)
	}
	security, err := zkFlags.settings()
	if err != nil {
		return fmt.Errorf("zk-secure: %w", err)
	}
	if !security.SetACL {
		return errors.New("zk-secure: no ZooKeeper identity: give --zk-digest USER:PASSWORD (or $" + zkDigestEnv +
			"), or --zk-tls-config-file with a client certificate; the brokers' identity owns the secured znodes")
	}
	security.SetACL = *enable

	dialCtx, cancel := context.WithTimeout(ctx, zkConnectTimeout)
	defer cancel()
	conn, err := dialZooKeeper(dialCtx, servers, security)
	if err != nil {
		return fmt.Errorf("zk-secure: %w", err)
	}
	defer conn.Close()
	// ZooKeeper calls take no context: closing the connection ends a
	// blocked one when ctx does.
	stop := context.AfterFunc(ctx, conn.Close)
	defer stop()

	n, err := setClusterACLs(zkACLSetter{conn: conn, chroot: chroot}, security)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("zk-secure: %w (after %d znodes; run it again to finish)", err, n)
	}
	mode := "secure"
	if !*enable {
		mode = "open"
	}
	fmt.Fprintf(out, "Set %s ACLs on %d znodes.\n", mode, n)
	return nil
}

// aclSetter is the part of a ZooKeeper session zk-secure needs, with paths
// of the cluster namespace.
type aclSetter interface {
	SetACL(p string, acl []zk.ACL) error
	Children(p string) ([]string, error)
}

// zkACLSetter sets ACLs over a ZooKeeper session, under a chroot.
type zkACLSetter struct {
	conn   *zk.Conn
	chroot string
}

func (s zkACLSetter) abs(p string) string {
	if s.chroot != "" && p == "/" {
		return s.chroot
	}
	return s.chroot + p
}

func (s zkACLSetter) SetACL(p string, acl []zk.ACL) error {
	if _, err := s.conn.SetACL(s.abs(p), acl, -1); err != nil {
		return fmt.Errorf("set ACL of %s: %w", s.abs(p), err)
	}
	return nil
}

func (s zkACLSetter) Children(p string) ([]string, error) {
	names, _, err := s.conn.Children(s.abs(p))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.abs(p), err)
	}
	return names, nil
}

// setClusterACLs gives the namespace's root and every znode in the trees of
// zkpaths.SecureRootPaths the ACL security calls for, as Kafka's
// ZkSecurityMigrator does; it returns how many znodes it changed. A root
// that does not exist is skipped (Kafka would create it, but kzoo has no
// use for the roots it does not create itself), and so is a znode deleted
// during the walk.
func setClusterACLs(z aclSetter, security zksecure.Settings) (int, error) {
	n := 0
	if err := z.SetACL("/", security.ACL("/")); err != nil {
		return n, err
	}
	n++
	for _, root := range zkpaths.SecureRootPaths() {
		changed, err := setTreeACLs(z, security, root)
		n += changed
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// setTreeACLs sets the ACL of p and then of everything below it, parents
// first: once a parent is secured, no one else can add a child to it that
// the walk would miss.
func setTreeACLs(z aclSetter, security zksecure.Settings, p string) (int, error) {
	if err := z.SetACL(p, security.ACL(p)); err != nil {
		if errors.Is(err, zk.ErrNoNode) {
			return 0, nil
		}
		return 0, err
	}
	n := 1
	children, err := z.Children(p)
	if errors.Is(err, zk.ErrNoNode) {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	for _, name := range children {
		changed, err := setTreeACLs(z, security, path.Join(p, name))
		n += changed
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
