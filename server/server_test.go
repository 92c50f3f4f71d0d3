package server

import (
	"context"
	"errors"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// slowEcho answers after the request's delay_ms.
type slowEcho struct {
	echopb.UnimplementedEchoServer
	inFlight atomic.Int64
}

func (s *slowEcho) Echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	select {
	case <-time.After(time.Duration(req.DelayMs) * time.Millisecond):
		return &echopb.EchoResponse{Payload: req.Payload}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

type fixture struct {
	srv    *grpc.Server
	health *health.Server
	echo   *slowEcho
	lis    *countingListener
	cc     *grpc.ClientConn
	served chan struct{}
}

func start(t *testing.T, opts ...grpc.ServerOption) *fixture {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: grpc.NewServer(opts...), health: health.NewServer(), echo: &slowEcho{},
		lis: &countingListener{Listener: l}, served: make(chan struct{})}
	echopb.RegisterEchoServer(f.srv, f.echo)
	healthpb.RegisterHealthServer(f.srv, f.health)
	go func() { _ = f.srv.Serve(f.lis); close(f.served) }()
	t.Cleanup(func() { f.srv.Stop(); <-f.served })
	f.cc, err = grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cc.Close() })
	return f
}

func (f *fixture) call(delay time.Duration, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := echopb.NewEchoClient(f.cc).Echo(ctx, &echopb.EchoRequest{DelayMs: uint32(delay / time.Millisecond)})
	return err
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			sp, ep, err := c.params()
			if err != nil {
				t.Fatal(err)
			}
			if sp.MaxConnectionAge != DefaultMaxConnectionAge || sp.MaxConnectionAgeGrace != DefaultMaxConnectionAgeGrace ||
				sp.Time != DefaultKeepaliveTime || sp.Timeout != DefaultKeepaliveTimeout {
				t.Errorf("server parameters %+v", sp)
			}
			if ep.MinTime != DefaultMinPingInterval || !ep.PermitWithoutStream {
				t.Errorf("enforcement %+v", ep)
			}
		}},
		{name: "ageing off", cfg: Config{MaxConnectionAge: -1}, check: func(t *testing.T, c Config) {
			sp, _, _ := c.params()
			if sp.MaxConnectionAge != 0 {
				t.Errorf("MaxConnectionAge %v, want 0 (infinite) when negative", sp.MaxConnectionAge)
			}
		}},
		{name: "forbid idle pings", cfg: Config{ForbidPingsWithoutStream: true}, check: func(t *testing.T, c Config) {
			if _, ep, _ := c.params(); ep.PermitWithoutStream {
				t.Error("pings without stream still permitted")
			}
		}},
		{name: "negative grace", cfg: Config{MaxConnectionAgeGrace: -time.Second}, wantErr: "MaxConnectionAgeGrace -1s is negative"},
		{name: "negative ping interval", cfg: Config{MinPingInterval: -1}, wantErr: "MinPingInterval"},
		{name: "keepalive too short", cfg: Config{KeepaliveTime: 10 * time.Millisecond}, wantErr: "KeepaliveTime 10ms is below 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := Options(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(opts) != 2 {
				t.Fatalf("Options: %d options, %v", len(opts), err)
			}
			tt.check(t, tt.cfg)
		})
	}
}

func TestMaxConnectionAgeMakesClientsReconnectWithoutFailures(t *testing.T) {
	opts, err := Options(Config{MaxConnectionAge: 300 * time.Millisecond, MaxConnectionAgeGrace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := start(t, opts...)
	deadline := time.Now().Add(15 * time.Second)
	calls := 0
	for f.lis.accepted.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d connections in 15s with MaxConnectionAge 300ms", f.lis.accepted.Load())
		}
		if err := f.call(5*time.Millisecond, 5*time.Second); err != nil {
			t.Fatalf("call %d failed while connections aged out: %v", calls, err)
		}
		calls++
	}
}

func TestDrainStopsNewWorkAndFinishesInFlightCalls(t *testing.T) {
	f := start(t)
	hc := healthpb.NewHealthClient(f.cc)
	var hookSaw healthpb.HealthCheckResponse_ServingStatus
	errc := make(chan error, 1)
	go func() { errc <- f.call(600*time.Millisecond, 10*time.Second) }()
	for f.echo.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	drained := make(chan error, 1)
	go func() {
		drained <- Drain(context.Background(), f.srv, DrainConfig{
			Health: f.health,
			Grace:  200 * time.Millisecond,
			OnNotServing: []func(context.Context) error{func(ctx context.Context) error {
				resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
				if err != nil {
					return err
				}
				hookSaw = resp.Status
				return nil
			}},
		})
	}()
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if hookSaw != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("the hook saw health %v, want NOT_SERVING before it ran", hookSaw)
	}
	if err := <-errc; err != nil {
		t.Errorf("in-flight call failed during drain: %v", err)
	}
	select {
	case <-f.served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Drain")
	}
}

func TestDrainForcesAfterTimeout(t *testing.T) {
	f := start(t)
	errc := make(chan error, 1)
	go func() { errc <- f.call(30*time.Second, 60*time.Second) }()
	for f.echo.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	hookErr := errors.New("registry unreachable")
	err := Drain(context.Background(), f.srv, DrainConfig{
		Grace: -1, Timeout: 300 * time.Millisecond,
		OnNotServing: []func(context.Context) error{func(context.Context) error { return hookErr }},
	})
	if !errors.Is(err, ErrForced) || !errors.Is(err, hookErr) {
		t.Fatalf("Drain: %v, want ErrForced and the hook's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("forced drain took %v with a 300ms timeout", d)
	}
	if code := status.Code(<-errc); code != codes.Unavailable && code != codes.Canceled {
		t.Errorf("call cut off by a forced stop: %v", code)
	}
}

func TestDrainOnSignal(t *testing.T) {
	// Keep SIGUSR1 from killing the test binary before DrainOnSignal
	// installs its handler.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, syscall.SIGUSR1)
	defer signal.Stop(guard)
	f := start(t)
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() {
		defer wg.Done()
		err = DrainOnSignal(context.Background(), f.srv, DrainConfig{Health: f.health, Grace: -1}, syscall.SIGUSR1)
	}()
	hc := healthpb.NewHealthClient(f.cc)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Keep signalling until the handler is installed and acts.
		_ = syscall.Kill(syscall.Getpid(), syscall.SIGUSR1)
		resp, cerr := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if cerr != nil || resp.Status == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGUSR1 did not start a drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
}
