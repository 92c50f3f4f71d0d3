package proxy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/proxy"
)

// describes reports whether the reflection service behind cc describes
// symbol (grpcurl describe).
func describes(t *testing.T, cc *grpc.ClientConn, symbol string) bool {
	t.Helper()
	stream, err := rpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctxTimeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetFileDescriptorResponse() != nil
}

// reflection: {cluster: X} sends reflection to X's backends, which list
// and describe the routed service; reflection: true answers for the proxy
// alone, which lists and describes its own services and nothing else that
// its binary holds. On both data planes.
func TestReflectionFromACluster(t *testing.T) {
	f := startFleet(t, 2)
	for _, plane := range dataPlanes {
		t.Run(plane, func(t *testing.T) { testReflectionFromACluster(t, f, plane) })
	}
}

func testReflectionFromACluster(t *testing.T, f *testbed.Fleet, plane string) {
	for _, tc := range []struct {
		name       string
		reflection proxy.Reflection
		lists      []string // services listed (at least, for a cluster)
		describes  bool     // the routed service's symbol
	}{
		{"cluster", proxy.Reflection{Cluster: "c"}, []string{echoService, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"}, true},
		{"local", proxy.Reflection{Local: true}, []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oneCluster(staticTarget(f.Addrs()...), echoService)
			cfg.Reflection = tc.reflection
			cc := dial(t, startOn(t, plane, cfg))
			names := testbed.ReflectedServices(ctxTimeout(t, 10*time.Second), t, cc)
			slices.Sort(names)
			want := slices.Clone(tc.lists)
			slices.Sort(want)
			if tc.reflection.Local && !slices.Equal(names, want) || !tc.reflection.Local && !containsAll(names, want) {
				t.Errorf("reflection lists %v, want %v", names, want)
			}
			if got := describes(t, cc, echoService); got != tc.describes {
				t.Errorf("describe %s: %v, want %v", echoService, got, tc.describes)
			}
			if !describes(t, cc, "grpc.health.v1.Health") {
				t.Error("describe grpc.health.v1.Health failed")
			}
		})
	}
}

func TestReflectionConfig(t *testing.T) {
	for yaml, want := range map[string]string{
		"reflection: {cluster: nope}\n": `reflection.cluster: "nope" is not a defined cluster`,
		"reflection: {clusters: c}\n":   `field "reflection": must be true, false or {cluster: NAME}: unknown field "clusters"`,
		"reflection: 1\n":               `field "reflection": must be true, false or {cluster: NAME}`,
	} {
		_, err := proxy.ParseConfig([]byte(goodConfig + yaml))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", yaml, err, want)
		}
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
