package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

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

// parseFlags is the parser of the console clients and perf tools, whose
// flag sets print their own usage and errors (with each flag's default,
// as Kafka's console tools do): flags may come before or after the
// positional argument (kzoo produce TOPIC --acks 1, or kzoo produce
// --acks 1 TOPIC), and the flag package's errors, flag.ErrHelp included,
// are returned as they are.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
