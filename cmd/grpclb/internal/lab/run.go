package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/grpclb/grpclb/internal/testbed/echopb"
)

// Config selects what a lab run does.
type Config struct {
	// Scenarios to run, by name; empty runs the default ones, "all" every
	// one.
	Scenarios []string
	// Strategies to run, by name; empty runs each scenario's defaults.
	Strategies []string
	Params     Params
	// Progress, when set, receives a status line as each run starts; with
	// Live, a status line redrawn (with \r) while it runs.
	Progress io.Writer
	Live     bool
	// OnResult is called after each (scenario, strategy) run.
	OnResult func(Result)
}

// Plan is a run's list of (scenario, strategy) pairs, checked.
type Plan struct {
	Runs []PlannedRun
	// Skipped are the runs of scenarios' default strategies that this
	// machine or these flags cannot have, each with the reason and its fix.
	Skipped []SkippedRun
}

// SkippedRun is a (scenario, strategy) run left out of a plan.
type SkippedRun struct {
	Scenario, Strategy string
	Reason             error
}

// PlannedRun is one (scenario, strategy) run.
type PlannedRun struct {
	Scenario Scenario
	Strategy Strategy
	Duration time.Duration
	// Seq is the run's place in its plan, 1 to Of; Left is the load time
	// of the runs after it, for an estimate of the time left.
	Seq, Of int
	Left    time.Duration
}

// MakePlan resolves names into runs, with an error naming any unknown one.
func MakePlan(cfg Config) (Plan, error) {
	if err := cfg.Params.Validate(); err != nil {
		return Plan{}, err
	}
	names := cfg.Scenarios
	switch {
	case len(names) == 0:
		names = DefaultScenarios()
	case len(names) == 1 && names[0] == "all":
		names = ScenarioNames()
	}
	var plan Plan
	var expanded []string
	for _, sn := range names {
		if _, ok := scenarioByName(sn); !ok {
			if group := expandGroup(sn); len(group) > 0 {
				expanded = append(expanded, group...)
				continue
			}
		}
		expanded = append(expanded, sn)
	}
	for _, sn := range expanded {
		scn, ok := scenarioByName(sn)
		if !ok {
			return Plan{}, fmt.Errorf("unknown scenario %q (known: %s)", sn, strings.Join(ScenarioNames(), ", "))
		}
		strats := cfg.Strategies
		explicit := len(strats) > 0
		if !explicit {
			strats = scn.Strategies
		}
		for _, name := range strats {
			st, ok := strategyByName(name)
			if !ok {
				return Plan{}, fmt.Errorf("unknown strategy %q (known: %s)", name, strings.Join(StrategyNames(), ", "))
			}
			if st.Requires != nil {
				if err := st.Requires(cfg.Params); err != nil {
					if explicit {
						return Plan{}, err
					}
					// A default that this run cannot have: said, not dropped silently.
					plan.Skipped = append(plan.Skipped, SkippedRun{Scenario: scn.Name, Strategy: name, Reason: err})
					continue
				}
			}
			d := cfg.Params.Duration
			if d == 0 {
				d = scn.Duration
			}
			d = max(d, st.MinDuration)
			if scn.Check != nil {
				if err := scn.Check(cfg.Params, d); err != nil {
					return Plan{}, fmt.Errorf("%s: %w", scn.Name, err)
				}
			}
			plan.Runs = append(plan.Runs, PlannedRun{Scenario: scn, Strategy: st, Duration: d})
		}
	}
	var left time.Duration
	for i := len(plan.Runs) - 1; i >= 0; i-- {
		plan.Runs[i].Seq, plan.Runs[i].Of, plan.Runs[i].Left = i+1, len(plan.Runs), left
		left += plan.Runs[i].Duration + runOverhead
	}
	return plan, nil
}

// Total is the plan's load time.
func (p Plan) Total() time.Duration {
	var d time.Duration
	for _, r := range p.Runs {
		d += r.Duration
	}
	return d
}

// Run executes the plan, one run after another, and returns the results.
func Run(ctx context.Context, cfg Config, plan Plan) ([]Result, error) {
	var results []Result
	for _, pr := range plan.Runs {
		res, err := runOne(ctx, cfg, pr)
		if err != nil {
			return results, fmt.Errorf("%s/%s: %w", pr.Scenario.Name, pr.Strategy.Name, err)
		}
		results = append(results, res)
		if cfg.OnResult != nil {
			cfg.OnResult(res)
		}
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
	}
	return results, nil
}

