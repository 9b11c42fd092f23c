package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/kzoo/kzoo/internal/configvalue"
)

// DefaultEntity names the cluster-wide dynamic broker config
// (/config/brokers/<default>), as in Kafka.
const DefaultEntity = "<default>"

// Source tells where a config value comes from. The values are those of
// Kafka's DescribeConfigs config source.
type Source int8

// The sources, from the highest precedence to the lowest.
const (
	SourceUnknown              Source = 0
	SourceDynamicTopic         Source = 1
	SourceDynamicBroker        Source = 2
	SourceDynamicDefaultBroker Source = 3
	SourceStaticBroker         Source = 4
	SourceDefault              Source = 5
	SourceDynamicBrokerLogger  Source = 6 // a broker logger's level
)

// Dynamic holds the broker configs stored in ZooKeeper: the cluster-wide
// default entity and this broker's own entity. Either may be nil.
type Dynamic struct {
	Default map[string]string
	Broker  map[string]string
}

// dynamicBrokerKeys are the broker keys that can change at run time, cluster
// wide or per broker: those of Kafka's dynamic broker configs that kzoo has
// an equivalent of. The topic defaults (and the alternative units of
// retention and roll time) take effect by recomputing every topic's config;
// the others are the Runtime settings.
var dynamicBrokerKeys = func() []string {
	keys := []string{
		"log.retention.minutes", "log.retention.hours", "log.roll.hours", "log.roll.jitter.hours",
		"log.cleaner.threads", "log.cleaner.io.max.bytes.per.second",
		"log.cleaner.dedupe.buffer.size", "log.cleaner.backoff.ms",
		"num.replica.fetchers", "max.connections", "max.connections.per.ip",
		"max.connections.per.ip.overrides",
		"leader.replication.throttled.rate", "follower.replication.throttled.rate",
	}
	for _, tk := range topicKeys {
		// Kafka keeps the message format a static broker setting.
		if tk.BrokerDefault != "" && tk.BrokerDefault != "log.message.format.version" {
			keys = append(keys, tk.BrokerDefault)
		}
	}
	return keys
}()

// IsDynamicBrokerKey reports whether a broker key can be changed at run time.
func IsDynamicBrokerKey(name string) bool { return slices.Contains(dynamicBrokerKeys, name) }

// ValidateBrokerConfigs checks a dynamic broker config set: every key must be
// a known broker key that can change at run time, with a valid value. The
// error names the key; ErrNotDynamic is wrapped for keys that exist but are
// read-only.
func ValidateBrokerConfigs(configs map[string]string) error {
	for _, name := range sortedNames(configs) {
		k, ok := lookup(brokerKeys, name)
		if !ok {
			return fmt.Errorf("kzoo does not support updating %s dynamically: it is not a broker config kzoo knows", name)
		}
		if !IsDynamicBrokerKey(name) {
			return fmt.Errorf("kzoo does not support updating %s dynamically (%w); set it in the broker's config file", name, ErrNotDynamic)
		}
		if _, err := k.Parse(configs[name]); err != nil {
			return err
		}
	}
	return nil
}

// ErrNotDynamic: a broker key that cannot be changed while the broker runs.
var ErrNotDynamic = errors.New("a read-only config")

// IsListKey reports whether name (a topic key, or a broker key when broker
// is true) holds a comma-separated list, which APPEND and SUBTRACT need.
func IsListKey(name string, broker bool) bool {
	var k Key
	var ok bool
	if broker {
		k, ok = lookup(brokerKeys, name)
	} else {
		k, ok = topicKey(name)
	}
	return ok && k.Type == TypeList
}

