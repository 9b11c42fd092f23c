package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The replication throttle of `kzoo reassign execute --throttle` and its
// removal by `reassign verify`, as Kafka's ReassignPartitionsCommand does
// them (KIP-73): the rate goes on every broker a moving partition is on or
// goes to, as leader.replication.throttled.rate and
// follower.replication.throttled.rate; each topic's
// leader.replication.throttled.replicas names the current replicas of its
// moving partitions (any of them may lead while the copy runs), and
// follower.replication.throttled.replicas the replicas being added. Only
// replicas outside the ISR are held back, so the copy is throttled and the
// partition's in-sync replicas are not.

// The keys the throttle sets, by their Kafka names.
const (
	leaderThrottledRate       = "leader.replication.throttled.rate"
	followerThrottledRate     = "follower.replication.throttled.rate"
	leaderThrottledReplicas   = "leader.replication.throttled.replicas"
	followerThrottledReplicas = "follower.replication.throttled.replicas"
)

var (
	brokerThrottleKeys = []string{leaderThrottledRate, followerThrottledRate}
	topicThrottleKeys  = []string{leaderThrottledReplicas, followerThrottledReplicas}
)

// throttlePlan is what a throttled reassignment sets.
type throttlePlan struct {
	// Brokers are those the moving partitions are on or go to, ascending.
	Brokers []int32
	// Topics are the topics with moving partitions and their lists,
	// ordered by name.
	Topics []topicThrottle
}

// topicThrottle is one topic's throttled replicas lists, as
// partition:broker,... ordered by partition then broker.
type topicThrottle struct {
	Topic            string
	Leader, Follower string
}

// planThrottle plans the throttle of moves given the partitions' current
// replicas (for a partition being reassigned already, the replicas it is
// moving from). A partition moves when its target adds a broker; one that
// only reorders or drops replicas copies nothing and is left out.
func planThrottle(current map[string]map[int32][]int32, moves []partitionMove) throttlePlan {
	type pair struct{ partition, broker int32 }
	leaders := make(map[string][]pair)
	followers := make(map[string][]pair)
	var brokers []int32
	for _, m := range moves {
		from := current[m.Topic][m.Partition]
		var added []int32
		for _, id := range m.Replicas {
			if !slices.Contains(from, id) {
				added = append(added, id)
			}
		}
		if len(added) == 0 {
			continue
		}
		for _, id := range from {
			leaders[m.Topic] = append(leaders[m.Topic], pair{m.Partition, id})
		}
		for _, id := range added {
			followers[m.Topic] = append(followers[m.Topic], pair{m.Partition, id})
		}
		brokers = append(brokers, from...)
		brokers = append(brokers, m.Replicas...)
	}
	format := func(pairs []pair) string {
		slices.SortFunc(pairs, func(a, b pair) int {
			return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.broker, b.broker))
		})
		pairs = slices.Compact(pairs)
		items := make([]string, len(pairs))
		for i, p := range pairs {
			items[i] = fmt.Sprintf("%d:%d", p.partition, p.broker)
		}
		return strings.Join(items, ",")
	}
	var plan throttlePlan
	for topic := range followers {
		plan.Topics = append(plan.Topics, topicThrottle{Topic: topic, Leader: format(leaders[topic]), Follower: format(followers[topic])})
	}
	slices.SortFunc(plan.Topics, func(a, b topicThrottle) int { return strings.Compare(a.Topic, b.Topic) })
	slices.Sort(brokers)
	plan.Brokers = slices.Compact(brokers)
	return plan
}

// parseThrottle reads --throttle: bytes per second, a positive integer.
func parseThrottle(s string) (int64, error) {
	rate, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || rate < 1 {
		return 0, fmt.Errorf("--throttle %q: want a rate in bytes per second, a whole number of at least 1", s)
	}
	return rate, nil
}

