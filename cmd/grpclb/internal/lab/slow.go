package lab

import (
	"fmt"
	"time"
)

// Latencies of the slow scenario.
const (
	slowBase  = time.Millisecond      // every backend's service time
	slowExtra = 50 * time.Millisecond // added to one backend
)

// slow: one backend of five answers 50 ms later than the rest. With round
// robin it gets its full share and the fleet's tail follows it.
var slow = Scenario{
	Name: "slow",
	Doc: fmt.Sprintf("5 backends answering in %v, one of them %v slower; %s: does the slow one set the fleet's tail latency?",
		slowBase, slowExtra, "64 callers in a closed loop"),
	Duration:   8 * time.Second,
	Initial:    5,
	Strategies: []string{"healthy+round_robin", "dns+round_robin", "dns+least_request", "dns+p2c_ewma"},
	Notes: map[string]string{
		"healthy+round_robin": "The fleet without the slow backend: the latency the others are measured against.",
		"dns+round_robin":     "Round robin gives the slow backend its full share: every fifth call waits for it.",
		"dns+least_request":   "Two choices sampled with replacement: the slow backend still takes a share, and the tail with it.",
		"dns+p2c_ewma":        "Two distinct choices by latency × load: the slow backend is tried now and then, and mostly avoided.",
	},
	Load: func(p Params) Params {
		if p.Callers == 0 {
			p.Callers = 64
		}
		return p
	},
	Setup: func(w *World, p Params) []Event {
		w.SetLatency(slowBase)
		bs := w.Fleet.Backends()
		if w.Baseline {
			return nil
		}
		bs[len(bs)-1].SetLatency(slowBase + slowExtra)
		return []Event{{At: 0, Label: fmt.Sprintf("%s +%v", bs[len(bs)-1].Name, slowExtra)}}
	},
}
