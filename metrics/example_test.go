package metrics_test

import (
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/grpclb/grpclb/metrics"
	"github.com/grpclb/grpclb/resolver/dnspoll"
)

// Per-endpoint metrics of one client, served on /metrics from the
// application's own registry.
func Example() {
	reg := prometheus.NewRegistry()
	m := metrics.New()
	reg.MustRegister(m)

	conn, err := grpc.NewClient("dnspoll:///echo.prod.svc.cluster.local:50051",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(m.WrapResolver(dnspoll.NewBuilder(dnspoll.Options{}))),
		grpc.WithStatsHandler(m.StatsHandler("echo")),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"p2c_ewma":{}}]}`),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
