package lab

import (
	"fmt"
	"testing"
)

func TestSubsetScenario(t *testing.T) {
	results := runPlan(t, Config{Scenarios: []string{"subset"}, Params: quick()})
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	r := results[0]
	t.Logf("%s", subsetSummary(r))
	e := r.Extra
	for _, pre := range []string{"real_", "xds_"} {
		if e[pre+"clients_min"] != 1 || e[pre+"clients_max"] != 1 {
			t.Errorf("%sclients: %v..%v clients per backend, want 1 (4 clients × 3 of 12 backends)", pre, e[pre+"clients_min"], e[pre+"clients_max"])
		}
		if e[pre+"calls_min_x"] < 0.9 || e[pre+"calls_max_x"] > 1.1 {
			t.Errorf("%sclients: calls per backend %.2f..%.2f× the mean, want within ±10%%", pre, e[pre+"calls_min_x"], e[pre+"calls_max_x"])
		}
	}
	for _, f := range subsetFleets {
		pre := fmt.Sprintf("%dx%d_", f.clients, f.backends)
		if spread := e[pre+"deterministic_conns_max"] - e[pre+"deterministic_conns_min"]; spread > 1 {
			t.Errorf("%s: deterministic spread %v, want at most 1", pre, spread)
		}
		if e[pre+"random_conns_max"]-e[pre+"random_conns_min"] <= 2 {
			t.Errorf("%s: random subsetting spread %v..%v, want wider than deterministic's", pre, e[pre+"random_conns_min"], e[pre+"random_conns_max"])
		}
		if e[pre+"all_conns_min"] != float64(f.clients) {
			t.Errorf("%s: everyone to everyone gives a backend %v clients, want %d", pre, e[pre+"all_conns_min"], f.clients)
		}
		if mean := f.clients * f.size / f.backends; mean >= 10 && (e[pre+"deterministic_load_min_x"] < 0.9 || e[pre+"deterministic_load_max_x"] > 1.1) {
			t.Errorf("%s: deterministic calls per backend %.2f..%.2f× the mean, want within ±10%%", pre, e[pre+"deterministic_load_min_x"], e[pre+"deterministic_load_max_x"])
		}
		for _, ch := range []string{"add", "remove"} {
			if e[pre+ch+"_repair"] > e[pre+"bound"] {
				t.Errorf("%s%s: Repair moved %v memberships, want at most %v", pre, ch, e[pre+ch+"_repair"], e[pre+"bound"])
			}
			if e[pre+ch+"_assign"]*10 > e[pre+ch+"_sre"] {
				t.Errorf("%s%s: Assign moved %v memberships, want under a tenth of the SRE book's %v", pre, ch, e[pre+ch+"_assign"], e[pre+ch+"_sre"])
			}
		}
	}
}
