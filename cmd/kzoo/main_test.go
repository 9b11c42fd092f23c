package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestRunSubcommand(t *testing.T) {
	var ran []string
	record := func(name string) subcommand[string] {
		return subcommand[string]{name, func(_ context.Context, env string, args []string, _ io.Writer) error {
			ran = append(ran, name+" in "+env+": "+strings.Join(args, " "))
			return nil
		}}
	}
	subs := []subcommand[string]{record("list"), record("describe"), record("delete")}
	ctx := context.Background()

	if err := runSubcommand(ctx, "things", "", "env", []string{"describe", "a", "b"}, io.Discard, subs); err != nil {
		t.Fatalf("describe: %v", err)
	}
	if want := []string{"describe in env: a b"}; !slices.Equal(ran, want) {
		t.Errorf("ran %q, want %q", ran, want)
	}
	err := runSubcommand(ctx, "things", "", "env", nil, io.Discard, subs)
	if want := "things: want list, describe or delete"; err == nil || err.Error() != want {
		t.Errorf("no subcommand: %v, want %q", err, want)
	}
	err = runSubcommand(ctx, "things", "", "env", []string{"shred"}, io.Discard, subs)
	if want := `things: unknown subcommand "shred"`; err == nil || err.Error() != want {
		t.Errorf("unknown subcommand: %v, want %q", err, want)
	}

	// A command with a help text of its own prints it and points to it.
	const help = "usage: kzoo things delete\n"
	one := []subcommand[string]{record("delete")}
	err = runSubcommand(ctx, "things", help, "env", nil, io.Discard, one)
	if want := "things: want delete (try kzoo things --help)"; err == nil || err.Error() != want {
		t.Errorf("no subcommand, with help: %v, want %q", err, want)
	}
	err = runSubcommand(ctx, "things", help, "env", []string{"shred"}, io.Discard, one)
	if want := `things: unknown subcommand "shred" (try kzoo things --help)`; err == nil || err.Error() != want {
		t.Errorf("unknown subcommand, with help: %v, want %q", err, want)
	}
	var printed strings.Builder
	if err := runSubcommand(ctx, "things", help, "env", []string{"--help"}, &printed, one); err != nil || printed.String() != help {
		t.Errorf("--help: printed %q, %v; want the help text", printed.String(), err)
	}

	// What `kzoo topics` alone says, before it needs a cluster.
	err = run([]string{"--bootstrap-server", "127.0.0.1:1", "topics"}, io.Discard)
	if want := "topics: want list, describe, create, alter or delete"; err == nil || err.Error() != want {
		t.Errorf("kzoo topics: %v, want %q", err, want)
	}
}
