package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"google.golang.org/grpc/health"
)

// GracefulStopper is what Drain stops: a *grpc.Server.
type GracefulStopper interface {
	GracefulStop()
	Stop()
}

// DrainConfig configures Drain. A zero field takes its default.
type DrainConfig struct {
	// Health, when set, is switched to NOT_SERVING for every service first
	// (health.Server.Shutdown), so clients with health checking stop
	// picking this server.
	Health *health.Server
	// OnNotServing hooks run right after NOT_SERVING, in order, for example
	// to deregister from a registry. Their errors are logged and returned
	// joined, but do not stop the drain.
	OnNotServing []func(context.Context) error
	// Grace is the wait between NOT_SERVING and the stop, for clients and
	// registries to notice. Default 5s; negative means none.
	Grace time.Duration
	// Timeout bounds the graceful stop; calls still running after it are
	// cut off by a hard stop. Default 30s.
	Timeout time.Duration
	// Logger, default slog.Default().
	Logger *slog.Logger
}

// ErrForced is returned (wrapped) by Drain when calls were still running at
// the deadline and the server was stopped hard.
var ErrForced = errors.New("server: graceful stop timed out; stopped hard")

// Drain takes a server out of service without failing calls: NOT_SERVING,
// hooks, a grace period, then a graceful stop bounded by Timeout. If ctx ends
// first, the server is stopped hard at once.
func Drain(ctx context.Context, srv GracefulStopper, cfg DrainConfig) error {
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	if cfg.Health != nil {
		cfg.Health.Shutdown()
	}
	log.Info("server: draining: NOT_SERVING", "grace", cfg.Grace, "timeout", cfg.Timeout)
	var errs []error
	for i, hook := range cfg.OnNotServing {
		if err := hook(ctx); err != nil {
			log.Warn("server: drain hook failed", "hook", i, "err", err)
			errs = append(errs, fmt.Errorf("drain hook %d: %w", i, err))
		}
	}
	if cfg.Grace > 0 {
		t := time.NewTimer(cfg.Grace)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			srv.Stop()
			return errors.Join(append(errs, fmt.Errorf("server: drain cancelled during grace: %w", ctx.Err()))...)
		}
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(cfg.Timeout)
	defer t.Stop()
	select {
	case <-stopped:
		log.Info("server: drained", "took", time.Since(start).Round(time.Millisecond))
		return errors.Join(errs...)
	case <-t.C:
		errs = append(errs, fmt.Errorf("%w after %v", ErrForced, cfg.Timeout))
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("%w: %w", ErrForced, ctx.Err()))
	}
	srv.Stop()
	<-stopped
	log.Warn("server: drain forced", "took", time.Since(start).Round(time.Millisecond))
	return errors.Join(errs...)
}

// DrainOnSignal blocks until one of sigs arrives (default SIGINT and
// SIGTERM) or ctx ends, then drains srv. Call it from main after starting
// Serve in a goroutine.
func DrainOnSignal(ctx context.Context, srv GracefulStopper, cfg DrainConfig, sigs ...os.Signal) error {
	if len(sigs) == 0 {
		sigs = defaultSignals
	}
	sctx, stop := signal.NotifyContext(ctx, sigs...)
	defer stop()
	<-sctx.Done()
	return Drain(context.WithoutCancel(ctx), srv, cfg)
}
