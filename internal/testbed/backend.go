package testbed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// Backend is one real gRPC server listening on its own address. It answers
// the echo service with its identity, the health service and reflection, and
// lets a test inject latency, errors, a freeze, a kill and a restart.
type Backend struct {
	// Name identifies the backend in responses, for example "b3".
	Name string
	// Addr is the host:port it listens on, for example "127.0.0.4:41000".
	Addr string

	opts []grpc.ServerOption

	latency   atomic.Int64                         // fixed injected latency, ns
	latencyFn atomic.Pointer[func() time.Duration] // optional extra latency per call
	errRate   atomic.Uint64                        // float64 bits: probability of failing a call
	errCode   atomic.Uint32                        // codes.Code of injected failures
	served    atomic.Int64                         // calls answered successfully
	inFlight  atomic.Int64

	mu      sync.Mutex
	running bool
	srv     *grpc.Server
	health  *health.Server
	lis     *faultListener
	gate    *gate
	done    chan struct{} // closed when Serve returns
}

// StartBackend starts a backend called name on addr (host:port; port 0 picks
// one). Server options such as keepalive or MaxConnectionAge go in opts.
func StartBackend(name, addr string, opts ...grpc.ServerOption) (*Backend, error) {
	b := &Backend{Name: name, Addr: addr, opts: opts}
	b.errCode.Store(uint32(codes.Unavailable))
	if err := b.start(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Backend) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return fmt.Errorf("testbed: backend %s is already running on %s", b.Name, b.Addr)
	}
	l, err := net.Listen("tcp", b.Addr)
	if err != nil {
		return fmt.Errorf("testbed: backend %s: %w", b.Name, err)
	}
	if a := l.Addr().String(); a != b.Addr {
		b.Addr = a // port 0 resolved; set once, before anyone reads it
	}
	b.gate = newGate()
	b.lis = newFaultListener(l, b.gate)
	opts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(b.unaryFaults),
		grpc.ChainStreamInterceptor(b.streamFaults),
	}, b.opts...)
	b.srv = grpc.NewServer(opts...)
	echopb.RegisterEchoServer(b.srv, &echoService{b: b})
	b.health = health.NewServer()
	b.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	b.health.SetServingStatus(echopb.Echo_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(b.srv, b.health)
	reflection.Register(b.srv)
	b.done = make(chan struct{})
	srv, lis, done := b.srv, b.lis, b.done
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	b.running = true
	return nil
}

// Running reports whether the backend is serving (it may be frozen).
func (b *Backend) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// Stop stops the backend gracefully: it sends GOAWAY, lets in-flight calls
// finish and closes its listener. A frozen backend is thawed first.
func (b *Backend) Stop() {
	b.halt(func(srv *grpc.Server, _ *faultListener) { srv.GracefulStop() })
}

// Kill stops the backend abruptly, like SIGKILL: every connection is reset
// (TCP RST) and in-flight calls fail.
func (b *Backend) Kill() {
	b.halt(func(srv *grpc.Server, lis *faultListener) {
		_ = lis.Listener.Close()
		lis.resetAll()
		srv.Stop()
	})
}

func (b *Backend) halt(stop func(*grpc.Server, *faultListener)) {
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		return
	}
	b.running = false
	srv, lis, g, done := b.srv, b.lis, b.gate, b.done
	b.mu.Unlock()
	g.shut()
	stop(srv, lis)
	<-done
}

// Restart starts a stopped or killed backend again on the same address.
func (b *Backend) Restart() error { return b.start() }

// Freeze makes the backend hang like a SIGSTOPped process: connections stay
// open and the kernel still accepts and ACKs, but nothing is read, answered
// or accepted until Thaw.
func (b *Backend) Freeze() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		b.gate.freeze()
	}
}

// Thaw ends a Freeze; held data is processed as if the process were SIGCONTed.
func (b *Backend) Thaw() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		b.gate.thaw()
	}
}

// Frozen reports whether the backend is frozen.
func (b *Backend) Frozen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running && b.gate.isFrozen()
}

// SetServing sets the health status the backend reports for every service.
func (b *Backend) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	b.mu.Lock()
	h := b.health
	b.mu.Unlock()
	h.SetServingStatus("", st)
	h.SetServingStatus(echopb.Echo_ServiceDesc.ServiceName, st)
}

// SetLatency adds a fixed delay to every call.
func (b *Backend) SetLatency(d time.Duration) { b.latency.Store(int64(d)) }

// SetLatencyFunc adds f() to every call's delay (nil removes it), for tails
// and warm-up curves.
func (b *Backend) SetLatencyFunc(f func() time.Duration) {
	if f == nil {
		b.latencyFn.Store(nil)
		return
	}
	b.latencyFn.Store(&f)
}

// SetErrorRate fails a fraction p (0..1) of calls with code.
func (b *Backend) SetErrorRate(p float64, code codes.Code) {
	b.errCode.Store(uint32(code))
	b.errRate.Store(math.Float64bits(p))
}

// Served is the number of calls the backend answered successfully.
func (b *Backend) Served() int64 { return b.served.Load() }

// InFlight is the number of calls the backend is handling now.
func (b *Backend) InFlight() int64 { return b.inFlight.Load() }

// errInjected marks failures that the testbed injected.
var errInjected = errors.New("testbed: injected failure")

// fault applies the backend's injected latency and errors to one call.
func (b *Backend) fault(ctx context.Context, extra time.Duration) error {
	d := time.Duration(b.latency.Load()) + extra
	if f := b.latencyFn.Load(); f != nil {
		d += (*f)()
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	if p := math.Float64frombits(b.errRate.Load()); p > 0 && rand.Float64() < p {
		return status.Errorf(codes.Code(b.errCode.Load()), "%v on %s (%s)", errInjected, b.Name, b.Addr)
	}
	return nil
}

func (b *Backend) unaryFaults(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	var extra time.Duration
	if r, ok := req.(*echopb.EchoRequest); ok {
		extra = time.Duration(r.GetDelayMs()) * time.Millisecond
	}
	if err := b.fault(ctx, extra); err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	if err == nil {
		b.served.Add(1)
	}
	return resp, err
}

func (b *Backend) streamFaults(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	if err := b.fault(ss.Context(), 0); err != nil {
		return err
	}
	err := h(srv, ss)
	if err == nil {
		b.served.Add(1)
	}
	return err
}

type echoService struct {
	echopb.UnimplementedEchoServer
	b *Backend
}

func (s *echoService) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	return &echopb.EchoResponse{Backend: s.b.Name, Addr: s.b.Addr, Payload: req.GetPayload()}, nil
}

func (s *echoService) EchoStream(stream grpc.BidiStreamingServer[echopb.EchoRequest, echopb.EchoResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil // io.EOF or the client went away
		}
		if d := req.GetDelayMs(); d > 0 {
			if err := s.b.fault(stream.Context(), time.Duration(d)*time.Millisecond); err != nil {
				return err
			}
		}
		if err := stream.Send(&echopb.EchoResponse{Backend: s.b.Name, Addr: s.b.Addr, Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}
