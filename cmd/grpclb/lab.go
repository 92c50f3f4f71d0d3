package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/grpclb/grpclb/cmd/grpclb/internal/lab"
)

const labHelp = `Usage: grpclb lab [flags]

Runs load-balancing scenarios against real gRPC backends on 127.0.0.x, a real
DNS server and an L4 VIP, all on this machine, and prints for each strategy
every backend's share of calls, how soon backends added later got their
first call, failed calls and latency.

Examples:
  grpclb lab                                   the default scenarios (%s)
  grpclb lab --scenario all                    every scenario
  grpclb lab --scenario scaleup --chart scaleup.svg
  grpclb lab --strategy dnspoll+round_robin,dns+round_robin --duration 20s
  grpclb lab --consul 127.0.0.1:8500                 scaleup, with a Consul strategy too
  grpclb lab --kubeconfig ~/.kube/config             the kubernetes strategy on that cluster (a namespace of its own)
  grpclb lab --scenario registry-down
  grpclb lab --json | jq '.backends[] | select(.added_later) | .first_rpc_ms'

Scenarios:  %s
Strategies: %s

The proxy scenario runs grpclb proxy as its own process, like nginx and
HAProxy: this binary when it is grpclb, or the one in $GRPCLB_BINARY; it
reports each proxy process's CPU per 1000 calls and peak RSS.

`

