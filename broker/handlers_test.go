package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// callHandler runs the handler the API table has for req's body, as dispatch
// does.
func callHandler(s *Server, ctx context.Context, req *request) any {
	return apis[kmsg.Key(req.body.Key())].handle(s, ctx, req)
}
