package testbed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
)

func TestMain(m *testing.M) {
	if os.Getenv(touchChildEnv) == "1" {
		touchChild()
		return
	}
	goleak.VerifyTestMain(m)
}

// touchChildEnv makes the test binary run touchChild instead of the tests.
const touchChildEnv = "GRPCLB_TESTBED_TOUCH_CHILD"

// touchChild, in a process of its own, says "ready", waits for a line on
// stdin, touches 64 MiB, says "touched" and waits for stdin to end.
func touchChild() {
	in := bufio.NewReader(os.Stdin)
	fmt.Println("ready")
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(1)
	}
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = byte(i)
	}
	fmt.Println("touched")
	_, _ = io.Copy(io.Discard, in)
	runtime.KeepAlive(b)
}

func dial(t *testing.T, addr string) echopb.EchoClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return echopb.NewEchoClient(cc)
}

func echo(c echopb.EchoClient, timeout time.Duration) (*echopb.EchoResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Echo(ctx, &echopb.EchoRequest{Payload: []byte("hi")})
}

func TestFleetBackendsAnswerWithTheirIdentity(t *testing.T) {
	f, err := StartFleet(3, FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addrs := f.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("got %d backends, want 3", len(addrs))
	}
	ips := f.IPs()
	for i := 1; i < len(ips); i++ {
		if ips[i] != ips[i-1].Next() {
			t.Errorf("backend IPs not consecutive: %v", ips)
		}
	}
	for i, b := range f.Backends() {
		if got := netip.MustParseAddrPort(b.Addr).Port(); int(got) != f.Port() {
			t.Errorf("%s on port %d, fleet port %d", b.Name, got, f.Port())
		}
		resp, err := echo(dial(t, b.Addr), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", b.Name, err)
		}
		if resp.Backend != b.Name || resp.Addr != addrs[i] || string(resp.Payload) != "hi" {
			t.Errorf("%s answered %v", b.Name, resp)
		}
		if b.Served() != 1 {
			t.Errorf("%s served %d, want 1", b.Name, b.Served())
		}
	}
	added, err := f.Add(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || added[1].Name != "b5" || len(f.Backends()) != 5 {
		t.Fatalf("Add(2) gave %d backends, last %q; fleet has %d", len(added), added[len(added)-1].Name, len(f.Backends()))
	}
}

func TestBackendHealthAndReflection(t *testing.T) {
	b := startBackend(t, "h1")
	cc, err := grpc.NewClient(b.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: echopb.Echo_ServiceDesc.ServiceName})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Status
	}
	if got := check(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v, want SERVING", got)
	}
	b.SetServing(false)
	if got := check(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status %v, want NOT_SERVING", got)
	}
	if !slices.Contains(ReflectedServices(context.Background(), t, cc), echopb.Echo_ServiceDesc.ServiceName) {
		t.Error("reflection does not list the echo service")
	}
}

func TestBackendFaults(t *testing.T) {
	b := startBackend(t, "f1")
	c := dial(t, b.Addr)

	b.SetLatency(80 * time.Millisecond)
	start := time.Now()
	if _, err := echo(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("call took %v with 80ms injected latency", d)
	}
	if _, err := echo(c, 20*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("slow call with a short deadline: %v, want DeadlineExceeded", err)
	}
	b.SetLatency(0)

	b.SetErrorRate(1, codes.ResourceExhausted)
	if _, err := echo(c, 5*time.Second); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("error rate 1: got %v", err)
	}
	b.SetErrorRate(0.5, codes.Unavailable)
	failed := 0
	for range 400 {
		if _, err := echo(c, 5*time.Second); err != nil {
			failed++
		}
	}
	if failed < 120 || failed > 280 {
		t.Errorf("error rate 0.5 failed %d of 400", failed)
	}
	b.SetErrorRate(0, codes.OK)
	if _, err := echo(c, 5*time.Second); err != nil {
		t.Errorf("after clearing faults: %v", err)
	}
}

