package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestErrorWording pins what the CLI prints for each way a Kafka error
// reaches it: the problem once, in words, and the code's name once, last.
func TestErrorWording(t *testing.T) {
	// What kzoo brokers answered before they stopped repeating the code's
	// text in their messages; other brokers may still.
	repeating := kerr.TopicAlreadyExists.Error() + `: topic "demo" already exists`
	newMessage := `topic "demo" already exists`
	for _, c := range []struct {
		path string
		err  error
		code *kerr.Error // nil: not a Kafka error
		want string
	}{
		{"topics create, answer with the message of an older broker",
			codeError(kerr.TopicAlreadyExists.Code, kmsgString(repeating)), kerr.TopicAlreadyExists,
			`topic "demo" already exists (TOPIC_ALREADY_EXISTS)`},
		{"topics create, answer",
			codeError(kerr.TopicAlreadyExists.Code, kmsgString(newMessage)), kerr.TopicAlreadyExists,
			`topic "demo" already exists (TOPIC_ALREADY_EXISTS)`},
		{"topics create, answer without a message",
			codeError(kerr.InvalidReplicationFactor.Code, nil), kerr.InvalidReplicationFactor,
			"replication factor is below 1 or larger than the number of available brokers (INVALID_REPLICATION_FACTOR)"},
		{"topics delete, two topics",
			errors.Join(
				fmt.Errorf("delete topic a: %w", codeError(kerr.UnknownTopicOrPartition.Code, nil)),
				fmt.Errorf("delete topic b: %w", codeError(kerr.InvalidTopicException.Code, nil))),
			kerr.UnknownTopicOrPartition,
			"delete topic a: this server does not host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)\n" +
				"delete topic b: the request attempted to perform an operation on an invalid topic (INVALID_TOPIC_EXCEPTION)"},
		{"topics list, error from Metadata",
			fmt.Errorf("metadata: %w", kerr.LeaderNotAvailable), kerr.LeaderNotAvailable,
			"metadata: there is no leader for this topic-partition as we are in the middle of a leadership election (LEADER_NOT_AVAILABLE)"},
		{"topics alter, franz-go answer with a message",
			fmt.Errorf("alter topic t: %w", codeError(kerr.InvalidPartitions.Code, kmsgString("topic t has 3 partitions; a topic cannot shrink"))),
			kerr.InvalidPartitions,
			"alter topic t: topic t has 3 partitions; a topic cannot shrink (INVALID_PARTITIONS)"},
		{"configs alter, message repeating the code and its description",
			fmt.Errorf("alter configs of topic t: %w", codeError(kerr.InvalidConfig.Code, kmsgString(kerr.InvalidConfig.Error()+`: unknown topic config "x"`))),
			kerr.InvalidConfig,
			`alter configs of topic t: unknown topic config "x" (INVALID_CONFIG)`},
		{"configs alter, message that is only the code's name",
			codeError(kerr.PolicyViolation.Code, kmsgString("POLICY_VIOLATION")), kerr.PolicyViolation,
			"request parameters do not satisfy the configured policy (POLICY_VIOLATION)"},
		{"topics describe, franz-go code without a message",
			fmt.Errorf("topic gone: %w", codeError(kerr.UnknownTopicOrPartition.Code, nil)), kerr.UnknownTopicOrPartition,
			"topic gone: this server does not host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)"},
		{"unknown error code",
			codeError(-42, nil), kerr.UnknownServerError,
			"the server experienced an unexpected error when processing the request (UNKNOWN_SERVER_ERROR)"},
		{"groups describe, raw franz-go error",
			fmt.Errorf("fetch committed offsets of group g: %w", kerr.CoordinatorNotAvailable), kerr.CoordinatorNotAvailable,
			"fetch committed offsets of group g: the coordinator is not available (COORDINATOR_NOT_AVAILABLE)"},
		{"groups delete, explained by the CLI",
			errors.Join(explained(kerr.NonEmptyGroup, "cannot delete group %s: it has active members; stop its consumers first", "g")),
			kerr.NonEmptyGroup,
			"cannot delete group g: it has active members; stop its consumers first (NON_EMPTY_GROUP)"},
		{"produce to a missing topic",
			explainProduceError("orders", kerr.UnknownTopicOrPartition), kerr.UnknownTopicOrPartition,
			`topic "orders" or its partition does not exist, and auto.create.topics.enable may be off (UNKNOWN_TOPIC_OR_PARTITION)`},
		{"produce timeout, not a Kafka error",
			explainProduceError("orders", kgo.ErrRecordTimeout), nil,
			"not acknowledged in time (is the partition's leader reachable?): " + kgo.ErrRecordTimeout.Error()},
		{"usage error",
			fmt.Errorf("unknown command %q (try kzoo --help)", "x"), nil,
			`unknown command "x" (try kzoo --help)`},
	} {
		t.Run(c.path, func(t *testing.T) {
			got := formatError(c.err)
			if got != c.want {
				t.Errorf("formatError:\n got %s\nwant %s", got, c.want)
			}
			if c.code == nil {
				return
			}
			if !errors.Is(c.err, c.code) {
				t.Errorf("errors.Is(err, %s) is false", c.code.Message)
			}
			for _, line := range strings.Split(got, "\n") {
				checkSaysCodeOnce(t, line)
			}
		})
	}
}

// codeName matches the protocol name of an error code: words joined by
// underscores.
var codeName = regexp.MustCompile(`\b[A-Z]+(?:_[A-Z]+)+\b`)

// checkSaysCodeOnce fails unless line names exactly one error code, once,
// in parentheses at its end, and carries no numeric code ("[36] Title", as
// some clients print them).
func checkSaysCodeOnce(t *testing.T, line string) {
	t.Helper()
	names := codeName.FindAllString(line, -1)
	if len(names) != 1 || !strings.HasSuffix(line, " ("+names[0]+")") {
		t.Errorf("%q names codes %q, want exactly one, in parentheses at the end", line, names)
	}
	if regexp.MustCompile(`\[\d+\]`).MatchString(line) {
		t.Errorf("%q carries a numeric code", line)
	}
}

func TestCodeErrorOfCodeZero(t *testing.T) {
	if err := codeError(0, kmsgString("ignored")); err != nil {
		t.Errorf("code 0 gave %v, want no error", err)
	}
}

func TestSentenceFragment(t *testing.T) {
	for in, want := range map[string]string{
		"The group is not empty.":         "the group is not empty",
		"ISR is smaller than min.insync.": "ISR is smaller than min.insync",
		"":                                "",
	} {
		if got := sentenceFragment(in); got != want {
			t.Errorf("sentenceFragment(%q) = %q, want %q", in, got, want)
		}
	}
}
