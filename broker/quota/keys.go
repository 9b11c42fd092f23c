package quota

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Client quota keys: Kafka's names, in /config/users/... and /config/clients/...
const (
	ProducerByteRate       = "producer_byte_rate"       // bytes/s appended by Produce
	ConsumerByteRate       = "consumer_byte_rate"       // bytes/s returned by Fetch
	RequestPercentage      = "request_percentage"       // % of one handler thread's time
	ControllerMutationRate = "controller_mutation_rate" // partitions created or deleted per second
)

// Topic quota keys: kzoo's own topic configs, a per-broker byte rate shared
// by every client of the topic.
const (
	TopicProducerByteRate = "producer.byte.rate"
	TopicConsumerByteRate = "consumer.byte.rate"
)

// valueType is how Kafka's ConfigDef types a client quota key (QuotaConfigs):
// the byte rates are LONGs, the others DOUBLEs.
type valueType int8

const (
	typeLong valueType = iota
	typeDouble
)

var clientQuotaKeys = map[string]valueType{
	ProducerByteRate:       typeLong,
	ConsumerByteRate:       typeLong,
	RequestPercentage:      typeDouble,
	ControllerMutationRate: typeDouble,
}

// IsClientQuotaKey reports whether name is one of the four client quota keys
// (users and clients take the same four; /config/users also holds SCRAM
// credentials, which are not quotas).
func IsClientQuotaKey(name string) bool {
	_, ok := clientQuotaKeys[name]
	return ok
}

// ParseClientQuota checks a client quota value as Kafka does (a known key; a
// number; Kafka's range) and returns it. Errors name the key and the value.
//
// The rules are those AlterClientQuotas applies: an unknown key is refused
// ("Invalid configuration key"), a LONG key (the byte rates) takes only a
// whole number that fits a Java long (Kafka allows 1e-6 of slack for the
// double the protocol carries), and a value must be greater than 0. ZooKeeper
// mode Kafka checks the first two; the last is KRaft's check, which kzoo
// applies too because Kafka's own throttle arithmetic breaks down for a zero
// or negative bound (it divides by the bound). Surrounding spaces are
// ignored, as Kafka's ConfigDef trims numbers.
func ParseClientQuota(key, value string) (float64, error) {
	t, ok := clientQuotaKeys[key]
	if !ok {
		return 0, fmt.Errorf("invalid configuration key %q (value %q): not a client quota key (%s, %s, %s or %s)",
			key, value, ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("quota %s=%q is not a number", key, value)
	}
	if v <= 0 {
		return 0, fmt.Errorf("quota %s=%q must be greater than 0", key, value)
	}
	if t == typeLong {
		// 2^63 is the first double past Java's Long.MAX_VALUE.
		if v >= math.Exp2(63) {
			return 0, fmt.Errorf("quota %s=%q is too large for a LONG", key, value)
		}
		const epsilon = 1e-6
		whole := math.Floor(v + epsilon)
		if math.Abs(whole-v) > epsilon {
			return 0, fmt.Errorf("quota %s=%q must be a LONG value (a whole number)", key, value)
		}
		v = whole
	}
	return v, nil
}

// FormatClientQuota is how Kafka writes a client quota value to ZooKeeper:
// a LONG key as a whole number ("1048576"), a DOUBLE key as Java's
// Double.toString ("200.0", "1.5E7"). Use it on values ParseClientQuota
// accepted so that Kafka's tools read what kzoo writes.
func FormatClientQuota(key string, value float64) string {
	if clientQuotaKeys[key] == typeLong {
		return strconv.FormatFloat(math.Floor(value+1e-6), 'f', 0, 64)
	}
	return javaDouble(value)
}

// javaDouble formats v as Java's Double.toString: plain decimal notation
// with at least one fractional digit for 1e-3 <= |v| < 1e7, otherwise
// computerized scientific notation ("1.0E7", "2.5E-4").
func javaDouble(v float64) string {
	if a := math.Abs(v); a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'E', -1, 64) // e.g. "1E+07", "2.5E-04"
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp) // drops the "+" and leading zeros
	return mant + "E" + strconv.Itoa(n)
}
