package broker

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/acl"
)

// CreateAcls, DescribeAcls and DeleteAcls, as Kafka's AclApis serves them
// in ZooKeeper mode, from any broker: the caller needs ALTER (DESCRIBE to
// list) on the cluster; without an authorizer every request gets
// SECURITY_DISABLED; a binding or filter with an invalid part gets
// INVALID_REQUEST on its own. The ACLs live in ZooKeeper (the coordinator
// stores them and keeps the cluster view's Set current).

// aclApplyWaitMillis bounds the wait for a change of ACLs to reach this
// broker's view, so that a client reads its own write; past it the change
// is stored, only not yet seen here.
const aclApplyWaitMillis = 5000

// errNoAuthorizer is SECURITY_DISABLED with Kafka's explanation.
var errNoAuthorizer = fmt.Errorf("%w: no authorizer is configured on the broker", kerr.SecurityDisabled)

// aclAccess is the error of every part of an ACL request: the caller may
// not perform op on the cluster, or there is no authorizer; nil to go on.
func (s *Server) aclAccess(req *request, op kmsg.ACLOperation) error {
	switch {
	case !s.authorizedCluster(req, op):
		return kerr.ClusterAuthorizationFailed
	case s.authorizer == nil:
		return errNoAuthorizer
	}
	return nil
}

func (s *Server) handleCreateACLs(ctx context.Context, req *request, in *kmsg.CreateACLsRequest, resp *kmsg.CreateACLsResponse) any {
	errs := make([]error, len(in.Creations))
	refused := s.aclAccess(req, kmsg.ACLOperationAlter)
	var valid []acl.Binding
	var validAt []int
	for i := range in.Creations {
		b := acl.BindingFromCreation(in.Version, &in.Creations[i])
		switch err := acl.ValidateBinding(b); {
		case refused != nil:
			errs[i] = refused
		case err != nil:
			errs[i] = fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
		default:
			valid, validAt = append(valid, b), append(validAt, i)
		}
	}
	if len(valid) > 0 {
		var created []acl.Binding
		for j, err := range s.meta.CreateACLs(ctx, valid) {
			errs[validAt[j]] = err
			if err == nil {
				created = append(created, valid[j])
			} else {
				s.logger.WithError(err).WithField("acl", valid[j].String()).Warn("cannot create ACL")
			}
		}
		s.waitForMetadata(ctx, aclApplyWaitMillis, func(snap *coordinator.Snapshot) bool {
			return !slices.ContainsFunc(created, func(b acl.Binding) bool { return !hasBinding(snap, b) })
		})
	}
	for _, err := range errs {
		r := kmsg.NewCreateACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorAnswer(err)
		resp.Results = append(resp.Results, r)
	}
	return resp
}

// hasBinding reports whether snap's ACLs hold b.
func hasBinding(snap *coordinator.Snapshot, b acl.Binding) bool {
	return slices.Contains(snap.ACLs.Entries(b.Resource), b.Entry)
}

func (s *Server) handleDescribeACLs(ctx context.Context, req *request, in *kmsg.DescribeACLsRequest, resp *kmsg.DescribeACLsResponse) any {
	f := acl.FilterFromDescribe(in)
	err := s.aclAccess(req, kmsg.ACLOperationDescribe)
	if err == nil {
		if invalid := acl.ValidateFilter(f); invalid != nil {
			err = fmt.Errorf("%w: %v", kerr.InvalidRequest, invalid)
		}
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorAnswer(err)
		return resp
	}
	// Matching returns the bindings sorted, so those of one resource are
	// together.
	for _, b := range s.acls().Matching(f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != b.Resource.Type ||
			resp.Resources[n-1].ResourceName != b.Resource.Name || resp.Resources[n-1].ResourcePatternType != b.Resource.Pattern {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = b.Resource.Type, b.Resource.Name, b.Resource.Pattern
			resp.Resources = append(resp.Resources, r)
			n++
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host, a.Operation, a.PermissionType = b.Entry.Principal, b.Entry.Host, b.Entry.Operation, b.Entry.Permission
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, a)
	}
	return resp
}

func (s *Server) handleDeleteACLs(ctx context.Context, req *request, in *kmsg.DeleteACLsRequest, resp *kmsg.DeleteACLsResponse) any {
	errs := make([]error, len(in.Filters))
	deleted := make([][]acl.Binding, len(in.Filters))
	refused := s.aclAccess(req, kmsg.ACLOperationAlter)
	var valid []acl.Filter
	var validAt []int
	for i := range in.Filters {
		f := acl.FilterFromDelete(in.Version, &in.Filters[i])
		switch err := acl.ValidateFilter(f); {
		case refused != nil:
			errs[i] = refused
		case err != nil:
			errs[i] = fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
		default:
			valid, validAt = append(valid, f), append(validAt, i)
		}
	}
	if len(valid) > 0 {
		matched, ferrs := s.meta.DeleteACLs(ctx, valid)
		var gone []acl.Binding
		for j, i := range validAt {
			if j < len(ferrs) && ferrs[j] != nil {
				errs[i] = ferrs[j]
				s.logger.WithError(ferrs[j]).Warn("cannot delete ACLs")
			}
			if j < len(matched) {
				deleted[i] = matched[j]
				gone = append(gone, matched[j]...)
			}
		}
		s.waitForMetadata(ctx, aclApplyWaitMillis, func(snap *coordinator.Snapshot) bool {
			return !slices.ContainsFunc(gone, func(b acl.Binding) bool { return hasBinding(snap, b) })
		})
	}
	for i, err := range errs {
		r := kmsg.NewDeleteACLsResponseResult()
		r.ErrorCode, r.ErrorMessage = errorAnswer(err)
		for _, b := range deleted[i] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = b.Resource.Type, b.Resource.Name, b.Resource.Pattern
			m.Principal, m.Host, m.Operation, m.PermissionType = b.Entry.Principal, b.Entry.Host, b.Entry.Operation, b.Entry.Permission
			r.MatchingACLs = append(r.MatchingACLs, m)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}
