package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/scramcred"
	"github.com/kzoo/kzoo/internal/scramzk"
	"github.com/kzoo/kzoo/internal/zksecure"
	"github.com/kzoo/kzoo/zkpaths"
)

const usersHelp = `Usage: kzoo users scram set USER --mechanism M... --password P [--iterations N] [ZOOKEEPER]
       kzoo users scram describe [USER...] [ZOOKEEPER]
       kzoo users scram delete USER --mechanism M... [ZOOKEEPER]

The SCRAM credentials brokers log users in with (SASL SCRAM-SHA-256 and
SCRAM-SHA-512), kept where Kafka keeps them: in ZooKeeper, beside the user's
quotas. --mechanism is SCRAM-SHA-256 or SCRAM-SHA-512, and may be given
twice. --iterations is from 4096 (the default) to 16384.

set salts the password here, as Kafka's admin client does, and sends the
broker only the salt and the salted password (AlterUserScramCredentials).
describe prints each user's mechanisms and iteration counts
(DescribeUserScramCredentials), never a credential; without users, every
user's. delete removes the user's credentials of the mechanisms. Brokers
before Kafka 2.7 do not have these requests ("broker is too old"): use
ZOOKEEPER with them.

ZOOKEEPER is --zookeeper HOST:PORT[,HOST:PORT...][/chroot] [--zk-digest USER:PASSWORD]
[--zk-tls-config-file FILE]: the command then reads and writes the users'
znodes itself, as kafka-configs --zookeeper does, so that the users brokers
log in with exist before any broker runs. With a ZooKeeper identity (a
digest or a TLS client certificate) the znodes it creates get Kafka's secure
ACLs, readable by that identity only.

` + zkSecurityFlagsHelp + `
  kzoo users scram set alice --mechanism SCRAM-SHA-512 --password alice-secret
  kzoo users scram set admin --mechanism SCRAM-SHA-512 --password a-secret --zookeeper 127.0.0.1:2181
  kzoo users scram describe alice
  kzoo users scram delete alice --mechanism SCRAM-SHA-256
`

// defaultScramIterations is kafka-configs' default iteration count.
const defaultScramIterations = scramcred.MinIterations

// usersCommand runs `kzoo users ...`. It gets the brokers rather than a
// client because with --zookeeper it talks to no broker.
func usersCommand(ctx context.Context, b brokers, args []string, out io.Writer) error {
	return runSubcommand(ctx, "users", usersHelp, b, args, out, []subcommand[brokers]{
		{"scram", func(ctx context.Context, b brokers, args []string, out io.Writer) error {
			return runSubcommand(ctx, "users scram", usersHelp, b, args, out, []subcommand[brokers]{
				{"set", setScramCommand},
				{"describe", describeScramCommand},
				{"delete", deleteScramCommand},
			})
		}},
	})
}

// withClient runs f with a client of b, closed after.
func withClient(b brokers, f func(cl *kgo.Client) error) error {
	cl, err := newClient(b)
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(cl)
}

// scramMechanismTypes are the mechanisms' numbers in the SCRAM credential
// requests (Kafka's ScramMechanism.type).
var scramMechanismTypes = map[string]int8{scramcred.SHA256: 1, scramcred.SHA512: 2}

func scramMechanismName(typ int8) string {
	for name, t := range scramMechanismTypes {
		if t == typ {
			return name
		}
	}
	return "UNKNOWN(" + strconv.Itoa(int(typ)) + ")"
}

// scramFlags are the flags of the users scram subcommands.
type scramFlags struct {
	mechanisms repeatedFlag
	password   nameFlag
	iterations int
	zookeeper  string
	zkSecurity *zkSecurityFlags
}

// addScramFlags registers the flags of set (set true) or delete on fs, and
// with neither (describe) only the ZooKeeper ones.
func addScramFlags(fs *flag.FlagSet, set, del bool) *scramFlags {
	f := &scramFlags{}
	if set || del {
		fs.Var(&f.mechanisms, "mechanism", "")
	}
	if set {
		fs.Var(&f.password, "password", "")
		fs.IntVar(&f.iterations, "iterations", defaultScramIterations, "")
	}
	fs.StringVar(&f.zookeeper, "zookeeper", "", "")
	f.zkSecurity = addZKSecurityFlags(fs)
	return f
}

// scramSet is a checked users scram set or delete.
type scramSet struct {
	User       string
	Mechanisms []string
	Password   string // set only
	Iterations int    // set only
}

