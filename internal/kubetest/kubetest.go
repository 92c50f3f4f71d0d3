// Package kubetest runs a real kube-apiserver for tests: the binary that
// scripts/kube-apiserver.sh builds from the Go module proxy, backed by a
// real etcd (internal/etcdtest), serving TLS on a free loopback port, with
// RBAC on and no controllers. Tests create the Services, EndpointSlices,
// Roles and ServiceAccounts they need themselves.
//
// The binary is $GRPCLB_KUBE_APISERVER, else the one scripts/kube-apiserver.sh
// builds into ~/.cache/grpclb (or $GRPCLB_CACHE), else kube-apiserver on
// PATH. Where none exists the test is skipped on a developer machine and
// fails under CI (see testbed.NeedBinary).
//
// EndpointSlices may not hold loopback addresses, so tests store
// documentation addresses (192.0.2.0/24, 2001:db8::/32) and dial them
// through DocDialer, which maps them onto testbed backends on 127.0.0.x.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/grpclb/grpclb/internal/etcdtest"
	"github.com/grpclb/grpclb/internal/testbed"
)

// Version is the kube-apiserver version scripts/kube-apiserver.sh builds.
const Version = "v1.37.1"

// EnvBinary names the environment variable that points at the
// kube-apiserver binary.
const EnvBinary = "GRPCLB_KUBE_APISERVER"

// startTimeout bounds how long the API server may take to become ready.
const startTimeout = 60 * time.Second

// Server is one kube-apiserver process on 127.0.0.1 with its own etcd.
type Server struct {
	tb         testing.TB
	bin        string
	dir        string
	etcd       *etcdtest.Server
	port       int
	adminToken string
	caPEM      []byte
	logPath    string
	starts     int

	clientOnce sync.Once
	client     kubernetes.Interface

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of the kube-apiserver binary, or "" and the
// places it looked.
func Binary() (string, string) {
	return testbed.CachedBinary(EnvBinary, "kube-apiserver-"+Version, "kube-apiserver")
}

// Start starts etcd and the API server and returns once /readyz answers.
// Both are stopped in t.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := testbed.NeedCachedBinary(tb, EnvBinary, "kube-apiserver-"+Version, "kube-apiserver")
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir(), adminToken: randomHex(16)}
	s.etcd = etcdtest.Start(tb)
	if err := s.writeFiles(); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	var lastErr error
	for range 3 {
		ports, err := testbed.FreePorts(1)
		if err != nil {
			tb.Fatal(err)
		}
		s.port = ports[0]
		if lastErr = s.start(); lastErr == nil {
			tb.Cleanup(s.cleanup)
			return s
		}
	}
	tb.Fatalf("kubetest: could not start kube-apiserver: %v", lastErr)
	return nil
}

// Host is the API server's URL.
func (s *Server) Host() string { return "https://" + s.Addr() }

// Addr is the API server's address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Config is a REST configuration with the admin's token (group
// system:masters).
func (s *Server) Config() *rest.Config { return s.ConfigForToken(s.adminToken) }

// ConfigForToken is a REST configuration that authenticates with token.
func (s *Server) ConfigForToken(token string) *rest.Config {
	return &rest.Config{
		Host:            s.Host(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.caPEM},
		QPS:             100,
		Burst:           200,
		Timeout:         10 * time.Second,
	}
}

// Client is an admin client, made on first use.
func (s *Server) Client() kubernetes.Interface {
	s.clientOnce.Do(func() {
		c, err := kubernetes.NewForConfig(s.Config())
		if err != nil {
			s.tb.Fatalf("kubetest: client: %v", err)
		}
		s.client = c
	})
	return s.client
}

// WriteKubeconfig writes a kubeconfig file for token whose current context
// has namespace ns (may be empty), and returns its path.
func (s *Server) WriteKubeconfig(tb testing.TB, token, ns string) string {
	tb.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: s.Host(), CertificateAuthorityData: s.caPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "user", Namespace: ns}
	cfg.CurrentContext = "test"
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		tb.Fatalf("kubetest: writing kubeconfig: %v", err)
	}
	return path
}

// AdminToken is the token of the admin user.
func (s *Server) AdminToken() string { return s.adminToken }

// Namespace creates a fresh namespace (deleted namespaces stay Terminating
// without controllers, so every test takes its own) and returns its name.
func (s *Server) Namespace(tb testing.TB) string {
	tb.Helper()
	name := "t-" + randomHex(5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
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

// CreateServiceAccount creates the ServiceAccount ns/name.
func (s *Server) CreateServiceAccount(tb testing.TB, ns, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := s.Client().CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: creating ServiceAccount %s/%s: %v", ns, name, err)
	}
}

// Stop takes the API server down (SIGTERM) and waits for it to exit; etcd
// stays up.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.stop(syscall.SIGTERM); err != nil {
		s.tb.Errorf("kubetest: stop: %v", err)
	}
}

// Restart starts the API server again on the same port, with the same
// etcd, and waits until it is ready.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("kubetest: restart: %v", err)
	}
}

func (s *Server) writeFiles() error {
	certPEM, keyPEM, err := selfSignedCert()
	if err != nil {
		return err
	}
	s.caPEM = certPEM
	saKey, err := rsaKeyPEM()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"tls.crt":    certPEM,
		"tls.key":    keyPEM,
		"sa.key":     saKey,
		"tokens.csv": []byte(s.adminToken + ",admin,admin-uid,system:masters\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) start() error {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return errors.New("already running")
	}
	s.starts++
	s.logPath = filepath.Join(s.dir, fmt.Sprintf("kube-apiserver%d.log", s.starts))
	logf, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	f := func(name string) string { return filepath.Join(s.dir, name) }
	cmd := exec.Command(s.bin,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(s.port),
		"--etcd-servers=http://"+s.etcd.Endpoint(),
		"--tls-cert-file="+f("tls.crt"),
		"--tls-private-key-file="+f("tls.key"),
		"--token-auth-file="+f("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer="+s.Host(),
		"--service-account-key-file="+f("sa.key"),
		"--service-account-signing-key-file="+f("sa.key"),
		"--disable-admission-plugins=ServiceAccount",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.stop(syscall.SIGKILL)
		return fmt.Errorf("%w; log:\n%s", err, s.logTail())
	}
	return nil
}

// waitReady polls /readyz until it answers ok, the process exits, or
// startTimeout passes.
func (s *Server) waitReady(exited <-chan struct{}) error {
	tr, err := rest.TransportFor(s.Config())
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := hc.Get(s.Host() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("kube-apiserver exited while starting")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready within %v (last: %v)", startTimeout, err)
		}
	}
}

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	return testbed.StopProcess("kube-apiserver", cmd, done, sig, 15*time.Second)
}

// Running reports whether the API server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

func (s *Server) cleanup() {
	if s.Running() {
		s.stop(syscall.SIGTERM)
	}
	if s.tb.Failed() {
		s.tb.Logf("kubetest: kube-apiserver log (tail):\n%s", s.logTail())
	}
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	const max = 6000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
