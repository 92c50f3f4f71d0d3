package framerelay_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/internal/wait"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// rawClient is an HTTP/2 client written frame by frame, to do what gRPC
// clients never do (stay silent, open too many streams, send huge
// headers).
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func rawDial(t *testing.T, addr string, preface bool) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hb)
	if preface {
		// A relay that refuses the connection may close it before these
		// writes: the reads that follow say so.
		if _, err := io.WriteString(nc, http2.ClientPreface); err == nil {
			_ = c.fr.WriteSettings()
		}
	}
	return c
}

// call opens stream id with the request headers of a gRPC call to path.
func (c *rawClient) call(id uint32, path string, extra ...hpack.HeaderField) {
	c.t.Helper()
	c.hb.Reset()
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: path},
		{Name: ":authority", Value: "relay"}, {Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...) {
		c.enc.WriteField(f)
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hb.Bytes(), EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next frame; io.EOF once the relay closed the connection.
func (c *rawClient) next() (http2.Frame, error) {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c.fr.ReadFrame()
}

// until reads frames until one satisfies match, failing the test if the
// connection ends or stays silent for 10 s first.
func (c *rawClient) until(what string, match func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	for {
		f, err := c.next()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// wantSetting reads the relay's SETTINGS and checks that it sets id to v.
func (c *rawClient) wantSetting(id http2.SettingID, v uint32) {
	c.t.Helper()
	s := c.until("SETTINGS", isSettings).(*http2.SettingsFrame)
	if got, ok := s.Value(id); !ok || got != v {
		c.t.Fatalf("%v %d (sent: %v), want %d", id, got, ok, v)
	}
}

// response reads until the next response header block.
func (c *rawClient) response() *http2.MetaHeadersFrame {
	c.t.Helper()
	return c.until("response headers", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
}

// closed waits for the relay to close the connection, failing the test
// after 10 s of silence; it returns the GOAWAY seen before, if any.
func (c *rawClient) closed() *http2.GoAwayFrame {
	c.t.Helper()
	var goAway *http2.GoAwayFrame
	for {
		f, err := c.next()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
			return goAway
		}
		if err != nil {
			c.t.Fatalf("waiting for the relay to close the connection: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			goAway = g
		}
	}
}

// startLimited starts a relay with limits whose only route, /a.B/, goes
// to a cluster with no backends (its calls wait).
func startLimited(t *testing.T, limits framerelay.Limits) string {
	t.Helper()
	mr := manual.NewBuilderWithScheme("framerelay-limits-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	resolver.Register(mr)
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"none": {Target: mr.Scheme() + ":///none"}},
		Routes:   []framerelay.Route{{Prefix: "/a.B/", Cluster: "none"}},
		Limits:   limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	return balancertest.Serve(t, r.Serve, r.Close)
}

func isSettings(f http2.Frame) bool {
	s, ok := f.(*http2.SettingsFrame)
	return ok && !s.IsAck()
}

// TestIdleConnectionIsClosed: a client connection without calls for
// IdleTimeout gets GOAWAY (NO_ERROR) and is closed; one with a call in
// flight is not.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr := startLimited(t, framerelay.Limits{IdleTimeout: 200 * time.Millisecond})
	busy := rawDial(t, addr, true)
	busy.until("SETTINGS", isSettings)
	busy.call(1, "/a.B/Wait") // waits for a backend that never comes
	idle := rawDial(t, addr, true)
	if g := idle.closed(); g == nil || g.ErrCode != http2.ErrCodeNo {
		t.Fatalf("an idle connection was closed with GOAWAY %v, want NO_ERROR", g)
	}
	// The idle timeout has passed for busy too: its call keeps it open.
	if err := busy.fr.WritePing(false, [8]byte{1}); err != nil {
		t.Fatal(err)
	}
	busy.until("PING ack", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.IsAck() })
}

// TestHandshakeTimeout: a connection that sends nothing is closed after
// HandshakeTimeout.
func TestHandshakeTimeout(t *testing.T) {
	addr := startLimited(t, framerelay.Limits{HandshakeTimeout: 100 * time.Millisecond})
	silent := rawDial(t, addr, false)
	silent.closed()
}

// TestMaxConnections: connections beyond MaxConnections are closed as
// soon as accepted, and accepted again once one has left.
func TestMaxConnections(t *testing.T) {
	addr := startLimited(t, framerelay.Limits{MaxConnections: 2})
	first := rawDial(t, addr, true)
	first.until("SETTINGS", isSettings)
	rawDial(t, addr, true).until("SETTINGS", isSettings)
	rawDial(t, addr, true).closed()
	first.nc.Close()
	wait.For(t, 10*time.Second, "a connection to be accepted again", func() bool {
		c := rawDial(t, addr, true)
		defer c.nc.Close()
		f, err := c.next()
		return err == nil && isSettings(f)
	})
}

// TestMaxConcurrentStreams: the relay advertises MaxConcurrentStreams and
// refuses (REFUSED_STREAM) a call beyond it.
func TestMaxConcurrentStreams(t *testing.T) {
	addr := startLimited(t, framerelay.Limits{MaxConcurrentStreams: 2})
	c := rawDial(t, addr, true)
	c.wantSetting(http2.SettingMaxConcurrentStreams, 2)
	for _, id := range []uint32{1, 3, 5} {
		c.call(id, "/a.B/Wait")
	}
	f := c.until("RST_STREAM", func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok }).(*http2.RSTStreamFrame)
	if f.StreamID != 5 || f.ErrCode != http2.ErrCodeRefusedStream {
		t.Fatalf("RST_STREAM %v on stream %d, want REFUSED_STREAM on stream 5", f.ErrCode, f.StreamID)
	}
}

// TestHeaderListLimit: request headers over MaxHeaderListBytes get
// RESOURCE_EXHAUSTED, and the connection goes on; one header value over
// the limit ends the connection (COMPRESSION_ERROR, as in Go's HTTP/2
// server: the HPACK decoder refuses the string).
func TestHeaderListLimit(t *testing.T) {
	addr := startLimited(t, framerelay.Limits{MaxHeaderListBytes: 1024})
	c := rawDial(t, addr, true)
	c.wantSetting(http2.SettingMaxHeaderListSize, 1024)
	var many []hpack.HeaderField
	for i := range 20 {
		many = append(many, hpack.HeaderField{Name: "x-h" + strings.Repeat("h", i), Value: strings.Repeat("v", 100)})
	}
	c.call(1, "/a.B/Big", many...)
	h := c.response()
	if got := h.PseudoValue("status"); got != "200" || !strings.Contains(headerValue(h, "grpc-status"), "8") {
		t.Fatalf("response to 2 KiB of headers: %v, want grpc-status 8 (RESOURCE_EXHAUSTED)", h.Fields)
	}
	c.call(3, "/no.Route/X")
	h = c.response()
	if headerValue(h, "grpc-status") != "12" {
		t.Fatalf("the next call: %v, want grpc-status 12 (UNIMPLEMENTED)", h.Fields)
	}
	c.call(5, "/a.B/Big", hpack.HeaderField{Name: "x-big", Value: strings.Repeat("x", 2048)})
	if g := c.closed(); g == nil || g.ErrCode != http2.ErrCodeCompression {
		t.Fatalf("one 2 KiB header value: GOAWAY %v, want COMPRESSION_ERROR", g)
	}
}

func headerValue(h *http2.MetaHeadersFrame, name string) string {
	for _, f := range h.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// TestMaxConnectionAge: a client connection gets GOAWAY (NO_ERROR) at
// its maximum age, naming the last call it took; one without calls is
// closed then, one with a call in flight once its grace has passed.
func TestMaxConnectionAge(t *testing.T) {
	addr := startLimited(t, framerelay.Limits{MaxConnectionAge: time.Second, MaxConnectionAgeGrace: 300 * time.Millisecond})
	busy := rawDial(t, addr, true)
	busy.until("SETTINGS", isSettings)
	busy.call(1, "/a.B/Wait") // waits for a backend that never comes
	idle := rawDial(t, addr, true)
	if g := idle.closed(); g == nil || g.ErrCode != http2.ErrCodeNo {
		t.Fatalf("a connection without calls at its maximum age: GOAWAY %v, want NO_ERROR", g)
	}
	if g := busy.closed(); g == nil || g.ErrCode != http2.ErrCodeNo || g.LastStreamID != 1 {
		t.Fatalf("a connection with a call at its maximum age: GOAWAY %v, want NO_ERROR naming stream 1", g)
	}
}

// TestMessageSizeLimits: a request or response message over its limit
// ends its call with RESOURCE_EXHAUSTED (the backend's stream is reset);
// calls within the limits, before and after, go through on the same
// connection.
func TestMessageSizeLimits(t *testing.T) {
	f := startFleet(t, 1)
	r, err := framerelay.NewRouted(framerelay.Config{
		Clusters: map[string]framerelay.Cluster{"c": {Target: balancertest.StaticTarget(f.Addrs())}},
		Routes:   []framerelay.Route{{Prefix: "/grpclb.testbed.v1.Echo/", Cluster: "c"}},
		Limits:   framerelay.Limits{MaxRequestBytes: 4096, MaxResponseBytes: 1024},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := echopb.NewEchoClient(dial(t, balancertest.Serve(t, r.Serve, r.Close)))
	for _, tc := range []struct {
		name    string
		payload int // the backend echoes it back
		want    string
	}{
		{"within both", 500, ""},
		{"response over", 2000, "a response message of"},
		{"request over", 5000, "a request message of"},
		{"within both again", 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Echo(testbed.Context(t, 10*time.Second), &echopb.EchoRequest{Payload: make([]byte, tc.payload)})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("a %d-byte echo: %v", tc.payload, err)
			case tc.want != "" && (status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), tc.want)):
				t.Fatalf("a %d-byte echo: %v, want RESOURCE_EXHAUSTED: %s", tc.payload, err, tc.want)
			}
		})
	}
}
