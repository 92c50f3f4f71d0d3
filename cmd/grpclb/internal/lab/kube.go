package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/itest/kubeapi"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/resolver/kube"
)

// kubeService is the Service the lab's backends are the pods of.
const kubeService = "backend"

// kubeRegistry keeps an EndpointSlice in step with the lab's backends, as
// the EndpointSlice controller would, in a namespace of its own on either
// the cluster of --kubeconfig or a kube-apiserver the lab starts itself
// (over an etcd process). The slice lists documentation addresses, which
// the client dials through a DocMap onto the backends on 127.0.0.x.
type kubeRegistry struct {
	client kubernetes.Interface
	ns     string
	docs   *kubeapi.DocMap
	own    *kubeapi.Server // nil with --kubeconfig
	etcd   *etcdtest.Server
	dir    string
	kcfg   string // kubeconfig path for the resolver

	mu   sync.Mutex
	port int32 // the backends' port, once seen
}

// kubeAvailable says whether the lab can run the kubernetes strategy.
func kubeAvailable(p Params) error {
	if p.Kubeconfig != "" {
		return nil
	}
	if bin, why := kubeapi.Binary(); bin == "" {
		return fmt.Errorf("the kubernetes strategy needs --kubeconfig or a kube-apiserver binary (./scripts/kube-apiserver.sh builds one): %s", why)
	}
	// The kube-apiserver the lab starts keeps its objects in an etcd process.
	return needBinary("etcd")(p)
}

func startKubeRegistry(p Params) (_ *kubeRegistry, err error) {
	r := &kubeRegistry{docs: kubeapi.NewDocMap()}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.dir, err = os.MkdirTemp("", "grpclb-lab-kube-"); err != nil {
		return nil, err
	}
	r.kcfg = p.Kubeconfig
	if p.Kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		if r.client, err = kubernetes.NewForConfig(cfg); err != nil {
			return nil, err
		}
	} else {
		if err := r.startOwn(); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r.ns, err = kubeapi.CreateNamespace(ctx, r.client, "grpclb-lab-"); err != nil {
		return nil, fmt.Errorf("creating the lab's namespace: %w", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: kubeService},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": kubeService},
			Ports: []corev1.ServicePort{{Name: "grpc", Port: 50051}}},
	}
	if _, err := r.client.CoreV1().Services(r.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating the lab's Service: %w", err)
	}
	return r, nil
}

// startOwn starts an etcd process and a kube-apiserver over it.
func (r *kubeRegistry) startOwn() error {
	bin, why := kubeapi.Binary()
	if bin == "" {
		return errors.New(why)
	}
	var err error
	if r.etcd, err = etcdtest.Launch(filepath.Join(r.dir, "etcd")); err != nil {
		return err
	}
	apiDir := filepath.Join(r.dir, "apiserver")
	if err := os.Mkdir(apiDir, 0o700); err != nil {
		return err
	}
	if r.own, err = kubeapi.Launch(kubeapi.Config{Binary: bin, Etcd: "http://" + r.etcd.Endpoint(), Dir: apiDir}); err != nil {
		return err
	}
	if r.client, err = r.own.Client(); err != nil {
		return err
	}
	r.kcfg = filepath.Join(r.dir, "kubeconfig")
	return r.own.WriteKubeconfig(r.kcfg, r.own.AdminToken(), "")
}

func (r *kubeRegistry) target() string {
	return fmt.Sprintf("kubernetes:///%s.%s:grpc", kubeService, r.ns)
}

func (r *kubeRegistry) resolver() resolver.Builder {
	return kube.NewBuilder(kube.Options{Kubeconfig: r.kcfg, Logger: quiet, MaxBackoff: time.Second})
}

func (r *kubeRegistry) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithContextDialer(r.docs.Dial)}
}

// sync writes the Service's one EndpointSlice: running backends ready,
// terminating ones terminating (still serving), as the controller would.
func (r *kubeRegistry) sync(running, terminating []*testbed.Backend) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(running) > 0 {
		if _, p, err := splitAddr(running[0].Addr); err == nil {
			r.port = int32(p)
		}
	}
	port := r.port
	t := true
	f := false
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      kubeService + "-lab",
			Namespace: r.ns,
			Labels:    map[string]string{discoveryv1.LabelServiceName: kubeService, discoveryv1.LabelManagedBy: "grpclb-lab"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if port != 0 {
		name := "grpc"
		slice.Ports = []discoveryv1.EndpointPort{{Name: &name, Port: &port}}
	}
	isTerm := make(map[*testbed.Backend]bool)
	for _, b := range terminating {
		isTerm[b] = true
	}
	for _, b := range running {
		cond := discoveryv1.EndpointConditions{Ready: &t, Serving: &t, Terminating: &f}
		if isTerm[b] {
			cond = discoveryv1.EndpointConditions{Ready: &f, Serving: &t, Terminating: &t}
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{r.docs.V4(b.Addr)},
			Conditions: cond,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: b.Name, Namespace: r.ns},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = kubeapi.ApplySlice(ctx, r.client, slice) // a failed write shows as calls not following
}

func (r *kubeRegistry) down() error {
	if r.own == nil {
		return errors.New("the lab does not own the cluster given with --kubeconfig")
	}
	return r.own.Kill() // as a crash would; a SIGTERM waits for open watches
}

func (r *kubeRegistry) up() error {
	if r.own == nil || r.own.Running() {
		return nil
	}
	return r.own.Restart()
}

func (r *kubeRegistry) close() {
	if r.own == nil && r.client != nil && r.ns != "" {
		// A real cluster: take the lab's namespace away again.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = r.client.CoreV1().Namespaces().Delete(ctx, r.ns, metav1.DeleteOptions{})
		cancel()
	}
	if r.own != nil {
		_ = r.own.Close()
	}
	if r.etcd != nil {
		_ = r.etcd.Close()
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}
