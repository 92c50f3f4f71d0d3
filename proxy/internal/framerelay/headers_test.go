package framerelay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// headerEcho answers Echo with the request headers it received, one
// "name=value" line each.
type headerEcho struct{ echopb.UnimplementedEchoServer }

func (headerEcho) Echo(ctx context.Context, _ *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var lines []string
	for k, vs := range md {
		for _, v := range vs {
			lines = append(lines, k+"="+v)
		}
	}
	return &echopb.EchoResponse{Payload: []byte(strings.Join(lines, "\n"))}, nil
}

// TestRequestHeaders: the backend sees the client's headers, its own
// x-forwarded-for with the client's address appended, and gRPC's headers
// (timeout, encodings) as the client sent them, but not the client's
// retry count.
func TestRequestHeaders(t *testing.T) {
	s := grpc.NewServer()
	echopb.RegisterEchoServer(s, headerEcho{})
	c := echopb.NewEchoClient(dial(t, startRelay(t, balancertest.ServeGRPC(t, s))))
	for _, tc := range []struct {
		name string
		md   metadata.MD
		want []string
	}{
		{"no x-forwarded-for", metadata.Pairs("x-user", "u1"), []string{"x-user=u1", "x-forwarded-for=127.0.0.1"}},
		{"with x-forwarded-for", metadata.Pairs("x-forwarded-for", "10.0.0.1", "x-forwarded-for", "10.0.0.2"),
			[]string{"x-forwarded-for=10.0.0.1, 10.0.0.2, 127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.md.Set("grpc-previous-rpc-attempts", "2")
			ctx := metadata.NewOutgoingContext(testbed.Context(t, 10*time.Second), tc.md)
			resp, err := c.Echo(ctx, &echopb.EchoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got := "\n" + string(resp.GetPayload()) + "\n"
			for _, w := range append(tc.want, "content-type=application/grpc", ":authority=") {
				if !strings.Contains(got, "\n"+w) {
					t.Errorf("the backend did not see %q; it saw:%s", w, got)
				}
			}
			if strings.Contains(got, "grpc-previous-rpc-attempts") || strings.Count(got, "x-forwarded-for=") != 1 {
				t.Errorf("want one x-forwarded-for and no grpc-previous-rpc-attempts; the backend saw:%s", got)
			}
		})
	}
}
