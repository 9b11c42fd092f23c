package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const topicsAlterHelp = `Usage: kzoo topics alter TOPIC --partitions N

Raises the partition count of TOPIC to N (CreatePartitions). Partition counts
only grow: asking for fewer partitions than the topic has fails.
`

// alterTopic runs `topics alter`.
func alterTopic(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("topics alter", flag.ContinueOnError)
	partitions := fs.Int("partitions", 0, "")
	names, helped, err := parseArgs(fs, topicsAlterHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(names) != 1 {
		return errors.New("topics alter: name exactly one topic (try --help)")
	}
	if *partitions <= 0 {
		return errors.New("topics alter: --partitions N is required and must be positive")
	}
	topic := names[0]

	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 30_000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, int32(*partitions)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("alter topic %s: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if t.Topic != topic {
			continue
		}
		if err := codeError(t.ErrorCode, t.ErrorMessage); err != nil {
			return fmt.Errorf("alter topic %s: %w", topic, err)
		}
		fmt.Fprintf(out, "Topic %s now has %d partitions.\n", topic, *partitions)
		return nil
	}
	return fmt.Errorf("alter topic %s: the broker did not answer for it", topic)
}
