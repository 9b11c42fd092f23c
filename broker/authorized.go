package broker

import (
	"github.com/kzoo/kzoo/internal/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizedOperations is a KIP-430 authorized operations field: a bit per
// ACL operation code the client may perform on the resource, out of those
// its type supports. Without an authorizer that is all of them, as in
// Kafka. Not asked, the fields keep their default, -2147483648 (kmsg's New
// functions set it).
func (s *Server) authorizedOperations(req *request, typ kmsg.ACLResourceType, name string) int32 {
	var bits int32
	for _, op := range acl.SupportedOperations(typ) {
		if s.authorize(req, op, typ, name, false) {
			bits |= 1 << op
		}
	}
	return bits
}

// clusterAuthorizedOperations is the cluster's authorized operations for
// Metadata and DescribeCluster: none (0) for a client that may not DESCRIBE
// the cluster, as Kafka answers.
func (s *Server) clusterAuthorizedOperations(req *request) int32 {
	if !s.authorizedCluster(req, kmsg.ACLOperationDescribe) {
		return 0
	}
	return s.authorizedOperations(req, kmsg.ACLResourceTypeCluster, acl.ClusterName)
}
