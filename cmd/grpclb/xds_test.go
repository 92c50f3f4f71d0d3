package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcxds "google.golang.org/grpc/xds"
	"sigs.k8s.io/yaml"

	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

// writeFile writes body to name in a temporary directory and returns its
// path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestXDSCommand runs `grpclb xds` with a YAML config and follows it with
// grpc-go's own xDS client, bootstrapped by `grpclb xds bootstrap`: calls
// to xds:///echo reach every backend; the listener serves grpc.health.v1;
// SIGTERM ends the command.
func TestXDSCommand(t *testing.T) {
	backends := fleet(t, 3).Backends()
	var addrs []string
	for _, b := range backends {
		addrs = append(addrs, b.Addr)
	}
	config := writeFile(t, "xds.yaml", fmt.Sprintf("services:\n  - name: echo\n    target: static:///%s\n", strings.Join(addrs, ",")))

	stderr := &testbed.SyncBuffer{}
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- xdsCommand([]string{"--config", config, "--listen", "127.0.0.1:0"}, io.Discard, stderr, func(a string) { ready <- a })
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("the command ended: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("the command did not start within 20s\n%s", stderr.String())
	}

	var bootstrap, errOut bytes.Buffer
	if code := run([]string{"xds", "bootstrap", "--server", addr, "--node-id", "cli-test", "--node-zone", "z1"}, &bootstrap, &errOut); code != 0 {
		t.Fatalf("xds bootstrap: exit %d: %s", code, errOut.String())
	}
	rb, err := grpcxds.NewXDSResolverWithConfigForTesting(bootstrap.Bytes())
	if err != nil {
		t.Fatalf("grpc-go refuses the bootstrap: %v\n%s", err, bootstrap.String())
	}
	cc, err := grpc.NewClient("xds:///echo", grpc.WithResolvers(rb), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	echo := echopb.NewEchoClient(cc)
	seen := map[string]bool{}
	calls := 0
	wait.Until(t, 30*time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		calls++
		if resp, err := echo.Echo(ctx, &echopb.EchoRequest{}); err == nil {
			seen[resp.GetBackend()] = true
		}
		return len(seen) == len(backends) || calls >= 3000, fmt.Sprintf("after %d calls, backends reached: %v\n%s", calls, seen, stderr.String())
	})
	if len(seen) != len(backends) {
		t.Fatalf("%d calls reached %d of %d backends: %v", calls, len(seen), len(backends), seen)
	}

	hc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if resp, err := healthpb.NewHealthClient(hc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check: %v, %v; want SERVING", resp.GetStatus(), err)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the command ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("SIGTERM did not end the command within 20s\n%s", stderr.String())
	}
	for _, want := range []string{"xds: serving", "xds: stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, stderr.String())
		}
	}
}

// Mistakes in the command line exit 2 with one line naming them; a bad
// config file exits 1 naming the file and the problem; --check says OK.
func TestXDSCommandErrors(t *testing.T) {
	good := writeFile(t, "good.yaml", "services: [{name: echo, target: 'static:///127.0.0.1:1'}]\n")
	unknownField := writeFile(t, "unknown.yaml", "services: [{name: echo, target: 'static:///127.0.0.1:1', weight: 3}]\n")
	badPolicy := writeFile(t, "policy.yaml", "services: [{name: echo, target: 'static:///127.0.0.1:1', policy: random}]\n")
	noScheme := writeFile(t, "scheme.yaml", "services: [{name: echo, target: 'nope:///x:1'}]\n")
	notYAML := writeFile(t, "broken.yaml", "services: [\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // on stderr (or stdout for code 0)
	}{
		{"no config", []string{"xds"}, 2, "grpclb xds: --config is required"},
		{"argument", []string{"xds", "--config", good, "serve"}, 2, `unexpected argument "serve"`},
		{"unknown flag", []string{"xds", "--nope"}, 2, "--nope"},
		{"missing file", []string{"xds", "--config", "/nonexistent/xds.yaml"}, 1, "/nonexistent/xds.yaml"},
		{"unknown field", []string{"xds", "--config", unknownField}, 1, `unknown field "weight"`},
		{"unknown policy", []string{"xds", "--config", badPolicy}, 1, `unknown policy "random"`},
		{"unregistered scheme", []string{"xds", "--config", noScheme}, 1, `no resolver registered for scheme "nope"`},
		{"not YAML", []string{"xds", "--config", notYAML}, 1, "broken.yaml"},
		{"bad log level", []string{"xds", "--config", good, "--log-level", "loud"}, 1, "loud"},
		{"listen in use", []string{"xds", "--config", good, "--listen", usedAddr(t)}, 1, "address already in use"},
		{"check", []string{"xds", "--config", good, "--check"}, 0, "OK: 1 services"},
		{"check FILE", []string{"xds", "--check", good}, 0, "OK: 1 services"},
		{"check FILE FILE", []string{"xds", "--check", good, good}, 2, `unexpected argument`},
		{"FILE without check", []string{"xds", good}, 2, `unexpected argument`},
		{"check bad", []string{"xds", "--config", badPolicy, "--check"}, 1, `unknown policy "random"`},
		{"help", []string{"xds", "--help"}, 0, "Usage: grpclb xds --config FILE"},
		{"bootstrap without server", []string{"xds", "bootstrap"}, 2, "grpclb xds bootstrap: --server is required"},
		{"bootstrap bad server", []string{"xds", "bootstrap", "--server", "nohostport"}, 2, `server address "nohostport" is not host:port`},
		{"bootstrap argument", []string{"xds", "bootstrap", "--server", "a:1", "x"}, 2, `unexpected argument "x"`},
		{"bootstrap help", []string{"help", "xds"}, 0, "grpclb xds bootstrap --server HOST:PORT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			out := stderr.String()
			if tc.code == 0 {
				out = stdout.String()
			}
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d; output does not say %q:\nstdout: %s\nstderr: %s", code, tc.code, tc.want, stdout.String(), stderr.String())
			}
			if e := strings.TrimSpace(stderr.String()); code == 2 && (strings.Contains(e, "\n") || !strings.Contains(e, "(see 'grpclb xds") || !strings.HasSuffix(e, " --help')")) {
				t.Errorf("a usage error is one line that ends with where to look:\n%s", stderr.String())
			}
		})
	}
}

