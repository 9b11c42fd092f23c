package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeCluster answers DescribeCluster (KIP-700) from the cluster
// view: the cluster id, the controller, and every live broker's endpoint of
// the listener the client came through.
func (s *Server) handleDescribeCluster(ctx context.Context, req *request, in *kmsg.DescribeClusterRequest, resp *kmsg.DescribeClusterResponse) any {
	resp.EndpointType = in.EndpointType
	if in.Version >= 1 && in.EndpointType != 1 {
		// Only brokers have endpoints here; KRaft controllers do not exist.
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := fmt.Sprintf("endpoint type %d is not supported; only brokers (1) are", in.EndpointType)
		resp.ErrorMessage = &msg
		return resp
	}
	snap := s.snapshot()
	resp.ClusterID = snap.ClusterID
	resp.ControllerID = snap.ControllerID
	if in.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = s.clusterAuthorizedOperations(req)
	}
	for _, b := range brokersOn(snap, req.listener) {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.id, b.host, b.port, b.rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp
}
