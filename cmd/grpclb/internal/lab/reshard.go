package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"
)

const reshardKeys = 4000

// reshard: ten backends, then one added, then one removed. A consistent
// hash should move about 1/n of the keys each time, no more.
var reshard = Scenario{
	Name:       "reshard",
	Doc:        fmt.Sprintf("%d keys over 10 backends; one backend added, then one removed: what fraction of keys moved (ideal 1/n)?", reshardKeys),
	Initial:    10,
	Strategies: []string{"dnspoll+consistent_hash", "dnspoll+ring_hash"},
	Duration:   time.Second, // unused: the probe decides
	Load: func(p Params) Params {
		p.PollInterval = min(p.PollInterval, 200*time.Millisecond)
		return p
	},
	Probe: func(ctx context.Context, w *World, call KeyedCall, p Params) (map[string]float64, []Event, error) {
		before, err := stableMapping(ctx, call, func(map[string]string) bool { return true })
		if err != nil {
			return nil, nil, err
		}
		at := w.Since()
		if err := w.Add(1); err != nil {
			return nil, nil, err
		}
		added := w.Fleet.Backends()[len(w.Fleet.Backends())-1].Addr
		grown, err := stableMapping(ctx, call, func(m map[string]string) bool { return containsValue(m, added) })
		if err != nil {
			return nil, nil, fmt.Errorf("after adding %s: %w", added, err)
		}
		removedAt := w.Since()
		gone := w.Fleet.Backends()[2]
		w.Remove(gone)
		shrunk, err := stableMapping(ctx, call, func(m map[string]string) bool { return !containsValue(m, gone.Addr) })
		if err != nil {
			return nil, nil, fmt.Errorf("after removing %s: %w", gone.Addr, err)
		}
		extra := map[string]float64{
			"moved_on_add":    moved(before, grown),
			"ideal_on_add":    1.0 / 11,
			"moved_on_remove": moved(grown, shrunk),
			"ideal_on_remove": 1.0 / 11,
		}
		events := []Event{{At: at, Label: "+1 backend"}, {At: removedAt, Label: "-" + gone.Name}}
		return extra, events, nil
	},
	Summary: func(r Result) string {
		e := r.Extra
		if e["ideal_on_add"] == 0 {
			return ""
		}
		return fmt.Sprintf("keys moved when one of 11 was added: %.1f%% (ideal %.1f%%, %.2f×); when one was removed: %.1f%% (%.2f×)",
			100*e["moved_on_add"], 100*e["ideal_on_add"], e["moved_on_add"]/e["ideal_on_add"],
			100*e["moved_on_remove"], e["moved_on_remove"]/e["ideal_on_remove"])
	},
}

// stableMapping calls every key until two rounds in a row agree and ready
// says the mapping shows the change being waited for (a resolver needs a
// moment to notice it).
func stableMapping(ctx context.Context, call KeyedCall, ready func(map[string]string) bool) (map[string]string, error) {
	deadline := time.Now().Add(20 * time.Second)
	var last map[string]string
	for time.Now().Before(deadline) {
		m, err := mapKeys(ctx, call)
		if err != nil {
			return nil, err
		}
		if last != nil && maps.Equal(m, last) && ready(m) {
			return m, nil
		}
		last = m
	}
	return nil, errors.New("the key mapping did not settle within 20s")
}

// mapKeys calls each key once, 32 at a time, and returns key → backend.
func mapKeys(ctx context.Context, call KeyedCall) (map[string]string, error) {
	out := make(map[string]string, reshardKeys)
	var mu sync.Mutex
	var firstErr error
	keys := make(chan string)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				addr, err := call(ctx, k)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[k] = addr
				mu.Unlock()
			}
		}()
	}
	for i := range reshardKeys {
		keys <- "key-" + strconv.Itoa(i)
	}
	close(keys)
	wg.Wait()
	return out, firstErr
}

func moved(a, b map[string]string) float64 {
	n := 0
	for k, v := range a {
		if b[k] != v {
			n++
		}
	}
	return float64(n) / float64(len(a))
}

func containsValue(m map[string]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}
