// Command gateway is grpc-gateway (HTTP/JSON) in front of a grpclb client
// balanced over several gRPC backends.
//
// A gateway is the usual way browsers and other HTTP clients reach gRPC
// services, and it is a gRPC client itself: with grpc-go's defaults it
// keeps one connection to one backend, so every HTTP request the gateway
// serves lands there, however many backends the service has. Dialed with
// grpclb.NewClient, its calls are balanced per request.
//
//	go run ./examples/gateway                      # 3 local backends, gateway on 127.0.0.1:8080
//	curl -s -XPOST 127.0.0.1:8080/v1/echo -d '{"message":"hi"}'
//	go run ./examples/gateway --requests 300       # send 300 requests itself and print the spread
//	go run ./examples/gateway --target dnspoll:///echo.internal:50051 --listen :8080
//
// The handler is what protoc-gen-grpc-gateway generates for
// `post: "/v1/echo" body: "*"` on the Echo method, written out by hand so
// that the example needs no code generation. The service (backend.go) is
// the example's own: it echoes any JSON object and adds "backend", the
// name of the backend that answered. The example imports nothing of
// grpclb's but its public packages: copy the directory out, drop the
// replace line from its go.mod and `go mod tidy` it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/grpclb/grpclb"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	target := fs.String("target", "", "the gRPC service (any grpclb target); default: 3 backends started here")
	listen := fs.String("listen", "127.0.0.1:8080", "the gateway's HTTP address")
	requests := fs.Int("requests", 0, "send this many HTTP requests to the gateway, print how they spread, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		bs, err := startBackends(3)
		if err != nil {
			return err
		}
		defer bs.Close()
		*target = "static:///" + strings.Join(bs.addrs, ",")
		fmt.Fprintf(out, "backends: %s\n", strings.Join(bs.addrs, " "))
	}
	g, err := newGateway(*target)
	if err != nil {
		return err
	}
	defer g.Close()
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: g.mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(lis)
	defer srv.Close()
	url := "http://" + lis.Addr().String() + "/v1/echo"
	fmt.Fprintf(out, "gateway: POST %s -> %s\n", url, *target)

	if *requests > 0 {
		spread, err := send(url, *requests)
		if err != nil {
			return err
		}
		printSpread(out, spread, *requests)
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

// gateway is the HTTP mux and the balanced gRPC client behind it.
type gateway struct {
	mux *runtime.ServeMux
	cc  *grpc.ClientConn
}

func newGateway(target string) (*gateway, error) {
	cc, err := grpclb.NewClient(target,
		grpclb.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())),
		grpclb.WithIdempotent(echoService))
	if err != nil {
		return nil, err
	}
	g := &gateway{mux: runtime.NewServeMux(), cc: cc}
	err = g.mux.HandlePath(http.MethodPost, "/v1/echo", func(w http.ResponseWriter, r *http.Request, _ map[string]string) {
		// As the generated handler does: annotate, decode, call, forward.
		inbound, outbound := runtime.MarshalerForRequest(g.mux, r)
		ctx, err := runtime.AnnotateContext(r.Context(), g.mux, r, echoMethod)
		if err != nil {
			runtime.HTTPError(ctx, g.mux, outbound, w, r, err)
			return
		}
		req := new(structpb.Struct)
		if err := inbound.NewDecoder(r.Body).Decode(req); err != nil && !errors.Is(err, io.EOF) {
			runtime.HTTPError(ctx, g.mux, outbound, w, r, err)
			return
		}
		var md runtime.ServerMetadata
		resp := new(structpb.Struct)
		err = cc.Invoke(ctx, echoMethod, req, resp, grpc.Header(&md.HeaderMD), grpc.Trailer(&md.TrailerMD))
		if err != nil {
			runtime.HTTPError(ctx, g.mux, outbound, w, r, err)
			return
		}
		ctx = runtime.NewServerMetadataContext(ctx, md)
		runtime.ForwardResponseMessage(ctx, g.mux, outbound, w, r, resp)
	})
	if err != nil {
		cc.Close()
		return nil, err
	}
	return g, nil
}

func (g *gateway) Close() error { return g.cc.Close() }

// send makes n HTTP requests and counts the backend that answered each.
func send(url string, n int) (map[string]int, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	spread := make(map[string]int)
	for range n {
		resp, err := hc.Post(url, "application/json", strings.NewReader(`{"message":"hi"}`))
		if err != nil {
			return spread, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return spread, fmt.Errorf("HTTP %d: %s %v", resp.StatusCode, body, err)
		}
		var r structpb.Struct
		if err := (&runtime.JSONPb{}).Unmarshal(body, &r); err != nil {
			return spread, fmt.Errorf("response %s: %w", body, err)
		}
		if r.GetFields()["message"].GetStringValue() != "hi" {
			return spread, fmt.Errorf("response %s does not echo the message", body)
		}
		spread[r.GetFields()["backend"].GetStringValue()]++
	}
	return spread, nil
}

func printSpread(out io.Writer, spread map[string]int, n int) {
	names := make([]string, 0, len(spread))
	for b := range spread {
		names = append(names, b)
	}
	sort.Strings(names)
	fmt.Fprintf(out, "%d HTTP requests through the gateway were answered by:\n", n)
	for _, b := range names {
		fmt.Fprintf(out, "  %-4s %4d (%.0f%%)\n", b, spread[b], 100*float64(spread[b])/float64(n))
	}
}

// serve serves the gateway on lis until lis is closed.
func serve(lis net.Listener, g *gateway) {
	srv := &http.Server{Handler: g.mux, ReadHeaderTimeout: 5 * time.Second}
	_ = srv.Serve(lis)
}