func TestBackendKillAndRestartOnTheSameAddress(t *testing.T) {
	b := startBackend(t, "k1")
	addr := b.Addr
	c := dial(t, addr)
	if _, err := echo(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A call in flight when the backend is killed fails (no graceful drain).
	b.SetLatency(time.Second)
	errc := make(chan error, 1)
	go func() { _, err := echo(c, 5*time.Second); errc <- err }()
	wait.For(t, 5*time.Second, "call in flight", func() bool { return b.InFlight() == 1 })
	b.Kill()
	if err := <-errc; status.Code(err) != codes.Unavailable {
		t.Errorf("in-flight call on a killed backend: %v, want Unavailable", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("killed backend still accepts connections")
	}
	b.SetLatency(0)
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if b.Addr != addr {
		t.Fatalf("restarted on %s, want %s", b.Addr, addr)
	}
	wait.For(t, 10*time.Second, "restarted backend answers", func() bool {
		_, err := echo(c, time.Second)
		return err == nil
	})
}

func TestBackendGracefulStopFinishesInFlightCalls(t *testing.T) {
	b, err := StartBackend("s1", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, b.Addr)
	b.SetLatency(200 * time.Millisecond)
	errc := make(chan error, 1)
	go func() { _, err := echo(c, 5*time.Second); errc <- err }()
	wait.For(t, 5*time.Second, "call in flight", func() bool { return b.InFlight() == 1 })
	b.Stop()
	if err := <-errc; err != nil {
		t.Errorf("in-flight call during a graceful stop: %v", err)
	}
	if b.Running() {
		t.Error("stopped backend says it is running")
	}
}

func TestBackendFreezeHoldsCallsUntilThaw(t *testing.T) {
	b := startBackend(t, "z1")
	c := dial(t, b.Addr)
	if _, err := echo(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	b.Freeze()
	if !b.Frozen() {
		t.Fatal("not frozen")
	}
	// The connection stays up, the call just never gets an answer.
	if _, err := echo(c, 300*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call to a frozen backend: %v, want DeadlineExceeded", err)
	}
	// New connections are accepted by the kernel but not served either.
	conn, err := net.DialTimeout("tcp", b.Addr, time.Second)
	if err != nil {
		t.Fatalf("kernel should still accept while frozen: %v", err)
	}
	conn.Close()
	if _, err := echo(dial(t, b.Addr), 300*time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call on a new connection to a frozen backend: %v", err)
	}
	b.Thaw()
	wait.For(t, 5*time.Second, "thawed backend answers", func() bool {
		_, err := echo(c, time.Second)
		return err == nil
	})
}

func TestVIPPinsEachConnectionToOneBackend(t *testing.T) {
	f, err := StartFleet(3, FleetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := StartVIP("127.0.0.1:0", f.Addrs()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	seen := map[string]int{}
	for range 6 { // six connections, one client each
		c := dial(t, v.Addr)
		first, err := echo(c, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			r, err := echo(c, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if r.Backend != first.Backend {
				t.Fatalf("one connection reached %s and %s", first.Backend, r.Backend)
			}
		}
		seen[first.Backend]++
	}
	if len(seen) != 3 || seen["b1"] != 2 || seen["b2"] != 2 || seen["b3"] != 2 {
		t.Errorf("six connections spread %v, want two per backend", seen)
	}
	if conns := v.Conns(); len(conns) != 3 {
		t.Errorf("VIP counted connections %v", conns)
	}
}

func TestDNSServerRecordsChangeAtRunTime(t *testing.T) {
	s, err := StartDNS()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr)
	}}
	lookup := func(name string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		addrs, err := r.LookupHost(ctx, name)
		slices.Sort(addrs)
		return addrs, err
	}
	s.SetHosts("svc.test.", 1, netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1"))
	got, err := lookup("svc.test.")
	if err != nil || !slices.Equal(got, []string{"127.0.0.2", "::1"}) {
		t.Fatalf("lookup: %v, %v", got, err)
	}
	s.SetHosts("svc.test.", 1, netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4"))
	if got, err := lookup("svc.test."); err != nil || !slices.Equal(got, []string{"127.0.0.3", "127.0.0.4"}) {
		t.Fatalf("after update: %v, %v", got, err)
	}
	var dnsErr *net.DNSError
	if _, err := lookup("missing.test."); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("unknown name: %v, want not found", err)
	}
	s.SetSRV("_grpc._tcp.svc.test.", 5, SRV{Target: "svc.test.", Port: 5001, Weight: 10})
	_, srvs, err := r.LookupSRV(context.Background(), "grpc", "tcp", "svc.test.")
	if err != nil || len(srvs) != 1 || srvs[0].Port != 5001 || srvs[0].Target != "svc.test." {
		t.Errorf("SRV: %v, %v", srvs, err)
	}
	s.SetMode(DNSServfail)
	if _, err := lookup("svc.test."); err == nil {
		t.Error("SERVFAIL mode still resolves")
	}
	s.SetMode(DNSUp)
	if s.Queries() < 5 {
		t.Errorf("counted %d queries", s.Queries())
	}
}

func TestDnsmasqHostsChangeAtRunTime(t *testing.T) {
	path := NeedBinary(t, "dnsmasq")
	d, err := StartDnsmasq(path, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := d.Resolver()
	lookup := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		addrs, _ := r.LookupHost(ctx, "svc.test.")
		slices.Sort(addrs)
		return addrs
	}
	if err := d.SetHosts("svc.test", netip.MustParseAddr("127.0.0.2")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "dnsmasq serves the first set", func() bool { return slices.Equal(lookup(), []string{"127.0.0.2"}) })
	if err := d.SetHosts("svc.test", netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "dnsmasq serves the grown set", func() bool {
		return slices.Equal(lookup(), []string{"127.0.0.2", "127.0.0.3"})
	})
}

// startBackend starts a backend named name on 127.0.0.2, killed when the
// test ends.
func startBackend(t *testing.T, name string) *Backend {
	t.Helper()
	b, err := StartBackend(name, "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Kill)
	return b
}

// ProcessUsage reads a process's CPU time and peak RSS: both grow after
// the process touches 64 MiB. The process is a fresh child: this test
// binary's own peak is set by the tests before, and its VmHWM, which Linux
// derives from per-thread RSS counters, can even read a little lower later.
func TestProcessUsage(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), touchChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	out := bufio.NewScanner(stdout)
	expect := func(line string) {
		t.Helper()
		if !out.Scan() || out.Text() != line {
			t.Fatalf("child said %q (%v), want %q", out.Text(), out.Err(), line)
		}
	}
	expect("ready")
	cpu0, rss0, err := ProcessUsage(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "touch\n"); err != nil {
		t.Fatal(err)
	}
	expect("touched")
	cpu1, rss1, err := ProcessUsage(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss1-rss0 < 60<<20 {
		t.Errorf("peak RSS %d then %d bytes after touching 64 MiB: want 60 MiB more or above", rss0, rss1)
	}
	if cpu1 < cpu0 {
		t.Errorf("CPU seconds went back: %v then %v", cpu0, cpu1)
	}
	if _, _, err := ProcessUsage(-1); err == nil {
		t.Error("ProcessUsage(-1): no error")
	}
}
