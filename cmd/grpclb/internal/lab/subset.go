package lab

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	grpcxds "google.golang.org/grpc/xds" // grpc-go's own xDS client

	"github.com/grpclb/grpclb/balancer/subset"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/xds"
)

// Knobs of the subset scenario: a few real clients over the world's
// backends, then the many-client fleets through the subsetting function.
const (
	subsetRealClients = 4
	subsetRealSize    = 3
	subsetRealCalls   = 240 // per real client
)

// subsetFleets are simulated: clients × backends, subset size.
var subsetFleets = []struct{ clients, backends, size int }{
	{300, 300, 10},
	{1000, 5000, 10},
}

// subsetScn: many clients, many backends, each client a subset. How even
// are connections and calls per backend under deterministic subsetting,
// random subsetting and everyone-to-everyone, and how many memberships
// move when one backend joins or leaves?
var subsetScn = Scenario{
	Name: "subset",
	Doc: fmt.Sprintf("%d real clients × 12 backends, subsets of %d, through deterministic_subset and through grpclb xds; then simulated fleets "+
		"(300 clients × 300 backends and 1000 × 5000, subsets of 10): connections and calls per backend, and memberships "+
		"moved when one backend joins or leaves (default, \"sticky\": true, and the SRE book's reshuffle)", subsetRealClients, subsetRealSize),
	Initial:    12,
	Strategies: []string{"dnspoll+round_robin"},
	Duration:   time.Second, // unused: the probe decides
	Notes: map[string]string{
		"dnspoll+round_robin": "The table above is the strategy's own client (everyone to everyone); the subset figures are below.",
	},
	Probe: func(ctx context.Context, w *World, _ KeyedCall, p Params) (map[string]float64, []Event, error) {
		extra, err := realSubsets(ctx, w, p)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range subsetFleets {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			simulateSubsets(extra, f.clients, f.backends, f.size)
		}
		return extra, nil, nil
	},
	Summary: subsetSummary,
}

// realSubsets runs subsetRealClients gRPC clients with deterministic_subset
// over the world's backends, then as many grpc-go xDS clients given their
// subsets by grpclb xds, and counts, per backend, the clients that reached
// it and the calls it answered: keys "real_..." and "xds_...".
func realSubsets(ctx context.Context, w *World, p Params) (map[string]float64, error) {
	addrs := w.Fleet.Addrs()
	eps := make([]resolver.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}}
	}
	extra := map[string]float64{}
	policy := func(c int) (*grpc.ClientConn, error) {
		r := manual.NewBuilderWithScheme(fmt.Sprintf("labsubset%d", c))
		r.InitialState(resolver.State{Endpoints: eps})
		sc := fmt.Sprintf(`{"loadBalancingConfig":[{%q:{"subsetSize":%d,"clientCount":%d,"clientIndex":%d}}]}`,
			subset.Name, subsetRealSize, subsetRealClients, c)
		return grpc.NewClient(r.Scheme()+":///backends", grpc.WithResolvers(r), insecureCreds, grpc.WithDefaultServiceConfig(sc))
	}
	if err := countSubsets(ctx, w, p, "real_", policy, extra); err != nil {
		return nil, err
	}
	srv, err := xds.NewServer(xds.Config{Services: []xds.Service{{Name: "labsubset", Target: "static:///" + strings.Join(addrs, ","),
		Subset: &xds.Subset{Size: subsetRealSize, Clients: subsetRealClients}}}}, xds.Options{Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.Serve(lis)
	served := func(c int) (*grpc.ClientConn, error) {
		bootstrap, err := xds.Bootstrap(lis.Addr().String(), fmt.Sprintf("lab-subset-%d", c), "")
		if err != nil {
			return nil, err
		}
		rb, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap)
		if err != nil {
			return nil, err
		}
		return grpc.NewClient("xds:///labsubset", insecureCreds, grpc.WithResolvers(rb))
	}
	return extra, countSubsets(ctx, w, p, "xds_", served, extra)
}

