package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/logging"
	"github.com/kzoo/kzoo/coordinator"
)

// dynamicConfig is the part of the cluster view that configures this
// broker at run time: the cluster-wide and per-broker dynamic configs.
func (s *Server) dynamicConfig(snap *coordinator.Snapshot) config.Dynamic {
	if snap == nil {
		return config.Dynamic{}
	}
	return config.Dynamic{
		Default: snap.BrokerConfigs[config.DefaultEntity],
		Broker:  snap.BrokerConfigs[strconv.Itoa(int(s.cfg.ID))],
	}
}

// effectiveConfig is the broker's configuration with the dynamic configs
// of snap applied.
func (s *Server) effectiveConfig(snap *coordinator.Snapshot) *config.Broker {
	return s.cfg.WithDynamic(s.dynamicConfig(snap))
}

func (s *Server) handleDescribeConfigs(ctx context.Context, req *request, in *kmsg.DescribeConfigsRequest, resp *kmsg.DescribeConfigsResponse) any {
	snap := s.snapshot()
	for _, rr := range in.Resources {
		or := kmsg.NewDescribeConfigsResponseResource()
		or.ResourceType, or.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []config.Entry
		err := s.configAccess(req, kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName)
		if err == nil {
			entries, err = s.describeResource(ctx, snap, rr.ResourceType, rr.ResourceName)
		}
		if err != nil {
			or.ErrorCode, or.ErrorMessage = errorAnswer(err)
			resp.Resources = append(resp.Resources, or)
			continue
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			or.Configs = append(or.Configs, describeEntry(e, in.IncludeSynonyms, in.IncludeDocumentation))
		}
		resp.Resources = append(resp.Resources, or)
	}
	return resp
}

// describeResource lists the configs of a topic or of a broker entity. A
// broker describes its own configuration only (its static part lives in its
// own config file), and the cluster default entity ("") lists the dynamic
// defaults alone, as Kafka does.
func (s *Server) describeResource(ctx context.Context, snap *coordinator.Snapshot, typ kmsg.ConfigResourceType, name string) ([]config.Entry, error) {
	dyn := s.dynamicConfig(snap)
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if t := snap.Topics[name]; t == nil || t.Deleting {
			return nil, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, name)
		}
		overrides, err := s.meta.TopicConfig(ctx, name)
		if errors.Is(err, coordinator.ErrUnknownTopic) {
			return nil, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, name)
		}
		if err != nil {
			return nil, fmt.Errorf("read the config of topic %q: %w", name, err)
		}
		return s.cfg.DescribeTopic(overrides, dyn), nil
	case kmsg.ConfigResourceTypeBroker:
		entity, err := config.ParseBrokerEntity(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
		}
		if entity == config.DefaultEntity {
			var out []config.Entry
			for _, e := range s.cfg.DescribeBroker(config.Dynamic{Default: dyn.Default}) {
				if e.Source == config.SourceDynamicDefaultBroker {
					e.Synonyms = e.Synonyms[:1]
					out = append(out, e)
				}
			}
			return out, nil
		}
		if entity != strconv.Itoa(int(s.cfg.ID)) {
			return nil, fmt.Errorf("%w: broker %d describes its own configs only, not those of broker %s", kerr.InvalidRequest, s.cfg.ID, entity)
		}
		return s.cfg.DescribeBroker(dyn), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if err := s.checkLoggerResource(name); err != nil {
			return nil, err
		}
		var out []config.Entry
		for _, l := range s.loggers.Levels() {
			level := l.Level
			out = append(out, config.Entry{Name: l.Logger, Value: &level, Source: config.SourceDynamicBrokerLogger,
				Type: config.TypeString, Doc: "Log level of the " + l.Logger + " logger."})
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: config resource type %d is not supported", kerr.InvalidRequest, typ)
	}
}

// checkLoggerResource checks the name of a broker logger resource: a
// broker changes and describes its own loggers only, as in Kafka.
func (s *Server) checkLoggerResource(name string) error {
	if name == "" {
		return fmt.Errorf("%w: a broker logger resource needs a broker id", kerr.InvalidRequest)
	}
	if name != strconv.Itoa(int(s.cfg.ID)) {
		return fmt.Errorf("%w: broker %d has its own loggers only, not those of broker %q", kerr.InvalidRequest, s.cfg.ID, name)
	}
	return nil
}

