// Package depcheck holds a test that keeps grpclb's core light: importing
// a balancer, the pools, the server options or the DNS and static
// resolvers must not link the Kubernetes, Consul or etcd clients, which
// only their own resolver and register packages need.
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// heavy are module path prefixes that must stay out of the core.
var heavy = []string{
	"k8s.io/",
	"sigs.k8s.io/",
	"github.com/hashicorp/consul",
	"go.etcd.io/etcd",
}

// core are the packages that must not depend on them.
var core = []string{
	"github.com/grpclb/grpclb",
	"github.com/grpclb/grpclb/balancer/...",
	"github.com/grpclb/grpclb/endpoint",
	"github.com/grpclb/grpclb/pool",
	"github.com/grpclb/grpclb/resolver/dnspoll",
	"github.com/grpclb/grpclb/resolver/static",
	"github.com/grpclb/grpclb/server",
}

func TestCoreDoesNotLinkRegistryClients(t *testing.T) {
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, core...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list found only %d dependencies: %q", len(deps), deps)
	}
	for _, d := range deps {
		for _, h := range heavy {
			if strings.HasPrefix(d, h) {
				t.Errorf("a core package links %s", d)
			}
		}
	}
	// The check itself works: resolver/kube does link client-go.
	out, err = exec.Command("go", "list", "-deps", "github.com/grpclb/grpclb/resolver/kube").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "k8s.io/client-go/kubernetes\n") {
		t.Errorf("go list -deps resolver/kube does not show client-go (err %v)", err)
	}
}
