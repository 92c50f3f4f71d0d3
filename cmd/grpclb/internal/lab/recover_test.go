package lab

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The share figures are top-level JSON members, null when never reached.
func TestFiguresJSON(t *testing.T) {
	r := Result{Scenario: "recover", Strategy: "x"}
	r.setFigure(figBackToHalfShare, ptr(1.5))
	r.setFigure(figBackToShare, nil)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if v, ok := m[figBackToHalfShare]; !ok || v != 1.5 {
		t.Errorf("%s = %v in %s, want 1.5", figBackToHalfShare, v, b)
	}
	if v, ok := m[figBackToShare]; !ok || v != nil {
		t.Errorf("%s = %v (present %v) in %s, want null", figBackToShare, v, ok, b)
	}
	if m["scenario"] != "recover" {
		t.Errorf("scenario lost: %s", b)
	}
	plain, _ := json.Marshal(Result{Scenario: "slow"})
	if strings.Contains(string(plain), "share_s") {
		t.Errorf("a result without figures has share figures: %s", plain)
	}
}

// evenness and backToShare read the per-bucket counts.
func TestShareFigures(t *testing.T) {
	// 100ms buckets, 3 backends over 4s: b2 gets nothing for the first
	// 2s, then half its share for 1s, then its share.
	r := Result{Bucket: 100 * time.Millisecond, Seconds: 4}
	for k := range 3 {
		b := BackendResult{PerBucket: make([]int, 40)}
		for i := range 40 {
			b.PerBucket[i] = 10
			if k == 1 && i < 20 {
				b.PerBucket[i] = 0
			} else if k == 1 && i < 30 {
				b.PerBucket[i] = 5
			}
		}
		r.Backends = append(r.Backends, b)
	}
	at := func(v *float64) float64 {
		if v == nil {
			return -1
		}
		return *v
	}
	// The window from 1.8s holds 8 buckets of 5 for b2 against 10 of 10
	// for the others: 40 × 3 / 240 = 0.5 of its share.
	if got := at(backToShare(r, 1, time.Second, 0.5, 1e9)); got != 0.8 {
		t.Errorf("back to half its share after %vs, want 0.8", got)
	}
	// From 2.5s: 5 buckets of 5 and 5 of 10, 75 × 3 / 275 = 0.82.
	if got := at(backToShare(r, 1, time.Second, 0.8, 1.2)); got != 1.5 {
		t.Errorf("back to its share after %vs, want 1.5", got)
	}
	// b1 has 1.5 times its share while b2 is out, 1.2 from 2s.
	if got := at(backToShare(r, 0, time.Second, 0.8, 1.2)); got != 1 {
		t.Errorf("b1 within ±20%% of its share after %vs, want 1", got)
	}
	if got := backToShare(r, 1, time.Second, 2, 3); got != nil {
		t.Errorf("twice its share, never reached: %v, want nil", *got)
	}
	window, run := evenness(r, 3*time.Second, 4*time.Second)
	if window != 1 || run != 1 {
		t.Errorf("evenness over the last second = %v, %v; want 1, 1", window, run)
	}
	window, run = evenness(r, 2*time.Second, 4*time.Second)
	if window != 2 || run != 20.0/15 {
		t.Errorf("evenness over the last 2s = %v, %v; want 2 and 20/15", window, run)
	}
	if window, _ := evenness(r, 0, 4*time.Second); window < 1e9 {
		t.Errorf("a window where b2 got nothing: max/min %v, want +Inf", window)
	}
}

// recover and restart: p2c_ewma and grpclb.NewClient give a thawed or
// restarted backend half its share back within 3s and all of it within
// 10s (the goals), fail at most 0.1% of calls in the freeze and
// none through the restart with NewClient. Timing figures: run without the
// race detector (scripts/test.sh), as the proxy's.
func TestRecoverAndRestart(t *testing.T) {
	measuredWithoutRace(t)
	p := DefaultParams()
	for _, scn := range []string{"recover", "restart"} {
		rs := runScenario(t, scn, p, "dns+p2c_ewma", "grpclb.NewClient")
		for name, r := range rs {
			half, okHalf := r.figure(figBackToHalfShare)
			full, okFull := r.figure(figBackToShare)
			t.Logf("%s/%s: %d of %d failed; back to half its share %.1fs (%v), to its share %.1fs (%v)",
				scn, name, r.Failed, r.RPCs, half, okHalf, full, okFull)
			if !okHalf || half > 3 {
				t.Errorf("%s/%s: back to half its share after %.1fs (reached: %v), want within 3s", scn, name, half, okHalf)
			}
			if !okFull || full > 10 {
				t.Errorf("%s/%s: back to its share after %.1fs (reached: %v), want within 10s", scn, name, full, okFull)
			}
			if r.Failed > r.RPCs/1000 {
				t.Errorf("%s/%s: %d of %d calls failed, want at most 0.1%%: %v", scn, name, r.Failed, r.RPCs, r.Errors)
			}
		}
		if nc := rs["grpclb.NewClient"]; scn == "restart" && nc.Failed != 0 {
			t.Errorf("restart/grpclb.NewClient: %d calls failed, want none (retries): %v", nc.Failed, nc.Errors)
		}
	}
}

// fairness: over identical backends p2c_ewma and grpclb.NewClient keep the
// busiest within 1.3× of the least used over any 1s window and within 1.1×
// over the run, with 1 caller and with many.
func TestFairness(t *testing.T) {
	measuredWithoutRace(t)
	p := DefaultParams()
	p.Duration = 5 * time.Second
	for _, scn := range []string{"fairness/3x1", "fairness/10x1", "fairness/3x64", "fairness/10x8"} {
		for name, r := range runScenario(t, scn, p, "dns+p2c_ewma", "grpclb.NewClient") {
			window, okW := r.figure(figMaxMinWindow)
			run, okR := r.figure(figMaxMinRun)
			t.Logf("%s/%s: max/min %.3f over 1s windows, %.3f over the run", scn, name, window, run)
			if !okW || window > 1.3 || !okR || run > 1.1 {
				t.Errorf("%s/%s: max/min %.3f (set: %v) over 1s windows, want ≤ 1.3; %.3f (set: %v) over the run, want ≤ 1.1",
					scn, name, window, okW, run, okR)
			}
		}
	}
}

// A table prints each row as its run finishes, aligned with the heads
// printed with the first.
func TestTableRowsAsRunsFinish(t *testing.T) {
	var b strings.Builder
	tab := NewTable(&b, []string{"dns+round_robin", "grpclb.NewClient"})
	ms := 1.5
	row := func(strategy string) Result {
		return Result{Scenario: "scaleup", Strategy: strategy, Seconds: 8, RPCs: 1000, P50ms: 1, P99ms: 2, P999ms: 3,
			Backends: []BackendResult{{Name: "b1", RPCs: 600}, {Name: "b2", RPCs: 400, AddedLater: true, FirstRPCMs: &ms}}}
	}
	tab.Row(row("dns+round_robin"))
	first := b.String()
	lines := strings.Split(strings.TrimSuffix(first, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "strategy") || !strings.Contains(lines[0], "b2+") || !strings.Contains(lines[1], "60%") {
		t.Fatalf("after the first run:\n%s", first)
	}
	tab.Row(row("grpclb.NewClient"))
	lines = strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || len(lines[1]) != len(lines[2]) {
		t.Errorf("second row not aligned with the first:\n%s", b.String())
	}
	tab.Close()
	if !strings.Contains(b.String(), "share: of all answered calls") {
		t.Errorf("Close did not print the summaries:\n%s", b.String())
	}
}
