// Package metrics exposes what grpclb's clients do as Prometheus metrics:
// per backend endpoint, the calls picked for it, in flight on it, their
// latency and their status codes; per resolver, its updates, the number of
// endpoints it last published, and its errors.
//
// Load-balancing problems are invisible in per-method metrics: a fleet
// whose calls all go to one pod, a pod that still gets calls while
// terminating, a resolver that stopped updating. These are per endpoint and
// per resolver.
//
// There is no global state: New makes a Metrics that the caller registers
// in its own prometheus.Registerer (and can leave out entirely), then
// passes its StatsHandler and WrapResolver to the ClientConns it wants
// measured.
//
//	m := metrics.New()
//	reg.MustRegister(m)
//	conn, err := grpc.NewClient("kubernetes:///echo.prod:grpc",
//		grpc.WithStatsHandler(m.StatsHandler("echo")),
//		grpc.WithResolvers(m.WrapResolver(kube.NewBuilder(kube.Options{}))),
//		...)
//
// Metric names (namespace "grpclb", subsystem "client"):
//
//	grpclb_client_attempts_total{target,method,endpoint,code}     attempts finished
//	grpclb_client_attempt_seconds{target,method,endpoint}         attempt latency (histogram)
//	grpclb_client_in_flight{target,endpoint}                      attempts in flight
//	grpclb_client_resolver_updates_total{target}                  states published by the resolver
//	grpclb_client_resolver_errors_total{target}                   errors reported by the resolver
//	grpclb_client_resolver_endpoints{target}                      endpoints in the last state
//	grpclb_client_ejections_total{target,endpoint}                ejections (ObserveEjection)
//
// An attempt is one try of a call on one endpoint: a retried call counts
// once per attempt, on the endpoint that served each. An attempt that
// never reached an endpoint (no connection ready before its deadline) has
// endpoint "".
package metrics
