package proxy_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpclb/grpclb/proxy"
)

// A route's timeout caps its calls' deadline: a call without one (or with
// a later one) ends DEADLINE_EXCEEDED, and the backend sees the capped
// deadline; an earlier deadline of the caller's stays. On both data
// planes.
func TestRouteTimeoutCapsTheDeadline(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testRouteTimeoutCapsTheDeadline(t, plane) })
	}
}

func testRouteTimeoutCapsTheDeadline(t *testing.T, plane string) {
	pr, addr := startProbe(t)
	cfg := oneCluster("passthrough:///" + addr)
	cfg.Routes = []proxy.Route{{Service: probeService, Cluster: "c", Timeout: proxy.Duration(300 * time.Millisecond)}}
	cc := dial(t, startOn(t, plane, cfg))

	start := time.Now()
	err := cc.Invoke(ctxTimeout(t, time.Minute), "/"+probeService+"/Hang", wrapperspb.String("x"), &wrapperspb.StringValue{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a hanging call under a 300ms route timeout: %v, want DEADLINE_EXCEEDED", err)
	}
	if _, dl := pr.seen(); dl.IsZero() || dl.After(start.Add(300*time.Millisecond).Add(time.Second)) {
		t.Errorf("the backend saw deadline %v, want one about 300ms after %v", dl, start)
	}

	// The caller's earlier deadline wins.
	ctx := ctxTimeout(t, 100*time.Millisecond)
	want, _ := ctx.Deadline()
	_ = cc.Invoke(ctx, "/"+probeService+"/Hang", wrapperspb.String("x"), &wrapperspb.StringValue{})
	if _, dl := pr.seen(); dl.After(want.Add(50 * time.Millisecond)) {
		t.Errorf("the backend saw deadline %v, later than the caller's %v", dl, want)
	}
}