// throttleResources are the config changes that put plan in effect at rate
// bytes per second: SET of the lists on each topic (replacing lists an
// earlier reassignment left) and of both rates on each broker.
func (p throttlePlan) throttleResources(rate int64) []kmsg.IncrementalAlterConfigsRequestResource {
	set := func(typ kmsg.ConfigResourceType, name string, values map[string]string) kmsg.IncrementalAlterConfigsRequestResource {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = typ, name
		for _, key := range sortedKeys(values) {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op, c.Value = key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(values[key])
			r.Configs = append(r.Configs, c)
		}
		return r
	}
	var out []kmsg.IncrementalAlterConfigsRequestResource
	for _, t := range p.Topics {
		out = append(out, set(kmsg.ConfigResourceTypeTopic, t.Topic, map[string]string{
			leaderThrottledReplicas: t.Leader, followerThrottledReplicas: t.Follower,
		}))
	}
	value := strconv.FormatInt(rate, 10)
	for _, id := range p.Brokers {
		out = append(out, set(kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id)), map[string]string{
			leaderThrottledRate: value, followerThrottledRate: value,
		}))
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// throttleSet is the throttle configs set as dynamic configs on some
// entities: the keys set, by entity.
type throttleSet struct {
	Brokers map[int32][]string
	Topics  map[string][]string
}

func (s throttleSet) empty() bool { return len(s.Brokers) == 0 && len(s.Topics) == 0 }

// throttlesSet picks from a DescribeConfigs answer the throttle configs set
// on each entity as its own dynamic config (not as a cluster default or a
// static setting, which verify leaves alone, as Kafka's tool does).
func throttlesSet(resources []kmsg.DescribeConfigsResponseResource) (throttleSet, error) {
	set := throttleSet{Brokers: make(map[int32][]string), Topics: make(map[string][]string)}
	var errs []error
	for _, r := range resources {
		if err := codeError(r.ErrorCode, r.ErrorMessage); err != nil {
			errs = append(errs, fmt.Errorf("describe configs of %s: %w", configEntity{r.ResourceType, r.ResourceName}, err))
			continue
		}
		for _, c := range r.Configs {
			switch {
			case r.ResourceType == kmsg.ConfigResourceTypeBroker && c.Source == kmsg.ConfigSourceDynamicBrokerConfig && slices.Contains(brokerThrottleKeys, c.Name):
				id, err := strconv.ParseInt(r.ResourceName, 10, 32)
				if err != nil {
					continue
				}
				set.Brokers[int32(id)] = append(set.Brokers[int32(id)], c.Name)
			case r.ResourceType == kmsg.ConfigResourceTypeTopic && c.Source == kmsg.ConfigSourceDynamicTopicConfig && slices.Contains(topicThrottleKeys, c.Name):
				set.Topics[r.ResourceName] = append(set.Topics[r.ResourceName], c.Name)
			}
		}
	}
	return set, errors.Join(errs...)
}

// removeResources are the config changes that delete every throttle config
// of s.
func (s throttleSet) removeResources() []kmsg.IncrementalAlterConfigsRequestResource {
	remove := func(typ kmsg.ConfigResourceType, name string, keys []string) kmsg.IncrementalAlterConfigsRequestResource {
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = typ, name
		for _, key := range slices.Sorted(slices.Values(keys)) {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Op = key, kmsg.IncrementalAlterConfigOpDelete
			r.Configs = append(r.Configs, c)
		}
		return r
	}
	var out []kmsg.IncrementalAlterConfigsRequestResource
	for _, topic := range slices.Sorted(maps.Keys(s.Topics)) {
		out = append(out, remove(kmsg.ConfigResourceTypeTopic, topic, s.Topics[topic]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.Brokers)) {
		out = append(out, remove(kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id)), s.Brokers[id]))
	}
	return out
}

