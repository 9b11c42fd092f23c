// Package scramzk keeps SCRAM credentials where Kafka keeps them in
// ZooKeeper: as the SCRAM-SHA-256 and SCRAM-SHA-512 keys of a user's config
// znode, /config/users/<sanitized user>, which also holds the user's client
// quotas. Reading splits the two kinds of keys; writing changes the SCRAM
// keys and keeps every other key, and announces the change under
// /config/changes as Kafka's tools do.
//
// The coordinator uses Split and Apply inside its own conditional writes;
// Write is for the kzoo CLI, which stores credentials on a bare ZooKeeper
// connection before any broker runs, as kafka-configs.sh --zookeeper does.
package scramzk

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/zkpaths"
)

// ErrNotFound is returned when a change deletes a credential the user does
// not have (Kafka answers RESOURCE_NOT_FOUND).
var ErrNotFound = errors.New("the user has no SCRAM credential for this mechanism")

// Change sets (Credential non-nil) or deletes (nil) the credential of one
// mechanism.
type Change struct {
	Mechanism  string
	Credential *scramcred.Credential
}

// IsCredentialKey reports whether a key of a user's config is a SCRAM
// credential rather than a quota.
func IsCredentialKey(key string) bool {
	return slices.Contains(scramcred.Mechanisms, key)
}

// ValidateUser checks that a user may hold SCRAM credentials: a name, and
// not <default>, which names the default quota entity.
func ValidateUser(user string) error {
	switch user {
	case "":
		return fmt.Errorf("%w: empty user name", scramcred.ErrUnacceptableCredential)
	case zkpaths.DefaultConfigEntity:
		return fmt.Errorf("%w: %s names the default quota entity, not a user", scramcred.ErrUnacceptableCredential, zkpaths.DefaultConfigEntity)
	}
	return nil
}

// UserPath is the config znode of a user, whose keys hold its credentials
// (and quotas).
func UserPath(user string) string {
	return zkpaths.QuotaEntityPath(zkpaths.QuotaEntity{User: user})
}

// Notification is the /config/changes payload announcing a change of user's
// config, the same Kafka writes for quotas and credentials alike.
func Notification(user string) ([]byte, error) {
	return zkpaths.NewQuotaConfigChangeNotification(zkpaths.QuotaEntity{User: user}).Marshal()
}

// Split separates a user's config into the SCRAM credentials and every other
// key. A credential that does not parse is left out of both and reported in
// invalid, by mechanism (the error holds no secret).
func Split(config map[string]string) (others map[string]string, credentials map[string]scramcred.Credential, invalid map[string]error) {
	others = make(map[string]string, len(config))
	for key, value := range config {
		if !IsCredentialKey(key) {
			others[key] = value
			continue
		}
		c, err := scramcred.Parse(value)
		if err != nil {
			if invalid == nil {
				invalid = make(map[string]error)
			}
			invalid[key] = err
			continue
		}
		if credentials == nil {
			credentials = make(map[string]scramcred.Credential)
		}
		credentials[key] = c
	}
	return others, credentials, invalid
}

// Apply returns the payload of a user's config znode after changes, given its
// current data (nil or empty for a znode that does not exist or has no
// data): SCRAM keys set or removed, every other key as it was. Deleting a
// credential that is not there fails with ErrNotFound; data that is not a
// config fails too, rather than being overwritten.
func Apply(data []byte, changes []Change) ([]byte, error) {
	config := map[string]string{}
	if len(data) > 0 {
		current, err := zkpaths.UnmarshalConfigEntity(data)
		if err != nil {
			return nil, err
		}
		config = current.Config
	}
	for _, ch := range changes {
		if !IsCredentialKey(ch.Mechanism) {
			return nil, fmt.Errorf("%w %q", scramcred.ErrUnknownMechanism, ch.Mechanism)
		}
		if ch.Credential == nil {
			if _, ok := config[ch.Mechanism]; !ok {
				return nil, fmt.Errorf("%s: %w", ch.Mechanism, ErrNotFound)
			}
			delete(config, ch.Mechanism)
			continue
		}
		config[ch.Mechanism] = ch.Credential.String()
	}
	return zkpaths.ConfigEntity{Config: config}.Marshal()
}

