package xdsitest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/grpclb/grpclb/internal/itest/kubeapi"
	"github.com/grpclb/grpclb/internal/itest/kubetest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/resolver/kube"
)

// kubeRegistry keeps the service as one EndpointSlice on a real
// kube-apiserver: added backends are ready endpoints; a removed one is
// marked terminating (as while its pod shuts down), and dropped from the
// slice at the next change.
type kubeRegistry struct {
	client kubernetes.Interface
	ns     string
	port   int32           // the backends' port, named "grpc"
	docs   *kubeapi.DocMap // documentation addresses for the loopback backends
	order  []string        // addresses, in the slice's order
	state  map[string]bool // address -> terminating
}

// dialOptions map the slice's documentation addresses, which an
// EndpointSlice accepts, back to the loopback backends, which it does not.
func (r *kubeRegistry) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithContextDialer(r.docs.Dial)}
}

func (r *kubeRegistry) target() string { return "kubernetes:///echo." + r.ns + ":grpc" }

func (r *kubeRegistry) add(t *testing.T, b *testbed.Backend) {
	t.Helper()
	r.dropTerminated()
	r.port = int32(netip.MustParseAddrPort(b.Addr).Port()) // a fleet's backends share one port
	r.order = append(r.order, b.Addr)
	r.state[b.Addr] = false
	r.apply(t)
}

func (r *kubeRegistry) remove(t *testing.T, b *testbed.Backend) {
	t.Helper()
	r.dropTerminated()
	r.state[b.Addr] = true
	r.apply(t)
}

func (r *kubeRegistry) dropTerminated() {
	var keep []string
	for _, a := range r.order {
		if r.state[a] {
			delete(r.state, a)
			continue
		}
		keep = append(keep, a)
	}
	r.order = keep
}

// apply writes the slice: created the first time, then updated.
func (r *kubeRegistry) apply(t *testing.T) {
	t.Helper()
	ptr := func(v bool) *bool { return &v }
	name, proto := "grpc", corev1.ProtocolTCP
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: "echo-xds", Namespace: r.ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: "echo", discoveryv1.LabelManagedBy: "grpclb-xdsitest"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &r.port, Protocol: &proto}},
	}
	for _, a := range r.order {
		term := r.state[a]
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{r.docs.V4(a)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(!term), Serving: ptr(true), Terminating: ptr(term)},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kubeapi.ApplySlice(ctx, r.client, s); err != nil {
		t.Fatal(err)
	}
}

// grpc-go's xDS client follows a Service's EndpointSlices on a real
// kube-apiserver; a terminating endpoint gets no more calls.
func TestXDSFollowsKubernetes(t *testing.T) {
	s := kubetest.Start(t)
	ns := s.Namespace(t)
	// The control plane's kubernetes:// resolver uses this API server (the
	// registry is global: the tests of this package run one at a time).
	resolver.Register(kube.NewBuilder(kube.Options{Kubeconfig: s.WriteKubeconfig(t, s.AdminToken(), ns)}))
	followsRegistry(t, &kubeRegistry{client: s.Client(), ns: ns, state: map[string]bool{}, docs: kubeapi.NewDocMap()})
}