// describeRemoved says what removing s took away.
func (s throttleSet) describeRemoved() string {
	var parts []string
	if len(s.Brokers) > 0 {
		parts = append(parts, "the replication throttle rates of broker(s) "+joinIDs(slices.Sorted(maps.Keys(s.Brokers))))
	}
	if len(s.Topics) > 0 {
		parts = append(parts, "the throttled replicas of topic(s) "+strings.Join(slices.Sorted(maps.Keys(s.Topics)), ","))
	}
	return "Throttle was removed: " + strings.Join(parts, " and ") + "."
}

// incrementalAlter sends changes in one IncrementalAlterConfigs (the
// client sends each broker's resources to that broker) and reports every
// resource that failed.
func incrementalAlter(ctx context.Context, cl *kgo.Client, changes []kmsg.IncrementalAlterConfigsRequestResource) error {
	if len(changes) == 0 {
		return nil
	}
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Resources = changes
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("alter configs: %w", err)
	}
	var errs []error
	for _, r := range resp.Resources {
		if err := codeError(r.ErrorCode, r.ErrorMessage); err != nil {
			errs = append(errs, fmt.Errorf("alter configs of %s: %w", configEntity{r.ResourceType, r.ResourceName}, err))
		}
	}
	if len(errs) == 0 && len(resp.Resources) != len(changes) {
		errs = append(errs, fmt.Errorf("alter configs: %d resources answered of %d", len(resp.Resources), len(changes)))
	}
	return errors.Join(errs...)
}

// setThrottle puts the throttle of moves at rate in effect before the
// reassignment starts, so that its copy is throttled from the first byte.
// current holds the partitions' replicas as Metadata has them (for one being
// reassigned, with its adding replicas, which are left out again here).
func setThrottle(ctx context.Context, cl *kgo.Client, current map[string]map[int32][]int32, moves []partitionMove, rate int64, out io.Writer) error {
	ongoing, err := listReassignments(ctx, cl, moves)
	if err != nil {
		return err
	}
	from := make(map[string]map[int32][]int32, len(current))
	for _, m := range moves {
		replicas := current[m.Topic][m.Partition]
		if r, ok := ongoing[m.String()]; ok {
			replicas = slices.DeleteFunc(slices.Clone(replicas), func(id int32) bool { return slices.Contains(r.Adding, id) })
		}
		if from[m.Topic] == nil {
			from[m.Topic] = make(map[int32][]int32)
		}
		from[m.Topic][m.Partition] = replicas
	}
	plan := planThrottle(from, moves)
	if len(plan.Topics) == 0 {
		fmt.Fprintln(out, "No partition moves to a broker it is not on: no throttle is needed.")
		return nil
	}
	fmt.Fprintln(out, "Warning: You must run reassign verify periodically, until the reassignment completes, to ensure the throttle is removed.")
	if err := incrementalAlter(ctx, cl, plan.throttleResources(rate)); err != nil {
		return fmt.Errorf("set the throttle: %w", err)
	}
	fmt.Fprintf(out, "The inter-broker throttle limit was set to %d B/s on brokers %s\n", rate, joinIDs(plan.Brokers))
	return nil
}

// clearThrottle removes, once every partition of moves is complete, the
// throttle configs of every live broker and of the topics of moves, and
// says what it removed.
func clearThrottle(ctx context.Context, cl *kgo.Client, brokers []int32, moves []partitionMove, out io.Writer) error {
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, id := range brokers {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id)), brokerThrottleKeys
		req.Resources = append(req.Resources, r)
	}
	for _, topic := range topicsOf(moves) {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, topicThrottleKeys
		req.Resources = append(req.Resources, r)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("describe the throttle configs: %w", err)
	}
	set, err := throttlesSet(resp.Resources)
	if err != nil {
		return err
	}
	if set.empty() {
		return nil
	}
	if err := incrementalAlter(ctx, cl, set.removeResources()); err != nil {
		return fmt.Errorf("remove the throttle: %w", err)
	}
	fmt.Fprintln(out, set.describeRemoved())
	return nil
}
