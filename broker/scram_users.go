package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/scramcred"
)

// DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554) over
// the SCRAM credentials of /config/users (coordinator.Snapshot's
// ScramCredentials), with the checks and errors of ZooKeeper-mode Kafka's
// ZkAdminManager. Neither ever returns a salt, a key or a password: only
// which mechanisms a user has and their iteration counts.

// scramMechanisms are the SCRAM mechanisms by their code in the protocol
// (Kafka's ScramMechanism.type; 0 is UNKNOWN).
var scramMechanisms = map[int8]string{1: scramcred.SHA256, 2: scramcred.SHA512}

// scramApplyWaitMillis bounds the wait for a change of credentials to reach
// this broker's view, so that a client describes what it just altered.
const scramApplyWaitMillis = 5000

func (s *Server) handleDescribeUserSCRAMCredentials(ctx context.Context, req *request, in *kmsg.DescribeUserSCRAMCredentialsRequest, resp *kmsg.DescribeUserSCRAMCredentialsResponse) any {
	if !s.authorizedCluster(req, kmsg.ACLOperationDescribe) {
		resp.ErrorCode, resp.ErrorMessage = errorAnswer(kerr.ClusterAuthorizationFailed)
		return resp
	}
	creds := s.snapshot().ScramCredentials
	if len(in.Users) == 0 {
		// Every user that has a credential, by name.
		for _, user := range slices.Sorted(maps.Keys(creds)) {
			if len(creds[user]) > 0 {
				resp.Results = append(resp.Results, describeScramUser(user, creds[user], nil))
			}
		}
		return resp
	}
	count := make(map[string]int, len(in.Users))
	for _, u := range in.Users {
		count[u.Name]++
	}
	seen := make(map[string]bool, len(in.Users))
	for _, u := range in.Users {
		if seen[u.Name] {
			continue // one answer per user, as Kafka
		}
		seen[u.Name] = true
		var err error
		switch {
		case u.Name == "":
			err = fmt.Errorf("%w: username must not be empty", kerr.ResourceNotFound)
		case count[u.Name] > 1:
			err = fmt.Errorf("%w: cannot describe SCRAM credentials for the same user twice in a single request: %s", kerr.DuplicateResource, u.Name)
		case len(creds[u.Name]) == 0:
			err = fmt.Errorf("%w: attempt to describe a user credential that does not exist: %s", kerr.ResourceNotFound, u.Name)
		}
		resp.Results = append(resp.Results, describeScramUser(u.Name, creds[u.Name], err))
	}
	return resp
}

// describeScramUser is a user's answer: its mechanisms and their iteration
// counts, or err.
func describeScramUser(user string, mechanisms map[string]scramcred.Credential, err error) kmsg.DescribeUserSCRAMCredentialsResponseResult {
	r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
	r.User = user
	if err != nil {
		r.ErrorCode, r.ErrorMessage = errorAnswer(err)
		return r
	}
	for _, code := range slices.Sorted(maps.Keys(scramMechanisms)) {
		if c, ok := mechanisms[scramMechanisms[code]]; ok {
			info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			info.Mechanism, info.Iterations = code, int32(c.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, info)
		}
	}
	return r
}