// parseScramArgs checks the arguments of set (set true) or delete: one
// user, known mechanisms, and for set a password and an iteration count
// Kafka accepts.
func parseScramArgs(set bool, positional []string, f *scramFlags) (scramSet, error) {
	var s scramSet
	switch {
	case len(positional) == 0:
		return s, errors.New("give the user")
	case len(positional) > 1:
		return s, fmt.Errorf("one user at a time, not %q", positional)
	}
	if err := scramzk.ValidateUser(positional[0]); err != nil {
		return s, err
	}
	s.User = positional[0]
	if len(f.mechanisms) == 0 {
		return s, errors.New("give --mechanism SCRAM-SHA-256 or SCRAM-SHA-512")
	}
	for _, m := range f.mechanisms {
		if _, ok := scramMechanismTypes[m]; !ok {
			return s, fmt.Errorf("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
		if !slices.Contains(s.Mechanisms, m) {
			s.Mechanisms = append(s.Mechanisms, m)
		}
	}
	if !set {
		return s, nil
	}
	switch {
	case !f.password.set:
		return s, errors.New("give --password")
	case f.password.value == "":
		return s, errors.New("--password: an empty password")
	case f.iterations < scramcred.MinIterations || f.iterations > scramcred.MaxIterations:
		return s, fmt.Errorf("--iterations %d: want %d to %d", f.iterations, scramcred.MinIterations, scramcred.MaxIterations)
	}
	s.Password, s.Iterations = f.password.value, f.iterations
	return s, nil
}

// setScramCommand runs `users scram set`.
func setScramCommand(ctx context.Context, b brokers, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("users scram set", flag.ContinueOnError)
	f := addScramFlags(fs, true, false)
	rest, helped, err := parseArgs(fs, usersHelp, args, out)
	if err != nil || helped {
		return err
	}
	s, err := parseScramArgs(true, rest, f)
	if err != nil {
		return fmt.Errorf("users scram set: %w", err)
	}
	if f.zookeeper != "" {
		err = withScramZooKeeper(ctx, f, func(z scramZooKeeper) error {
			var changes []scramzk.Change
			for _, m := range s.Mechanisms {
				c, err := scramcred.FromPassword(m, s.Password, s.Iterations)
				if err != nil {
					return err
				}
				changes = append(changes, scramzk.Change{Mechanism: m, Credential: &c})
			}
			return z.write(s.User, changes)
		})
	} else {
		err = withClient(b, func(cl *kgo.Client) error { return alterScram(ctx, cl, s, true) })
	}
	if err != nil {
		return fmt.Errorf("users scram set: %w", err)
	}
	fmt.Fprintf(out, "Completed updating SCRAM credentials (%s) of user %s.\n", strings.Join(s.Mechanisms, ", "), s.User)
	return nil
}

// deleteScramCommand runs `users scram delete`.
func deleteScramCommand(ctx context.Context, b brokers, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("users scram delete", flag.ContinueOnError)
	f := addScramFlags(fs, false, true)
	rest, helped, err := parseArgs(fs, usersHelp, args, out)
	if err != nil || helped {
		return err
	}
	s, err := parseScramArgs(false, rest, f)
	if err != nil {
		return fmt.Errorf("users scram delete: %w", err)
	}
	if f.zookeeper != "" {
		err = withScramZooKeeper(ctx, f, func(z scramZooKeeper) error {
			var changes []scramzk.Change
			for _, m := range s.Mechanisms {
				changes = append(changes, scramzk.Change{Mechanism: m})
			}
			return z.write(s.User, changes)
		})
	} else {
		err = withClient(b, func(cl *kgo.Client) error { return alterScram(ctx, cl, s, false) })
	}
	if err != nil {
		return fmt.Errorf("users scram delete: %w", err)
	}
	fmt.Fprintf(out, "Completed deleting SCRAM credentials (%s) of user %s.\n", strings.Join(s.Mechanisms, ", "), s.User)
	return nil
}

// scramZooKeeper is a ZooKeeper session the users commands read and write
// credentials over, under the connect string's chroot, creating znodes with
// the ACLs of the client's ZooKeeper security.
type scramZooKeeper struct {
	conn     *zk.Conn
	chroot   string
	security zksecure.Settings
}

// withScramZooKeeper runs f on a session of the flags' ZooKeeper.
func withScramZooKeeper(ctx context.Context, f *scramFlags, fn func(scramZooKeeper) error) error {
	servers, chroot, err := parseZKConnect(f.zookeeper)
	if err != nil {
		return err
	}
	security, err := f.zkSecurity.settings()
	if err != nil {
		return err
	}
	dialCtx, cancel := context.WithTimeout(ctx, zkConnectTimeout)
	defer cancel()
	conn, err := dialZooKeeper(dialCtx, servers, security)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = fn(scramZooKeeper{conn: conn, chroot: chroot, security: security})
	if errors.Is(err, zk.ErrNoAuth) {
		return fmt.Errorf("%w (the znodes' ACLs want a ZooKeeper identity: --zk-digest or a --zk-tls-config-file client certificate)", err)
	}
	return err
}

func (z scramZooKeeper) write(user string, changes []scramzk.Change) error {
	return scramzk.Write(z.conn, z.chroot, z.security.ACL, user, changes)
}

// describe returns the credentials of users, or of every user with any
// when users is empty, as describeScram does.
func (z scramZooKeeper) describe(users []string) ([]scramUser, error) {
	all := len(users) == 0
	if all {
		names, _, err := z.conn.Children(z.chroot + zkpaths.ConfigEntityTypePath(zkpaths.ConfigTypeUser))
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return nil, fmt.Errorf("list users: %w", err)
		}
		for _, n := range names {
			// Quota-only entities (<default>) hold no credential.
			if u, err := zkpaths.Desanitize(n); err == nil && scramzk.ValidateUser(u) == nil {
				users = append(users, u)
			}
		}
	}
	var out []scramUser
	var errs []error
	for _, u := range users {
		creds, err := scramzk.Read(z.conn, z.chroot, u)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", u, err))
			continue
		}
		if len(creds) == 0 {
			if !all {
				errs = append(errs, fmt.Errorf("user %s: no SCRAM credentials", u))
			}
			continue
		}
		su := scramUser{User: u}
		for _, m := range slices.Sorted(maps.Keys(creds)) {
			su.Credentials = append(su.Credentials, scramInfo{m, int32(creds[m].Iterations)})
		}
		out = append(out, su)
	}
	slices.SortFunc(out, func(a, b scramUser) int { return cmp.Compare(a.User, b.User) })
	return out, errors.Join(errs...)
}

