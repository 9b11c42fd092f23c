package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// newAdminClient returns a franz-go client for the admin commands. It
// routes each request where Kafka's admin client would: CreatePartitions,
// ElectLeaders and the reassignment requests to the controller, a broker's
// config resources to that broker.
func newAdminClient(bootstrap []string) (*kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ClientID("kzoo"))
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", strings.Join(bootstrap, ","), err)
	}
	return cl, nil
}

// parseArgs parses a subcommand's flags, which may come before, between or
// after its positional arguments (`topics alter T --partitions 3` and
// `topics alter --partitions 3 T` both work), and returns the positionals.
// --help prints help to out and reports helped, so the command ends with
// success as Kafka's tools do.
func parseArgs(fs *flag.FlagSet, help string, args []string, out io.Writer) (positional []string, helped bool, err error) {
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(out, help)
				return nil, true, nil
			}
			return nil, false, fmt.Errorf("%s: %w (try --help)", fs.Name(), err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			// Everything after "--" is positional.
			return append(positional, rest...), false, nil
		}
		if len(rest) == 0 {
			return positional, false, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
