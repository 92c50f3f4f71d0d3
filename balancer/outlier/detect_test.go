package outlier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestJudge(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := newCallParams(cfg)
	sent := func(err error) balancer.DoneInfo {
		return balancer.DoneInfo{Err: err, BytesSent: true, BytesReceived: true}
	}
	for _, tt := range []struct {
		name string
		info balancer.DoneInfo
		want outcome
	}{
		{"ok", sent(nil), succeeded},
		{"stream end", sent(io.EOF), succeeded},
		{"never sent", balancer.DoneInfo{}, ignored},
		{"unavailable", sent(status.Error(codes.Unavailable, "x")), failed},
		{"unavailable before sending", balancer.DoneInfo{Err: status.Error(codes.Unavailable, "x")}, failed},
		{"deadline", sent(status.Error(codes.DeadlineExceeded, "x")), failed},
		{"context deadline", sent(context.DeadlineExceeded), failed},
		{"internal", sent(status.Error(codes.Internal, "x")), failed},
		{"unknown", sent(status.Error(codes.Unknown, "x")), failed},
		{"not a status", sent(errors.New("boom")), failed},
		{"resource exhausted", sent(status.Error(codes.ResourceExhausted, "x")), failed},
		{"not found", sent(status.Error(codes.NotFound, "x")), succeeded},
		{"permission denied", sent(status.Error(codes.PermissionDenied, "x")), succeeded},
		{"cancelled", sent(status.Error(codes.Canceled, "x")), ignored},
		{"context cancelled", sent(context.Canceled), ignored},
		{"wrapped context cancelled", sent(fmt.Errorf("call: %w", context.Canceled)), ignored},
		{"code out of range", sent(status.Error(codes.Code(99), "x")), succeeded},
	} {
		if got := p.judge(tt.info); got != tt.want {
			t.Errorf("%s: judge = %v, want %v", tt.name, got, tt.want)
		}
	}

	cfg, err = ParseConfig([]byte(`{"failureStatusCodes":["NOT_FOUND"]}`))
	if err != nil {
		t.Fatal(err)
	}
	p = newCallParams(cfg)
	if p.judge(sent(status.Error(codes.NotFound, "x"))) != failed || p.judge(sent(status.Error(codes.Unavailable, "x"))) != succeeded {
		t.Error("failureStatusCodes [NOT_FOUND] not applied")
	}
}

func windows(rates ...[2]uint32) []window {
	ws := make([]window, len(rates))
	for i, r := range rates {
		ws[i] = window{successes: r[0], failures: r[1]}
	}
	return ws
}

func TestSuccessRateOutliers(t *testing.T) {
	five := windows([2]uint32{100, 0}, [2]uint32{99, 1}, [2]uint32{100, 0}, [2]uint32{98, 2}, [2]uint32{50, 50})
	def := &SuccessRate{StdevFactor: 1900, EnforcementPercentage: 100, MinimumHosts: 5, RequestVolume: 100}
	for _, tt := range []struct {
		name string
		ws   []window
		cfg  *SuccessRate
		want []int
	}{
		{"one bad of five", five, def, []int{4}},
		{"all good", windows([2]uint32{100, 0}, [2]uint32{100, 0}, [2]uint32{100, 0}, [2]uint32{100, 0}, [2]uint32{100, 0}), def, nil},
		{"too few hosts", five[:4], def, nil},
		{"low volume skipped", append(slices.Clone(five[:4]), window{5, 5}), &SuccessRate{StdevFactor: 1900, MinimumHosts: 4, RequestVolume: 100}, nil},
		// A lone outlier among three is √2 standard deviations away: 1.9 misses it, 1.0 finds it.
		{"three hosts factor 1.9", windows([2]uint32{100, 0}, [2]uint32{100, 0}, [2]uint32{70, 30}), &SuccessRate{StdevFactor: 1900, MinimumHosts: 3, RequestVolume: 10}, nil},
		{"three hosts factor 1.0", windows([2]uint32{100, 0}, [2]uint32{100, 0}, [2]uint32{70, 30}), &SuccessRate{StdevFactor: 1000, MinimumHosts: 3, RequestVolume: 10}, []int{2}},
		{"no hosts", nil, &SuccessRate{MinimumHosts: 0, RequestVolume: 1}, nil},
		{"zero volume never counts", windows([2]uint32{0, 0}, [2]uint32{10, 0}), &SuccessRate{MinimumHosts: 0, RequestVolume: 1}, nil},
	} {
		if got := successRateOutliers(tt.ws, tt.cfg); !slices.Equal(got, tt.want) {
			t.Errorf("%s: outliers = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFailurePercentageOutliers(t *testing.T) {
	cfg := &FailurePercentage{Threshold: 50, MinimumHosts: 2, RequestVolume: 10}
	for _, tt := range []struct {
		name string
		ws   []window
		want []int
	}{
		{"one over", windows([2]uint32{10, 0}, [2]uint32{4, 6}, [2]uint32{9, 1}), []int{1}},
		{"at threshold stays", windows([2]uint32{10, 0}, [2]uint32{5, 5}), nil},
		{"all over", windows([2]uint32{0, 10}, [2]uint32{0, 10}), []int{0, 1}},
		{"low volume skipped", windows([2]uint32{10, 0}, [2]uint32{0, 9}, [2]uint32{10, 0}), nil},
		{"too few hosts", windows([2]uint32{0, 10}, [2]uint32{0, 9}), nil},
	} {
		if got := failurePercentageOutliers(tt.ws, cfg); !slices.Equal(got, tt.want) {
			t.Errorf("%s: outliers = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEjectionTime(t *testing.T) {
	s := time.Second
	for _, tt := range []struct {
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{30 * s, 300 * s, 1, 30 * s},
		{30 * s, 300 * s, 2, 60 * s},
		{30 * s, 300 * s, 10, 300 * s},
		{30 * s, 300 * s, 11, 300 * s},
		{30 * s, 300 * s, 1 << 62, 300 * s},
		{30 * s, 10 * s, 1, 30 * s}, // max below base: base
		{30 * s, 10 * s, 5, 30 * s},
		{30 * s, 300 * s, 0, 30 * s},
	} {
		if got := ejectionTime(tt.base, tt.max, tt.n); got != tt.want {
			t.Errorf("ejectionTime(%v, %v, %d) = %v, want %v", tt.base, tt.max, tt.n, got, tt.want)
		}
	}
}

func TestMayEject(t *testing.T) {
	// allowed returns how many of n endpoints may be ejected at once.
	allowed := func(n, pct int) int {
		e := 0
		for mayEject(e, n, pct) {
			e++
		}
		return e
	}
	for _, tt := range []struct{ n, pct, want int }{
		{1, 10, 0},  // never the last one
		{1, 100, 1}, // unless 100%
		{2, 10, 1},  // always one
		{2, 0, 1},   // always one
		{3, 10, 1},  //
		{3, 50, 1},  // 2 of 3 would be more than 50%
		{4, 50, 2},  //
		{4, 99, 3},  // never all
		{4, 100, 4}, //
		{10, 10, 1}, //
		{10, 25, 2}, // rounded down
		{20, 10, 2}, //
		{100, 50, 50},
	} {
		if got := allowed(tt.n, tt.pct); got != tt.want {
			t.Errorf("%d endpoints, maxEjectionPercent %d: %d may be ejected, want %d", tt.n, tt.pct, got, tt.want)
		}
	}
}