// The bootstrap names the server, the node and its zone, and the host name
// when no node ID is given.
func TestXDSBootstrap(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name to default to: %v", err)
	}
	for _, tc := range []struct {
		name             string
		args             []string
		wantID, wantZone string
	}{
		{"all flags", []string{"--server", "127.0.0.1:18000", "--node-id", "n1", "--node-zone", "eu-1a"}, "n1", "eu-1a"},
		{"no zone", []string{"--server", "127.0.0.1:18000", "--node-id", "n2"}, "n2", ""},
		{"host name", []string{"--server", "127.0.0.1:18000"}, host, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runXDS(append([]string{"bootstrap"}, tc.args...), &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			var b struct {
				XDSServers []struct {
					ServerURI string `json:"server_uri"`
				} `json:"xds_servers"`
				Node struct {
					ID       string `json:"id"`
					Locality struct {
						Zone string `json:"zone"`
					} `json:"locality"`
				} `json:"node"`
			}
			if err := json.Unmarshal(out.Bytes(), &b); err != nil {
				t.Fatalf("%v:\n%s", err, out.String())
			}
			if len(b.XDSServers) != 1 || b.XDSServers[0].ServerURI != "127.0.0.1:18000" || b.Node.ID != tc.wantID || b.Node.Locality.Zone != tc.wantZone {
				t.Errorf("bootstrap %+v, want server 127.0.0.1:18000, node %q, zone %q", b, tc.wantID, tc.wantZone)
			}
		})
	}
}

// The ConfigMaps of deploy/kubernetes/base/xds.yaml hold a config that
// `grpclb xds --check` accepts and a bootstrap that grpc-go's xDS client
// accepts, with the node locality grpc-js-xds requires.
func TestXDSKubernetesManifest(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/base/xds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	maps := map[string]map[string]string{}
	for doc := range strings.SplitSeq(string(data), "\n---\n") {
		var obj struct {
			Kind     string                `json:"kind"`
			Metadata struct{ Name string } `json:"metadata"`
			Data     map[string]string     `json:"data"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind == "ConfigMap" {
			maps[obj.Metadata.Name] = obj.Data
		}
	}
	config := writeFile(t, "xds.yaml", maps["grpclb-xds"]["xds.yaml"])
	var out, errOut bytes.Buffer
	if code := run([]string{"xds", "--config", config, "--check"}, &out, &errOut); code != 0 {
		t.Errorf("the grpclb-xds ConfigMap's config: exit %d: %s%s", code, out.String(), errOut.String())
	}
	bootstrap := maps["grpclb-xds-bootstrap"]["bootstrap.json"]
	if _, err := grpcxds.NewXDSResolverWithConfigForTesting([]byte(bootstrap)); err != nil {
		t.Errorf("grpc-go refuses the grpclb-xds-bootstrap ConfigMap's bootstrap: %v", err)
	}
	var b struct {
		Node struct {
			Locality *struct{} `json:"locality"`
		} `json:"node"`
	}
	if err := json.Unmarshal([]byte(bootstrap), &b); err != nil || b.Node.Locality == nil {
		t.Errorf("the bootstrap's node has no locality (grpc-js-xds refuses it): %v", err)
	}
}

// The example config in `grpclb xds --help` passes --check.
func TestXDSHelpExampleConfigChecks(t *testing.T) {
	_, example, ok := strings.Cut(xdsHelp, "The config file is YAML or JSON:\n\n")
	if !ok {
		t.Fatal("the help has no example config")
	}
	example, _, _ = strings.Cut(example, "\n\n")
	var lines []string
	for line := range strings.SplitSeq(example, "\n") {
		lines = append(lines, strings.TrimPrefix(line, "  "))
	}
	config := writeFile(t, "example.yaml", strings.Join(lines, "\n")+"\n")
	var out, errOut bytes.Buffer
	if code := run([]string{"xds", "--config", config, "--check"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "OK: 3 services") {
		t.Errorf("the help's example: exit %d: %s%s", code, out.String(), errOut.String())
	}
}
