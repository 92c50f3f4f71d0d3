package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	_ "github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/p2c"
	_ "github.com/grpclb/grpclb/balancer/pool"
)

const benchHelp = `Usage: grpclb bench [flags] TARGET

Drives load at a real gRPC service through a balancing policy and prints
how the calls spread over its backends (each call's peer address), with
latency percentiles and errors. By default it calls the standard health
check (grpc.health.v1.Health/Check); --method calls any unary method, its
request given as JSON (--data) and its types found by server reflection.

TARGET is any target grpclb or grpc-go resolves (kubernetes:///, etcd://,
consul://, dnspoll:///, static:///, dns:///).

Examples:
  grpclb bench dnspoll:///echo.test:50051 --rate 500 --duration 10s
  grpclb bench 'kubernetes:///echo.prod:grpc' --policy p2c_ewma
  grpclb bench static:///127.0.0.2:50051,127.0.0.3:50051 --policy '[{"pool":{"connections":4}}]'
  grpclb bench dns:///echo.test:50051 --method /echo.v1.Echo/Get --data '{"id":"42"}'

Flags:
`

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchHelp)
		fs.PrintDefaults()
	}
	policy := fs.String("policy", "round_robin", "balancing policy: a name (round_robin, p2c_ewma, consistent_hash, pick_first, ...) or a loadBalancingConfig JSON list")
	rate := fs.Int("rate", 100, "calls per second (open loop)")
	duration := fs.Duration("duration", 10*time.Second, "how long to drive load")
	concurrency := fs.Int("concurrency", 64, "most calls in flight")
	timeout := fs.Duration("timeout", time.Second, "deadline of each call")
	method := fs.String("method", "", "a unary method, /package.Service/Method (default: the health check)")
	data := fs.String("data", "{}", "the request of --method, as JSON")
	useTLS := fs.Bool("tls", false, "use TLS (system roots) instead of plaintext")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	switch {
	case *rate <= 0 || *rate > 100000:
		return fmt.Errorf("bench: --rate %d must be 1 to 100000", *rate)
	case *duration <= 0 || *duration > time.Hour:
		return fmt.Errorf("bench: --duration %v must be positive and at most 1h", *duration)
	case *concurrency <= 0 || *concurrency > 10000:
		return fmt.Errorf("bench: --concurrency %d must be 1 to 10000", *concurrency)
	case *timeout <= 0:
		return fmt.Errorf("bench: --timeout %v must be positive", *timeout)
	}
	lb := *policy
	if !strings.HasPrefix(strings.TrimSpace(lb), "[") {
		lb = fmt.Sprintf(`[{%q:{}}]`, lb)
	}
	creds := insecure.NewCredentials()
	if *useTLS {
		creds = credentials.NewTLS(&tls.Config{})
	}
	cc, err := grpc.NewClient(pos[0], grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":`+lb+`}`))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer cc.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	call, err := benchCall(ctx, cc, *method, *data)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(stdout, "grpclb bench: %s, %s, %d calls/s for %v\n", pos[0], *policy, *rate, *duration)
	res := driveBench(ctx, call, *rate, *duration, *concurrency, *timeout)
	res.write(stdout)
	if res.ok == 0 {
		return errors.New("bench: no call succeeded")
	}
	return nil
}

// benchCall returns the function one call runs: the health check, or
// --method with --data through server reflection.
func benchCall(ctx context.Context, cc *grpc.ClientConn, method, data string) (func(context.Context, *peer.Peer) error, error) {
	if method == "" {
		c := healthpb.NewHealthClient(cc)
		return func(ctx context.Context, p *peer.Peer) error {
			_, err := c.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(p))
			return err
		}, nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	md, err := reflectMethod(rctx, cc, method)
	if err != nil {
		return nil, err
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return nil, fmt.Errorf("%s is a streaming method; bench calls unary methods", method)
	}
	req, resp := newMessage(md.Input()), newMessage(md.Output())
	if err := protojson.Unmarshal([]byte(data), req); err != nil {
		return nil, fmt.Errorf("--data for %s (%s): %w", method, md.Input().FullName(), err)
	}
	wire, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, p *peer.Peer) error {
		in := newMessage(md.Input())
		if err := proto.Unmarshal(wire, in); err != nil {
			return err
		}
		out := resp.ProtoReflect().New().Interface()
		return cc.Invoke(ctx, method, in, out, grpc.Peer(p))
	}, nil
}

// benchResult tallies the calls.
type benchResult struct {
	mu        sync.Mutex
	ok        int
	errors    map[string]int
	latencies map[string][]time.Duration // by backend
	elapsed   time.Duration
}

func driveBench(ctx context.Context, call func(context.Context, *peer.Peer) error, rate int, d time.Duration, concurrency int, timeout time.Duration) *benchResult {
	res := &benchResult{errors: map[string]int{}, latencies: map[string][]time.Duration{}}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	total := int(d / interval)
	for i := 0; i < total; i++ {
		next := start.Add(time.Duration(i) * interval)
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				i = total
				continue
			case <-time.After(wait):
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			i = total
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var p peer.Peer
			cctx, cancel := context.WithTimeout(ctx, timeout)
			t0 := time.Now()
			err := call(cctx, &p)
			lat := time.Since(t0)
			cancel()
			res.mu.Lock()
			defer res.mu.Unlock()
			if err != nil {
				st := status.Convert(err)
				res.errors[st.Code().String()+": "+st.Message()]++
				return
			}
			res.ok++
			addr := "?"
			if p.Addr != nil {
				addr = p.Addr.String()
			}
			res.latencies[addr] = append(res.latencies[addr], lat)
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func (r *benchResult) write(w io.Writer) {
	failed := 0
	for _, n := range r.errors {
		failed += n
	}
	var all []time.Duration
	backends := make([]string, 0, len(r.latencies))
	for b, ls := range r.latencies {
		backends = append(backends, b)
		all = append(all, ls...)
	}
	sort.Strings(backends)
	fmt.Fprintf(w, "%d calls in %v: %d ok (%.0f/s), %d failed\n", r.ok+failed, r.elapsed.Round(time.Millisecond), r.ok, float64(r.ok)/r.elapsed.Seconds(), failed)
	fmt.Fprintf(w, "  %-24s %7s %6s %8s %8s %8s\n", "backend", "calls", "share", "p50", "p99", "max")
	for _, b := range backends {
		ls := r.latencies[b]
		slices.Sort(ls)
		fmt.Fprintf(w, "  %-24s %7d %5.1f%% %8s %8s %8s\n", b, len(ls), 100*float64(len(ls))/float64(max(1, r.ok)),
			pct(ls, 0.5), pct(ls, 0.99), pct(ls, 1))
	}
	slices.Sort(all)
	fmt.Fprintf(w, "  %-24s %7d %6s %8s %8s %8s\n", "all", len(all), "", pct(all, 0.5), pct(all, 0.99), pct(all, 1))
	if failed > 0 {
		msgs := make([]string, 0, len(r.errors))
		for m := range r.errors {
			msgs = append(msgs, m)
		}
		sort.Strings(msgs)
		fmt.Fprintln(w, "errors:")
		for _, m := range msgs {
			fmt.Fprintf(w, "  %6d  %s\n", r.errors[m], m)
		}
	}
}

func pct(sorted []time.Duration, q float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := min(len(sorted)-1, max(0, int(float64(len(sorted))*q+0.999999)-1))
	return sorted[i].Round(10 * time.Microsecond).String()
}
