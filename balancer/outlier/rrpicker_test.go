package outlier

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// shardingBuilder is a policy other than round_robin that publishes
// endpointsharding's picker (here over pick_first): the policy does not
// stand in for pickers it does not know the children of.
type shardingBuilder struct{}

func (shardingBuilder) Name() string { return "outlier_test_sharding" }

func (shardingBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return endpointsharding.NewBalancer(cc, opts, balancer.Get(pickfirst.Name).Build, endpointsharding.Options{})
}

func init() { balancer.Register(shardingBuilder{}) }

// rrPickerOf waits until the channel's picker is an rrPicker over n
// endpoints, and returns it.
func rrPickerOf(t *testing.T, cc *balancertest.ClientConn, n int) *rrPicker {
	t.Helper()
	var p *rrPicker
	wait.For(t, 5*time.Second, "an rrPicker over every endpoint", func() bool {
		p, _ = cc.State().Picker.(*rrPicker)
		return p != nil && len(p.entries) == n
	})
	return p
}

// Over round_robin, the policy's picker does round_robin's round robin
// itself: every READY endpoint in turn, gRPC's SubConn handed out, each
// call counted for its endpoint; over a child of another kind, even one
// that publishes endpointsharding's picker, it wraps the child's picker.
func TestRRPickerStandsForRoundRobin(t *testing.T) {
	const n, rounds = 4, 25
	for _, tc := range []struct {
		child  string
		wantRR bool
	}{
		{`[{"round_robin":{}}]`, true},
		{`[{"pool":{"connections":1}}]`, false},
		{`[{"outlier_test_sharding":{}}]`, false},
	} {
		t.Run(tc.child, func(t *testing.T) {
			eps := balancertest.Endpoints(n)
			b, cc := build(t, `{"childPolicy":`+tc.child+`}`, eps)
			if _, isRR := cc.State().Picker.(*rrPicker); isRR != tc.wantRR {
				t.Fatalf("picker is %T, want an rrPicker: %v", cc.State().Picker, tc.wantRR)
			}
			if !tc.wantRR {
				return
			}
			p := rrPickerOf(t, cc, n)
			picked := make(map[string]int)
			for range n * rounds {
				res, err := p.Pick(balancer.PickInfo{Ctx: context.Background()})
				if err != nil {
					t.Fatal(err)
				}
				if _, wrapped := res.SubConn.(*subConn); wrapped {
					t.Fatal("a pick handed gRPC the policy's wrapper, not gRPC's SubConn")
				}
				picked[addrOf(res)]++
				res.Done(answered)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			for _, ep := range eps {
				addr := ep.Addresses[0].Addr
				if picked[addr] != rounds {
					t.Errorf("%s picked %d times in %d rounds, want once a round", addr, picked[addr], rounds)
				}
				if got := b.byAddr[addr].successes.Load(); got != rounds {
					t.Errorf("%s: %d calls counted, want %d", addr, got, rounds)
				}
			}
		})
	}
}

// An endpoint ejected after an rrPicker was built is skipped at once, by
// that picker, before the child hears of it; and no rrPicker is built
// over an endpoint that is ejected but still READY to the child.
func TestRRPickerSkipsEjected(t *testing.T) {
	const n = 4
	eps := balancertest.Endpoints(n)
	victim := eps[0].Addresses[0].Addr
	b, cc := build(t, `{"childPolicy":[{"round_robin":{}}]}`, eps)
	p := rrPickerOf(t, cc, n)

	// The ejection, as a sweep makes it, but with the policy's goroutine
	// kept from telling the child: b.mu held until the picks are done.
	b.mu.Lock()
	b.ejectLocked(b.byAddr[victim], time.Now(), "test")
	for range 10 * n {
		res, err := p.Pick(balancer.PickInfo{Ctx: context.Background()})
		if err != nil {
			t.Errorf("pick: %v", err)
			continue
		}
		if addrOf(res) == victim {
			t.Errorf("an rrPicker built before %s was ejected picked it", victim)
		}
	}
	if rr := b.newRRPickerLocked(p.child); rr != nil {
		t.Errorf("an rrPicker was built over the ejected %s, which the child still has READY", victim)
	}
	b.mu.Unlock()
}
