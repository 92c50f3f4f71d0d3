package lab

import (
	"context"
	"slices"
	"time"
)

// Scenario is a load-balancing problem played out over time.
type Scenario struct {
	Name string
	Doc  string
	// Duration of each run unless Params.Duration says otherwise.
	Duration time.Duration
	// InDefault: run by a plain `grpclb lab` (the rest with --scenario).
	InDefault bool
	// Check rejects params the scenario cannot run with, for a run of d.
	Check func(p Params, d time.Duration) error
	// Setting describes the knobs that matter for this scenario.
	Setting func(p Params) string
	// Initial backends running when the load starts.
	Initial int
	// Strategies run by default, in order.
	Strategies []string
	// Load adjusts the params for this scenario's load (closed loop,
	// latency), unless nil.
	Load func(p Params) Params
	// CallContext, when set, returns a function that decorates each call's
	// context (with a hash key, for example); it is made once per run.
	CallContext func(p Params) func(context.Context) context.Context
	// Notes explain a strategy's figures in this scenario, by strategy.
	Notes map[string]string
	// Setup prepares the world before the load starts (a slow backend, say;
	// not when w.Baseline) and returns the events to mark at time 0.
	Setup func(w *World, p Params) []Event
	// Probe, when set, replaces the steady load: it makes its own calls
	// (each recorded) and returns figures for Result.Extra.
	Probe func(ctx context.Context, w *World, call KeyedCall, p Params) (map[string]float64, []Event, error)
	// Summary adds scenario-specific lines under the table.
	Summary func(r Result) string
	// Measure, when set, adds the scenario's figures to a finished run's
	// result (its events are set).
	Measure func(r *Result)
	// Script changes the world while the load runs; it returns the events
	// it caused, for the chart. It must stop when ctx ends.
	Script func(ctx context.Context, w *World, p Params) ([]Event, error)
}

var scenarios = append([]Scenario{scaleup, vip, slow, hotkey, reshard, registryDown, rollout, xdsScn, kill, freeze, recoverScn, restartScn,
	coldstart, flaky, hedgeScn, proxyScn, subsetScn}, fairnessScenarios()...)

// DefaultScenarios are those a plain `grpclb lab` runs.
func DefaultScenarios() []string {
	var out []string
	for _, s := range scenarios {
		if s.InDefault {
			out = append(out, s.Name)
		}
	}
	return out
}

// ScenarioNames lists every scenario.
func ScenarioNames() []string { return namesOf(scenarios) }

func scenarioByName(name string) (Scenario, bool) { return byName(scenarios, name) }

func (s Scenario) label() string { return s.Name }

// named is a scenario or a strategy.
type named interface{ label() string }

// namesOf lists the names of xs, in order.
func namesOf[T named](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.label()
	}
	return out
}

// byName finds the one of xs called name.
func byName[T named](xs []T, name string) (T, bool) {
	if i := slices.IndexFunc(xs, func(x T) bool { return x.label() == name }); i >= 0 {
		return xs[i], true
	}
	var none T
	return none, false
}

// sleepCtx waits d or until ctx ends, reporting whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
