package config

import (
	"math"
	"testing"
	"time"
)

func TestTopicStorageCleanupSettings(t *testing.T) {
	vals, err := Load("", nil, []string{"broker.id=1", "log.cleaner.min.cleanable.ratio=0.3", "log.cleaner.backoff.ms=250"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}

	defaults := b.ResolveTopic(nil).Storage()
	if !defaults.Delete || defaults.Compact {
		t.Errorf("default policy: delete %v, compact %v; want delete only", defaults.Delete, defaults.Compact)
	}
	if defaults.DeleteRetentionMs != 86_400_000 || defaults.MinCleanableDirtyRatio != 0.3 ||
		defaults.MinCompactionLagMs != 0 || defaults.MaxCompactionLagMs != math.MaxInt64 {
		t.Errorf("defaults not taken from the broker keys: %+v", defaults)
	}

	for policy, want := range map[string][2]bool{"compact": {true, false}, "compact,delete": {true, true}, "delete": {false, true}} {
		c := b.ResolveTopic(map[string]string{"cleanup.policy": policy}).Storage()
		if c.Compact != want[0] || c.Delete != want[1] {
			t.Errorf("cleanup.policy=%s: compact %v, delete %v", policy, c.Compact, c.Delete)
		}
	}

	c := b.ResolveTopic(map[string]string{
		"delete.retention.ms": "1000", "min.compaction.lag.ms": "2000", "max.compaction.lag.ms": "3000",
		"min.cleanable.dirty.ratio": "0.9",
	}).Storage()
	if c.DeleteRetentionMs != 1000 || c.MinCompactionLagMs != 2000 || c.MaxCompactionLagMs != 3000 || c.MinCleanableDirtyRatio != 0.9 {
		t.Errorf("topic overrides not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("resolved config invalid: %v", err)
	}
	if r := b.ResolveTopic(map[string]string{"min.cleanable.dirty.ratio": "7"}).Storage().MinCleanableDirtyRatio; r != 1 {
		t.Errorf("ratio 7 resolved to %v, want it clamped to 1", r)
	}

	if got := vals.LogCleaner(); !got.Enabled || got.Backoff != 250*time.Millisecond || got.DedupeBufferSize != 128<<20 {
		t.Errorf("log cleaner settings %+v", got)
	}
}