// scramUpsertions salts s's password for each of its mechanisms with a
// new random salt, as Kafka's admin client does before it sends
// AlterUserScramCredentials: the password itself never leaves.
func scramUpsertions(s scramSet) ([]kmsg.AlterUserSCRAMCredentialsRequestUpsertion, error) {
	var out []kmsg.AlterUserSCRAMCredentialsRequestUpsertion
	for _, m := range s.Mechanisms {
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("make a salt: %w", err)
		}
		salted, err := scramcred.SaltPassword(m, s.Password, salt, s.Iterations)
		if err != nil {
			return nil, err
		}
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations = s.User, scramMechanismTypes[m], int32(s.Iterations)
		u.Salt, u.SaltedPassword = salt, salted
		out = append(out, u)
	}
	return out, nil
}

// alterScram sets (set true) or deletes s's credentials through a broker.
func alterScram(ctx context.Context, cl *kgo.Client, s scramSet, set bool) error {
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	if set {
		ups, err := scramUpsertions(s)
		if err != nil {
			return err
		}
		req.Upsertions = ups
	} else {
		for _, m := range s.Mechanisms {
			d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
			d.Name, d.Mechanism = s.User, scramMechanismTypes[m]
			req.Deletions = append(req.Deletions, d)
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Results) == 0 {
		return fmt.Errorf("the broker answered for no user, not %s", s.User)
	}
	var errs []error
	for _, r := range resp.Results {
		if err := codeError(r.ErrorCode, r.ErrorMessage); err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", r.User, err))
		}
	}
	return errors.Join(errs...)
}

// describeScramCommand runs `users scram describe`.
func describeScramCommand(ctx context.Context, b brokers, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("users scram describe", flag.ContinueOnError)
	f := addScramFlags(fs, false, false)
	users, helped, err := parseArgs(fs, usersHelp, args, out)
	if err != nil || helped {
		return err
	}
	if slices.Contains(users, "") {
		return errors.New("users scram describe: an empty user name")
	}
	var described []scramUser
	if f.zookeeper != "" {
		err = withScramZooKeeper(ctx, f, func(z scramZooKeeper) error {
			var err error
			described, err = z.describe(users)
			return err
		})
	} else {
		err = withClient(b, func(cl *kgo.Client) error {
			var err error
			described, err = describeScram(ctx, cl, users)
			return err
		})
	}
	writeScramUsers(out, described)
	if err != nil {
		return fmt.Errorf("users scram describe: %w", err)
	}
	return nil
}

// scramUser is a user's SCRAM credentials as DescribeUserScramCredentials
// tells them: mechanism and iterations, never the credential.
type scramUser struct {
	User        string
	Credentials []scramInfo
}

type scramInfo struct {
	Mechanism  string
	Iterations int32
}

// describeScram asks for users' credentials (every user's when users is
// empty), sorted by user. The users the broker has no credentials of are
// in the error, after those it has.
func describeScram(ctx context.Context, cl *kgo.Client, users []string) ([]scramUser, error) {
	req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, u := range users {
		ru := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		ru.Name = u
		req.Users = append(req.Users, ru)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := codeError(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, err
	}
	var out []scramUser
	var errs []error
	for _, r := range resp.Results {
		if err := codeError(r.ErrorCode, r.ErrorMessage); err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", r.User, err))
			continue
		}
		u := scramUser{User: r.User}
		for _, c := range r.CredentialInfos {
			u.Credentials = append(u.Credentials, scramInfo{scramMechanismName(c.Mechanism), c.Iterations})
		}
		slices.SortFunc(u.Credentials, func(a, b scramInfo) int { return cmp.Compare(a.Mechanism, b.Mechanism) })
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b scramUser) int { return cmp.Compare(a.User, b.User) })
	return out, errors.Join(errs...)
}

// writeScramUsers prints a line per user as kafka-configs does.
func writeScramUsers(w io.Writer, users []scramUser) {
	for _, u := range users {
		parts := make([]string, len(u.Credentials))
		for i, c := range u.Credentials {
			parts[i] = fmt.Sprintf("%s=iterations=%d", c.Mechanism, c.Iterations)
		}
		fmt.Fprintf(w, "SCRAM credential configs for user-principal '%s' are %s\n", u.User, strings.Join(parts, ", "))
	}
}
