package replica

import (
	"fmt"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/kzoo/kzoo/zkpaths"
)

// A pass that shrinks a few ISRs names each partition, as operators search the
// log for a topic's shrinks; a pass over thousands logs one summary.
func TestISRTallyLogsFewChangesOneByOne(t *testing.T) {
	for _, tc := range []struct {
		shrunk    int
		wantLines int
	}{{1, 1}, {isrChangesListed, isrChangesListed}, {isrChangesListed + 1, 1}, {5000, 1}} {
		t.Run(fmt.Sprint(tc.shrunk), func(t *testing.T) {
			logger, hook := logtest.NewNullLogger()
			var tally isrTally
			for p := range tc.shrunk {
				tally.written(zkpaths.TopicPartition{Topic: "t", Partition: int32(p)}, isrWrite{shrink: true})
			}
			tally.log(logger)
			entries := hook.AllEntries()
			if len(entries) != tc.wantLines {
				t.Fatalf("%d lines, want %d", len(entries), tc.wantLines)
			}
			first := entries[0]
			if first.Message != "ISR shrunk" || first.Level != logrus.InfoLevel {
				t.Fatalf("line %q at %s, want ISR shrunk at info", first.Message, first.Level)
			}
			if tc.shrunk <= isrChangesListed {
				if first.Data["topic"] != "t" || first.Data["partition"] != int32(0) {
					t.Errorf("fields %v do not name the partition", first.Data)
				}
			} else if first.Data["partitions"] != tc.shrunk || first.Data["first"] != "t-0" {
				t.Errorf("summary fields %v, want partitions=%d first=t-0", first.Data, tc.shrunk)
			}
		})
	}
}