// WithDynamic returns the configuration in effect once the dynamic broker
// configs are applied over the static one: per-broker over cluster default
// over static. Invalid or read-only dynamic values are ignored (validation
// keeps them out of ZooKeeper, but another tool may have written them).
// The result differs from b in Values and TopicDefaults alone: the dynamic
// keys are topic defaults and Runtime settings, read from Values.
func (b *Broker) WithDynamic(dyn Dynamic) *Broker {
	if len(dyn.Default) == 0 && len(dyn.Broker) == 0 {
		return b
	}
	merged := make(Values, len(b.Values))
	for k, v := range b.Values {
		merged[k] = v
	}
	for _, layer := range []map[string]string{dyn.Default, dyn.Broker} {
		for name, value := range layer {
			if k, ok := lookup(brokerKeys, name); ok && IsDynamicBrokerKey(name) {
				if parsed, err := k.Parse(value); err == nil {
					merged[name] = parsed
				}
			}
		}
	}
	out := *b
	out.Values = merged
	out.TopicDefaults = merged.topicDefaults()
	return &out
}

// Synonym is one level at which a config's value may be set.
type Synonym struct {
	Name   string
	Value  string
	Source Source
}

// Entry is one config as DescribeConfigs reports it.
type Entry struct {
	Name     string
	Value    *string // nil when the key has no value
	Source   Source
	ReadOnly bool
	// Sensitive marks a password: described without its value.
	Sensitive bool
	Type      Type
	Doc       string
	// Synonyms lists every level that sets the value, the one in effect
	// first.
	Synonyms []Synonym
}

