package pool

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/balancer"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	_ "github.com/grpclb/grpclb/resolver/static"
	"github.com/grpclb/grpclb/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseConfig(t *testing.T) {
	balancertest.CheckParsesEmpty(t, ParseConfig, Config{Connections: 4, Pick: "round_robin"})
	balancertest.CheckParses(t, ParseConfig, map[string]Config{
		`{"connections":8}`:              {Connections: 8, Pick: "round_robin"},
		`{"connections":1,"pick":"p2c"}`: {Connections: 1, Pick: "p2c"},
	})
	balancertest.CheckRefuses(t, Name, ParseConfig, map[string]string{
		`{"connections":-1}`:                `field "connections": must be an integer from 0 to 256, got -1`,
		`{"connections":257}`:               "from 0 to 256, got 257",
		`{"connections":"8"}`:               `field "connections": "8" is not an integer`,
		`{"pick":"random"}`:                 `field "pick": "random" is not one of "round_robin", "p2c"`,
		`{"conections":8}`:                  `unknown field "conections" (known fields: "connections", "pick")`,
		`{"connections":2,"connections":4}`: `field "connections" given twice`,
		`{"connections":8}{}`:               "unexpected data after the config object",
		`[`:                                 "config must be a JSON object",
	})
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"connections":8,"pick":"p2c"}`, `{"connections":0}`, `{"x":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseConfig([]byte(s))
		if err != nil {
			return
		}
		if cfg.Connections < 1 || cfg.Connections > MaxConnections || (cfg.Pick != PickRoundRobin && cfg.Pick != PickP2C) {
			t.Fatalf("%q accepted as %+v", s, *cfg)
		}
	})
}

func TestNConnectionsPerAddressAndEvenPicks(t *testing.T) {
	for _, pick := range []string{PickRoundRobin, PickP2C} {
		t.Run(pick, func(t *testing.T) {
			b, cc, p, err := balancertest.Build(Name, fmt.Sprintf(`{"connections":3,"pick":%q}`, pick), balancertest.Endpoints(2))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if n := len(cc.SubConns()); n != 6 {
				t.Fatalf("%d SubConns for 2 addresses × 3, want 6", n)
			}
			count, _ := countPicks(t, p, 6000, false)
			for sc, n := range count {
				if n < 700 || n > 1300 {
					t.Errorf("SubConn %v got %d of 6000 picks, want about 1000", sc.(*balancertest.SubConn).Addrs, n)
				}
			}
			if len(count) != 6 {
				t.Errorf("picks used %d of 6 connections", len(count))
			}
		})
	}
}

func TestP2CAvoidsBusyConnections(t *testing.T) {
	b, _, p, err := balancertest.Build(Name, `{"connections":2,"pick":"p2c"}`, balancertest.Endpoints(1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Hold 50 calls open on whatever they picked: p2c keeps the two
	// connections within one call of each other.
	perConn, dones := countPicks(t, p, 50, true)
	for sc, n := range perConn {
		if n < 24 || n > 26 {
			t.Errorf("%v holds %d of 50 open calls, want 25±1", sc, n)
		}
	}
	for _, d := range dones {
		d(balancer.DoneInfo{})
	}
}

// countPicks makes n picks on p and counts them per SubConn. With hold,
// the calls stay open and their Done callbacks are returned; otherwise
// each call ends (Done) before the next pick.
func countPicks(t *testing.T, p balancer.Picker, n int, hold bool) (map[balancer.SubConn]int, []func(balancer.DoneInfo)) {
	t.Helper()
	count := map[balancer.SubConn]int{}
	var dones []func(balancer.DoneInfo)
	for range n {
		res, err := p.Pick(balancer.PickInfo{Ctx: context.Background()})
		if err != nil {
			t.Fatal(err)
		}
		count[res.SubConn]++
		switch {
		case hold:
			dones = append(dones, res.Done)
		case res.Done != nil:
			res.Done(balancer.DoneInfo{})
		}
	}
	return count, dones
}

func TestResizeAndRemove(t *testing.T) {
	b, cc, _, err := balancertest.Build(Name, `{"connections":2}`, balancertest.Endpoints(3))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg, _ := ParseConfig([]byte(`{"connections":4}`))
	eps := balancertest.Endpoints(3)[1:]
	if err := b.UpdateClientConnState(balancer.ClientConnState{BalancerConfig: cfg, ResolverState: stateOf(eps)}); err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, sc := range cc.SubConns() {
		if !isShutdown(sc) {
			live++
		}
	}
	if live != 8 {
		t.Errorf("%d live connections after 2 addresses × 4, want 8", live)
	}
	if err := b.UpdateClientConnState(balancer.ClientConnState{BalancerConfig: cfg}); err != balancer.ErrBadResolverState {
		t.Errorf("empty update: %v, want ErrBadResolverState", err)
	}
}

// TestVIP is the problem the policy exists for: five backends behind one
// L4 address. pick_first reaches one backend; pool with 8 connections
// reaches all five.
func TestVIP(t *testing.T) {
	vip := balancertest.StartVIP(t, balancertest.StartFleet(t, 5))

	for _, tt := range []struct {
		config string
		want   int
	}{
		{`{"loadBalancingConfig":[{"pick_first":{}}]}`, 1},
		{`{"loadBalancingConfig":[{"pool":{"connections":8}}]}`, 5},
		{`{"loadBalancingConfig":[{"pool":{"connections":8,"pick":"p2c"}}]}`, 5},
	} {
		t.Run(tt.config, func(t *testing.T) {
			c := newClient(t, "passthrough:///"+vip.Addr, tt.config)
			got, failed := testbed.Tally(c, 400, 5*time.Second)
			if failed != 0 || len(got) != tt.want {
				t.Errorf("400 calls reached %v (%d failed), want %d backends", got, failed, tt.want)
			}
		})
	}
}

// newClient is an echo client of target with the service config config.
func newClient(t *testing.T, target, config string) echopb.EchoClient {
	t.Helper()
	return echopb.NewEchoClient(balancertest.Conn(t, target, config))
}

// Backends that age connections out (MaxConnectionAge) and backends that
// die and come back while calls run: the pool reconnects, nothing panics,
// and calls succeed again once backends are back.
func TestFlappingUnderLoad(t *testing.T) {
	opts, err := server.Options(server.Config{MaxConnectionAge: 300 * time.Millisecond, MaxConnectionAgeGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := testbed.FleetFor(t, 3, testbed.FleetConfig{ServerOptions: opts})
	c := newClient(t, "static:///"+strings.Join(f.Addrs(), ","), `{"loadBalancingConfig":[{"pool":{"connections":3,"pick":"p2c"}}]}`)
	if _, failed := testbed.Tally(c, 30, 5*time.Second); failed != 0 {
		t.Fatalf("%d of 30 calls failed before any fault", failed)
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := c.Echo(ctx, &echopb.EchoRequest{})
				cancel()
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	for round := range 3 {
		b := f.Backends()[round%3]
		b.Kill()
		if err := b.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	// Run on until every backend has served again after its restart.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got, _ := testbed.Tally(c, 30, time.Second)
		if len(got) == 3 {
			break
		}
	}
	close(stop)
	wg.Wait()
	if got, n := testbed.Tally(c, 60, 5*time.Second); n != 0 || len(got) != 3 {
		t.Errorf("after the faults: %v, %d failed; want all 3 backends, no failures", got, n)
	}
	t.Logf("during faults: %d ok, %d failed", ok.Load(), failed.Load())
	if ok.Load() == 0 {
		t.Error("no call succeeded during the faults")
	}
}
