package kube

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/itest/kubetest"
	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// applyRBAC creates the objects of deploy/kubernetes/base/rbac.yaml in ns, with
// the RoleBinding's subject in ns too, and returns the ServiceAccount's
// name.
func applyRBAC(tb testing.TB, c kubernetes.Interface, ns string) string {
	tb.Helper()
	data, err := os.ReadFile("../../deploy/kubernetes/base/rbac.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	var account string
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			tb.Fatalf("rbac.yaml: %v", err)
		}
		switch meta.Kind {
		case "ServiceAccount":
			var sa corev1.ServiceAccount
			mustUnmarshal(tb, doc, &sa)
			_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, &sa, metav1.CreateOptions{})
			account = sa.Name
		case "Role":
			var role rbacv1.Role
			mustUnmarshal(tb, doc, &role)
			_, err = c.RbacV1().Roles(ns).Create(ctx, &role, metav1.CreateOptions{})
		case "RoleBinding":
			var rb rbacv1.RoleBinding
			mustUnmarshal(tb, doc, &rb)
			for i := range rb.Subjects {
				rb.Subjects[i].Namespace = ns
			}
			_, err = c.RbacV1().RoleBindings(ns).Create(ctx, &rb, metav1.CreateOptions{})
		default:
			tb.Fatalf("rbac.yaml: unexpected kind %q", meta.Kind)
		}
		if err != nil {
			tb.Fatalf("rbac.yaml: creating %s: %v", meta.Kind, err)
		}
	}
	if account == "" {
		tb.Fatal("rbac.yaml has no ServiceAccount")
	}
	return account
}

func mustUnmarshal(tb testing.TB, doc string, v any) {
	tb.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		tb.Fatalf("rbac.yaml: %v", err)
	}
}

// TestRBAC runs the resolver with the token of a ServiceAccount that has
// exactly the Role of deploy/kubernetes/base/rbac.yaml: it resolves services in
// its namespace, and in another namespace it reports an error that names
// the missing verbs and resource.
func TestRBAC(t *testing.T) {
	api := kubetest.Start(t)
	w := newWorld(t, api, 2)
	bs := w.fleet.Backends()
	w.put("echo", "echo-a", w.eps(bs...)...)
	account := applyRBAC(t, api.Client(), w.ns)
	token := api.ServiceAccountToken(t, w.ns, account)
	cfg := api.ConfigForToken(token)

	// Nothing more than the Role: not even the Services.
	limited, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := limited.CoreV1().Services(w.ns).List(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the account may list Services (err %v): the test would not show the Role is enough", err)
	}

	good := resolvertest.NewLogRecorder(t)
	c := w.client(w.target("echo"), NewBuilder(Options{Config: cfg, Logger: good.Logger()}))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs...), 10*time.Second)
	w.put("echo", "echo-a", w.eps(bs[1])...) // arrives by the watch
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1]), 10*time.Second)
	if n := good.Count("cannot list or watch"); n != 0 {
		t.Errorf("with the Role, the resolver still failed to list or watch: %q", good.Lines())
	}

	// Another namespace: forbidden. pick_first shows the error to callers.
	other := api.Namespace(t)
	logs := resolvertest.NewLogRecorder(t)
	cc, err := grpc.NewClient("kubernetes://"+other+"/echo:grpc", grpc.WithResolvers(NewBuilder(Options{Config: cfg, Logger: logs.Logger()})),
		grpc.WithContextDialer(w.docs.Dial), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	waitUnavailable(t, echopb.NewEchoClient(cc), "the verbs get, list and watch on the resource endpointslices in the API group discovery.k8s.io")
	if logs.Count("forbidden", other) == 0 {
		t.Errorf("no log line names the forbidden namespace: %q", logs.Lines())
	}

	t.Run("list without watch", func(t *testing.T) { testListWithoutWatch(t, api) })
}

// testListWithoutWatch: an identity that may list but not watch (a Role
// without the watch verb) still gets the set, and each change by the next
// list; the refused watch is logged once, not a WARN and an INFO per list.
func testListWithoutWatch(t *testing.T, api *kubetest.Server) {
	w := newWorld(t, api, 3)
	bs := w.fleet.Backends()
	w.put("echo", "echo-a", w.eps(bs[0])...)
	account := applyRBAC(t, api.Client(), w.ns)
	ctx := context.Background()
	roles := api.Client().RbacV1().Roles(w.ns)
	role, err := roles.Get(ctx, "grpclb-endpointslice-reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role.Rules[0].Verbs = []string{"get", "list"}
	if _, err := roles.Update(ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := api.ConfigForToken(api.ServiceAccountToken(t, w.ns, account))
	logs := resolvertest.NewLogRecorder(t)
	c := w.client(w.target("echo"), NewBuilder(Options{Config: cfg, Logger: logs.Logger(), MaxBackoff: 400 * time.Millisecond}))
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[0]), 10*time.Second)
	// Two changes, each seen through a new list: several list-and-watch
	// cycles have passed.
	w.put("echo", "echo-a", w.eps(bs[1])...)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[1]), 10*time.Second)
	w.put("echo", "echo-a", w.eps(bs[2])...)
	resolvertest.WaitForSet(t, c, resolvertest.Names(bs[2]), 10*time.Second)
	if n := logs.Count("cannot list or watch", "call=watch"); n != 1 {
		t.Errorf("the refused watch was logged %d times, want once: %q", n, logs.Lines())
	}
	if n := logs.Count("answers again"); n != 0 {
		t.Errorf("%d 'answers again' lines while the watch is still refused: %q", n, logs.Lines())
	}
}
