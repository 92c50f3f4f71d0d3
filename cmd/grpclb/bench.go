package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"google.golang.org/grpc/balancer"
	_ "google.golang.org/grpc/balancer/leastrequest"       // least_request
	_ "google.golang.org/grpc/balancer/ringhash"           // ring_hash
	_ "google.golang.org/grpc/balancer/weightedroundrobin" // weighted_round_robin

	"github.com/grpclb/grpclb"
	"github.com/grpclb/grpclb/balancer/chash"
	"github.com/grpclb/grpclb/balancer/outlier"
	"github.com/grpclb/grpclb/balancer/p2c"
	"github.com/grpclb/grpclb/balancer/pool"
	"github.com/grpclb/grpclb/balancer/wrr"
)

const benchHelp = `Usage: grpclb bench [flags] TARGET

Drives load at a real gRPC service through a balancing policy and prints
how the calls spread over its backends (each call's peer address), with
latency percentiles and errors. By default it calls the standard health
check (grpc.health.v1.Health/Check); --method calls any unary method, its
request given as JSON (--data) and its types found by server reflection.

TARGET is anything grpc.NewClient accepts: a target of any scheme grpclb or
grpc-go resolves (kubernetes:///, etcd://, consul://, dnspoll:///,
static:///, dns:///), or a bare host:port.

Policies: grpclb (grpclb.NewClient's stack: outlier_ejection over p2c_ewma,
health checks, keepalive), any registered policy by name (round_robin,
pick_first, p2c_ewma, consistent_hash, wrr, pool, least_request,
ring_hash, weighted_round_robin), or a loadBalancingConfig JSON list.
consistent_hash and ring_hash hash a header that each call sets to one of
--keys keys.

Examples:
  grpclb bench dnspoll:///echo.test:50051 --rate 500 --duration 10s
  grpclb bench 'kubernetes:///echo.prod:grpc' --policy grpclb -o json
  grpclb bench static:///127.0.0.2:50051,127.0.0.3:50051 --policy '[{"pool":{"connections":4}}]'
  grpclb bench echo.test:50051 --method echo.v1.Echo/Get --data '{"id":"42"}' -H 'x-tenant: a'
  grpclb bench dns:///echo.test:443 --cacert ca.pem --authority echo.example.com -n 1000

`

// policyAliases maps the names people use to grpc-go's registered ones.
var policyAliases = map[string]string{
	"least_request": "least_request_experimental",
	"ring_hash":     "ring_hash_experimental",
}

// benchPolicies are the policy names bench knows to offer.
var benchPolicies = []string{"grpclb", "round_robin", "pick_first", p2c.Name, chash.Name, wrr.Name, pool.Name,
	"least_request", "ring_hash", "weighted_round_robin", outlier.Name}

// benchKeyHeader is the header consistent_hash and ring_hash hash.
const benchKeyHeader = "x-grpclb-bench-key"

