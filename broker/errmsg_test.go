package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestErrorMessageDoesNotRepeatTheCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, "demo"), `topic "demo" already exists`},
		{kerr.InvalidPartitions, kerr.InvalidPartitions.Description},
		{fmt.Errorf("%w: %v", kerr.InvalidConfig, errors.New(`unknown topic config "x"`)), `unknown topic config "x"`},
		{fmt.Errorf("partition 3: %w: leader is 2", kerr.NotLeaderForPartition), "partition 3: leader is 2"},
		{fmt.Errorf("partition 3: %w", kerr.NotLeaderForPartition), "partition 3: " + kerr.NotLeaderForPartition.Description},
		{errors.New("disk on fire"), "disk on fire"},
	} {
		if got := errorMessage(c.err); got != c.want {
			t.Errorf("errorMessage(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}
