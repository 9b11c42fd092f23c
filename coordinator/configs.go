package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/zkpaths"
)

// Dynamic configuration: /config/topics/<t>, /config/brokers/<entity> and the
// client quota entities under /config/users and /config/clients are not
// watched one by one. As in Kafka, whoever changes one also creates a
// sequential /config/changes/config_change_<n> naming it; every session watches
// that folder and re-reads the entities named by notifications it has not seen.

// refreshConfigs applies new config change notifications and re-reads the
// entities marked dirty.
func (v *view) refreshConfigs(c *zkClient, log logrus.FieldLogger) error {
	d := &v.dirty
	if d.configChanges {
		if err := v.refreshConfigChanges(c, log); err != nil {
			return err
		}
		d.configChanges = false
	}
	if d.brokerConfigList {
		names, err := c.children(zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeBroker))
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		for entity := range v.brokerConfigs {
			if !slices.Contains(names, entity) {
				delete(v.brokerConfigs, entity)
				v.changed = true
			}
		}
		for _, entity := range names {
			d.brokerConfigs[entity] = true
		}
		d.brokerConfigList = false
	}
	brokerPath := func(entity string) string { return zkpaths.ConfigEntityPath(zkpaths.ConfigTypeBroker, entity) }
	if err := rereadEntities(v, c, log, d.brokerConfigs, v.brokerConfigs, slices.Sorted(maps.Keys(d.brokerConfigs)), brokerPath); err != nil {
		return err
	}
	// Every topic's configs are read when the view loads: their reads go
	// out together.
	var names []string
	for name := range d.topicConfigs {
		if v.topics[name] == nil {
			delete(d.topicConfigs, name)
		} else {
			names = append(names, name)
		}
	}
	read, errs := fetchAll(names, func(name string) (map[string]string, error) {
		configs, _, err := readConfigEntity(c, zkpaths.TopicConfigPath(name), log)
		return configs, err
	})
	for i, name := range names {
		if errs[i] != nil {
			continue
		}
		v.setTopicConfigs(name, read[i])
		delete(d.topicConfigs, name)
	}
	if err := firstError(errs); err != nil {
		return err
	}
	return v.refreshQuotaConfigs(c, log)
}

// setTopicConfigs takes in the overrides read for a topic of the view.
func (v *view) setTopicConfigs(name string, configs map[string]string) {
	if t := v.topics[name]; t != nil && (t.configs == nil || !maps.Equal(t.configs, configs)) {
		t.configs = configs
		v.touchTopic(name)
	}
}

// rereadEntities reads the config znodes of the entities marked in dirty, in
// the order given, into known (dropping those whose znode is gone), and
// clears their marks.
func rereadEntities[K comparable](v *view, c *zkClient, log logrus.FieldLogger, dirty map[K]bool, known map[K]map[string]string, order []K, path func(K) string) error {
	for _, entity := range order {
		configs, exists, err := readConfigEntity(c, path(entity), log)
		if err != nil {
			return err
		}
		old, had := known[entity]
		switch {
		case !exists && had:
			delete(known, entity)
			v.changed = true
		case exists && (!had || !maps.Equal(old, configs)):
			known[entity] = configs
			v.changed = true
		}
		delete(dirty, entity)
	}
	return nil
}

// refreshConfigChanges reads the notifications newer than the last one applied
// and marks the entities they name. The first read after markAll only records
// where the sequence stands: every config is being read anyway.
func (v *view) refreshConfigChanges(c *zkClient, log logrus.FieldLogger) error {
	names, err := c.childrenW(zkpaths.ConfigChangesPath)
	if err != nil {
		return err
	}
	missed, err := v.configChanges.read(c, names, func(_ string, data []byte) { v.applyConfigChange(data, log) })
	if err != nil {
		return err
	}
	if missed {
		// Which entities the lost notifications named is unknown: read
		// every config again, as a new session does.
		log.Info("a config change notification was purged before it was read; reading every config again")
		v.markAllConfigs()
	}
	return nil
}

// markAllConfigs makes the next refresh read every topic, broker and client
// quota config.
func (v *view) markAllConfigs() {
	v.dirty.brokerConfigList = true
	v.dirty.quotaEntityList = true
	for name := range v.topics {
		v.dirty.topicConfigs[name] = true
	}
}

