package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The replication quota keys (KIP-73): the broker's two rates, dynamic
// broker configs, and the topic's two lists of the replicas they apply to.
const (
	LeaderReplicationThrottledRate       = "leader.replication.throttled.rate"
	FollowerReplicationThrottledRate     = "follower.replication.throttled.rate"
	LeaderReplicationThrottledReplicas   = "leader.replication.throttled.replicas"
	FollowerReplicationThrottledReplicas = "follower.replication.throttled.replicas"
)

// ReplicationThrottle holds a broker's replication quotas in bytes per
// second: Leader is leader.replication.throttled.rate, what it sends of
// throttled replicas to followers outside the ISR; Follower is
// follower.replication.throttled.rate, what it copies of throttled replicas
// while outside their ISR. +Inf is unlimited: Kafka's default, Long.MaxValue,
// is read as that.
type ReplicationThrottle struct {
	Leader, Follower float64
}

// ReplicationThrottle returns the replication quotas of v.
func (v Values) ReplicationThrottle() ReplicationThrottle {
	return ReplicationThrottle{
		Leader:   throttleRate(v.int64(LeaderReplicationThrottledRate)),
		Follower: throttleRate(v.int64(FollowerReplicationThrottledRate)),
	}
}

func throttleRate(bytesPerSecond int64) float64 {
	if bytesPerSecond == math.MaxInt64 {
		return math.Inf(1)
	}
	return float64(bytesPerSecond)
}

// ThrottledReplicas is a parsed leader.replication.throttled.replicas or
// follower.replication.throttled.replicas: every replica of the topic ("*"),
// or the partition:broker pairs listed. The zero value names none.
type ThrottledReplicas struct {
	all   bool
	pairs []ReplicaPair
}

// ReplicaPair names the replica of a partition on a broker.
type ReplicaPair struct {
	Partition, Broker int32
}

// ParseThrottledReplicas reads a throttled replicas list as Kafka accepts
// it: "*" alone, or partition:broker pairs separated by commas (spaces
// around items allowed), "" being none.
func ParseThrottledReplicas(value string) (ThrottledReplicas, error) {
	if strings.TrimSpace(value) == "*" {
		return ThrottledReplicas{all: true}, nil
	}
	var out ThrottledReplicas
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		partition, broker, ok := strings.Cut(item, ":")
		p, perr := parseID(partition)
		b, berr := parseID(broker)
		if !ok || perr != nil || berr != nil {
			return ThrottledReplicas{}, fmt.Errorf("%q: want * alone or a list of partition:broker pairs, such as 0:101,1:102", item)
		}
		out.pairs = append(out.pairs, ReplicaPair{Partition: p, Broker: b})
	}
	return out, nil
}

// parseID reads a partition or broker id: digits only, within int32.
func parseID(s string) (int32, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, errors.New("not an id")
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int32(n), err
}

// checkThrottledReplicas is the Key.Check of both list keys.
func checkThrottledReplicas(value string) error {
	_, err := ParseThrottledReplicas(value)
	return err
}

// Names reports whether the list names the replica of partition on broker.
func (r ThrottledReplicas) Names(partition, broker int32) bool {
	if r.all {
		return true
	}
	for _, p := range r.pairs {
		if p.Partition == partition && p.Broker == broker {
			return true
		}
	}
	return false
}

// LeaderThrottledReplicas is leader.replication.throttled.replicas (none
// when unset or invalid).
func (t Topic) LeaderThrottledReplicas() ThrottledReplicas {
	r, _ := ParseThrottledReplicas(t[LeaderReplicationThrottledReplicas])
	return r
}

// FollowerThrottledReplicas is follower.replication.throttled.replicas
// (none when unset or invalid).
func (t Topic) FollowerThrottledReplicas() ThrottledReplicas {
	r, _ := ParseThrottledReplicas(t[FollowerReplicationThrottledReplicas])
	return r
}