func runLab(args []string, stdout, stderr io.Writer) error {
	p := lab.DefaultParams()
	fs := newFlagSet("lab")
	scenarios := fs.String("scenario", "", `comma-separated scenarios to run, or "all" (default: the default scenarios)`)
	strategies := fs.String("strategy", "", "comma-separated strategies to run (default: each scenario's own)")
	fs.DurationVar(&p.Duration, "duration", p.Duration, "load time per strategy (default: each scenario's own; a strategy that needs longer takes longer)")
	fs.IntVar(&p.Rate, "rate", p.Rate, "calls per second")
	fs.IntVar(&p.Workers, "workers", p.Workers, "most calls in flight")
	fs.DurationVar(&p.Timeout, "timeout", p.Timeout, "deadline of each call")
	fs.DurationVar(&p.AddAfter, "add-after", p.AddAfter, "scaleup: when the new backends join")
	fs.DurationVar(&p.MaxAge, "max-age", p.MaxAge, "server MaxConnectionAge of the +maxage strategies")
	fs.DurationVar(&p.MaxAgeGrace, "max-age-grace", p.MaxAgeGrace, "server MaxConnectionAgeGrace of the +maxage strategies")
	fs.DurationVar(&p.PollInterval, "poll-interval", p.PollInterval, "dnspoll's re-resolution interval (jitter 20%)")
	fs.StringVar(&p.ConsulAddr, "consul", "", "a Consul agent's HTTP address (host:port): adds consul+round_robin to scaleup")
	fs.StringVar(&p.Kubeconfig, "kubeconfig", "", "a cluster for kubernetes+round_robin (default: a kube-apiserver the lab starts, if ./scripts/kube-apiserver.sh built one)")
	fs.DurationVar(&p.RegistryOutage, "registry-outage", p.RegistryOutage, "registry-down: how long the registry is away")
	asJSON := fs.Bool("json", false, "print JSON Lines (one object per (scenario, strategy) run) instead of tables; with --list, one JSON object")
	dryRun := fs.Bool("dry-run", false, "print the runs the flags select (and the skipped ones, on stderr) without running them")
	list := fs.Bool("list", false, "list the scenarios and strategies, with what each strategy needs, and exit")
	chartPath := fs.String("chart", "", "write a chart of calls per second per backend to this .svg or .png file")
	help := fmt.Sprintf(labHelp, strings.Join(lab.DefaultScenarios(), ", "), strings.Join(lab.ScenarioNames(), ", "), strings.Join(lab.StrategyNames(), ", "))
	pos, err := parseFlags(fs, args, stdout, help)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("lab", "unexpected argument %q (the lab takes flags only)", pos[0])
	}
	if *chartPath != "" && !strings.HasSuffix(*chartPath, ".svg") && !strings.HasSuffix(*chartPath, ".png") {
		return usagef("lab", "--chart %q must end in .svg or .png", *chartPath)
	}
	if *list {
		return writeCatalog(stdout, p, *asJSON)
	}
	cfg := lab.Config{Scenarios: splitList(*scenarios), Strategies: splitList(*strategies), Params: p}
	plan, err := lab.MakePlan(cfg)
	if err != nil {
		return usagef("lab", "%v", err)
	}
	for _, sk := range plan.Skipped {
		fmt.Fprintf(stderr, "grpclb lab: skipping %s/%s: %v\n", sk.Scenario, sk.Strategy, sk.Reason)
	}
	// Progress goes to stderr with tables and with --json alike (stdout
	// stays data).
	cfg.Progress, cfg.Live = stderr, isTerminal(os.Stderr) && stderr == io.Writer(os.Stderr)
	if *dryRun {
		for _, r := range plan.Runs {
			fmt.Fprintf(stdout, "[%d/%d] %s/%s for %v\n", r.Seq, r.Of, r.Scenario.Name, r.Strategy.Name, r.Duration)
		}
		fmt.Fprintf(stdout, "%d runs, about %v of load\n", len(plan.Runs), plan.Total())
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	enc := json.NewEncoder(stdout)
	var all []lab.Result
	var table *lab.Table // the current scenario's, with tables
	if !*asJSON {
		fmt.Fprintf(stdout, "grpclb lab: %d runs, about %v of load\n", len(plan.Runs), plan.Total())
	}
	cfg.OnResult = func(r lab.Result) {
		all = append(all, r)
		if *asJSON {
			_ = enc.Encode(r)
			return
		}
		table.Row(r) // as each run finishes
	}
	// Each scenario: its header before its first run, a row per run as it
	// finishes, the summaries after its last.
	var runErr error
	for i := 0; i < len(plan.Runs) && runErr == nil; {
		scn := plan.Runs[i].Scenario.Name
		j := i
		var names []string
		for j < len(plan.Runs) && plan.Runs[j].Scenario.Name == scn {
			names = append(names, plan.Runs[j].Strategy.Name)
			j++
		}
		if !*asJSON {
			lab.WriteHeader(stdout, scn, p)
			table = lab.NewTable(stdout, names)
		}
		_, runErr = lab.Run(ctx, cfg, lab.Plan{Runs: plan.Runs[i:j]})
		if table != nil {
			table.Close()
		}
		i = j
	}
	if *chartPath != "" && len(all) > 0 {
		if err := writeCharts(*chartPath, all, stdout, *asJSON); err != nil {
			return err
		}
	}
	return runErr
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeCharts draws one chart per scenario (panels of one scenario share
// their scales): path itself for a single scenario, path with -SCENARIO
// before the extension for several.
func writeCharts(path string, results []lab.Result, stdout io.Writer, quiet bool) error {
	var order []string
	byScenario := map[string][]lab.Result{}
	for _, r := range results {
		if _, ok := byScenario[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
	}
	ext := filepath.Ext(path)
	for _, scn := range order {
		out := path
		if len(order) > 1 {
			out = strings.TrimSuffix(path, ext) + "-" + scn + ext
		}
		if err := lab.Chart(byScenario[scn]).WriteFile(out); err != nil {
			return fmt.Errorf("lab: chart: %w", err)
		}
		if !quiet {
			fmt.Fprintf(stdout, "chart written to %s\n", out)
		}
	}
	return nil
}

// writeCatalog prints every scenario and strategy (--list), with what a
// strategy this machine cannot run lacks.
func writeCatalog(w io.Writer, p lab.Params, asJSON bool) error {
	scns, strats := lab.Catalog(p)
	if asJSON {
		return writeJSON(w, map[string]any{"scenarios": scns, "strategies": strats})
	}
	fmt.Fprintln(w, "Scenarios (* run by a bare `grpclb lab`):")
	for _, s := range scns {
		mark := " "
		if s.Default {
			mark = "*"
		}
		fmt.Fprintf(w, " %s %-16s %s\n", mark, s.Name, s.Doc)
		fmt.Fprintf(w, "   %-16s strategies: %s\n", "", strings.Join(s.Strategies, ", "))
	}
	fmt.Fprintln(w, "\nStrategies:")
	for _, s := range strats {
		fmt.Fprintf(w, "   %-32s %s\n", s.Name, s.Doc)
		if s.Missing != "" {
			fmt.Fprintf(w, "   %-32s not available here: %s\n", "", s.Missing)
		}
	}
	return nil
}
