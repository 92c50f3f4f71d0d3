// Package lab reproduces load-balancing problems and their fixes on one
// machine and measures them: each scenario builds a world of real backends
// (internal/testbed), drives a steady load through a client built by each
// strategy, changes the world on a script (backends added, killed, slowed)
// and records which backend served every call, failures and latency.
//
// Adding a strategy is one entry in strategies.go: how backends are started
// and how the client dials. Adding a scenario is one Scenario value with a
// script (see scaleup.go) registered in scenarios.go.
package lab
