package lab

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/grpclb/grpclb/cmd/grpclb/internal/chart"
)

// WriteHeader prints what a scenario does before its runs.
func WriteHeader(w io.Writer, scenarioName string, p Params) {
	scn, ok := scenarioByName(scenarioName)
	if !ok {
		return
	}
	if scn.Load != nil {
		p = scn.Load(p)
	}
	fmt.Fprintf(w, "\n== %s: %s\n", scn.Name, scn.Doc)
	if p.Callers > 0 {
		fmt.Fprintf(w, "   %d callers, each making one call after another, %v timeout", p.Callers, p.Timeout)
	} else {
		fmt.Fprintf(w, "   %d calls/s, at most %d in flight, %v timeout", p.Rate, p.Workers, p.Timeout)
	}
	if scn.Setting != nil {
		fmt.Fprintf(w, "; %s", scn.Setting(p))
	}
	fmt.Fprint(w, "\n\n")
}

// Table prints a scenario's results side by side as each run finishes:
// share of calls per backend, and for backends that joined later how long
// they waited for their first call against the strategy's bound. Columns
// have fixed widths, so a row can be printed before the next run starts.
type Table struct {
	w        io.Writer
	width    int // of the strategy column
	results  []Result
	anyAdded bool
	cols     []int // widths of the columns after the strategy
}

// NewTable starts a scenario's table; strategies are the names its rows
// will have (for the width of their column).
func NewTable(w io.Writer, strategies []string) *Table {
	t := &Table{w: w, width: len("strategy")}
	for _, s := range strategies {
		t.width = max(t.width, len(s))
	}
	return t
}

// Row prints a finished run's row, after the column heads if it is the
// first.
func (t *Table) Row(r Result) {
	t.results = append(t.results, r)
	if len(t.results) == 1 {
		head := []string{"time", "rpcs", "failed", "p50 ms", "p99 ms", "p99.9 ms"}
		t.cols = []int{5, 8, 7, 8, 8, 9}
		for _, b := range r.Backends {
			name := b.Name
			if b.AddedLater {
				name += "+"
				t.anyAdded = true
			}
			head = append(head, name)
			t.cols = append(t.cols, max(5, len(name)))
		}
		line := fmt.Sprintf("   %-*s", t.width, "strategy")
		for i, h := range head {
			line += fmt.Sprintf("  %*s", t.cols[i], h)
		}
		if t.anyAdded {
			line += "   first call on added backends (bound)"
		}
		fmt.Fprintln(t.w, line)
	}
	cells := []string{fmt.Sprintf("%.0fs", r.Seconds), fmt.Sprint(r.RPCs), fmt.Sprint(r.Failed),
		fmt.Sprintf("%.2f", r.P50ms), fmt.Sprintf("%.2f", r.P99ms), fmt.Sprintf("%.2f", r.P999ms)}
	var firsts []string
	for _, b := range r.Backends {
		cells = append(cells, fmt.Sprintf("%.0f%%", 100*float64(b.RPCs)/float64(max(1, r.RPCs-r.Failed))))
		if b.AddedLater {
			if b.FirstRPCMs == nil {
				firsts = append(firsts, "never")
			} else {
				firsts = append(firsts, fmt.Sprintf("%.1fs", *b.FirstRPCMs/1000))
			}
		}
	}
	line := fmt.Sprintf("   %-*s", t.width, r.Strategy)
	for i, c := range cells {
		w := 5
		if i < len(t.cols) {
			w = t.cols[i]
		}
		line += fmt.Sprintf("  %*s", w, c)
	}
	if t.anyAdded {
		bound := ""
		if r.PickupBoundMs != nil {
			bound = fmt.Sprintf(" (≤%.1fs)", *r.PickupBoundMs/1000)
		}
		line += "   " + strings.Join(firsts, " ") + bound
	}
	fmt.Fprintln(t.w, line)
}

// Close prints what the table's rows mean and the runs' summaries.
func (t *Table) Close() {
	if len(t.results) == 0 {
		return
	}
	writeSummaries(t.w, t.results, t.anyAdded)
}

// writeSummaries prints, below a table, what its shares mean and each
// run's summary lines.
func writeSummaries(w io.Writer, results []Result, anyAdded bool) {
	fmt.Fprintln(w)
	if anyAdded {
		fmt.Fprintln(w, "   share: of all answered calls over the run; + marks backends added during the run.")
	} else {
		fmt.Fprintln(w, "   share: of all answered calls over the run.")
	}
	var base *Result
	for i := range results {
		if results[i].Baseline {
			base = &results[i]
		}
	}
	for _, r := range results {
		if base != nil && !r.Baseline && base.P99ms > 0 && base.P999ms > 0 {
			fmt.Fprintf(w, "   %s: p99 %.2f× and p99.9 %.2f× the reference's (%s)\n", r.Strategy,
				r.P99ms/base.P99ms, r.P999ms/base.P999ms, base.Strategy)
		}
	}
	for _, r := range results {
		if scn, ok := scenarioByName(r.Scenario); ok && scn.Summary != nil {
			if s := scn.Summary(r); s != "" {
				fmt.Fprintf(w, "   %s: %s\n", r.Strategy, s)
			}
		}
	}
	for _, r := range results {
		if s := settledSummary(r); s != "" {
			fmt.Fprintf(w, "   %s: %s\n", r.Strategy, s)
		}
		if r.Note != "" {
			fmt.Fprintf(w, "   %s: %s\n", r.Strategy, r.Note)
		}
	}
}

// settledSummary describes the shares once every backend was in use.
func settledSummary(r Result) string {
	var parts []string
	for _, b := range r.Backends {
		if b.SettledShare == nil {
			return ""
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", b.Name, 100**b.SettledShare))
	}
	return fmt.Sprintf("once every backend had a call: %s (even: %.0f%%)", strings.Join(parts, " "), 100/float64(len(r.Backends)))
}

// Chart draws calls per second per backend over time, a panel per run.
func Chart(results []Result) chart.Chart {
	c := chart.Chart{Title: "grpclb lab: calls per second per backend"}
	if len(results) > 0 {
		c.Title = "grpclb lab, " + results[0].Scenario + ": calls per second per backend"
	}
	for _, r := range results {
		panel := chart.Panel{Title: r.Scenario + " / " + r.Strategy, Bucket: r.Bucket, YLabel: "calls/s"}
		perSec := float64(time.Second) / float64(r.Bucket)
		for _, b := range r.Backends {
			s := chart.Series{Name: b.Name, Dashed: b.AddedLater}
			if b.AddedLater {
				s.Name += " (added)"
			}
			for _, n := range b.PerBucket {
				s.Values = append(s.Values, float64(n)*perSec)
			}
			panel.Series = append(panel.Series, s)
		}
		if fails := r.Failures; len(fails) > 0 && sum(fails) > 0 {
			s := chart.Series{Name: "failed"}
			for _, n := range fails {
				s.Values = append(s.Values, float64(n)*perSec)
			}
			panel.Series = append(panel.Series, s)
		}
		for _, e := range r.Events {
			panel.Markers = append(panel.Markers, chart.Marker{At: e.At, Label: e.Label})
		}
		c.Panels = append(c.Panels, panel)
	}
	return c
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}
