package lab

import (
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
)

// flakyRate is the share of calls the flaky backend fails.
const flakyRate = 0.3

// flaky: one backend fails a share of its calls (a bad disk, a broken
// dependency) while its connection and health check look fine.
var flaky = Scenario{
	Name: "flaky",
	Doc: fmt.Sprintf("3 backends under load; one fails %.0f%% of its calls with UNAVAILABLE while its connection and health "+
		"check look fine: what share of calls fails for callers?", 100*flakyRate),
	Duration:   12 * time.Second,
	Initial:    3,
	Strategies: []string{"dnspoll+round_robin", "dnspoll+outlier+round_robin", "dnspoll+p2c_ewma", "grpclb.NewClient"},
	Setting:    says(fmt.Sprintf("b2 fails %.0f%% of calls from the start", 100*flakyRate)),
	Setup: func(w *World, p Params) []Event {
		w.Fleet.Backends()[1].SetErrorRate(flakyRate, codes.Unavailable)
		return []Event{{At: 0, Label: "b2 flaky"}}
	},
	Notes: map[string]string{
		"dnspoll+round_robin":         "round_robin keeps sending the flaky backend its third: about a tenth of all calls fail.",
		"dnspoll+outlier+round_robin": "outlier_ejection (failure percentage over 20% in a 500ms interval) takes it out, for 10s, then 20s...",
		"grpclb.NewClient":            "outlier ejection over p2c_ewma, and the Echo method is retried on UNAVAILABLE.",
	},
	Summary: func(r Result) string {
		return fmt.Sprintf("%.2f%% of calls failed (%d of %d)", r.failedPct(), r.Failed, r.RPCs)
	},
}
