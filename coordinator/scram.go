package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/internal/scramzk"
	"github.com/kzoo/kzoo/zkpaths"
)

// SCRAM credentials live in the users' quota znodes, /config/users/<u>, as
// in Kafka: reading a user entity splits its keys (quotas to clientQuotas,
// credentials to scramCredentials), and changing credentials rewrites the
// znode with its other keys kept, announced by the same config change
// notification as a quota change.

// ErrScramCredentialNotFound is returned for a deletion of a credential the
// user does not have (Kafka's RESOURCE_NOT_FOUND).
var ErrScramCredentialNotFound = scramzk.ErrNotFound

// ErrDuplicateScramChange is returned for every change of a user whose
// credential for one mechanism is changed twice in one call (Kafka's
// DUPLICATE_RESOURCE).
var ErrDuplicateScramChange = errors.New("a user credential cannot be altered twice in the same request")

// ScramCredential returns user's credential for mechanism; with it a
// *Snapshot is a broker/sasl CredentialStore.
func (snap *Snapshot) ScramCredential(mechanism, user string) (scramcred.Credential, bool) {
	c, ok := snap.ScramCredentials[user][mechanism]
	return c, ok
}

// rereadQuotaEntities reads the client quota entities marked dirty into
// clientQuotas (dropping those whose znode is gone) and the credentials of
// user entities into scramCredentials, and clears their marks.
func (v *view) rereadQuotaEntities(c *zkClient, log logrus.FieldLogger) error {
	d := &v.dirty
	for _, entity := range slices.SortedFunc(maps.Keys(d.quotaConfigs), zkpaths.QuotaEntity.Compare) {
		configs, exists, err := readConfigEntity(c, zkpaths.QuotaEntityPath(entity), log)
		if err != nil {
			return err
		}
		if entity.ClientID == "" {
			others, credentials, invalid := scramzk.Split(configs)
			for _, mechanism := range slices.Sorted(maps.Keys(invalid)) {
				log.WithError(invalid[mechanism]).WithFields(logrus.Fields{"user": entity.User, "mechanism": mechanism}).Warn("ignoring an unreadable SCRAM credential")
			}
			configs = others
			if entity.User != zkpaths.DefaultConfigEntity {
				v.setScramCredentials(entity.User, credentials)
			}
		}
		old, had := v.clientQuotas[entity]
		switch {
		case !exists && had:
			delete(v.clientQuotas, entity)
			v.changed = true
		case exists && (!had || !maps.Equal(old, configs)):
			v.clientQuotas[entity] = configs
			v.changed = true
		}
		delete(d.quotaConfigs, entity)
	}
	return nil
}

// setScramCredentials replaces a user's credentials (none removes the user).
func (v *view) setScramCredentials(user string, credentials map[string]scramcred.Credential) {
	old, had := v.scramCredentials[user]
	if len(credentials) == 0 {
		if had {
			delete(v.scramCredentials, user)
			v.changed = true
		}
		return
	}
	if had && maps.EqualFunc(old, credentials, sameCredential) {
		return
	}
	v.scramCredentials[user] = credentials
	v.changed = true
}

func sameCredential(a, b scramcred.Credential) bool {
	return a.Iterations == b.Iterations && bytes.Equal(a.Salt, b.Salt) && bytes.Equal(a.StoredKey, b.StoredKey) && bytes.Equal(a.ServerKey, b.ServerKey)
}

// ScramChange is what AlterUserScramCredentials does to one credential: set
// it, or delete it when Credential is nil.
type ScramChange struct {
	User, Mechanism string
	Credential      *scramcred.Credential
}

// AlterUserScramCredentials applies changes and returns one error per change
// (nil where it was applied). A user's changes are applied together, all or
// none, in one conditional write of /config/users/<user> that keeps the
// znode's quota keys, with one config change notification; users are
// written independently. A change fails, and with it every change of the
// same user, for an empty user name or <default>
// (scramcred.ErrUnacceptableCredential), an unknown mechanism
// (scramcred.ErrUnknownMechanism), two changes of one credential
// (ErrDuplicateScramChange) or the deletion of a credential that does not
// exist (ErrScramCredentialNotFound). Credentials are stored as given: the
// caller checks them (scramcred.FromSaltedPassword does).
func (s *Session) AlterUserScramCredentials(ctx context.Context, changes []ScramChange) []error {
	errs := make([]error, len(changes))
	byUser := make(map[string][]int)
	for i, ch := range changes {
		byUser[ch.User] = append(byUser[ch.User], i)
	}
	for _, user := range slices.Sorted(maps.Keys(byUser)) {
		indexes := byUser[user]
		err := scramzk.ValidateUser(user)
		var userChanges []scramzk.Change
		seen := make(map[string]bool)
		for _, i := range indexes {
			if err != nil {
				break
			}
			ch := changes[i]
			if !scramzk.IsCredentialKey(ch.Mechanism) {
				err = fmt.Errorf("%w %q", scramcred.ErrUnknownMechanism, ch.Mechanism)
			} else if seen[ch.Mechanism] {
				err = ErrDuplicateScramChange
			}
			seen[ch.Mechanism] = true
			userChanges = append(userChanges, scramzk.Change{Mechanism: ch.Mechanism, Credential: ch.Credential})
		}
		if err == nil {
			err = awaitErr(ctx, s, func() error { return s.alterUserScramCredentials(user, userChanges) })
		}
		if err != nil {
			err = fmt.Errorf("alter SCRAM credentials of user %q: %w", user, err)
		} else {
			s.log.WithFields(logrus.Fields{"user": user, "changes": describeScramChanges(userChanges)}).Info("updated SCRAM credentials")
		}
		for _, i := range indexes {
			errs[i] = err
		}
	}
	return errs
}

// describeScramChanges names what changed, never the credentials.
func describeScramChanges(changes []scramzk.Change) []string {
	out := make([]string, len(changes))
	for i, ch := range changes {
		if ch.Credential == nil {
			out[i] = "deleted " + ch.Mechanism
		} else {
			out[i] = "set " + ch.Mechanism
		}
	}
	return out
}

// alterUserScramCredentials reads the user's znode and writes it back with
// the changes and a notification, conditional on the version read; a
// conflict reads again.
func (s *Session) alterUserScramCredentials(user string, changes []scramzk.Change) error {
	p := scramzk.UserPath(user)
	notification, err := scramzk.Notification(user)
	if err != nil {
		return err
	}
	for range maxConditionalAttempts {
		data, stat, err := s.zk.get(p)
		exists := err == nil
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		payload, err := scramzk.Apply(data, changes)
		if err != nil {
			return err
		}
		write := any(s.zk.createOp(p, payload, zk.FlagPersistent))
		if exists {
			write = s.zk.setOp(p, payload, stat.Version)
		}
		_, err = s.zk.multi(write, s.zk.createOp(zkpaths.ConfigChangeSequencePath(), notification, zk.FlagSequence))
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode) {
			continue
		}
		return err
	}
	return fmt.Errorf("%s kept changing under %d attempts", p, maxConditionalAttempts)
}