// countSubsets makes subsetRealCalls calls through each of
// subsetRealClients clients from dial, one after another, and puts the
// spread of clients and calls per backend into extra under keys with
// prefix pre.
func countSubsets(ctx context.Context, w *World, p Params, pre string, dial func(c int) (*grpc.ClientConn, error), extra map[string]float64) error {
	clientsOf := make(map[string]map[int]bool)
	calls := make(map[string]int)
	for c := range subsetRealClients {
		cc, err := dial(c)
		if err != nil {
			return err
		}
		err = subsetCalls(ctx, echopb.NewEchoClient(cc), p.Timeout, func(b string) {
			if clientsOf[b] == nil {
				clientsOf[b] = make(map[int]bool)
			}
			clientsOf[b][c] = true
			calls[b]++
		})
		cc.Close()
		if err != nil {
			return fmt.Errorf("%sclient %d: %w", pre, c, err)
		}
	}
	minC, maxC, minCalls, maxCalls := math.MaxInt, 0, math.MaxInt, 0
	for _, b := range w.Fleet.Backends() {
		minC, maxC = min(minC, len(clientsOf[b.Name])), max(maxC, len(clientsOf[b.Name]))
		minCalls, maxCalls = min(minCalls, calls[b.Name]), max(maxCalls, calls[b.Name])
	}
	mean := float64(subsetRealClients*subsetRealCalls) / float64(len(w.Fleet.Addrs()))
	extra[pre+"clients_min"], extra[pre+"clients_max"] = float64(minC), float64(maxC)
	extra[pre+"calls_min_x"], extra[pre+"calls_max_x"] = float64(minCalls)/mean, float64(maxCalls)/mean
	return nil
}

// subsetCalls makes subsetRealCalls calls with echo, each within timeout,
// and gives served the backend that answered each. Until its whole subset
// is connected, round_robin sends every call to the backends READY so
// far: it warms up first (uncounted calls until subsetRealSize backends
// answered, 1000 at most).
func subsetCalls(ctx context.Context, echo echopb.EchoClient, timeout time.Duration, served func(backend string)) error {
	call := func() (string, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := echo.Echo(cctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
		return resp.GetBackend(), err
	}
	warm := make(map[string]bool)
	for i := 0; len(warm) < subsetRealSize && i < 1000; i++ {
		b, err := call()
		if err != nil {
			return err
		}
		warm[b] = true
	}
	for range subsetRealCalls {
		b, err := call()
		if err != nil {
			return err
		}
		served(b)
	}
	return nil
}

// simulateSubsets puts the figures of a clients × backends fleet with
// subsets of size into extra, under keys prefixed "CxB_".
func simulateSubsets(extra map[string]float64, clients, backends, size int) {
	keys := make([]string, backends+1)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d:8080", (i>>16)&255, (i>>8)&255, i&255)
	}
	base := keys[:backends]
	pre := fmt.Sprintf("%dx%d_", clients, backends)
	det := subsetKeys(base, subset.Assign(base, clients, size))
	put := func(name string, a [][]string) {
		conns, lo, hi := subsetSpread(base, a)
		extra[pre+name+"_conns_min"], extra[pre+name+"_conns_max"] = float64(conns[0]), float64(conns[1])
		extra[pre+name+"_load_min_x"], extra[pre+name+"_load_max_x"] = lo, hi
	}
	put("deterministic", det)
	put("random", randomSubsets(base, clients, size, 1))
	everyone := make([][]string, clients)
	for c := range everyone {
		everyone[c] = base
	}
	put("all", everyone)

	// One backend added, one removed (the middle one): the default (the
	// pure Assign), "sticky": true and grpclb xds's served rows (Repair of
	// the previous assignment) and the SRE book's algorithm (a reshuffle).
	grown := keys
	shrunk := slices.Delete(slices.Clone(base), backends/2, backends/2+1)
	sre := sreSubsets(base, clients, size)
	for _, ch := range []struct {
		name string
		set  []string
	}{{"add", grown}, {"remove", shrunk}} {
		extra[pre+ch.name+"_assign"] = float64(subsetChurn(det, subsetKeys(ch.set, subset.Assign(ch.set, clients, size))))
		extra[pre+ch.name+"_repair"] = float64(subsetChurn(det, subset.Repair(det, ch.set, size)))
		extra[pre+ch.name+"_sre"] = float64(subsetChurn(sre, sreSubsets(ch.set, clients, size)))
	}
	extra[pre+"bound"] = float64((size*clients+backends-1)/backends + 1)
	extra[pre+"memberships"] = float64(clients * size)
}

// subsetKeys turns each client's subset of indexes into backends into
// the backends themselves.
func subsetKeys(backends []string, a [][]int) [][]string {
	var out [][]string
	for _, indexes := range a {
		var keys []string
		for _, i := range indexes {
			keys = append(keys, backends[i])
		}
		out = append(out, keys)
	}
	return out
}

