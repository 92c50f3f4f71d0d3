package kubeapi

import (
	"context"
	"net"
	"strings"
	"testing"
)

func TestDocMap(t *testing.T) {
	m := NewDocMap()
	v4, v6 := m.Addrs("127.0.0.9:1234")
	if v4 != "192.0.2.1" || v6 != "2001:db8::" {
		t.Errorf("first addresses %s %s", v4, v6)
	}
	if again := m.V4("127.0.0.9"); again != v4 {
		t.Errorf("same backend, new address %s", again)
	}
	for i := range 300 {
		m.V4(net.IPv4(127, 1, byte(i>>8), byte(i)).String())
	}
	if got := m.V4("127.1.1.43"); !strings.HasPrefix(got, "198.51.100.") {
		t.Errorf("the 301st address %s is not in the second documentation network", got)
	}

	l, err := net.Listen("tcp", "127.0.0.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for range 2 {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	for _, host := range []string{v4, "[" + v6 + "]"} {
		c, err := m.Dial(context.Background(), host+":"+port)
		if err != nil {
			t.Fatalf("dialing %s: %v", host, err)
		}
		if got := c.RemoteAddr().String(); got != l.Addr().String() {
			t.Errorf("%s reached %s, want %s", host, got, l.Addr())
		}
		c.Close()
	}
	if _, err := m.Dial(context.Background(), "203.0.113.250:1"); err == nil || !strings.Contains(err.Error(), "not a mapped") {
		t.Errorf("an unmapped address dialled: %v", err)
	}
}
