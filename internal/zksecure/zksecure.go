// Package zksecure is how kzoo's ZooKeeper clients, the broker's session and
// the CLI, secure their use of ZooKeeper as ZooKeeper-mode Kafka does: TLS to
// ZooKeeper's secure client port (Kafka's zookeeper.ssl.* keys), a digest
// identity the client authenticates with, and the ACLs every znode is created
// with when zookeeper.set.acl is on.
//
// Kafka authenticates to ZooKeeper with SASL (DIGEST-MD5 or Kerberos) from a
// JAAS "Client" section, which the Go ZooKeeper client cannot speak; kzoo uses
// ZooKeeper's "digest" scheme (addauth digest user:password) instead. The
// ACLs it writes are Kafka's: the brokers' identity may do everything, the
// world may read, except under the sensitive paths (zkpaths.SensitivePath),
// and the old consumer registry stays open.
package zksecure

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/zkpaths"
)

// DigestScheme is ZooKeeper's built-in user:password authentication scheme.
const DigestScheme = "digest"

// Digest is a ZooKeeper digest identity. The zero Digest is none.
type Digest struct {
	User     string
	Password string
}

// ParseDigest parses "user:password". The user may not hold a colon (ZooKeeper
// splits the identity at the first one); the password may.
func ParseDigest(s string) (Digest, error) {
	user, password, ok := strings.Cut(s, ":")
	if !ok || user == "" {
		return Digest{}, errors.New("ZooKeeper digest credentials: want user:password")
	}
	return Digest{User: user, Password: password}, nil
}

// IsZero reports whether d is no identity at all.
func (d Digest) IsZero() bool { return d.User == "" }

// String names the identity without its password.
func (d Digest) String() string {
	if d.IsZero() {
		return "none"
	}
	return DigestScheme + ":" + d.User
}

// Settings is the ZooKeeper security of one client.
type Settings struct {
	// SetACL is zookeeper.set.acl: znodes are created with Kafka's secure
	// ACLs instead of world:anyone with every permission.
	SetACL bool
	// Digest is the identity the client authenticates with after it connects
	// (the ZooKeeper client sends it again after every reconnect).
	Digest Digest
	// TLS, when not nil, makes every connection to a ZooKeeper server a TLS
	// connection (zookeeper.ssl.client.enable); its client certificate, if
	// any, is an x509 identity to ZooKeeper.
	TLS *TLS
}

// Validate refuses secure ACLs without an identity to own them, as Kafka
// refuses zookeeper.set.acl without SASL or a TLS client certificate: the
// znodes would belong to no one the brokers can act as.
func (s Settings) Validate() error {
	if strings.Contains(s.Digest.User, ":") {
		return fmt.Errorf("ZooKeeper digest user %q: may not contain ':'", s.Digest.User)
	}
	if s.Digest.User == "" && s.Digest.Password != "" {
		return errors.New("ZooKeeper digest password set without a user")
	}
	if s.SetACL && s.Digest.IsZero() && (s.TLS == nil || !s.TLS.HasClientCertificate()) {
		return errors.New("zookeeper.set.acl is true, but the client has no ZooKeeper identity: " +
			"set kzoo.zookeeper.digest.username and kzoo.zookeeper.digest.password, or " +
			"zookeeper.ssl.client.enable with a zookeeper.ssl.keystore.location holding a client certificate")
	}
	return nil
}

// ACL returns the ACL of a znode created at p, a path of the cluster's
// namespace (below any chroot; the chroot itself is "/"). This is Kafka's
// ZkData.defaultAcls.
func (s Settings) ACL(p string) []zk.ACL {
	if !s.SetACL || zkpaths.OpenPath(p) {
		return zk.WorldACL(zk.PermAll)
	}
	acl := s.OwnerACL()
	if !zkpaths.SensitivePath(p) {
		acl = append(acl, zk.WorldACL(zk.PermRead)...)
	}
	return acl
}

// OwnerACL is the entry giving the brokers every permission: their digest
// identity when they have one, else ZooKeeper's "auth" scheme, which the
// server expands to every identity the creating session authenticated as
// (its TLS certificate's subject), as Kafka's CREATOR_ALL_ACL does.
func (s Settings) OwnerACL() []zk.ACL {
	if !s.Digest.IsZero() {
		return zk.DigestACL(zk.PermAll, s.Digest.User, s.Digest.Password)
	}
	return zk.AuthACL(zk.PermAll)
}

// Authenticate adds the digest identity, if any, to conn's session. Call it
// once, right after the first session is established: the client sends it
// again by itself after each reconnect, before any other request.
func (s Settings) Authenticate(conn *zk.Conn) error {
	if s.Digest.IsZero() {
		return nil
	}
	if err := conn.AddAuth(DigestScheme, []byte(s.Digest.User+":"+s.Digest.Password)); err != nil {
		return fmt.Errorf("ZooKeeper authentication as %s: %w", s.Digest, err)
	}
	return nil
}

// Dialer returns the dialer for zk.WithDialer: plain TCP, or TLS when s.TLS
// is set, the handshake done within the client's connect timeout so that a
// server that does not speak TLS is given up on like an unreachable one.
func (s Settings) Dialer() zk.Dialer {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, address)
		if err != nil || s.TLS == nil {
			return conn, err
		}
		tc, err := s.TLS.Client(ctx, conn, address)
		if err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	}
}