// alterLoggers applies the SET (a level) and DELETE (back to the root's
// level) operations of an IncrementalAlterConfigs on this broker's loggers,
// all or none. The levels live in this process alone: a restart forgets
// them, as in Kafka.
func (s *Server) alterLoggers(name string, configs []kmsg.IncrementalAlterConfigsRequestResourceConfig, validateOnly bool) error {
	if err := s.checkLoggerResource(name); err != nil {
		return err
	}
	seen := make(map[string]bool, len(configs))
	for _, c := range configs {
		if seen[c.Name] {
			return fmt.Errorf("%w: logger %s is changed more than once", kerr.InvalidRequest, c.Name)
		}
		seen[c.Name] = true
		var err error
		switch config.OpType(c.Op) {
		case config.OpSet:
			if c.Value == nil {
				return fmt.Errorf("%w: SET of logger %s without a level", kerr.InvalidRequest, c.Name)
			}
			err = s.loggers.Check(c.Name, c.Value)
		case config.OpDelete:
			err = s.loggers.Check(c.Name, nil)
		default:
			return fmt.Errorf("%w: broker loggers take SET and DELETE only, not operation %d on %s", kerr.InvalidRequest, c.Op, c.Name)
		}
		switch {
		case errors.Is(err, logging.ErrResetRoot):
			return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
		case err != nil:
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
	}
	if validateOnly {
		return nil
	}
	for _, c := range configs {
		var err error
		if config.OpType(c.Op) == config.OpSet {
			err = s.loggers.SetLevel(c.Name, *c.Value)
		} else {
			err = s.loggers.ResetLevel(c.Name)
		}
		if err != nil { // checked above; loggers are never removed
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
		s.logger.WithField("logger", c.Name).WithField("level", c.Value).Info("log level changed")
	}
	return nil
}

func describeEntry(e config.Entry, synonyms, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name = e.Name
	rc.Value = e.Value
	rc.ReadOnly = e.ReadOnly
	rc.IsSensitive = e.Sensitive
	if e.Sensitive {
		rc.Value = nil // Kafka never sends a password's value
	}
	rc.Source = kmsg.ConfigSource(e.Source)
	rc.IsDefault = e.Source == config.SourceDefault
	rc.ConfigType = configType(e.Type)
	if docs && e.Doc != "" {
		doc := e.Doc
		rc.Documentation = &doc
	}
	if synonyms {
		for _, syn := range e.Synonyms {
			rs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			value := syn.Value
			rs.Name, rs.Value, rs.Source = syn.Name, &value, kmsg.ConfigSource(syn.Source)
			if e.Sensitive {
				rs.Value = nil
			}
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, rs)
		}
	}
	return rc
}

// createdTopicConfigs is the configs part of a CreateTopics answer: the
// same entries DescribeConfigs gives for the topic, without synonyms or
// documentation, none of them read-only or sensitive.
func createdTopicConfigs(entries []config.Entry) []kmsg.CreateTopicsResponseTopicConfig {
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		rc := kmsg.NewCreateTopicsResponseTopicConfig()
		rc.Name, rc.Value = e.Name, e.Value
		rc.ReadOnly = e.ReadOnly
		rc.Source = int8(e.Source)
		out = append(out, rc)
	}
	return out
}

func configType(t config.Type) kmsg.ConfigType {
	switch t {
	case config.TypeInt:
		return kmsg.ConfigTypeInt
	case config.TypeLong:
		return kmsg.ConfigTypeLong
	case config.TypeBool:
		return kmsg.ConfigTypeBoolean
	case config.TypeList:
		return kmsg.ConfigTypeList
	case config.TypeDouble:
		return kmsg.ConfigTypeDouble
	case config.TypePassword:
		return kmsg.ConfigTypePassword
	default:
		return kmsg.ConfigTypeString
	}
}

func (s *Server) handleAlterConfigs(ctx context.Context, req *request, in *kmsg.AlterConfigsRequest, resp *kmsg.AlterConfigsResponse) any {
	dup := duplicateResources(len(in.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return in.Resources[i].ResourceType, in.Resources[i].ResourceName
	})
	for i, rr := range in.Resources {
		or := kmsg.NewAlterConfigsResponseResource()
		or.ResourceType, or.ResourceName = rr.ResourceType, rr.ResourceName
		err := dup[i]
		if err == nil {
			err = s.configAccess(req, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName)
		}
		if err == nil {
			err = s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, in.ValidateOnly, func(map[string]string) (map[string]string, error) {
				next := make(map[string]string, len(rr.Configs))
				for _, c := range rr.Configs {
					if _, twice := next[c.Name]; twice {
						return nil, fmt.Errorf("%w: %s is set more than once", kerr.InvalidRequest, c.Name)
					}
					if c.Value == nil {
						return nil, fmt.Errorf("%w: %s has a null value", kerr.InvalidRequest, c.Name)
					}
					next[c.Name] = *c.Value
				}
				return next, nil
			})
		}
		if err != nil {
			or.ErrorCode, or.ErrorMessage = errorAnswer(err)
		}
		resp.Resources = append(resp.Resources, or)
	}
	return resp
}

