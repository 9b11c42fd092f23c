package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/zkpaths"
)

// Client quota entities are configs like topics' and brokers': read at start
// (and whenever a notification may have been missed) by listing
// /config/users, /config/users/*/clients and /config/clients, and re-read
// one by one when a /config/changes notification names them.

// refreshQuotaConfigs lists the quota entities when asked to and re-reads
// those marked dirty.
func (v *view) refreshQuotaConfigs(c *zkClient, log logrus.FieldLogger) error {
	d := &v.dirty
	if d.quotaEntityList {
		present, err := listQuotaEntities(c, log)
		if err != nil {
			return err
		}
		for entity := range v.clientQuotas {
			if !present[entity] {
				delete(v.clientQuotas, entity)
				v.changed = true
			}
		}
		for user := range v.scramCredentials {
			if !present[zkpaths.QuotaEntity{User: user}] {
				delete(v.scramCredentials, user)
				v.changed = true
			}
		}
		for entity := range present {
			d.quotaConfigs[entity] = true
		}
		d.quotaEntityList = false
	}
	return v.rereadQuotaEntities(c, log)
}

// listQuotaEntities lists every client quota entity that has a znode. Znode
// names that are not canonical sanitized names are logged and left out.
func listQuotaEntities(c *zkClient, log logrus.FieldLogger) (map[zkpaths.QuotaEntity]bool, error) {
	present := make(map[zkpaths.QuotaEntity]bool)
	add := func(entityPath string) {
		entity, ok := zkpaths.ParseQuotaEntityPath(entityPath)
		if !ok {
			log.WithField("path", zkpaths.ConfigPath+"/"+entityPath).Warn("ignoring a client quota znode whose name is not a sanitized user or client id")
			return
		}
		present[entity] = true
	}
	children := func(p string) ([]string, error) {
		names, err := c.children(p)
		if errors.Is(err, zk.ErrNoNode) {
			return nil, nil
		}
		return names, err
	}
	users, err := children(zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeUser))
	if err != nil {
		return nil, err
	}
	for _, user := range users {
		userPath := zkpaths.ConfigTypeUser + "/" + user
		add(userPath)
		clients, err := children(zkpaths.ConfigPath + "/" + userPath + "/" + zkpaths.ConfigTypeClient)
		if err != nil {
			return nil, err
		}
		for _, client := range clients {
			add(userPath + "/" + zkpaths.ConfigTypeClient + "/" + client)
		}
	}
	clients, err := children(zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeClient))
	if err != nil {
		return nil, err
	}
	for _, client := range clients {
		add(zkpaths.ConfigTypeClient + "/" + client)
	}
	return present, nil
}

// QuotaChange is what AlterClientQuotas does to one client quota entity: set
// the keys of Set, then remove those of Remove. Keys named in neither keep
// their values (/config/users/<u> also holds SCRAM credentials).
type QuotaChange struct {
	Entity zkpaths.QuotaEntity
	Set    map[string]string
	Remove []string
}

// AlterClientQuotas changes client quota entities: it reads every named
// entity and writes them all, with one config change notification each, in
// one ZooKeeper multi whose writes are conditional on the versions read, so
// that it applies all or nothing and loses no concurrent change (a conflict
// reads again). A missing entity znode is created, with the data-less parents
// Kafka creates above a (user, client-id) entity. An entity left without keys
// keeps its znode, holding an empty config, as in Kafka.
//
// The values are stored as given: the caller validates them. Changes must
// name valid, distinct entities, and no key may be both set and removed.
func (s *Session) AlterClientQuotas(ctx context.Context, changes []QuotaChange) error {
	if len(changes) == 0 {
		return nil
	}
	sorted := slices.Clone(changes)
	// Parents before children: a (user) entity created in this multi is
	// the parent of the (user, client-id) ones after it.
	slices.SortFunc(sorted, func(a, b QuotaChange) int {
		return cmp.Compare(zkpaths.QuotaEntityPath(a.Entity), zkpaths.QuotaEntityPath(b.Entity))
	})
	for i, ch := range sorted {
		if err := ch.Entity.Validate(); err != nil {
			return fmt.Errorf("alter client quotas: %w", err)
		}
		if i > 0 && sorted[i-1].Entity == ch.Entity {
			return fmt.Errorf("alter client quotas: %s is changed more than once", ch.Entity)
		}
		for _, key := range ch.Remove {
			if _, ok := ch.Set[key]; ok {
				return fmt.Errorf("alter client quotas: %s: %s is both set and removed", ch.Entity, key)
			}
		}
	}
	err := awaitErr(ctx, s, func() error { return s.alterClientQuotas(sorted) })
	if err != nil {
		return fmt.Errorf("alter client quotas: %w", err)
	}
	for _, ch := range sorted {
		s.log.WithFields(logrus.Fields{"entity": ch.Entity.String(), "set": ch.Set, "removed": ch.Remove}).Info("updated client quotas")
	}
	return nil
}

func (s *Session) alterClientQuotas(changes []QuotaChange) error {
	for range maxConditionalAttempts {
		ops, err := s.clientQuotaOps(changes)
		if err != nil {
			return err
		}
		_, err = s.zk.multi(ops...)
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrNoNode) {
			// Another writer got there between the reads and the
			// multi: read again.
			continue
		}
		return err
	}
	return fmt.Errorf("the quota znodes kept changing under %d attempts", maxConditionalAttempts)
}

// clientQuotaOps reads the entities of changes (sorted by path) and returns
// the multi that writes their new configs, conditional on what was read,
// followed by their change notifications.
func (s *Session) clientQuotaOps(changes []QuotaChange) ([]any, error) {
	var writes, notifications []any
	// creating holds the znodes this multi creates, so that a parent is
	// created once.
	creating := make(map[string]bool)
	for _, ch := range changes {
		p := zkpaths.QuotaEntityPath(ch.Entity)
		data, stat, err := s.zk.get(p)
		exists := err == nil
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return nil, err
		}
		next := map[string]string{}
		if exists && len(data) > 0 {
			current, err := zkpaths.UnmarshalConfigEntity(data)
			if err != nil {
				// Overwriting it could lose what another tool keeps there.
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			next = current.Config
		}
		maps.Copy(next, ch.Set)
		for _, key := range ch.Remove {
			delete(next, key)
		}
		payload, err := zkpaths.ConfigEntity{Config: next}.Marshal()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ch.Entity, err)
		}
		notification, err := zkpaths.NewQuotaConfigChangeNotification(ch.Entity).Marshal()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ch.Entity, err)
		}
		if exists {
			writes = append(writes, s.zk.setOp(p, payload, stat.Version))
		} else {
			if ch.Entity.User != "" && ch.Entity.ClientID != "" {
				parents := []string{zkpaths.QuotaEntityPath(zkpaths.QuotaEntity{User: ch.Entity.User}), zkpaths.QuotaUserClientsPath(ch.Entity.User)}
				for _, parent := range parents {
					if creating[parent] {
						continue
					}
					ok, _, err := s.zk.exists(parent)
					if err != nil {
						return nil, err
					}
					if !ok {
						// Without data, as Kafka creates parents.
						writes = append(writes, s.zk.createOp(parent, nil, zk.FlagPersistent))
						creating[parent] = true
					}
				}
			}
			writes = append(writes, s.zk.createOp(p, payload, zk.FlagPersistent))
			creating[p] = true
		}
		notifications = append(notifications, s.zk.createOp(zkpaths.ConfigChangeSequencePath(), notification, zk.FlagSequence))
	}
	return append(writes, notifications...), nil
}
