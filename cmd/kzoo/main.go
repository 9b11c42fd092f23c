// Command kzoo is the operator CLI of a kzoo cluster: topics, consumer
// groups, transactions, configs, reassignment, leader elections, records
// and log dirs, console clients, perf tests, the replication verifier and a
// ZooKeeper report, one file per command. It speaks to brokers through
// franz-go only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const defaultBootstrap = "127.0.0.1:9092"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "kzoo: %s\n", formatError(err))
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: kzoo [--bootstrap-server HOST:PORT] [--command-config FILE] COMMAND ...

Commands:
  topics list                       list topics
  topics describe [TOPIC...] [--under-replicated-partitions|--unavailable-partitions]
                                    partitions, leaders, replicas, ISR and state
  topics alter TOPIC --partitions N add partitions
  topics create TOPIC [--partitions N] [--replication-factor N] [--config k=v]...
  topics delete TOPIC...
  groups list                       every consumer group, its state and coordinator
  groups describe GROUP...          members, committed offsets, log end offsets and lag
  groups delete GROUP...            delete groups that have no members
  groups reset-offsets GROUP --topic TOPIC[:P,...] (--to-earliest|--to-latest|--to-offset N|
                       --to-datetime T|--shift-by N) [--dry-run|--execute]
  transactions list|describe|describe-producers|abort|find-hanging ...
                                    transactions, producers and hanging transactions (kzoo transactions --help)
  verify [flags]                    check that acknowledged writes survive (kzoo verify --help)
  produce TOPIC [flags]             produce the lines of stdin as records (kzoo produce --help)
  consume TOPIC [flags]             print a topic's records (kzoo consume --help)
  perf produce|consume [flags]      producer and consumer throughput and latency (kzoo perf --help)
  configs describe|alter ...        topic and broker configs (kzoo configs --help)
  quotas describe|alter ...         client quotas of users and client ids (kzoo quotas --help)
  acls add|list|remove ...          the authorizer's ACLs, with kafka-acls' flags (kzoo acls --help)
  users scram set|describe|delete ...
                                    users' SCRAM credentials, through a broker or ZooKeeper (kzoo users --help)
  elect-leaders ...                 preferred or unclean leader election (kzoo elect-leaders --help)
  records delete ...                delete the records below an offset (kzoo records --help)
  log-dirs describe [flags]         brokers' log dirs, partition sizes and free space (kzoo log-dirs --help)
  reassign generate|execute|verify  move partition replicas (kzoo reassign --help)
  cluster [--zookeeper CONNECT]     brokers, controller and partition states from ZooKeeper
  zk-secure --zookeeper CONNECT (--enable|--disable)
                                    set or remove the znodes' secure ACLs (kzoo zk-secure --help)

