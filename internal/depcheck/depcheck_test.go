// Package depcheck holds the tests that keep grpclb's core light. The core
// module (the repository root: the client, balancer/*, hedge, endpoint,
// pool, server, metrics and the DNS and static resolvers) must not bring
// the Kubernetes, etcd or Consul clients into an importer's module graph,
// where minimal version selection would upgrade the importer's own copies:
// each of those lives in a module of its own (resolver/kube,
// resolver/etcd, register/etcd, resolver/consul, register/consul), as do
// the proxy and the tools (cmd/grpclb: the CLI and the lab).
package depcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// heavy are module path prefixes that must stay out of the core's module
// graph.
var heavy = []string{
	"k8s.io/",
	"sigs.k8s.io/",
	"github.com/hashicorp/consul",
	"go.etcd.io/",
}

// unlinked are module path prefixes that core packages must not link
// either. go-control-plane cannot leave the module graph: grpc-go's own
// go.mod requires it (for its xDS packages), so every gRPC module's graph
// names it; no core package links it.
var unlinked = append([]string{"github.com/envoyproxy/go-control-plane"}, heavy...)

// root is the repository root (the core module), two levels up.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at the repository root: %v", err)
	}
	return dir
}

// goIn runs the go command in dir on that module alone (GOWORK=off: the
// workspace would merge every module's graph).
func goIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, msg)
	}
	return string(out)
}

// heavyIn returns the lines of text that name a heavy module.
func heavyIn(text string) []string { return naming(text, heavy) }

// naming returns the lines of text that start with one of prefixes.
func naming(text string, prefixes []string) []string {
	var found []string
	for _, line := range strings.Split(text, "\n") {
		for _, h := range prefixes {
			if strings.HasPrefix(line, h) {
				found = append(found, line)
			}
		}
	}
	return found
}

// The core module's graph (go list -m all) names no heavy module, and the
// check can fail: resolver/kube's graph does name client-go.
func TestCoreModuleGraphIsLight(t *testing.T) {
	dir := root(t)
	all := goIn(t, dir, "list", "-m", "all")
	if n := len(strings.Fields(all)); n < 5 {
		t.Fatalf("go list -m all in the core found only %d modules:\n%s", n, all)
	}
	if found := heavyIn(all); len(found) > 0 {
		t.Errorf("the core module's graph names heavy modules:\n%s", strings.Join(found, "\n"))
	}
	kube := goIn(t, filepath.Join(dir, "resolver", "kube"), "list", "-m", "all")
	if !strings.Contains(kube, "k8s.io/client-go ") {
		t.Errorf("resolver/kube's module graph does not name k8s.io/client-go: the check is blind")
	}
}

// A module that imports only the core (examples/consumer) has a go.sum
// free of the heavy modules.
func TestConsumerGoSumIsLight(t *testing.T) {
	dir := filepath.Join(root(t), "examples", "consumer")
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if found := heavyIn(string(sum)); len(found) > 0 {
		t.Errorf("examples/consumer/go.sum names heavy modules:\n%s", strings.Join(found, "\n"))
	}
	if !strings.Contains(string(sum), "google.golang.org/grpc ") {
		t.Errorf("examples/consumer/go.sum does not name grpc-go: not the go.sum of a gRPC consumer")
	}
	all := goIn(t, dir, "list", "-m", "all")
	if found := heavyIn(all); len(found) > 0 {
		t.Errorf("examples/consumer's module graph names heavy modules:\n%s", strings.Join(found, "\n"))
	}
}

// core are the packages of the core module.
var core = []string{
	"github.com/grpclb/grpclb",
	"github.com/grpclb/grpclb/balancer/...",
	"github.com/grpclb/grpclb/endpoint",
	"github.com/grpclb/grpclb/hedge",
	"github.com/grpclb/grpclb/metrics",
	"github.com/grpclb/grpclb/pool",
	"github.com/grpclb/grpclb/resolver/dnspoll",
	"github.com/grpclb/grpclb/resolver/static",
	"github.com/grpclb/grpclb/server",
}

// No core package links a heavy module (with their tests' imports too).
func TestCorePackagesLinkNoHeavyModule(t *testing.T) {
	args := append([]string{"list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, core...)
	deps := strings.Fields(goIn(t, root(t), args...))
	if len(deps) < 10 {
		t.Fatalf("go list found only %d dependencies: %q", len(deps), deps)
	}
	if found := naming(strings.Join(deps, "\n"), unlinked); len(found) > 0 {
		t.Errorf("core packages link heavy modules:\n%s", strings.Join(found, "\n"))
	}
}
