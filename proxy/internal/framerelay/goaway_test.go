package framerelay_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	"github.com/grpclb/grpclb/hedge"
	"github.com/grpclb/grpclb/internal/balancertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
	"github.com/grpclb/grpclb/proxy/internal/framerelay"
)

// goAwayBackend is a gRPC backend written on a bare HTTP/2 Framer, to do
// on cue what grpc-go's server does only in a race: on its first
// connection, once it holds the requests of two calls, it sends a GOAWAY
// whose last stream is the first call's. The second call was refused:
// not processed, safe to send again. It answers the first call only once
// a later connection has answered a call, so new calls must not wait for
// the calls of a connection that went away. On later connections it
// answers every call at once. A response's backend field names its
// connection ("conn1", "conn2"...).
type goAwayBackend struct {
	addr   string
	second chan struct{} // closed when a later connection answers
	once   sync.Once

	mu       sync.Mutex
	conns    []net.Conn
	requests []string // "connN attempt A" of every request received, A its grpc-previous-rpc-attempts
}

func startGoAwayBackend(t *testing.T) *goAwayBackend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &goAwayBackend{addr: lis.Addr().String(), second: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		lis.Close()
		b.mu.Lock()
		for _, nc := range b.conns {
			nc.Close()
		}
		b.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := lis.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, nc)
			n := len(b.conns)
			b.mu.Unlock()
			wg.Go(func() {
				defer nc.Close()
				b.serve(nc, n)
			})
		}
	})
	return b
}

// serve speaks HTTP/2 on nc, the backend's connection number n.
func (b *goAwayBackend) serve(nc net.Conn, n int) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(nc, preface); err != nil {
		return
	}
	fr := http2.NewFramer(nc, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	headers := func(id uint32, end bool, fields ...string) error {
		hb.Reset()
		for i := 0; i < len(fields); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: end})
	}
	answer := func(id uint32) error {
		msg, _ := proto.Marshal(&echopb.EchoResponse{Backend: fmt.Sprintf("conn%d", n)})
		body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
		if err := headers(id, false, ":status", "200", "content-type", "application/grpc"); err != nil {
			return err
		}
		if err := fr.WriteData(id, false, append(body, msg...)); err != nil {
			return err
		}
		return headers(id, true, "grpc-status", "0")
	}
	if fr.WriteSettings() != nil {
		return
	}
	var pending []uint32 // calls whose request has ended, unanswered
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.PingFrame:
			if !f.IsAck() && fr.WritePing(true, f.Data) != nil {
				return
			}
		case *http2.MetaHeadersFrame:
			b.mu.Lock()
			b.requests = append(b.requests, fmt.Sprintf("conn%d attempt %q", n, headerValue(f, "grpc-previous-rpc-attempts")))
			b.mu.Unlock()
			if f.StreamEnded() {
				pending = append(pending, f.StreamID)
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				pending = append(pending, f.StreamID)
			}
		}
		switch {
		case n > 1:
			for _, id := range pending {
				if answer(id) != nil {
					return
				}
				b.once.Do(func() { close(b.second) })
			}
			pending = nil
		case len(pending) == 2:
			first := slices.Min(pending)
			if fr.WriteGoAway(first, http2.ErrCodeNo, nil) != nil {
				return
			}
			// Read on (and drop) until the relay closes the connection or
			// the test ends, while the first call waits for a later
			// connection to answer.
			read := make(chan struct{})
			go func() {
				defer close(read)
				for {
					if _, err := fr.ReadFrame(); err != nil {
						return
					}
				}
			}()
			select {
			case <-b.second:
				_ = answer(first)
			case <-read:
			}
			<-read
			return
		}
	}
}

func (b *goAwayBackend) seen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// TestBackendGoAwayRefusesCalls: a backend's GOAWAY that leaves a call
// unprocessed (its stream above the last one) refuses that call and
// only that one. The call before it is answered on the connection; the
// refused one is sent again on a new connection, dialled at once while
// the old one still has a call in flight (as grpc-go's subchannels do;
// the relay used to wait for the old connection to close): by the route's
// retries, by its hedging (the refused attempt fails at once, so the
// hedge goes at once), or, on a plain route, by the client, which the
// relay tells with REFUSED_STREAM that nothing was processed (grpc-go
// retries such a stream transparently).
func TestBackendGoAwayRefusesCalls(t *testing.T) {
	hedger, err := hedge.New(hedge.Delay(time.Minute), hedge.MethodFunc(func(string) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		route framerelay.Route
		again string // the refused call's attempt on the new connection
	}{
		{"retried", framerelay.Route{Retry: &framerelay.RetryPolicy{MaxAttempts: 3}}, `"1"`},
		{"hedged", framerelay.Route{Hedge: hedger}, `"1"`},
		{"plain", framerelay.Route{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startGoAwayBackend(t)
			tc.route.Prefix, tc.route.Cluster = echoService, "echo"
			r, err := framerelay.NewRouted(framerelay.Config{
				Clusters: map[string]framerelay.Cluster{"echo": {Target: balancertest.StaticTarget([]string{b.addr})}},
				Routes:   []framerelay.Route{tc.route},
			})
			if err != nil {
				t.Fatal(err)
			}
			c := echopb.NewEchoClient(dial(t, balancertest.Serve(t, r.Serve, r.Close)))
			got := make(chan string, 2)
			for range 2 {
				go func() {
					resp, err := c.Echo(testbed.Context(t, 20*time.Second), &echopb.EchoRequest{})
					if err != nil {
						got <- err.Error()
						return
					}
					got <- resp.GetBackend()
				}()
			}
			answers := []string{<-got, <-got}
			slices.Sort(answers)
			if !slices.Equal(answers, []string{"conn1", "conn2"}) {
				t.Fatalf("the two calls were answered by %q; want one on the connection that went away, the refused one on a new connection\nrequests: %q", answers, b.seen())
			}
			seen := b.seen()
			if len(seen) != 3 || seen[0][:5] != "conn1" || seen[1][:5] != "conn1" || tc.again != "" && seen[2] != "conn2 attempt "+tc.again {
				t.Errorf("requests %q; want two on conn1, then the refused one again on conn2 (attempt %s)", seen, tc.again)
			}
		})
	}
}
