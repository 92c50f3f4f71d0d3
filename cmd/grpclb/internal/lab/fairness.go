package lab

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The fairness scenarios: identical backends, and how evenly each policy
// uses them. A policy that avoids trouble by latency can turn the noise of
// equal latencies into a 2:1 split, which leaves capacity idle and puts
// twice the load on some pods.

const (
	fairnessLatency  = time.Millisecond
	fairnessDuration = 8 * time.Second
	fairnessWarmup   = time.Second // not counted: connections come up
)

var fairnessStrategies = []string{"dns+round_robin", "dns+least_request", "dns+p2c_ewma", "dnspoll+outlier+round_robin", "grpclb.NewClient"}

// fairnessScn is the fairness scenario of n backends and that many callers
// in a closed loop.
func fairnessScn(n, callers int) Scenario {
	return Scenario{
		Name: fmt.Sprintf("fairness/%dx%d", n, callers),
		Doc: fmt.Sprintf("%d identical backends (%v per call), %d caller(s) in a closed loop: how evenly are they used, "+
			"over 1s windows and over the run?", n, fairnessLatency, callers),
		Duration:   fairnessDuration,
		Initial:    n,
		Strategies: fairnessStrategies,
		Load: func(p Params) Params {
			p.Callers = callers
			p.Bucket = min(p.Bucket, 500*time.Millisecond)
			return p
		},
		Setting: says(fmt.Sprintf("%d backends, %d caller(s); the first %v is not counted", n, callers, fairnessWarmup)),
		Setup:   servingIn(fairnessLatency),
		Measure: func(r *Result) {
			window, run := evenness(*r, fairnessWarmup, time.Duration(r.Seconds*float64(time.Second)))
			r.setFigure(figMaxMinWindow, nullable(window))
			r.setFigure(figMaxMinRun, nullable(run))
		},
		Summary: func(r Result) string {
			w, okW := r.figure(figMaxMinWindow)
			run, okR := r.figure(figMaxMinRun)
			if !okW {
				w = math.Inf(1)
			}
			if !okR {
				run = math.Inf(1)
			}
			return fmt.Sprintf("busiest / least used backend: %.2f over the worst 1s window, %.3f over the run", w, run)
		},
	}
}

// fairnessScenarios are the fairness scenarios, 3 and 10 backends by 1, 8
// and 64 callers; `--scenario fairness` runs them all.
func fairnessScenarios() []Scenario {
	var out []Scenario
	for _, n := range []int{3, 10} {
		for _, c := range []int{1, 8, 64} {
			out = append(out, fairnessScn(n, c))
		}
	}
	return out
}

// expandGroup returns the scenarios named group/..., for a name that is a
// group rather than a scenario.
func expandGroup(name string) []string {
	var out []string
	for _, s := range scenarios {
		if strings.HasPrefix(s.Name, name+"/") {
			out = append(out, s.Name)
		}
	}
	return out
}
