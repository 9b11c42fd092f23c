package quota

import (
	"strings"
	"testing"
)

func TestIsClientQuotaKey(t *testing.T) {
	for _, k := range []string{ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate} {
		if !IsClientQuotaKey(k) {
			t.Errorf("IsClientQuotaKey(%q) = false", k)
		}
	}
	for _, k := range []string{"SCRAM-SHA-256", "producer.byte.rate", "connection_creation_rate", ""} {
		if IsClientQuotaKey(k) {
			t.Errorf("IsClientQuotaKey(%q) = true", k)
		}
	}
}

func TestParseClientQuotaAccepts(t *testing.T) {
	for _, c := range []struct {
		key, value string
		want       float64
	}{
		{ProducerByteRate, "1048576", 1048576},
		{ConsumerByteRate, " 2048 ", 2048},
		{ConsumerByteRate, "2048.0", 2048},
		{ProducerByteRate, "1024.0000001", 1024}, // within Kafka's 1e-6 slack
		{ProducerByteRate, "1e6", 1e6},
		{ProducerByteRate, "9223372036854774784", 9223372036854774784}, // the largest double below 2^63
		{RequestPercentage, "200", 200},
		{RequestPercentage, "0.5", 0.5},
		{ControllerMutationRate, "10.5", 10.5},
	} {
		got, err := ParseClientQuota(c.key, c.value)
		if err != nil || got != c.want {
			t.Errorf("ParseClientQuota(%q, %q) = %v, %v; want %v", c.key, c.value, got, err, c.want)
		}
	}
}

func TestParseClientQuotaRefuses(t *testing.T) {
	for _, c := range []struct {
		key, value, why string
	}{
		{"producer.byte.rate", "100", "invalid configuration key"},
		{"SCRAM-SHA-256", "x", "invalid configuration key"},
		{ProducerByteRate, "fast", "not a number"},
		{ProducerByteRate, "", "not a number"},
		{RequestPercentage, "NaN", "not a number"},
		{RequestPercentage, "+Inf", "not a number"},
		{ProducerByteRate, "-1", "greater than 0"},
		{ConsumerByteRate, "0", "greater than 0"},
		{ControllerMutationRate, "-0.5", "greater than 0"},
		{ProducerByteRate, "1024.5", "LONG"},
		{ConsumerByteRate, "1e19", "too large"},
	} {
		_, err := ParseClientQuota(c.key, c.value)
		if err == nil {
			t.Errorf("ParseClientQuota(%q, %q) accepted; want an error (%s)", c.key, c.value, c.why)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.why) || !strings.Contains(msg, c.key) || !strings.Contains(msg, `"`+c.value+`"`) {
			t.Errorf("ParseClientQuota(%q, %q) error %q: want it to say %q and name the key and the value", c.key, c.value, msg, c.why)
		}
	}
}

func TestFormatClientQuotaAsKafkaStoresIt(t *testing.T) {
	for _, c := range []struct {
		key   string
		value float64
		want  string
	}{
		{ProducerByteRate, 1048576, "1048576"},
		{ConsumerByteRate, 1e12, "1000000000000"},
		{RequestPercentage, 200, "200.0"},
		{RequestPercentage, 12.5, "12.5"},
		{ControllerMutationRate, 1e7, "1.0E7"},
		{ControllerMutationRate, 1.5e7, "1.5E7"},
		{ControllerMutationRate, 0.00025, "2.5E-4"},
		{ControllerMutationRate, 0.001, "0.001"},
	} {
		if got := FormatClientQuota(c.key, c.value); got != c.want {
			t.Errorf("FormatClientQuota(%q, %v) = %q, want %q", c.key, c.value, got, c.want)
		}
		if v, err := ParseClientQuota(c.key, FormatClientQuota(c.key, c.value)); err != nil || v != c.value {
			t.Errorf("round trip of %s=%v: %v, %v", c.key, c.value, v, err)
		}
	}
}