The bootstrap server defaults to $KZOO_BOOTSTRAP or `+defaultBootstrap+`.
--command-config (default $KZOO_COMMAND_CONFIG) is a Kafka client .properties
file with the settings every command that talks to brokers uses:
security.protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), sasl.mechanism
(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), sasl.jaas.config (PlainLoginModule or
ScramLoginModule with username and password), and ssl.truststore.*,
ssl.keystore.*, ssl.key.password, ssl.endpoint.identification.algorithm.
`)
}

// commandHelp is the --help text of the commands whose subcommands do not
// each parse flags of their own.
var commandHelp = map[string]string{
	"topics": `Usage: kzoo [--bootstrap-server HOST:PORT] topics SUBCOMMAND

  topics list
      the names of all topics
  topics describe [TOPIC...] [--under-replicated-partitions | --unavailable-partitions]
      each partition's leader, replicas, ISR and state (Online, Offline)
  topics create TOPIC [--partitions N] [--replication-factor N] [--config key=value]...
      create a topic (defaults: the broker's num.partitions and default.replication.factor)
  topics alter TOPIC --partitions N
      add partitions; a topic's partition count never decreases
  topics delete TOPIC...
      delete topics and their data on every broker
`,
	"groups": `Usage: kzoo [--bootstrap-server HOST:PORT] groups SUBCOMMAND

  groups list
      every consumer group (each broker is asked), its state, protocol type and coordinator
  groups describe GROUP...
      state, coordinator, members and their partitions, and per partition the
      committed offset, log end offset and lag
  groups delete GROUP...
      delete groups that have no members, with their committed offsets
  groups reset-offsets GROUP --topic TOPIC[:PARTITION,...]...
        (--to-earliest | --to-latest | --to-offset N | --to-datetime YYYY-MM-DDTHH:mm:SS.sss |
         --shift-by N) [--dry-run | --execute]
      print the new committed offsets (the default), or commit them with --execute;
      refused while the group has members
`,
	"transactions": transactionsHelp,
}

// helpAsked reports whether args ask for help.
func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return true
		}
	}
	return false
}

// subcommand is one subcommand of a command such as `kzoo topics`: its
// name and what runs it with env, what the command has set up for all of
// them.
type subcommand[Env any] struct {
	name string
	run  func(ctx context.Context, env Env, args []string, out io.Writer) error
}

// runSubcommand runs the one of subs that args name with the arguments
// after its name. Without a name it says which it wants. A command with a
// --help text of its own (help not empty) prints it when args start with a
// help flag, and its errors point to it.
func runSubcommand[Env any](ctx context.Context, command, help string, env Env, args []string, out io.Writer, subs []subcommand[Env]) error {
	hint := ""
	if help != "" {
		hint = fmt.Sprintf(" (try kzoo %s --help)", command)
	}
	if len(args) == 0 {
		names := make([]string, len(subs))
		for i, sub := range subs {
			names[i] = sub.name
		}
		want := names[0]
		if last := len(names) - 1; last > 0 {
			want = strings.Join(names[:last], ", ") + " or " + names[last]
		}
		return fmt.Errorf("%s: want %s%s", command, want, hint)
	}
	if help != "" && helpAsked(args[:1]) {
		fmt.Fprint(out, help)
		return nil
	}
	for _, sub := range subs {
		if sub.name == args[0] {
			return sub.run(ctx, env, args[1:], out)
		}
	}
	return fmt.Errorf("%s: unknown subcommand %q%s", command, args[0], hint)
}

// adminCommands are the commands that ask the cluster through the admin
// client, which run builds for them. It connects only when a command
// sends its first request, after checking its arguments.
var adminCommands = map[string]func(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error{
	"topics":        topicsCommand,
	"groups":        groupsCommand,
	"configs":       configsCommand,
	"quotas":        quotasCommand,
	"acls":          aclsCommand,
	"elect-leaders": electLeaders,
	"reassign":      reassignCommand,
	"records":       recordsCommand,
	"log-dirs":      logDirsCommand,
	"transactions":  transactionsCommand,
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kzoo", flag.ContinueOnError)
	bootstrap := fs.String("bootstrap-server", envOr("KZOO_BOOTSTRAP", defaultBootstrap), "a broker to bootstrap from")
	commandConfig := fs.String("command-config", os.Getenv("KZOO_COMMAND_CONFIG"), "a file of client security settings")
	fs.Usage = func() { usage(fs.Output()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		usage(os.Stderr)
		return errors.New("no command given")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if text, ok := commandHelp[fs.Arg(0)]; ok && helpAsked(fs.Args()[1:]) {
		fmt.Fprint(out, text)
		return nil
	}
	servers := brokers{servers: strings.Split(*bootstrap, ","), commandConfig: *commandConfig}
	command, args := fs.Arg(0), fs.Args()[1:]
	if adminCommand, ok := adminCommands[command]; ok {
		b := servers
		if helpAsked(args) {
			// Help sends no request: a broken command config must not
			// hide it.
			b.commandConfig = ""
		}
		cl, err := newClient(b)
		if err != nil {
			return err
		}
		defer cl.Close()
		return adminCommand(ctx, cl, args, out)
	}
	console := streams{in: os.Stdin, out: out, errOut: os.Stderr}
	switch command {
	case "verify":
		return verifyCommand(servers, args, out)
	case "produce":
		return produceCommand(servers, args, console)
	case "consume":
		return consumeCommand(servers, args, console)
	case "perf":
		return perfCommand(servers, args, console)
	case "users":
		return usersCommand(ctx, servers, args, out)
	case "cluster":
		return clusterCommand(ctx, args, out)
	case "zk-secure":
		return zkSecureCommand(ctx, args, out)
	case "help":
		usage(out)
		return nil
	default:
		return fmt.Errorf("unknown command %q (try kzoo --help)", command)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