// policyOptions returns the dial options of a --policy value: a name, or
// a loadBalancingConfig JSON list.
func policyOptions(policy string) ([]grpc.DialOption, bool, error) {
	if strings.HasPrefix(strings.TrimSpace(policy), "[") {
		return []grpc.DialOption{grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":` + policy + `}`)}, false, nil
	}
	if policy == "grpclb" {
		opts, err := grpclb.DialOptions()
		return opts, false, err
	}
	name := policy
	if alias, ok := policyAliases[name]; ok {
		name = alias
	}
	if balancer.Get(name) == nil {
		return nil, false, fmt.Errorf("--policy %q: no such policy (known: %s; or a loadBalancingConfig JSON list)", policy, strings.Join(benchPolicies, ", "))
	}
	cfg, hashed := "{}", false
	switch name {
	case chash.Name:
		cfg, hashed = `{"hashHeader":"`+benchKeyHeader+`"}`, true
	case "ring_hash_experimental":
		cfg, hashed = `{"requestHashHeader":"`+benchKeyHeader+`"}`, true
	case outlier.Name:
		cfg = `{"childPolicy":[{"round_robin":{}}]}`
	}
	return []grpc.DialOption{grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:%s}]}`, name, cfg))}, hashed, nil
}

// headerFlags collects -H key:value metadata.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want key:value, got %q", v)
	}
	*h = append(*h, strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(val))
	return nil
}

// tlsFlags are the transport security flags, as grpcurl's and ghz's.
type tlsFlags struct {
	tls, insecure     bool
	cacert, cert, key string
	authority         string
}

func (f tlsFlags) options() ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if f.authority != "" {
		opts = append(opts, grpc.WithAuthority(f.authority))
	}
	if !f.tls && !f.insecure && f.cacert == "" && f.cert == "" {
		return append(opts, grpc.WithTransportCredentials(insecure.NewCredentials())), nil
	}
	cfg := &tls.Config{InsecureSkipVerify: f.insecure} //nolint:gosec // --insecure asks for it
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", f.cacert)
		}
	}
	if (f.cert == "") != (f.key == "") {
		return nil, errors.New("--cert and --key go together")
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg))), nil
}

// fullMethod accepts grpcurl's spellings of a method: pkg.Service/Method,
// pkg.Service.Method, /pkg.Service/Method.
func fullMethod(m string) (string, error) {
	m = strings.TrimPrefix(m, "/")
	if !strings.Contains(m, "/") {
		i := strings.LastIndexByte(m, '.')
		if i <= 0 || i == len(m)-1 {
			return "", fmt.Errorf("--method %q: want package.Service/Method", m)
		}
		m = m[:i] + "/" + m[i+1:]
	}
	svc, meth, _ := strings.Cut(m, "/")
	if svc == "" || meth == "" || strings.Contains(meth, "/") {
		return "", fmt.Errorf("--method %q: want package.Service/Method", m)
	}
	return "/" + m, nil
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench")
	policy := fs.String("policy", "round_robin", "balancing policy: grpclb, a registered name, or a loadBalancingConfig JSON list (see above)")
	rate := fs.Int("rate", 100, "calls per second (open loop)")
	duration := fs.Duration("duration", 10*time.Second, "how long to drive load (unless -n)")
	total := fs.Int("n", 0, "how many calls to make (instead of --duration)")
	concurrency := fs.Int("concurrency", 64, "most calls in flight")
	timeout := fs.Duration("timeout", time.Second, "deadline of each call")
	method := fs.String("method", "", "a unary method, package.Service/Method (default: the health check)")
	data := fs.String("data", "{}", "the request of --method, as JSON")
	keys := fs.Int("keys", 1000, "consistent_hash and ring_hash: how many distinct keys the calls carry")
	output := fs.String("o", "text", "output format: text or json")
	var headers headerFlags
	fs.Var(&headers, "H", "metadata key:value sent with every call (repeatable)")
	var tf tlsFlags
	fs.BoolVar(&tf.tls, "tls", false, "use TLS with the system roots instead of plaintext")
	fs.StringVar(&tf.cacert, "cacert", "", "use TLS, trusting the CA certificates in this PEM file")
	fs.StringVar(&tf.cert, "cert", "", "client certificate (PEM) for mutual TLS, with --key")
	fs.StringVar(&tf.key, "key", "", "client private key (PEM), with --cert")
	fs.BoolVar(&tf.insecure, "insecure", false, "use TLS without verifying the server's certificate")
	fs.StringVar(&tf.authority, "authority", "", "the :authority (and TLS server name) to send")
	pos, err := parseFlags(fs, args, stdout, benchHelp)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("bench", "want one TARGET, such as dnspoll:///echo.test:50051")
	}
	switch {
	case *rate <= 0 || *rate > 100000:
		return usagef("bench", "--rate %d must be 1 to 100000", *rate)
	case *duration <= 0 || *duration > time.Hour:
		return usagef("bench", "--duration %v must be positive and at most 1h", *duration)
	case *total < 0 || *total > 100_000_000:
		return usagef("bench", "-n %d must be 0 (use --duration) to 100000000", *total)
	case *concurrency <= 0 || *concurrency > 10000:
		return usagef("bench", "--concurrency %d must be 1 to 10000", *concurrency)
	case *timeout <= 0:
		return usagef("bench", "--timeout %v must be positive", *timeout)
	case *keys <= 0:
		return usagef("bench", "--keys %d must be positive", *keys)
	case *output != "text" && *output != "json":
		return usagef("bench", "-o %q: want text or json", *output)
	}
	if *method != "" {
		if *method, err = fullMethod(*method); err != nil {
			return usagef("bench", "%v", err)
		}
	}
	lbOpts, hashed, err := policyOptions(*policy)
	if err != nil {
		return usagef("bench", "%v", err)
	}
	secOpts, err := tf.options()
	if err != nil {
		return usagef("bench", "%v", err)
	}
	cc, err := grpc.NewClient(pos[0], append(secOpts, lbOpts...)...)
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
	load := benchLoad{rate: *rate, duration: *duration, total: *total, concurrency: *concurrency, timeout: *timeout, headers: headers}
	if hashed {
		load.keys = *keys
	}
	if *total > 0 {
		load.duration = time.Duration(*total) * time.Second / time.Duration(*rate)
	}
	if *output == "text" {
		fmt.Fprintf(stdout, "grpclb bench: %s, %s, %d calls/s for %v\n", pos[0], *policy, *rate, load.duration)
	}
	var progress io.Writer
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		progress = stderr
	}
	res := driveBench(ctx, call, load, progress)
	res.target, res.policy = pos[0], *policy
	if *output == "json" {
		if err := writeJSON(stdout, res.summary()); err != nil {
			return err
		}
	} else {
		res.write(stdout)
	}
	if res.ok == 0 && !res.interrupted {
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

// benchLoad is the load to drive.
type benchLoad struct {
	rate        int
	duration    time.Duration
	total       int // calls; 0: rate × duration
	concurrency int
	timeout     time.Duration
	headers     []string // metadata key, value pairs
	keys        int      // > 0: each call carries one of keys hash keys
}

// benchResult tallies the calls.
type benchResult struct {
	mu          sync.Mutex
	target      string
	policy      string
	ok          int
	errors      map[string]int
	latencies   map[string][]time.Duration // by backend
	elapsed     time.Duration
	interrupted bool // Ctrl-C or SIGTERM: calls it cancelled are not failures
}

func driveBench(ctx context.Context, call func(context.Context, *peer.Peer) error, l benchLoad, progress io.Writer) *benchResult {
	res := &benchResult{errors: map[string]int{}, latencies: map[string][]time.Duration{}}
	sem := make(chan struct{}, l.concurrency)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(l.rate)
	start := time.Now()
	total := l.total
	if total == 0 {
		total = int(l.duration / interval)
	}
	if progress != nil {
		stopProgress := make(chan struct{})
		defer close(stopProgress)
		go benchProgress(progress, res, total, start, stopProgress)
	}
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
		callCtx := ctx
		if len(l.headers) > 0 {
			callCtx = metadata.AppendToOutgoingContext(callCtx, l.headers...)
		}
		if l.keys > 0 {
			callCtx = metadata.AppendToOutgoingContext(callCtx, benchKeyHeader, "k"+strconv.Itoa(i%l.keys))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var p peer.Peer
			cctx, cancel := context.WithTimeout(callCtx, l.timeout)
			t0 := time.Now()
			err := call(cctx, &p)
			lat := time.Since(t0)
			cancel()
			res.mu.Lock()
			defer res.mu.Unlock()
			if err != nil {
				if ctx.Err() != nil && status.Code(err) == codes.Canceled {
					return // cut short by Ctrl-C: not the service's failure
				}
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
	res.interrupted = ctx.Err() != nil
	return res
}

// benchProgress redraws a status line on a terminal until stop.
func benchProgress(w io.Writer, res *benchResult, total int, start time.Time, stop <-chan struct{}) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-tick.C:
			res.mu.Lock()
			ok, failed := res.ok, 0
			for _, n := range res.errors {
				failed += n
			}
			res.mu.Unlock()
			fmt.Fprintf(w, "\r  %6.1fs  %d/%d calls  %d ok  %d failed ", time.Since(start).Seconds(), ok+failed, total, ok, failed)
		}
	}
}

// benchSummary is bench's -o json output.
type benchSummary struct {
	Target      string         `json:"target"`
	Policy      string         `json:"policy"`
	Calls       int            `json:"calls"`
	OK          int            `json:"ok"`
	Failed      int            `json:"failed"`
	ElapsedS    float64        `json:"elapsed_s"`
	Interrupted bool           `json:"interrupted"`
	P50ms       *float64       `json:"p50_ms"`
	P99ms       *float64       `json:"p99_ms"`
	Backends    []benchBackend `json:"backends"`
	Errors      map[string]int `json:"errors,omitempty"`
}

type benchBackend struct {
	Addr  string   `json:"addr"`
	Calls int      `json:"calls"`
	Share float64  `json:"share"`
	P50ms *float64 `json:"p50_ms"`
	P99ms *float64 `json:"p99_ms"`
}

func (r *benchResult) summary() benchSummary {
	failed := 0
	for _, n := range r.errors {
		failed += n
	}
	s := benchSummary{Target: r.target, Policy: r.policy, Calls: r.ok + failed, OK: r.ok, Failed: failed,
		ElapsedS: r.elapsed.Seconds(), Interrupted: r.interrupted, Errors: r.errors, Backends: []benchBackend{}}
	var all []time.Duration
	for addr, ls := range r.latencies {
		slices.Sort(ls)
		all = append(all, ls...)
		s.Backends = append(s.Backends, benchBackend{Addr: addr, Calls: len(ls), Share: float64(len(ls)) / float64(max(1, r.ok)),
			P50ms: pctMs(ls, 0.5), P99ms: pctMs(ls, 0.99)})
	}
	slices.SortFunc(s.Backends, func(a, b benchBackend) int { return strings.Compare(a.Addr, b.Addr) })
	slices.Sort(all)
	s.P50ms, s.P99ms = pctMs(all, 0.5), pctMs(all, 0.99)
	return s
}

// pctMs is the q quantile of sorted in milliseconds, nil when empty.
func pctMs(sorted []time.Duration, q float64) *float64 {
	if len(sorted) == 0 {
		return nil
	}
	i := min(len(sorted)-1, max(0, int(float64(len(sorted))*q+0.999999)-1))
	ms := float64(sorted[i].Microseconds()) / 1000
	return &ms
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
