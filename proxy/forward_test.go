package proxy_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy"
)

// On both data planes.
func TestUnaryAndBidiThroughProxy(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			_, _, client := proxiedEchoOn(t, plane, 2)
			ctx := ctxTimeout(t, 10*time.Second)
			resp, err := client.Echo(ctx, &echopb.EchoRequest{Payload: []byte("hello")})
			if err != nil {
				t.Fatalf("Echo: %v", err)
			}
			if string(resp.GetPayload()) != "hello" || resp.GetBackend() == "" {
				t.Fatalf("Echo answered %+v", resp)
			}
			stream, err := client.EchoStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if err := stream.Send(&echopb.EchoRequest{Payload: []byte{byte(i)}}); err != nil {
					t.Fatal(err)
				}
				r, err := stream.Recv()
				if err != nil || len(r.GetPayload()) != 1 || r.GetPayload()[0] != byte(i) {
					t.Fatalf("message %d: %v %v", i, r, err)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != io.EOF {
				t.Fatalf("after CloseSend, Recv = %v, want io.EOF", err)
			}
		})
	}
}

// On both data planes.
func TestUnroutedCallsAreUnimplemented(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			f := startFleet(t, 1)
			cfg := oneCluster(staticTarget(f.Addrs()...))
			cfg.Routes = []proxy.Route{{Prefix: "/grpclb.testbed.v1.Echo/EchoS", Cluster: "c"}}
			_, addr := startPlane(t, plane, cfg, proxy.Options{})
			cc := dial(t, addr)
			ctx := ctxTimeout(t, 10*time.Second)
			for _, method := range []string{
				"/nope.Service/Call",
				"/grpclb.testbed.v1.Echo/Echo", // the route is a prefix of EchoStream only
				"/grpclb.testbed.v1.Echox/Echo",
				"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", // reflection is off
				"/grpc.health.v1.Health/Nope",
				"nonsense",
			} {
				err := cc.Invoke(ctx, method, &echopb.EchoRequest{}, &echopb.EchoResponse{})
				if status.Code(err) != codes.Unimplemented {
					t.Errorf("%s: got %v, want UNIMPLEMENTED", method, err)
				}
				if strings.HasPrefix(method, "/") && !strings.Contains(status.Convert(err).Message(), method) {
					t.Errorf("%s: message %q does not name the method", method, status.Convert(err).Message())
				}
			}
			// The routed prefix works.
			s, err := echopb.NewEchoClient(cc).EchoStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(&echopb.EchoRequest{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatalf("routed EchoStream: %v", err)
			}
		})
	}
}

// probe is an upstream that answers every method with a behaviour chosen
// by the method name, records what it saw, and speaks StringValue.
type probe struct {
	mu        sync.Mutex
	md        metadata.MD
	deadline  time.Time
	cancelled chan struct{} // closed when a Hang call's context ends
	once      sync.Once
}

const probeService = "probe.Probe"

func startProbe(t *testing.T) (*probe, string) {
	t.Helper()
	pr := &probe{cancelled: make(chan struct{})}
	return pr, balancertest.ServeGRPC(t, grpc.NewServer(grpc.UnknownServiceHandler(pr.handle)))
}

func (pr *probe) handle(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	ctx := ss.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	dl, _ := ctx.Deadline()
	pr.mu.Lock()
	pr.md, pr.deadline = md, dl
	pr.mu.Unlock()
	switch strings.TrimPrefix(method, "/"+probeService+"/") {
	case "Echo": // echo messages; header, trailer and status from the request's metadata
		if err := ss.SendHeader(metadata.Pairs("x-initial", first(md, "x-initial"), "x-initial-bin", first(md, "x-bin-bin"))); err != nil {
			return err
		}
		ss.SetTrailer(metadata.Pairs("x-trailer", "t1", "x-trailer-bin", "\x00\x01\xff"))
		for {
			var m wrapperspb.StringValue
			if err := ss.RecvMsg(&m); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
			if err := ss.SendMsg(&m); err != nil {
				return err
			}
		}
		if first(md, "x-fail") != "" {
			st, _ := status.New(codes.FailedPrecondition, "wanted: "+first(md, "x-fail")).
				WithDetails(wrapperspb.String("detail one"), wrapperspb.Int64(42))
			return st.Err()
		}
		return nil
	case "HeaderThenError": // a header, no message, an error
		if err := ss.SendHeader(metadata.Pairs("x-initial", "h")); err != nil {
			return err
		}
		return status.Error(codes.ResourceExhausted, "no more")
	case "Hang": // wait for the caller to go away
		<-ctx.Done()
		pr.once.Do(func() { close(pr.cancelled) })
		return ctx.Err()
	case "EndEarly": // end while the client is still sending
		var m wrapperspb.StringValue
		if err := ss.RecvMsg(&m); err != nil {
			return err
		}
		return status.Error(codes.Aborted, "ended early")
	}
	return status.Error(codes.Unimplemented, "probe: "+method)
}