// maxAttempts bounds Write's read-modify-write retries under concurrent
// changes of the same znode.
const maxAttempts = 10

// Write applies changes to user's credentials on a bare connection:
// it reads /config/users/<user>, writes it back with the changes, conditional
// on the version read, together with a /config/changes notification in one
// multi, and reads again if another writer got there first. chroot is the
// zookeeper.connect chroot ("" for none). Missing parents (/config,
// /config/users, /config/changes, the chroot) are created first, without
// data, as Kafka's tool does. acl gives the ACL of each znode created, by its
// path in the cluster namespace (without the chroot); nil means open to all.
func Write(conn *zk.Conn, chroot string, acl func(path string) []zk.ACL, user string, changes []Change) error {
	if err := ValidateUser(user); err != nil {
		return err
	}
	if acl == nil {
		open := zk.WorldACL(zk.PermAll)
		acl = func(string) []zk.ACL { return open }
	}
	abs := func(p string) string { return chroot + p }
	if chroot != "" {
		// The chroot's own znodes, as a path of the server's namespace.
		if err := ensurePath(conn, chroot, func(string) []zk.ACL { return acl("/") }, ""); err != nil {
			return err
		}
	}
	for _, p := range []string{zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeUser), zkpaths.ConfigChangesPath} {
		if err := ensurePath(conn, p, acl, chroot); err != nil {
			return err
		}
	}
	notification, err := Notification(user)
	if err != nil {
		return err
	}
	userPath := abs(UserPath(user))
	for range maxAttempts {
		data, stat, err := conn.Get(userPath)
		exists := err == nil
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return fmt.Errorf("zookeeper get %s: %w", userPath, err)
		}
		payload, err := Apply(data, changes)
		if err != nil {
			return fmt.Errorf("%s: %w", userPath, err)
		}
		var write any = &zk.CreateRequest{Path: userPath, Data: payload, Acl: acl(UserPath(user)), Flags: zk.FlagPersistent}
		if exists {
			write = &zk.SetDataRequest{Path: userPath, Data: payload, Version: stat.Version}
		}
		notify := &zk.CreateRequest{Path: abs(zkpaths.ConfigChangeSequencePath()), Data: notification, Acl: acl(zkpaths.ConfigChangeSequencePath()), Flags: zk.FlagSequence}
		_, err = conn.Multi(write, notify)
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return fmt.Errorf("zookeeper multi on %s: %w", userPath, err)
		}
		return nil
	}
	return fmt.Errorf("%s kept changing under %d attempts", userPath, maxAttempts)
}

// Read returns user's credentials on a bare connection (none when the
// znode does not exist).
func Read(conn *zk.Conn, chroot, user string) (map[string]scramcred.Credential, error) {
	p := chroot + UserPath(user)
	data, _, err := conn.Get(p)
	if errors.Is(err, zk.ErrNoNode) || (err == nil && len(data) == 0) {
		return map[string]scramcred.Credential{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("zookeeper get %s: %w", p, err)
	}
	entity, err := zkpaths.UnmarshalConfigEntity(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	_, credentials, invalid := Split(entity.Config)
	if len(invalid) > 0 {
		mechanism := slices.Min(slices.Collect(maps.Keys(invalid)))
		return nil, fmt.Errorf("%s: %s: %w", p, mechanism, invalid[mechanism])
	}
	if credentials == nil {
		credentials = map[string]scramcred.Credential{}
	}
	return credentials, nil
}

// ensurePath creates p (a path of the cluster namespace) and its missing
// parents below the chroot, without data.
func ensurePath(conn *zk.Conn, p string, acl func(string) []zk.ACL, chroot string) error {
	if p == "/" || p == "" {
		return nil
	}
	_, err := conn.Create(chroot+p, nil, zk.FlagPersistent, acl(p))
	if errors.Is(err, zk.ErrNoNode) {
		if err := ensurePath(conn, path.Dir(p), acl, chroot); err != nil {
			return err
		}
		_, err = conn.Create(chroot+p, nil, zk.FlagPersistent, acl(p))
	}
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("zookeeper create %s: %w", chroot+p, err)
	}
	return nil
}
