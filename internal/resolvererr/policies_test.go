package resolvererr_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb"
	_ "github.com/grpclb/grpclb/balancer/chash"
	_ "github.com/grpclb/grpclb/balancer/outlier"
	_ "github.com/grpclb/grpclb/balancer/p2c"
	_ "github.com/grpclb/grpclb/balancer/pool"
	_ "github.com/grpclb/grpclb/balancer/subset"
	_ "github.com/grpclb/grpclb/balancer/wrr"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// Every grpclb policy, through a real channel: once a resolver that had
// published a set empties it and says why (a Service scaled to zero, a
// registry prefix emptied), calls fail with the resolver's words, not with
// endpointsharding's "no children to pick from".
func TestPoliciesShowTheResolverError(t *testing.T) {
	fleet := testbed.FleetFor(t, 2, testbed.FleetConfig{})
	var set resolver.State
	for _, a := range fleet.Addrs() {
		set.Endpoints = append(set.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	const why = "registry: service echo has no instance left"
	tests := []struct {
		name string
		dial func(target string, r *manual.Resolver) (*grpc.ClientConn, error)
	}{}
	for _, p := range []struct{ name, config string }{
		{"p2c_ewma", `{"p2c_ewma":{}}`},
		{"consistent_hash", `{"consistent_hash":{}}`},
		{"wrr", `{"wrr":{}}`},
		{"outlier_ejection over round_robin", `{"outlier_ejection":{"childPolicy":[{"round_robin":{}}]}}`},
		{"outlier_ejection over p2c_ewma", `{"outlier_ejection":{"childPolicy":[{"p2c_ewma":{}}]}}`},
		{"pool", `{"pool":{"connections":2}}`},
		{"deterministic_subset over round_robin", `{"deterministic_subset":{"subsetSize":1,"clientCount":2,"clientIndex":0,"childPolicy":[{"round_robin":{}}]}}`},
		{"pick_first", `{"pick_first":{}}`},
	} {
		config := `{"loadBalancingConfig":[` + p.config + `]}`
		tests = append(tests, struct {
			name string
			dial func(string, *manual.Resolver) (*grpc.ClientConn, error)
		}{p.name, func(target string, r *manual.Resolver) (*grpc.ClientConn, error) {
			return grpc.NewClient(target, grpc.WithResolvers(r), grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultServiceConfig(config))
		}})
	}
	tests = append(tests, struct {
		name string
		dial func(string, *manual.Resolver) (*grpc.ClientConn, error)
	}{"grpclb.NewClient", func(target string, r *manual.Resolver) (*grpc.ClientConn, error) {
		return grpclb.NewClient(target, grpclb.WithDialOptions(grpc.WithResolvers(r), grpc.WithTransportCredentials(insecure.NewCredentials())))
	}})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := manual.NewBuilderWithScheme("emptied")
			r.InitialState(set)
			cc, err := tt.dial("emptied:///echo", r)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			c := echopb.NewEchoClient(cc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true)); err != nil {
				t.Fatalf("with the set: %v", err)
			}
			r.UpdateState(resolver.State{})
			r.CC().ReportError(errors.New(why))
			var last error
			for ctx.Err() == nil {
				callCtx, cancel := context.WithTimeout(ctx, time.Second)
				_, last = c.Echo(callCtx, &echopb.EchoRequest{})
				cancel()
				if status.Code(last) == codes.Unavailable && strings.Contains(last.Error(), why) {
					return
				}
			}
			t.Fatalf("within 10s no call failed with UNAVAILABLE and the resolver's error; last: %v", last)
		})
	}
}