func (v *view) applyConfigChange(data []byte, log logrus.FieldLogger) {
	notification, err := zkpaths.UnmarshalConfigChangeNotification(data)
	if err != nil {
		log.WithError(err).Warn("ignoring an unreadable config change notification")
		return
	}
	if entity, ok := zkpaths.ParseQuotaEntityPath(notification.EntityPath); ok {
		v.dirty.quotaConfigs[entity] = true
		return
	}
	entityType, name, ok := zkpaths.ParseConfigEntityPath(notification.EntityPath)
	if !ok {
		log.WithField("entity_path", notification.EntityPath).Warn("ignoring a config change notification with an invalid entity path")
		return
	}
	switch entityType {
	case zkpaths.ConfigTypeTopic:
		v.dirty.topicConfigs[name] = true
	case zkpaths.ConfigTypeBroker:
		v.dirty.brokerConfigs[name] = true
	}
}

// readConfigEntity reads one entity's configuration; a missing znode is an
// empty configuration, and an unreadable one is logged and treated as empty.
// A znode without data is no entity either (exists is false): Kafka creates
// /config/users/<u> so, as the mere parent of (user, client-id) entities.
func readConfigEntity(c *zkClient, p string, log logrus.FieldLogger) (configs map[string]string, exists bool, err error) {
	data, _, err := c.get(p)
	if errors.Is(err, zk.ErrNoNode) {
		return map[string]string{}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if len(data) == 0 {
		return map[string]string{}, false, nil
	}
	entity, err := zkpaths.UnmarshalConfigEntity(data)
	if err != nil {
		log.WithError(err).WithField("path", p).Warn("unreadable config; treating it as empty")
		return map[string]string{}, true, nil
	}
	return entity.Config, true, nil
}

// brokerConfig returns the dynamic value of a broker config key for this broker:
// its own entity, then <default>.
func (v *view) brokerConfig(brokerID int32, key string) (string, bool) {
	if value, ok := v.brokerConfigs[strconv.FormatInt(int64(brokerID), 10)][key]; ok {
		return value, true
	}
	value, ok := v.brokerConfigs[zkpaths.DefaultConfigEntity][key]
	return value, ok
}

// SetBrokerConfig replaces the dynamic config overrides of a broker entity
// ("<default>" or a broker id) and, in the same multi, announces the change
// under /config/changes. An empty set removes every override.
func (s *Session) SetBrokerConfig(ctx context.Context, entity string, configs map[string]string) error {
	if entity != zkpaths.DefaultConfigEntity {
		if _, ok := zkpaths.ParseBrokerID(entity); !ok {
			return fmt.Errorf("set broker config: invalid entity %q: want %s or a broker id", entity, zkpaths.DefaultConfigEntity)
		}
	}
	payload, err := zkpaths.ConfigEntity{Config: configs}.Marshal()
	if err != nil {
		return fmt.Errorf("set broker config %s: %w", entity, err)
	}
	notification, err := zkpaths.NewConfigChangeNotification(zkpaths.ConfigTypeBroker, entity).Marshal()
	if err != nil {
		return fmt.Errorf("set broker config %s: %w", entity, err)
	}
	configPath := zkpaths.ConfigEntityPath(zkpaths.ConfigTypeBroker, entity)
	err = awaitErr(ctx, s, func() error {
		return s.writeConfigEntity(configPath, payload, notification)
	})
	if err != nil {
		return fmt.Errorf("set broker config %s: %w", entity, err)
	}
	s.log.WithField("entity", entity).Info("updated broker config")
	return nil
}

// writeConfigEntity sets or creates a config znode together with its change
// notification.
func (s *Session) writeConfigEntity(configPath string, payload, notification []byte) error {
	var write any = s.zk.setOp(configPath, payload, -1)
	for range maxConditionalAttempts {
		res, err := s.zk.multi(write, s.zk.createOp(zkpaths.ConfigChangeSequencePath(), notification, zk.FlagSequence))
		switch {
		case err == nil:
			return nil
		case errors.Is(err, zk.ErrNoNode) && len(res) == 2 && res[0].Error != nil:
			write = s.zk.createOp(configPath, payload, zk.FlagPersistent)
		case errors.Is(err, zk.ErrNodeExists) && len(res) == 2 && res[0].Error != nil:
			write = s.zk.setOp(configPath, payload, -1)
		default:
			return err
		}
	}
	return errors.New("the config znode keeps appearing and disappearing")
}