func runOne(ctx context.Context, cfg Config, pr PlannedRun) (Result, error) {
	p, st, scn := cfg.Params, pr.Strategy, pr.Scenario
	if scn.Load != nil {
		p = scn.Load(p)
	}
	if st.Global != nil {
		undo := st.Global(p)
		defer undo() // runs after the client below is closed
	}
	opts, err := optionsFor(st, p)
	if err != nil {
		return Result{}, err
	}
	w, err := newWorld(scn.Initial, opts)
	if err != nil {
		return Result{}, err
	}
	defer w.Close()
	if st.Registry != nil {
		reg, err := st.Registry(p)
		if err != nil {
			return Result{}, fmt.Errorf("registry: %w", err)
		}
		w.Registry = reg
		w.publish() // register the initial backends
	}
	client, err := st.Dial(w, p)
	if err != nil {
		return Result{}, fmt.Errorf("dial: %w", err)
	}
	defer client.Close()

	w.Baseline = st.Baseline
	var events []Event
	if scn.Setup != nil {
		events = scn.Setup(w, p)
	}
	rec := newRecorder(p.Bucket)
	rec.terminatedAt = w.terminatedAt
	limit := pr.Duration + p.Timeout + 5*time.Second
	if scn.Probe != nil {
		limit = 90 * time.Second // a probe decides its own length, within this
	}
	runCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	w.startClock()
	start := time.Now()

	type scriptResult struct {
		events []Event
		err    error
	}
	scriptDone := make(chan scriptResult, 1)
	scriptCtx, stopScript := context.WithCancel(runCtx)
	defer stopScript()
	go func() {
		if scn.Script == nil {
			scriptDone <- scriptResult{}
			return
		}
		ev, err := scn.Script(scriptCtx, w, p)
		scriptDone <- scriptResult{ev, err}
	}()
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		showProgress(cfg.Progress, cfg.Live, pr, start, rec, stopProgress)
	}()

	var decorate func(context.Context) context.Context
	if scn.CallContext != nil {
		decorate = scn.CallContext(p)
	}
	echo := echopb.NewEchoClient(client)
	fr, _ := w.Registry.(*startedFront)
	var before usage
	measured := false
	if fr != nil {
		before, measured = fr.usage()
	}
	sampler := startSampler(w)
	var probeExtra map[string]float64
	var probeEvents []Event
	var probeErr error
	if scn.Probe != nil {
		probeExtra, probeEvents, probeErr = scn.Probe(runCtx, w, keyedCaller(echo, p, start, rec), p)
	} else {
		drive(runCtx, newCaller(echo, p, start, rec, decorate), p, pr.Duration, start)
	}
	samples := sampler.stop()
	close(stopProgress)
	<-progressDone
	stopScript()
	sr := <-scriptDone
	if probeErr != nil {
		return Result{}, fmt.Errorf("probe: %w", probeErr)
	}
	sr.events = append(sr.events, probeEvents...)
	if sr.err != nil && !errors.Is(sr.err, context.Canceled) {
		return Result{}, fmt.Errorf("scenario script: %w", sr.err)
	}
	ran := pr.Duration
	if scn.Probe != nil {
		ran = time.Since(start) // a probe decides its own length
	}
	res := buildResult(scn.Name, st.Name, ran, p, w, rec)
	res.Events = append(events, sr.events...)
	res.Extra = probeExtra
	if ex, ok := client.(interface{ Extra() map[string]float64 }); ok {
		if res.Extra == nil {
			res.Extra = make(map[string]float64)
		}
		maps.Copy(res.Extra, ex.Extra())
	}
	if w.terminatedAny() {
		if res.Extra == nil {
			res.Extra = make(map[string]float64)
		}
		res.Extra["calls_to_terminating"] = float64(rec.lateCalls)
		res.Extra["terminating_lag_ms"] = ms(rec.lateLag)
	}
	if measured {
		if after, ok := fr.usage(); ok && res.RPCs > 0 {
			if res.Extra == nil {
				res.Extra = make(map[string]float64)
			}
			res.Extra["proxy_cpu_ms_per_1k_calls"] = (after.cpuSeconds - before.cpuSeconds) * 1e3 / float64(res.RPCs) * 1e3
			res.Extra["proxy_peak_rss_mib"] = float64(after.peakRSS) / (1 << 20)
		}
	}
	samples.apply(&res)
	if scn.Measure != nil {
		scn.Measure(&res)
	}
	res.Baseline = st.Baseline
	res.Note = scn.Notes[st.Name]
	if fr != nil && fr.proxy != nil {
		res.Note = "grpclb proxy ran inside the lab's process, sharing it with the load and the backends (no grpclb binary: set " + GRPCLBBinaryEnv + ", or run the lab from a grpclb binary)."
	}
	if st.PickupBound != nil {
		res.PickupBoundMs = ptr(ms(st.PickupBound(p)))
	}
	return res, nil
}

func optionsFor(st Strategy, p Params) ([]grpc.ServerOption, error) {
	if st.ServerOptions == nil {
		return nil, nil
	}
	return st.ServerOptions(p)
}

// runOverhead is about what a run takes besides its load time (starting
// backends and the client, draining), for the estimate of the time left.
const runOverhead = time.Second

// showProgress says that a run started, with its place in the plan and
// the time left in all; when live (a terminal), it redraws a status line
// until stop.
func showProgress(w io.Writer, live bool, pr PlannedRun, start time.Time, rec *recorder, stop <-chan struct{}) {
	if w == nil {
		return
	}
	label := pr.Scenario.Name + "/" + pr.Strategy.Name
	seq := ""
	if pr.Of > 0 {
		seq = fmt.Sprintf("[%d/%d] ", pr.Seq, pr.Of)
	}
	d := pr.Duration
	if !live {
		fmt.Fprintf(w, "  %srunning %s for %v (about %v left in all)\n", seq, label, d, (d + runOverhead + pr.Left).Round(time.Second))
		<-stop
		return
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	line := func() {
		ok, failed, backends := rec.progress()
		el := min(time.Since(start), d)
		eta := (d - el + runOverhead + pr.Left).Round(time.Second)
		fmt.Fprintf(w, "\r  %s%-36s %5.1fs/%.0fs %7d ok %5d failed  %d backends used, %v left ", seq, label,
			el.Seconds(), d.Seconds(), ok, failed, backends, eta)
	}
	for {
		select {
		case <-tick.C:
			line()
		case <-stop:
			line()
			fmt.Fprint(w, "\r\033[K")
			return
		}
	}
}
