package proxy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/grpclb/grpclb/hedge"
)

// hedgers are the Hedgers of a config's hedged routes, by route label and
// hedge policy. A reload hands the Hedger of a route whose label and
// policy did not change to the new config, so that its budget, its window
// of latencies (the adaptive delay) and its counters carry on; a route
// whose policy changed starts afresh. Two routes with the same label and
// policy share one. A hedgers is not changed once its config is in use.
type hedgers map[hedgerKey]*hedge.Hedger

type hedgerKey struct{ route, policy string }

// forRoute returns the Hedger of r, a hedged route: old's when it has one
// for r's label and policy, else a new one. It records it in hs.
func (hs hedgers) forRoute(r Route, old hedgers) (*hedge.Hedger, error) {
	k := hedgerKey{r.label(), string(r.Hedge.raw)}
	if h := hs[k]; h != nil {
		return h, nil
	}
	h := old[k]
	if h == nil {
		var err error
		if h, err = newHedger(r.Hedge); err != nil {
			return nil, err
		}
	}
	hs[k] = h
	return h, nil
}

var (
	hedgeLabels       = []string{"route"}
	hedgeCallsDesc    = prometheus.NewDesc("grpclb_proxy_hedge_calls_total", "Calls of hedged routes, by route.", hedgeLabels, nil)
	hedgedCallsDesc   = prometheus.NewDesc("grpclb_proxy_hedge_hedged_calls_total", "Calls that sent at least one extra attempt, by route.", hedgeLabels, nil)
	hedgeAttemptsDesc = prometheus.NewDesc("grpclb_proxy_hedge_extra_attempts_total", "Extra attempts sent (the extra load on the backends), by route.", hedgeLabels, nil)
	hedgeWinsDesc     = prometheus.NewDesc("grpclb_proxy_hedge_wins_total", "Calls answered with success by an extra attempt rather than the first, by route.", hedgeLabels, nil)
	hedgeDeniedDesc   = prometheus.NewDesc("grpclb_proxy_hedge_budget_denied_total", "Calls that would have sent an extra attempt but found the route's budget empty, by route.", hedgeLabels, nil)
)

// hedgeCollector exports the counters of the hedged routes of the config
// in use. A route's counters start again from 0 when a reload changes its
// hedge policy (Prometheus's rate and increase take that as a counter
// reset).
type hedgeCollector struct{ current func() hedgers }

func (hedgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hedgeCallsDesc, hedgedCallsDesc, hedgeAttemptsDesc, hedgeWinsDesc, hedgeDeniedDesc} {
		ch <- d
	}
}

func (c hedgeCollector) Collect(ch chan<- prometheus.Metric) {
	byRoute := map[string]hedge.Stats{}
	for k, h := range c.current() {
		s, sum := h.Stats(), byRoute[k.route]
		sum.Calls += s.Calls
		sum.Hedged += s.Hedged
		sum.ExtraAttempts += s.ExtraAttempts
		sum.HedgeWins += s.HedgeWins
		sum.BudgetDenied += s.BudgetDenied
		byRoute[k.route] = sum
	}
	for route, s := range byRoute {
		for _, m := range []struct {
			d *prometheus.Desc
			v int64
		}{{hedgeCallsDesc, s.Calls}, {hedgedCallsDesc, s.Hedged}, {hedgeAttemptsDesc, s.ExtraAttempts}, {hedgeWinsDesc, s.HedgeWins}, {hedgeDeniedDesc, s.BudgetDenied}} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), route)
		}
	}
}
