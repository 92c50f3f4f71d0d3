// Package kubetest runs a real kube-apiserver for tests (internal/kubeapi)
// backed by a real etcd (internal/etcdtest), started and stopped per test.
// Tests create the Services, EndpointSlices, Roles and ServiceAccounts
// they need themselves; no controllers run.
//
// The binary is $GRPCLB_KUBE_APISERVER, else the one
// scripts/kube-apiserver.sh builds into ~/.cache/grpclb (or $GRPCLB_CACHE),
// else kube-apiserver on PATH. Where none exists the test is skipped on a
// developer machine and fails under CI (see testbed.NeedBinary).
package kubetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/itest/kubeapi"
	"github.com/grpclb/grpclb/internal/testbed"
)

// Server is a running API server with its etcd, bound to one test.
type Server struct {
	*kubeapi.Server
	tb   testing.TB
	etcd *etcdtest.Server
}

// Start starts etcd and the API server and returns once /readyz answers.
// Both are stopped in t.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := testbed.NeedCachedBinary(tb, kubeapi.EnvBinary, kubeapi.BinaryDir, "kube-apiserver")
	e := etcdtest.Start(tb)
	s, err := kubeapi.Launch(kubeapi.Config{Binary: bin, Etcd: "http://" + e.Endpoint(), Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("kubetest: stopping kube-apiserver: %v", err)
		}
		if tb.Failed() {
			tb.Logf("kubetest: kube-apiserver log (tail):\n%s", s.LogTail())
		}
	})
	return &Server{Server: s, tb: tb, etcd: e}
}

// CompactStore writes a key to the API server's etcd and compacts etcd's
// history up to that write: every resource version a client holds is then
// too old to watch from, and its next watch ends with 410 Gone, as after a
// long outage of a busy cluster's API server.
func (s *Server) CompactStore() {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := s.etcd.NewClient(s.tb)
	put, err := c.Put(ctx, "/grpclb-kubetest/compact", time.Now().String())
	if err != nil {
		s.tb.Fatalf("kubetest: writing to etcd: %v", err)
	}
	if _, err := c.Compact(ctx, put.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		s.tb.Fatalf("kubetest: compacting etcd at revision %d: %v", put.Header.Revision, err)
	}
}

// Client is an admin client.
func (s *Server) Client() kubernetes.Interface {
	c, err := s.Server.Client()
	if err != nil {
		s.tb.Fatalf("kubetest: client: %v", err)
	}
	return c
}

// Stop takes the API server down and waits for it to exit; etcd stays.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.Server.Stop(); err != nil {
		s.tb.Errorf("kubetest: stop: %v", err)
	}
}

// Kill takes the API server down at once (SIGKILL); etcd stays.
func (s *Server) Kill() {
	s.tb.Helper()
	if err := s.Server.Kill(); err != nil {
		s.tb.Errorf("kubetest: kill: %v", err)
	}
}

// Restart starts the API server again on the same port.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.Server.Restart(); err != nil {
		s.tb.Fatalf("kubetest: restart: %v", err)
	}
}

// WriteKubeconfig writes a kubeconfig file for token whose current context
// has namespace ns (may be empty), and returns its path.
func (s *Server) WriteKubeconfig(tb testing.TB, token, ns string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := s.Server.WriteKubeconfig(path, token, ns); err != nil {
		tb.Fatalf("kubetest: writing kubeconfig: %v", err)
	}
	return path
}

// Namespace creates a fresh namespace and returns its name.
func (s *Server) Namespace(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name, err := kubeapi.CreateNamespace(ctx, s.Client(), "t-")
	if err != nil {
		tb.Fatalf("kubetest: creating namespace: %v", err)
	}
	return name
}

// ServiceAccountToken returns a token for the ServiceAccount ns/name
// (which must exist) from the TokenRequest API: what a pod running as that
// account gets.
func (s *Server) ServiceAccountToken(tb testing.TB, ns, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp := int64(3600)
	tr, err := s.Client().CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: requesting a token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}