func (pr *probe) seen() (metadata.MD, time.Time) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.md, pr.deadline
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

var bidi = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

func proxiedProbe(t *testing.T, plane string) (*probe, *grpc.ClientConn) {
	t.Helper()
	pr, addr := startProbe(t)
	return pr, dial(t, startOn(t, plane, oneCluster("passthrough:///"+addr, probeService)), grpc.WithUserAgent("probe-client"))
}

// TestHeadersTrailersStatusDetails checks what crosses the proxy: request
// metadata (text and binary) without hop-by-hop headers, the deadline,
// response headers and trailers, the status code, message and details.
func TestHeadersTrailersStatusDetails(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testHeadersTrailersStatusDetails(t, plane) })
	}
}

func testHeadersTrailersStatusDetails(t *testing.T, plane string) {
	pr, cc := proxiedProbe(t, plane)
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx,
		"x-initial", "hello", "x-bin-bin", "\x00\xfe", "x-multi", "a", "x-multi", "b",
		"x-fail", "please")
	var hdr, tr metadata.MD
	cs, err := cc.NewStream(ctx, bidi, "/probe.Probe/Echo", grpc.Header(&hdr), grpc.Trailer(&tr))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two", ""} {
		if err := cs.SendMsg(wrapperspb.String(s)); err != nil {
			t.Fatal(err)
		}
		var got wrapperspb.StringValue
		if err := cs.RecvMsg(&got); err != nil || got.GetValue() != s {
			t.Fatalf("echo of %q: %q, %v", s, got.GetValue(), err)
		}
	}
	if err := cs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	err = cs.RecvMsg(&wrapperspb.StringValue{})
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || st.Message() != "wanted: please" {
		t.Fatalf("status = %v, want FAILED_PRECONDITION \"wanted: please\"", err)
	}
	details := st.Details()
	if len(details) != 2 || !proto.Equal(details[0].(proto.Message), wrapperspb.String("detail one")) || !proto.Equal(details[1].(proto.Message), wrapperspb.Int64(42)) {
		t.Errorf("details = %v", details)
	}
	if first(hdr, "x-initial") != "hello" || first(hdr, "x-initial-bin") != "\x00\xfe" {
		t.Errorf("response header = %v", hdr)
	}
	if first(tr, "x-trailer") != "t1" || first(tr, "x-trailer-bin") != "\x00\x01\xff" {
		t.Errorf("trailer = %v", tr)
	}
	md, dl := pr.seen()
	if got := md.Get("x-multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("upstream saw x-multi = %q", got)
	}
	// The grpc-go data plane makes a call of its own; the frame relay
	// passes the client's on.
	if ua := first(md, "user-agent"); plane == "grpc" && !strings.HasPrefix(ua, "grpclb-proxy") || plane == "frames" && !strings.HasPrefix(ua, "probe-client") {
		t.Errorf("%s data plane: upstream user-agent = %q", plane, ua)
	}
	if left := time.Until(dl); left <= 0 || left > 7*time.Second {
		t.Errorf("upstream deadline in %v, want within the client's 7s", left)
	}
}

func TestHeaderThenErrorWithoutMessages(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testHeaderThenErrorWithoutMessages(t, plane) })
	}
}

func testHeaderThenErrorWithoutMessages(t *testing.T, plane string) {
	_, cc := proxiedProbe(t, plane)
	var hdr metadata.MD
	err := cc.Invoke(ctxTimeout(t, 5*time.Second), "/probe.Probe/HeaderThenError", wrapperspb.String("x"), &wrapperspb.StringValue{}, grpc.Header(&hdr))
	if status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != "no more" {
		t.Fatalf("got %v", err)
	}
	if first(hdr, "x-initial") != "h" {
		t.Errorf("header = %v", hdr)
	}
}

// TestCancellation: a client's cancel reaches the upstream; an upstream's
// end reaches the client, while the client is still sending; a deadline
// passes through as DEADLINE_EXCEEDED.
func TestCancellation(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testCancellation(t, plane) })
	}
}

