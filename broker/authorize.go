package broker

// Authorization: every handler asks the authorizer what Kafka's KafkaApis
// asks it for the same API, in the same order, and answers a denial with
// Kafka's error for it. The checks come in a few styles, each with one
// helper here: one resource (authorized), the cluster (authorizedCluster),
// every topic of a request (topicAccess), and "may write some topic"
// (authorizedByResourceType). With no authorizer configured every check
// passes, as in Kafka.

import (
	"context"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/internal/acl"
)

// newAuthorizer is the authorizer authorizer.class.name asks for; nil when
// it is not set, which allows everything.
func newAuthorizer(cfg config.Authorization) *acl.Authorizer {
	if !cfg.Enabled {
		return nil
	}
	return &acl.Authorizer{SuperUsers: cfg.SuperUsers, AllowEveryoneIfNoACLFound: cfg.AllowEveryoneIfNoACLFound}
}

// authorized reports whether req's principal, from its host, may perform op
// on the resource; a denial is counted (by listener, operation and resource
// type) and logged with the principal, host, operation and resource, as
// Kafka's authorizer logger does.
func (s *Server) authorized(req *request, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	return s.authorize(req, op, typ, name, true)
}

// authorizedCluster is authorized on the CLUSTER resource.
func (s *Server) authorizedCluster(req *request, op kmsg.ACLOperation) bool {
	return s.authorized(req, op, kmsg.ACLResourceTypeCluster, acl.ClusterName)
}

// authorize is authorized with the denial's count and log line optional:
// Kafka does not log the checks that only filter what a client sees (the
// topics of a Metadata request for all of them, KIP-430's authorized
// operations).
func (s *Server) authorize(req *request, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string, logDenied bool) bool {
	if s.authorizer == nil {
		return true
	}
	if s.authorizer.Authorize(s.acls(), req.principal, req.host, op, typ, name) {
		return true
	}
	if logDenied {
		s.securityMetrics.Denied(req.listener, op.String(), typ.String())
		s.logger.WithFields(logrus.Fields{
			"principal": req.principal, "host": req.host, "operation": op.String(),
			"resource_type": typ.String(), "resource": name, "api": kmsg.NameForKey(req.key),
		}).Info("denied operation")
	}
	return false
}

// acls is the ACLs of the cluster view the broker acts on (a nil Set is
// empty).
func (s *Server) acls() *acl.Set {
	if snap := s.snapshot(); snap != nil {
		return snap.ACLs
	}
	return nil
}

// topicAccess returns the check of op on a request's topics, each decided
// once however many of its partitions the request names (Kafka's
// filterByAuthorized).
func (s *Server) topicAccess(req *request, op kmsg.ACLOperation) func(topic string) bool {
	if s.authorizer == nil {
		return func(string) bool { return true }
	}
	decided := make(map[string]bool)
	return func(topic string) bool {
		ok, seen := decided[topic]
		if !seen {
			ok = s.authorized(req, op, kmsg.ACLResourceTypeTopic, topic)
			decided[topic] = ok
		}
		return ok
	}
}

// authorizedByResourceType reports whether req's principal may perform op
// on at least one resource of type typ (Kafka's authorizeByResourceType):
// InitProducerId asks it for WRITE on topics (KIP-679: a producer that may
// write some topic may be idempotent).
func (s *Server) authorizedByResourceType(req *request, op kmsg.ACLOperation, typ kmsg.ACLResourceType) bool {
	return s.authorizer == nil || s.authorizer.AuthorizeByResourceType(s.acls(), req.principal, req.host, op, typ)
}

// refuseUnless wraps next, the handler of an API whose whole request needs
// op on the one resource it names (name gives it): a refused request gets
// an empty response with code alone, set by setCode, as Kafka answers.
func refuseUnless[Req kmsg.Request, Resp kmsg.Response](op kmsg.ACLOperation, typ kmsg.ACLResourceType, name func(Req) string, code *kerr.Error, setCode func(Resp, int16), next handlerFunc) handlerFunc {
	return func(s *Server, ctx context.Context, req *request) any {
		in := req.body.(Req)
		if s.authorized(req, op, typ, name(in)) {
			return next(s, ctx, req)
		}
		resp := in.ResponseKind().(Resp)
		setCode(resp, code.Code)
		return resp
	}
}

// askAllowed answers a request about several resources (groups,
// transactional ids) of which allowed lets some through: ask answers those,
// denied the others, and the answers come in the request's order, as
// Kafka gives them.
func askAllowed[Q, A any](items []Q, allowed func(Q) bool, ask func([]Q) []A, denied func(Q) A) []A {
	ok := make([]bool, len(items))
	var pass []Q
	for i, q := range items {
		if ok[i] = allowed(q); ok[i] {
			pass = append(pass, q)
		}
	}
	var answered []A
	if len(pass) > 0 {
		answered = ask(pass)
	}
	out := make([]A, 0, len(items))
	next := 0
	for i, q := range items {
		if ok[i] && next < len(answered) {
			out = append(out, answered[next])
			next++
		} else {
			out = append(out, denied(q))
		}
	}
	return out
}
