package proxy_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The backend sees the client's address in x-forwarded-for, appended to
// what an earlier hop wrote.
func TestForwardedFor(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testForwardedFor(t, plane) })
	}
}

func testForwardedFor(t *testing.T, plane string) {
	pr, cc := proxiedProbe(t, plane)
	for _, tc := range []struct{ sent, want string }{
		{"", "127.0.0.1"},
		{"203.0.113.7", "203.0.113.7, 127.0.0.1"},
	} {
		ctx := ctxTimeout(t, 10*time.Second)
		if tc.sent != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "x-forwarded-for", tc.sent)
		}
		if err := cc.Invoke(ctx, "/"+probeService+"/Echo", wrapperspb.String("x"), &wrapperspb.StringValue{}); err != nil {
			t.Fatal(err)
		}
		md, _ := pr.seen()
		if got := md.Get("x-forwarded-for"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("sent %q: the backend saw x-forwarded-for %q, want %q", tc.sent, got, tc.want)
		}
	}
}