func testCancellation(t *testing.T, plane string) {
	t.Run("client cancels", func(t *testing.T) {
		pr, cc := proxiedProbe(t, plane)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cs, err := cc.NewStream(ctx, bidi, "/probe.Probe/Hang")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(wrapperspb.String("x")); err != nil {
			t.Fatal(err)
		}
		wait.For(t, 5*time.Second, "the upstream call started", func() bool { md, _ := pr.seen(); return md != nil })
		cancel()
		select {
		case <-pr.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream call was not cancelled within 5s of the client's cancel")
		}
		if err := cs.RecvMsg(&wrapperspb.StringValue{}); status.Code(err) != codes.Canceled {
			t.Errorf("client got %v, want CANCELED", err)
		}
	})
	t.Run("upstream ends first", func(t *testing.T) {
		_, cc := proxiedProbe(t, plane)
		cs, err := cc.NewStream(ctxTimeout(t, 5*time.Second), bidi, "/probe.Probe/EndEarly")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(wrapperspb.String("x")); err != nil {
			t.Fatal(err)
		}
		// The client never half-closes: the upstream's end must still end
		// the client's stream.
		if err := cs.RecvMsg(&wrapperspb.StringValue{}); status.Code(err) != codes.Aborted {
			t.Errorf("client got %v, want ABORTED", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		pr, cc := proxiedProbe(t, plane)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := cc.Invoke(ctx, "/probe.Probe/Hang", wrapperspb.String("x"), &wrapperspb.StringValue{})
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("client got %v, want DEADLINE_EXCEEDED", err)
		}
		select {
		case <-pr.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the upstream call outlived the client's deadline by 5s")
		}
		if _, dl := pr.seen(); dl.IsZero() {
			t.Error("the upstream call had no deadline")
		}
	})
}

// TestUpstreamUnavailable: a cluster with no reachable backend fails calls
// with UNAVAILABLE naming the cluster, not a hang and not the channel's
// message (an upstream address), which goes to the log, once.
// On both data planes.
func TestUpstreamUnavailable(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) {
			for _, plane := range dataPlanes {
				t.Run(plane, func(t *testing.T) { testUpstreamUnavailable(t, plane) })
			}
		})
	}
}

func testUpstreamUnavailable(t *testing.T, plane string) {
	dead := testbed.RefusingAddr(t)
	var log testbed.SyncBuffer
	cfg, opts := oneCluster("passthrough:///"+dead, echoService), proxy.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}
	var addr string
	want := "grpclb proxy: no healthy upstream for cluster c"
	if plane == "frames" {
		f, err := proxy.NewFrames(cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		addr, want = balancertest.Serve(t, f.Serve, f.Stop), "framerelay: no healthy upstream for cluster c"
	} else {
		_, addr = startProxy(t, cfg, opts)
	}
	client := echopb.NewEchoClient(dial(t, addr))
	for range 3 {
		_, err := client.Echo(ctxTimeout(t, 10*time.Second), &echopb.EchoRequest{})
		if status.Code(err) != codes.Unavailable || status.Convert(err).Message() != want {
			t.Fatalf("got %v, want UNAVAILABLE: %s", err, want)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the call waited for its deadline")
		}
	}
	if n := strings.Count(log.String(), "no healthy upstream"); n != 1 || !strings.Contains(log.String(), dead) {
		t.Errorf("log has %d lines about it, want 1 naming %s:\n%s", n, dead, log.String())
	}
}

// A status from an endpoint passes unchanged, UNAVAILABLE too.
func TestEndpointUnavailablePassesThrough(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testEndpointUnavailablePassesThrough(t, plane) })
	}
}

func testEndpointUnavailablePassesThrough(t *testing.T, plane string) {
	_, cc := proxiedProbe(t, plane)
	err := cc.Invoke(ctxTimeout(t, 10*time.Second), "/"+probeService+"/Nope", wrapperspb.String("x"), &wrapperspb.StringValue{})
	if status.Code(err) != codes.Unimplemented || status.Convert(err).Message() != "probe: /"+probeService+"/Nope" {
		t.Fatalf("got %v, want the probe's own UNIMPLEMENTED", err)
	}
}

// A :path that is not exactly /service/method never reaches a backend,
// even when a route's prefix matches it: a hop behind the proxy that
// normalised it could turn it into a method the route keeps out.
func TestNonCanonicalPathsAreRefused(t *testing.T) {
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testNonCanonicalPathsAreRefused(t, plane) })
	}
}

func testNonCanonicalPathsAreRefused(t *testing.T, plane string) {
	pr, addr := startProbe(t)
	cfg := oneCluster("passthrough:///" + addr)
	cfg.Routes = []proxy.Route{{Prefix: "/" + probeService + "/Echo", Cluster: "c"}}
	cc := dial(t, startOn(t, plane, cfg))
	ctx := ctxTimeout(t, 10*time.Second)
	for _, method := range []string{
		"/" + probeService + "/Echo/../Hang",
		"/" + probeService + "/Echo/../../other.Service/Delete",
		"/" + probeService + "/Echo/",
		"/" + probeService + "/Echo%2F..%2FHang",
		"/" + probeService + "/Echo/./x",
	} {
		err := cc.Invoke(ctx, method, wrapperspb.String("x"), &wrapperspb.StringValue{})
		if status.Code(err) != codes.Unimplemented || !strings.Contains(status.Convert(err).Message(), "malformed method path") {
			t.Errorf("%s: got %v, want UNIMPLEMENTED: malformed method path", method, err)
		}
	}
	if md, _ := pr.seen(); md != nil {
		t.Fatalf("a malformed path reached the backend (metadata %v)", md)
	}
	// The canonical path under the same route still works.
	if err := cc.Invoke(ctx, "/"+probeService+"/Echo", wrapperspb.String("x"), &wrapperspb.StringValue{}); err != nil {
		t.Fatalf("/%s/Echo: %v", probeService, err)
	}
}
