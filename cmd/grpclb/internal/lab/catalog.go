package lab

// ScenarioInfo describes a scenario for `grpclb lab --list`.
type ScenarioInfo struct {
	Name       string   `json:"name"`
	Doc        string   `json:"doc"`
	Default    bool     `json:"default"`    // run by a bare `grpclb lab`
	Strategies []string `json:"strategies"` // its default strategies
}

// StrategyInfo describes a strategy for `grpclb lab --list`.
type StrategyInfo struct {
	Name string `json:"name"`
	Doc  string `json:"doc"`
	// Missing is what this machine or these flags lack for the strategy,
	// and how to get it; empty when it can run.
	Missing string `json:"missing,omitempty"`
}

// Catalog lists every scenario and strategy, with what each strategy
// would lack under p.
func Catalog(p Params) ([]ScenarioInfo, []StrategyInfo) {
	scns := make([]ScenarioInfo, 0, len(scenarios))
	for _, s := range scenarios {
		scns = append(scns, ScenarioInfo{Name: s.Name, Doc: s.Doc, Default: s.InDefault, Strategies: s.Strategies})
	}
	strats := make([]StrategyInfo, 0, len(strategies))
	for _, s := range strategies {
		info := StrategyInfo{Name: s.Name, Doc: s.Doc}
		if s.Requires != nil {
			if err := s.Requires(p); err != nil {
				info.Missing = err.Error()
			}
		}
		strats = append(strats, info)
	}
	return scns, strats
}