func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, req *request, in *kmsg.IncrementalAlterConfigsRequest, resp *kmsg.IncrementalAlterConfigsResponse) any {
	dup := duplicateResources(len(in.Resources), func(i int) (kmsg.ConfigResourceType, string) {
		return in.Resources[i].ResourceType, in.Resources[i].ResourceName
	})
	for i, rr := range in.Resources {
		or := kmsg.NewIncrementalAlterConfigsResponseResource()
		or.ResourceType, or.ResourceName = rr.ResourceType, rr.ResourceName
		err := dup[i]
		if err == nil {
			err = s.configAccess(req, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName)
		}
		if err == nil && rr.ResourceType == kmsg.ConfigResourceTypeBrokerLogger {
			err = s.alterLoggers(rr.ResourceName, rr.Configs, in.ValidateOnly)
		} else if err == nil {
			ops := make([]config.Op, len(rr.Configs))
			for j, c := range rr.Configs {
				ops[j] = config.Op{Name: c.Name, Type: config.OpType(c.Op), Value: c.Value}
			}
			broker := rr.ResourceType == kmsg.ConfigResourceTypeBroker
			err = s.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, in.ValidateOnly, func(current map[string]string) (map[string]string, error) {
				effective := s.effectiveConfig(s.snapshot())
				inEffect := func(name string) string {
					if broker {
						return effective.Values.Value(name)
					}
					return effective.ResolveTopic(current)[name]
				}
				next, err := config.ApplyOps(current, ops, func(name string) bool { return config.IsListKey(name, broker) }, inEffect)
				switch {
				case errors.Is(err, config.ErrInvalidOp):
					return nil, fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
				case err != nil:
					return nil, fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
				}
				return next, nil
			})
		}
		if err != nil {
			or.ErrorCode, or.ErrorMessage = errorAnswer(err)
		}
		resp.Resources = append(resp.Resources, or)
	}
	return resp
}

// configAccess checks op, DESCRIBE_CONFIGS or ALTER_CONFIGS, on a config
// resource as Kafka does: on the cluster for a broker or broker logger
// (CLUSTER_AUTHORIZATION_FAILED), on the topic for a topic
// (TOPIC_AUTHORIZATION_FAILED). Other types are left to the handler, which
// refuses them.
func (s *Server) configAccess(req *request, op kmsg.ACLOperation, typ kmsg.ConfigResourceType, name string) error {
	switch typ {
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !s.authorizedCluster(req, op) {
			return kerr.ClusterAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeTopic:
		if !s.authorized(req, op, kmsg.ACLResourceTypeTopic, name) {
			return kerr.TopicAuthorizationFailed
		}
	}
	return nil
}

// duplicateResources returns, per resource, INVALID_REQUEST when the same
// resource appears more than once in a request (Kafka refuses all copies).
func duplicateResources(n int, at func(int) (kmsg.ConfigResourceType, string)) []error {
	type key struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[key]int, n)
	for i := range n {
		t, name := at(i)
		count[key{t, name}]++
	}
	out := make([]error, n)
	for i := range n {
		t, name := at(i)
		if count[key{t, name}] > 1 {
			out[i] = fmt.Errorf("%w: resource %q appears more than once", kerr.InvalidRequest, name)
		}
	}
	return out
}

// alterConfigs computes a resource's new override set from its current one
// with change, validates it and, unless validateOnly, stores it in
// ZooKeeper. Errors wrap the Kafka error the client gets.
func (s *Server) alterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, change func(current map[string]string) (map[string]string, error)) error {
	snap := s.snapshot()
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if t := snap.Topics[name]; t == nil || t.Deleting {
			return fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, name)
		}
		current, err := s.meta.TopicConfig(ctx, name)
		if errors.Is(err, coordinator.ErrUnknownTopic) {
			return fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, name)
		}
		if err != nil {
			return fmt.Errorf("read the config of topic %q: %w", name, err)
		}
		next, err := change(current)
		if err != nil {
			return err
		}
		if err := config.ValidateTopicConfigs(next, isInternalTopic(name)); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
		if validateOnly {
			return nil
		}
		err = s.meta.SetTopicConfig(ctx, name, next)
		if errors.Is(err, coordinator.ErrUnknownTopic) {
			return fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, name)
		}
		return err
	case kmsg.ConfigResourceTypeBroker:
		entity, err := config.ParseBrokerEntity(name)
		if err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
		}
		next, err := change(snap.BrokerConfigs[entity])
		if err != nil {
			return err
		}
		if err := config.ValidateBrokerConfigs(next); err != nil {
			if errors.Is(err, config.ErrNotDynamic) {
				return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
			}
			return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
		}
		if validateOnly {
			return nil
		}
		return s.meta.SetBrokerConfig(ctx, entity, next)
	case kmsg.ConfigResourceTypeBrokerLogger:
		return fmt.Errorf("%w: AlterConfigs applies to topics and brokers only; broker logger levels change with IncrementalAlterConfigs", kerr.InvalidRequest)
	default:
		return fmt.Errorf("%w: config resource type %d cannot be altered", kerr.InvalidRequest, typ)
	}
}