// handleAlterUserSCRAMCredentials checks every change as Kafka does, user by
// user (one bad change fails its user's others): an empty user name or an
// iteration count out of range is UNACCEPTABLE_CREDENTIAL, an unknown
// mechanism UNSUPPORTED_SASL_MECHANISM, the same user and mechanism twice
// DUPLICATE_RESOURCE, the deletion of a credential that does not exist
// RESOURCE_NOT_FOUND; the changes of the other users are stored.
func (s *Server) handleAlterUserSCRAMCredentials(ctx context.Context, req *request, in *kmsg.AlterUserSCRAMCredentialsRequest, resp *kmsg.AlterUserSCRAMCredentialsResponse) any {
	var users []string // in order of first appearance
	errs := make(map[string]error)
	fail := func(user string, err error) {
		if _, known := errs[user]; !known {
			users = append(users, user)
		}
		if errs[user] == nil {
			errs[user] = err
		}
	}
	var refused error
	if !s.authorizedCluster(req, kmsg.ACLOperationAlter) {
		refused = kerr.ClusterAuthorizationFailed
	}
	type pair struct {
		user      string
		mechanism int8
	}
	pairs := make(map[pair]int)
	for _, d := range in.Deletions {
		fail(d.Name, firstError(refused, scramChangeError(d.Name, d.Mechanism, scramcred.MinIterations)))
		pairs[pair{d.Name, d.Mechanism}]++
	}
	for _, u := range in.Upsertions {
		fail(u.Name, firstError(refused, scramChangeError(u.Name, u.Mechanism, u.Iterations)))
		pairs[pair{u.Name, u.Mechanism}]++
	}
	for p, n := range pairs {
		if n > 1 {
			fail(p.user, fmt.Errorf("%w: a user credential cannot be altered twice in the same request", kerr.DuplicateResource))
		}
	}
	creds := s.snapshot().ScramCredentials
	for _, d := range in.Deletions {
		if _, ok := creds[d.Name][scramMechanisms[d.Mechanism]]; !ok {
			fail(d.Name, fmt.Errorf("%w: attempt to delete a user credential that does not exist", kerr.ResourceNotFound))
		}
	}

	var changes []coordinator.ScramChange
	for _, d := range in.Deletions {
		if errs[d.Name] == nil {
			changes = append(changes, coordinator.ScramChange{User: d.Name, Mechanism: scramMechanisms[d.Mechanism]})
		}
	}
	for _, u := range in.Upsertions {
		if errs[u.Name] != nil {
			continue
		}
		c, err := scramcred.FromSaltedPassword(scramMechanisms[u.Mechanism], u.Salt, u.SaltedPassword, int(u.Iterations))
		if err != nil {
			fail(u.Name, scramError(err))
			continue
		}
		changes = append(changes, coordinator.ScramChange{User: u.Name, Mechanism: scramMechanisms[u.Mechanism], Credential: &c})
	}
	// A user whose credential could not be made changes nothing.
	changes = slices.DeleteFunc(changes, func(c coordinator.ScramChange) bool { return errs[c.User] != nil })
	if len(changes) > 0 {
		for i, err := range s.meta.AlterUserScramCredentials(ctx, changes) {
			if err != nil {
				s.logger.WithError(err).WithField("user", changes[i].User).Warn("cannot alter SCRAM credentials")
				fail(changes[i].User, scramError(err))
			}
		}
		s.waitForMetadata(ctx, scramApplyWaitMillis, func(snap *coordinator.Snapshot) bool {
			return !slices.ContainsFunc(changes, func(c coordinator.ScramChange) bool {
				return errs[c.User] == nil && !scramApplied(snap, c)
			})
		})
	}
	for _, user := range users {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = user
		r.ErrorCode, r.ErrorMessage = errorAnswer(errs[user])
		resp.Results = append(resp.Results, r)
	}
	return resp
}

// firstError is the first of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// scramChangeError checks one change's user name, mechanism and (for an
// upsertion) iteration count, as Kafka does.
func scramChangeError(user string, mechanism int8, iterations int32) error {
	switch {
	case user == "":
		return fmt.Errorf("%w: username must not be empty", kerr.UnacceptableCredential)
	case scramMechanisms[mechanism] == "":
		return fmt.Errorf("%w: unknown SCRAM mechanism %d", kerr.UnsupportedSaslMechanism, mechanism)
	case iterations < scramcred.MinIterations:
		return fmt.Errorf("%w: too few iterations: %d < %d", kerr.UnacceptableCredential, iterations, scramcred.MinIterations)
	case iterations > scramcred.MaxIterations:
		return fmt.Errorf("%w: too many iterations: %d > %d", kerr.UnacceptableCredential, iterations, scramcred.MaxIterations)
	}
	return nil
}

// scramError is the Kafka error of a credential refused by scramcred or
// the coordinator; others stay as they are (UNKNOWN_SERVER_ERROR).
func scramError(err error) error {
	var code *kerr.Error
	switch {
	case errors.Is(err, scramcred.ErrUnknownMechanism):
		code = kerr.UnsupportedSaslMechanism
	case errors.Is(err, scramcred.ErrUnacceptableCredential):
		code = kerr.UnacceptableCredential
	case errors.Is(err, coordinator.ErrScramCredentialNotFound):
		code = kerr.ResourceNotFound // deleted since this broker's view
	case errors.Is(err, coordinator.ErrDuplicateScramChange):
		code = kerr.DuplicateResource
	default:
		return err
	}
	return fmt.Errorf("%w: %v", code, err)
}

// scramApplied reports whether snap shows change done.
func scramApplied(snap *coordinator.Snapshot, change coordinator.ScramChange) bool {
	c, ok := snap.ScramCredentials[change.User][change.Mechanism]
	if change.Credential == nil {
		return !ok
	}
	return ok && c.Iterations == change.Credential.Iterations && string(c.StoredKey) == string(change.Credential.StoredKey)
}
