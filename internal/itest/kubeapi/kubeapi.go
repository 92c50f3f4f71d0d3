// Package kubeapi runs a real kube-apiserver as a child process, for
// grpclb's tests (through internal/kubetest) and its lab: the binary that
// scripts/kube-apiserver.sh builds from the Go module proxy, on a free
// loopback port with a self-signed certificate, token authentication (an
// admin token in group system:masters), RBAC, the TokenRequest API for
// service-account tokens, and no controllers. The caller brings the etcd
// it stores into.
//
// EndpointSlices may not hold loopback addresses, so users of the package
// store documentation addresses and dial them through a DocMap, which maps
// them onto backends on 127.0.0.x.
package kubeapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/grpclb/grpclb/internal/testbed"
)

// Version is the kube-apiserver version scripts/kube-apiserver.sh builds.
const Version = "v1.37.1"

// EnvBinary names the environment variable that points at the
// kube-apiserver binary.
const EnvBinary = "GRPCLB_KUBE_APISERVER"

// startTimeout bounds how long the API server may take to become ready.
const startTimeout = 60 * time.Second

// Binary returns the path of the kube-apiserver binary ($GRPCLB_KUBE_APISERVER,
// else the build cache of scripts/kube-apiserver.sh, else PATH), or "" and
// the places it looked.
func Binary() (string, string) {
	return testbed.CachedBinary(EnvBinary, BinaryDir, "kube-apiserver")
}

// BinaryDir is the directory of the cache that holds the binary.
const BinaryDir = "kube-apiserver-" + Version

// Config says how to launch the API server.
type Config struct {
	// Binary is the kube-apiserver to run.
	Binary string
	// Etcd is the etcd client URL, http://127.0.0.1:PORT.
	Etcd string
	// Dir holds the certificate, keys, token file and logs; it must exist.
	Dir string
}

// Server is one kube-apiserver process on 127.0.0.1.
type Server struct {
	cfg        Config
	port       int
	adminToken string
	caPEM      []byte
	starts     int

	clientOnce sync.Once
	client     kubernetes.Interface
	clientErr  error

	proc testbed.Proc
}

// Launch writes the server's files into cfg.Dir, starts it on a free port
// and returns once /readyz answers.
func Launch(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, adminToken: RandomHex(16), proc: testbed.Proc{Name: "kube-apiserver", Grace: 5 * time.Second}}
	if err := s.writeFiles(); err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 {
		ports, err := testbed.FreePorts(1)
		if err != nil {
			return nil, err
		}
		s.port = ports[0]
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("kubeapi: could not start kube-apiserver: %w", lastErr)
}

// Host is the API server's URL.
func (s *Server) Host() string { return "https://" + s.Addr() }

// Addr is the API server's address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// AdminToken is the token of the admin user (group system:masters).
func (s *Server) AdminToken() string { return s.adminToken }

// Config is a REST configuration with the admin's token.
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
func (s *Server) Client() (kubernetes.Interface, error) {
	s.clientOnce.Do(func() { s.client, s.clientErr = kubernetes.NewForConfig(s.Config()) })
	return s.client, s.clientErr
}

// WriteKubeconfig writes a kubeconfig file at path for token, whose
// current context has namespace ns (may be empty).
func (s *Server) WriteKubeconfig(path, token, ns string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubeapi"] = &clientcmdapi.Cluster{Server: s.Host(), CertificateAuthorityData: s.caPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["kubeapi"] = &clientcmdapi.Context{Cluster: "kubeapi", AuthInfo: "user", Namespace: ns}
	cfg.CurrentContext = "kubeapi"
	return clientcmd.WriteToFile(*cfg, path)
}

// CreateNamespace creates a namespace named prefix plus a random suffix
// (deleted namespaces stay Terminating without controllers, so every user
// takes its own) and returns its name.
func CreateNamespace(ctx context.Context, c kubernetes.Interface, prefix string) (string, error) {
	name := prefix + RandomHex(5)
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	return name, err
}

// Stop takes the API server down (SIGTERM) and waits for it to exit. A
// terminating kube-apiserver waits for its open watches, so after 5s it is
// killed.
func (s *Server) Stop() error { return s.proc.Stop(syscall.SIGTERM) }

// Kill takes the API server down at once (SIGKILL), as a crash or a lost
// control-plane node would, and waits for it to exit.
func (s *Server) Kill() error { return s.proc.Stop(syscall.SIGKILL) }

// Restart starts the API server again on the same port and waits until it
// is ready.
func (s *Server) Restart() error { return s.start() }

// Running reports whether the process is up.
func (s *Server) Running() bool { return s.proc.Running() }

// Close stops the server if it runs.
func (s *Server) Close() error {
	if !s.Running() {
		return nil
	}
	return s.Stop()
}

// LogTail is the end of the current process's log.
func (s *Server) LogTail() string { return s.proc.LogTail() }

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
		if err := os.WriteFile(filepath.Join(s.cfg.Dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) start() error {
	s.starts++
	logPath := filepath.Join(s.cfg.Dir, fmt.Sprintf("kube-apiserver%d.log", s.starts))
	f := func(name string) string { return filepath.Join(s.cfg.Dir, name) }
	cmd := exec.Command(s.cfg.Binary,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(s.port),
		"--etcd-servers="+s.cfg.Etcd,
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
	tr, err := rest.TransportFor(s.Config())
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	defer hc.CloseIdleConnections()
	return s.proc.Start(cmd, logPath, startTimeout, func() error {
		resp, err := hc.Get(s.Host() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
}

// RandomHex is n random bytes in hex: names that do not collide.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