// DescribeBroker lists every broker key with its value in effect on broker
// b given the dynamic configs, sorted by name.
func (b *Broker) DescribeBroker(dyn Dynamic) []Entry {
	out := make([]Entry, 0, len(brokerKeys))
	for _, k := range brokerKeys {
		e := Entry{Name: k.Name, ReadOnly: !IsDynamicBrokerKey(k.Name), Sensitive: k.Type == TypePassword, Type: k.Type, Doc: k.Doc}
		e.Synonyms = b.brokerSynonyms([]string{k.Name}, dyn)
		if len(e.Synonyms) > 0 {
			v := e.Synonyms[0].Value
			e.Value, e.Source = &v, e.Synonyms[0].Source
		} else {
			e.Source = SourceDefault
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DescribeTopic lists every topic key with its value in effect for a topic
// with the given overrides, sorted by name; kzoo's own quota keys only when
// the topic sets them.
func (b *Broker) DescribeTopic(overrides map[string]string, dyn Dynamic) []Entry {
	effective := b.WithDynamic(dyn).ResolveTopic(overrides)
	out := make([]Entry, 0, len(topicKeys))
	for _, tk := range topicKeys {
		e := Entry{Name: tk.Name, Type: tk.Type, Doc: tk.Doc, Source: SourceDefault}
		if v, ok := overrides[tk.Name]; ok {
			if parsed, err := tk.Parse(v); err == nil {
				e.Synonyms = append(e.Synonyms, Synonym{Name: tk.Name, Value: parsed, Source: SourceDynamicTopic})
			}
		}
		e.Synonyms = append(e.Synonyms, b.brokerSynonyms(brokerSynonymKeys(tk.Name, tk.BrokerDefault), dyn)...)
		if v, ok := effective[tk.Name]; ok {
			e.Value = &v
		}
		if len(e.Synonyms) > 0 {
			e.Source = e.Synonyms[0].Source
		}
		out = append(out, e)
	}
	for _, k := range topicQuotaKeys {
		if v, ok := effective[k.Name]; ok {
			out = append(out, Entry{Name: k.Name, Type: k.Type, Doc: k.Doc, Source: SourceDynamicTopic, Value: &v,
				Synonyms: []Synonym{{Name: k.Name, Value: v, Source: SourceDynamicTopic}}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// brokerSynonymKeys are the broker keys that supply a topic key's default,
// in precedence order.
func brokerSynonymKeys(topicKey, brokerDefault string) []string {
	if brokerDefault == "" {
		return nil
	}
	switch topicKey {
	case "retention.ms":
		return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	case "segment.ms":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "segment.jitter.ms":
		return []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	}
	return []string{brokerDefault}
}

// brokerSynonyms lists, for each of names, the levels that set it, highest
// precedence first.
func (b *Broker) brokerSynonyms(names []string, dyn Dynamic) []Synonym {
	var out []Synonym
	for _, level := range []struct {
		values map[string]string
		source Source
	}{
		{dyn.Broker, SourceDynamicBroker},
		{dyn.Default, SourceDynamicDefaultBroker},
		{b.Values, SourceStaticBroker},
	} {
		for _, name := range names {
			if v, ok := level.values[name]; ok && (level.source == SourceStaticBroker || IsDynamicBrokerKey(name)) {
				out = append(out, Synonym{Name: name, Value: v, Source: level.source})
			}
		}
	}
	for _, name := range names {
		if k, ok := lookup(brokerKeys, name); ok && k.Default != "" {
			out = append(out, Synonym{Name: name, Value: k.Default, Source: SourceDefault})
		}
	}
	return out
}

// ParseBrokerEntity checks the name of a broker config entity: "" (Kafka's
// AdminClient name for the cluster default) or DefaultEntity, or a broker id.
// It returns the name used in ZooKeeper.
func ParseBrokerEntity(name string) (string, error) {
	if name == "" || name == DefaultEntity {
		return DefaultEntity, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || id < 0 {
		return "", fmt.Errorf("broker config entity %q is neither a broker id nor the cluster default", name)
	}
	return strconv.FormatInt(id, 10), nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// OpType is an IncrementalAlterConfigs operation; the values are Kafka's.
type OpType int8

// The incremental operations.
const (
	OpSet      OpType = 0
	OpDelete   OpType = 1
	OpAppend   OpType = 2
	OpSubtract OpType = 3
)

// Op is one incremental change of a config set.
type Op struct {
	Name  string
	Type  OpType
	Value *string
}

// ErrInvalidOp: an incremental operation that is malformed as a request (an
// unknown operation, a key twice, SET without a value), as opposed to an
// invalid config.
var ErrInvalidOp = errors.New("invalid config operation")

// ApplyOps returns current with ops applied, leaving current unchanged.
// APPEND and SUBTRACT work on list keys only (isList tells them), starting
// from the value in effect (inEffect) when the set does not hold the key, as
// Kafka does. Validation of the result's keys and values is the caller's.
func ApplyOps(current map[string]string, ops []Op, isList func(string) bool, inEffect func(string) string) (map[string]string, error) {
	out := make(map[string]string, len(current)+len(ops))
	for k, v := range current {
		out[k] = v
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return nil, fmt.Errorf("%w: %s is changed more than once", ErrInvalidOp, op.Name)
		}
		seen[op.Name] = true
		switch op.Type {
		case OpSet:
			if op.Value == nil {
				return nil, fmt.Errorf("%w: SET of %s without a value", ErrInvalidOp, op.Name)
			}
			out[op.Name] = *op.Value
		case OpDelete:
			delete(out, op.Name)
		case OpAppend, OpSubtract:
			if !isList(op.Name) {
				return nil, fmt.Errorf("%s: APPEND and SUBTRACT apply to list configs only", op.Name)
			}
			value, ok := out[op.Name]
			if !ok {
				value = inEffect(op.Name)
			}
			items := configvalue.SplitList(value)
			var change []string
			if op.Value != nil {
				change = configvalue.SplitList(*op.Value)
			}
			for _, item := range change {
				present := slices.Contains(items, item)
				if op.Type == OpAppend && !present {
					items = append(items, item)
				}
				if op.Type == OpSubtract && present {
					items = slices.DeleteFunc(items, func(s string) bool { return s == item })
				}
			}
			out[op.Name] = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("%w: unknown operation %d on %s", ErrInvalidOp, op.Type, op.Name)
		}
	}
	return out, nil
}
