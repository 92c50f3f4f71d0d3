package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// TestProxyCrossCheckWithGHZ measures the proxy scenario's point again
// with a load generator grpclb did not write, ghz, as a process of its
// own: 64 concurrent calls on one connection through grpclb proxy, nginx
// and HAProxy (each its own process), against ghz's own round_robin over
// the lab's DNS name. Three interleaved rounds; it logs the medians of
// each proxy's calls per second relative to the direct path, and its
// added p50 and p99, for the README next to the lab's own figures.
func TestProxyCrossCheckWithGHZ(t *testing.T) {
	measuredWithoutRace(t)
	ghz := testbed.NeedCachedBinary(t, "GRPCLB_GHZ", "ghz-v0.121.0", "ghz")
	testbed.NeedBinary(t, "nginx")
	testbed.NeedBinary(t, "haproxy")
	t.Setenv(GRPCLBBinaryEnv, buildGRPCLB(t))

	w, err := newWorld(3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	protoset := writeProtoset(t)
	hosts := map[string]string{"direct": fmt.Sprintf("dns://%s/%s", w.DNS.Addr, w.Target())}
	fronts := map[string]func(*front, []string) error{"grpclb": startGRPCLB("grpc"), "grpclb-frames": startGRPCLB("frames"), "nginx": startNginx, "haproxy": startHAProxy}
	for name, start := range fronts {
		r, err := startFront(name, start)
		if err != nil {
			t.Fatal(err)
		}
		defer r.close()
		r.sync(w.Fleet.Backends(), nil)
		if err := frontErr(r); err != nil {
			t.Fatal(err)
		}
		hosts[name] = r.(*startedFront).addr
	}

	order := []string{"direct", "grpclb", "grpclb-frames", "nginx", "haproxy"}
	runs := map[string][]ghzReport{}
	for range 3 {
		for _, name := range order {
			rep := runGHZ(t, ghz, protoset, hosts[name], name == "direct")
			t.Logf("%s: %.0f calls/s, p50 %.2f ms, p99 %.2f ms, %d calls", name, rep.RPS, rep.p(50), rep.p(99), rep.Count)
			runs[name] = append(runs[name], rep)
		}
	}
	direct := median(runs["direct"], func(r ghzReport) float64 { return r.RPS })
	directP50 := median(runs["direct"], func(r ghzReport) float64 { return r.p(50) })
	directP99 := median(runs["direct"], func(r ghzReport) float64 { return r.p(99) })
	t.Logf("ghz %s, 64 concurrent calls on one connection, medians of 3: direct round_robin %.0f calls/s, p50 %.2f ms, p99 %.2f ms", "v0.121.0", direct, directP50, directP99)
	for _, name := range order[1:] {
		t.Logf("%s: %.2f of direct, +%.2f ms p50, +%.2f ms p99", name,
			median(runs[name], func(r ghzReport) float64 { return r.RPS })/direct,
			median(runs[name], func(r ghzReport) float64 { return r.p(50) })-directP50,
			median(runs[name], func(r ghzReport) float64 { return r.p(99) })-directP99)
	}
}

// ghzReport is the part of ghz's JSON report the cross-check reads.
type ghzReport struct {
	Count                  int64            `json:"count"`
	RPS                    float64          `json:"rps"`
	StatusCodeDistribution map[string]int64 `json:"statusCodeDistribution"`
	ErrorDistribution      map[string]int64 `json:"errorDistribution"`
	LatencyDistribution    []struct {
		Percentage int           `json:"percentage"`
		Latency    time.Duration `json:"latency"`
	} `json:"latencyDistribution"`
}

// p is the latency at percentile pct in milliseconds, -1 if ghz did not
// report it.
func (r ghzReport) p(pct int) float64 {
	for _, l := range r.LatencyDistribution {
		if l.Percentage == pct {
			return float64(l.Latency) / float64(time.Millisecond)
		}
	}
	return -1
}

// runGHZ runs ghz for 3 s (after 1000 warm-up calls) against host and
// fails the test on any failed call.
func runGHZ(t *testing.T, ghz, protoset, host string, roundRobin bool) ghzReport {
	t.Helper()
	args := []string{"--insecure", "--protoset", protoset, "--call", "grpclb.testbed.v1.Echo/Echo", "-d", "{}",
		"-c", "64", "--connections", "1", "-z", "3s", "--duration-stop", "wait", "--skipFirst", "1000", "-O", "json"}
	if roundRobin {
		args = append(args, "--lb-strategy", "round_robin")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ghz, append(args, host)...).Output()
	if err != nil {
		t.Fatalf("ghz %s: %v\n%s", host, err, out)
	}
	var rep ghzReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("ghz %s: %v\n%s", host, err, out)
	}
	if len(rep.ErrorDistribution) > 0 || rep.StatusCodeDistribution["OK"] != rep.Count || rep.Count < 1000 {
		t.Fatalf("ghz %s: %d calls, codes %v, errors %v", host, rep.Count, rep.StatusCodeDistribution, rep.ErrorDistribution)
	}
	return rep
}

// writeProtoset writes the echo service's descriptor set for ghz.
func writeProtoset(t *testing.T) string {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{protodesc.ToFileDescriptorProto(echopb.File_echo_proto)}}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "echo.protoset")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// buildGRPCLB builds grpclb without the race detector, like the release,
// so its figures as a proxy process compare with nginx's and HAProxy's.
func buildGRPCLB(t *testing.T) string {
	return goBuild(t, "github.com/grpclb/grpclb/cmd/grpclb")
}

// goBuild builds the main package pkg into the test's temporary directory.
func goBuild(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}
