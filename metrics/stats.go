package metrics

import (
	"context"

	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// StatsHandler returns a client stats handler that measures every call
// attempt per endpoint. Pass it with grpc.WithStatsHandler; target labels
// the metrics (use the ClientConn's target, or any name).
func (m *Metrics) StatsHandler(target string) stats.Handler {
	return &statsHandler{m: m, target: target}
}

type statsHandler struct {
	m      *Metrics
	target string
}

// attempt is one call attempt's state, in its context.
type attempt struct {
	method   string
	endpoint string
	counted  bool // in flight was incremented
}

type attemptKey struct{}

func (h *statsHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, attemptKey{}, &attempt{method: info.FullMethodName})
}

func (h *statsHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	if a == nil || !s.IsClient() {
		return
	}
	switch s := s.(type) {
	case *stats.OutHeader:
		if s.RemoteAddr != nil && !a.counted {
			a.endpoint = s.RemoteAddr.String()
			a.counted = true
			h.m.inFlight.WithLabelValues(h.target, a.endpoint).Inc()
		}
	case *stats.End:
		if a.counted {
			h.m.inFlight.WithLabelValues(h.target, a.endpoint).Dec()
		}
		code := status.Code(s.Error).String()
		h.m.attempts.WithLabelValues(h.target, a.method, a.endpoint, code).Inc()
		h.m.latency.WithLabelValues(h.target, a.method, a.endpoint).Observe(s.EndTime.Sub(s.BeginTime).Seconds())
	}
}

func (h *statsHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (h *statsHandler) HandleConn(context.Context, stats.ConnStats) {}
