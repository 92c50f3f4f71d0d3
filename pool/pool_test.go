package pool

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPoolSpreadsOverAVIP(t *testing.T) {
	vip := balancertest.StartVIP(t, balancertest.StartFleet(t, 5))
	p, err := Dial("passthrough:///"+vip.Addr, 8, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Num() != 8 {
		t.Fatalf("Num = %d", p.Num())
	}
	c := echopb.NewEchoClient(p)
	got, failed := testbed.Tally(c, 400, 5*time.Second)
	if failed != 0 || len(got) != 5 {
		t.Errorf("400 unary calls reached %v (%d failed), want all 5 backends", got, failed)
	}
	// Streams go round too.
	seen := map[string]bool{}
	for range 16 {
		s, err := c.EchoStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&echopb.EchoRequest{}); err != nil {
			t.Fatal(err)
		}
		resp, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		seen[resp.Backend] = true
		_ = s.CloseSend()
	}
	if len(seen) != 5 {
		t.Errorf("16 streams reached %d backends, want 5", len(seen))
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(0, nil); err == nil || !strings.Contains(err.Error(), "size 0") {
		t.Errorf("New(0): %v", err)
	}
	var made []*grpc.ClientConn
	boom := errors.New("boom")
	_, err := New(3, func(i int) (*grpc.ClientConn, error) {
		if i == 2 {
			return nil, boom
		}
		cc, err := grpc.NewClient("passthrough:///127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
		made = append(made, cc)
		return cc, err
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "connection 3 of 3") {
		t.Fatalf("error %v", err)
	}
	for _, cc := range made {
		if cc.Close() == nil {
			t.Error("a ClientConn made before the failure was left open")
		}
	}
}

func TestCloseReturnsFirstError(t *testing.T) {
	p, err := Dial("passthrough:///127.0.0.1:1", 3, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := p.Close(); err == nil {
		t.Error("second Close returned no error")
	}
}
