package dnspoll

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/testbed"
	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// benchWorld is three backends behind one DNS name and a client per
// resolver: grpc-go's "dns" (the baseline) and dnspoll, both with
// round_robin.
func benchWorld(b *testing.B) (dnsClient, pollClient echopb.EchoClient) {
	b.Helper()
	d, err := testbed.StartDNS()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	f := testbed.FleetFor(b, 3, testbed.FleetConfig{})
	d.SetHosts("svc.test.", 30, f.IPs()...)
	quiet := NewBuilder(Options{Interval: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mk := func(target string, opts ...grpc.DialOption) echopb.EchoClient {
		c := resolvertest.RoundRobinClient(b, target, opts...)
		// Warm up: every backend connected and used.
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, _ := testbed.Tally(c, 30, time.Second)
			if len(got) == 3 {
				return c
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s: only reached %v", target, got)
			}
		}
	}
	dnsClient = mk(fmt.Sprintf("dns://%s/svc.test.:%d", d.Addr, f.Port()))
	pollClient = mk(fmt.Sprintf("dnspoll://%s/svc.test.:%d", d.Addr, f.Port()), grpc.WithResolvers(quiet))
	return dnsClient, pollClient
}

// BenchmarkRoundRobinThroughput measures unary RPC throughput through each
// resolver with round_robin; compare the two with benchstat.
func BenchmarkRoundRobinThroughput(b *testing.B) {
	dnsClient, pollClient := benchWorld(b)
	for _, tc := range []struct {
		name string
		c    echopb.EchoClient
	}{{"resolver=dns", dnsClient}, {"resolver=dnspoll", pollClient}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				req := &echopb.EchoRequest{Payload: []byte("ping")}
				for pb.Next() {
					if _, err := tc.c.Echo(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkDNSPollVsDNS interleaves calls through both clients in the same
// goroutines, so machine noise hits both alike, and reports dnspoll's
// throughput as a ratio of grpc-go's dns resolver's (1.00 = equal; the
// target is at least 0.97).
func BenchmarkDNSPollVsDNS(b *testing.B) {
	dnsClient, pollClient := benchWorld(b)
	var total [2]time.Duration
	var calls [2]int64
	results := make(chan [2]time.Duration, 64)
	counts := make(chan [2]int64, 64)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var sum [2]time.Duration
		var n [2]int64
		req := &echopb.EchoRequest{Payload: []byte("ping")}
		i := 0
		for pb.Next() {
			k := i % 2
			c := dnsClient
			if k == 1 {
				c = pollClient
			}
			start := time.Now()
			if _, err := c.Echo(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
			sum[k] += time.Since(start)
			n[k]++
			i++
		}
		results <- sum
		counts <- n
	})
	close(results)
	close(counts)
	for s := range results {
		total[0] += s[0]
		total[1] += s[1]
	}
	for n := range counts {
		calls[0] += n[0]
		calls[1] += n[1]
	}
	if calls[0] == 0 || calls[1] == 0 {
		return
	}
	mean := func(k int) float64 { return float64(total[k]) / float64(calls[k]) }
	b.ReportMetric(mean(0)/mean(1), "dnspoll/dns")
	b.ReportMetric(mean(0)/1e3, "dns-µs/call")
	b.ReportMetric(mean(1)/1e3, "dnspoll-µs/call")
}