// subsetSpread returns the fewest and most clients of a backend, and the
// least and most calls a backend gets over the mean when every client
// spreads its calls evenly over its subset.
func subsetSpread(backends []string, a [][]string) (conns [2]int, lo, hi float64) {
	n := make(map[string]int, len(backends))
	load := make(map[string]float64, len(backends))
	for _, s := range a {
		for _, b := range s {
			n[b]++
			load[b] += 1 / float64(len(s))
		}
	}
	mean := float64(len(a)) / float64(len(backends))
	conns, lo, hi = [2]int{math.MaxInt, 0}, math.Inf(1), 0
	for _, b := range backends {
		conns[0], conns[1] = min(conns[0], n[b]), max(conns[1], n[b])
		lo, hi = min(lo, load[b]/mean), max(hi, load[b]/mean)
	}
	return conns, lo, hi
}

// subsetChurn counts the memberships of b that a did not have.
func subsetChurn(a, b [][]string) int {
	n := 0
	for c := range b {
		for _, k := range b[c] {
			if !slices.Contains(a[c], k) {
				n++
			}
		}
	}
	return n
}

// randomSubsets is random subsetting: each client a random subset.
func randomSubsets(backends []string, clients, size int, seed uint64) [][]string {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]string, clients)
	for c := range out {
		for _, i := range r.Perm(len(backends))[:min(size, len(backends))] {
			out[c] = append(out[c], backends[i])
		}
	}
	return out
}

// sreSubsets is the SRE book's deterministic subsetting (chapter 20):
// backends sorted, clients in rounds of len/size, each round shuffling the
// backends with the round as seed.
func sreSubsets(backends []string, clients, size int) [][]string {
	sorted := slices.Sorted(slices.Values(backends))
	perRound := max(1, len(sorted)/size)
	out := make([][]string, 0, clients)
	for round := uint64(0); len(out) < clients; round++ {
		shuffled := slices.Clone(sorted)
		rand.New(rand.NewPCG(round, 0)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for id := 0; id < perRound && len(out) < clients; id++ {
			out = append(out, shuffled[id*size:min(len(shuffled), (id+1)*size)])
		}
	}
	return out
}

func subsetSummary(r Result) string {
	e := r.Extra
	if _, ok := e["real_clients_max"]; !ok {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d real clients, subsets of %d: clients per backend %.0f..%.0f, calls per backend %.2f..%.2f× the mean\n",
		subsetRealClients, subsetRealSize, e["real_clients_min"], e["real_clients_max"], e["real_calls_min_x"], e["real_calls_max_x"])
	fmt.Fprintf(&b, "     %d xDS clients served subsets by grpclb xds: clients per backend %.0f..%.0f, calls per backend %.2f..%.2f× the mean\n",
		subsetRealClients, e["xds_clients_min"], e["xds_clients_max"], e["xds_calls_min_x"], e["xds_calls_max_x"])
	for _, f := range subsetFleets {
		pre := fmt.Sprintf("%dx%d_", f.clients, f.backends)
		fmt.Fprintf(&b, "     %d clients × %d backends, subsets of %d:\n", f.clients, f.backends, f.size)
		for _, s := range []struct{ key, label string }{{"deterministic", "deterministic"}, {"random", "random"}, {"all", "everyone to everyone"}} {
			fmt.Fprintf(&b, "       %-22s clients per backend %5.0f..%-5.0f calls per backend %.2f..%.2f× the mean\n", s.label,
				e[pre+s.key+"_conns_min"], e[pre+s.key+"_conns_max"], e[pre+s.key+"_load_min_x"], e[pre+s.key+"_load_max_x"])
		}
		fmt.Fprintf(&b, "       memberships moved (of %.0f; bound %.0f): one backend added: default %.0f, sticky or grpclb xds %.0f, SRE book %.0f; one removed: default %.0f, sticky or grpclb xds %.0f, SRE book %.0f\n",
			e[pre+"memberships"], e[pre+"bound"], e[pre+"add_assign"], e[pre+"add_repair"], e[pre+"add_sre"],
			e[pre+"remove_assign"], e[pre+"remove_repair"], e[pre+"remove_sre"])
	}
	return strings.TrimRight(b.String(), "\n")
}
