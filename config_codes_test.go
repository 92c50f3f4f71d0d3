package grpclb

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/jsonconf"
)

// Every code that can be retried makes a service config grpc-go accepts:
// its parser knows CANCELLED, not Go's CANCELED.
func TestRetryCodesMakeConfigsGRPCAccepts(t *testing.T) {
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		p := RetryPolicy{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: time.Second, BackoffMultiplier: 2, Codes: []codes.Code{c}}
		sc, err := ServiceConfig(WithRetryPolicy(p), WithIdempotent("pkg.Svc"))
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if !strings.Contains(sc, `"`+jsonconf.CodeName(c)+`"`) {
			t.Errorf("%v: service config %s lacks %q", c, sc, jsonconf.CodeName(c))
		}
		cc, err := grpc.NewClient("passthrough:///unused", grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultServiceConfig(sc))
		if err != nil {
			t.Errorf("%v: grpc-go rejects the service config: %v", c, err)
			continue
		}
		cc.Close()
	}
}

// A backoff multiplier that is not a positive finite number is refused
// with the field named, not accepted and failed later by encoding/json.
func TestRetryBackoffMultiplierMustBeFinite(t *testing.T) {
	for _, m := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		p := RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Second, BackoffMultiplier: m, Codes: []codes.Code{codes.Unavailable}}
		_, err := ServiceConfig(WithRetryPolicy(p), WithIdempotent("pkg.Svc"))
		if err == nil || !strings.Contains(err.Error(), "BackoffMultiplier") {
			t.Errorf("multiplier %v: error %v, want one naming BackoffMultiplier", m, err)
		}
	}
}
