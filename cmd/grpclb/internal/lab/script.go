package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/grpclb/grpclb/internal/testbed"
)

// The pieces the scenarios are made of: the floor of their load, the
// duration their script needs, their backends' service time, a fixed
// setting line, and the timeline their scripts play on.

// atLeast is a scenario's Load: the run's params, raised to floor.
func atLeast(floor Params) func(Params) Params {
	return func(p Params) Params { return p.raisedTo(floor) }
}

// raisedTo raises Rate, Workers, Callers and Timeout to floor's (a knob
// left 0 in floor keeps p's).
func (p Params) raisedTo(floor Params) Params {
	p.Rate = max(p.Rate, floor.Rate)
	p.Workers = max(p.Workers, floor.Workers)
	p.Callers = max(p.Callers, floor.Callers)
	p.Timeout = max(p.Timeout, floor.Timeout)
	return p
}

// faultLoad is the floor of the scenarios that freeze or kill a backend and
// watch the calls fail: 500 calls/s with a 2s deadline, and room for 2s of
// calls stuck on a frozen backend.
var faultLoad = Params{Rate: 500, Timeout: 2 * time.Second, Workers: 1200}

// needs is a scenario's Check for a script that takes need: what it is
// too short for, when it is.
func needs(need time.Duration, what string) func(Params, time.Duration) error {
	return func(_ Params, d time.Duration) error { return tooShort(d, need, what) }
}

// tooShort says that a run of d is too short for what (may be empty),
// unless it lasts need.
func tooShort(d, need time.Duration, what string) error {
	if d >= need {
		return nil
	}
	if what != "" {
		what = " " + what
	}
	return fmt.Errorf("duration %v is too short%s (needs %v)", d, what, need)
}

// servingIn is a scenario's Setup: every backend answers in d.
func servingIn(d time.Duration) func(*World, Params) []Event {
	return func(w *World, _ Params) []Event {
		w.SetLatency(d)
		return nil
	}
}

// says is a scenario's Setting when its knobs do not depend on the params.
func says(setting string) func(Params) string {
	return func(Params) string { return setting }
}

// timeline is what a scenario's script plays on: the world and the run's
// params, and the events it marks for the chart.
type timeline struct {
	ctx    context.Context
	w      *World
	p      Params
	events []Event
}

// script makes a Scenario.Script of play, which returns as soon as a
// wait says the run is over: the events marked so far are the script's.
func script(play func(t *timeline) error) func(context.Context, *World, Params) ([]Event, error) {
	return func(ctx context.Context, w *World, p Params) ([]Event, error) {
		t := &timeline{ctx: ctx, w: w, p: p}
		err := play(t)
		return t.events, err
	}
}

// wait waits d, reporting whether the run is still on.
func (t *timeline) wait(d time.Duration) bool { return sleepCtx(t.ctx, d) }

// mark records that label happened now.
func (t *timeline) mark(label string) { t.markAt(t.w.Since(), label) }

func (t *timeline) markAt(at time.Duration, label string) {
	t.events = append(t.events, Event{At: at, Label: label})
}

// add starts n backends and publishes them, marked with label at the time
// they were asked for.
func (t *timeline) add(n int, label string) error {
	at := t.w.Since()
	if err := t.w.Add(n); err != nil {
		return err
	}
	t.markAt(at, label)
	return nil
}

// killFor kills b (connections reset, calls in flight lost) and restarts
// it on its address after down; it reports whether the run is still on.
func (t *timeline) killFor(b *testbed.Backend, down time.Duration) (bool, error) {
	t.mark("kill " + b.Name)
	b.Kill()
	if !t.wait(down) {
		return false, nil
	}
	if err := b.Restart(); err != nil {
		return false, err
	}
	t.mark("restart " + b.Name)
	return true, nil
}

// freezeFor freezes b for d and thaws it, also when the run ends first.
func (t *timeline) freezeFor(b *testbed.Backend, d time.Duration) {
	t.mark("freeze " + b.Name)
	t.w.Freeze(b)
	on := t.wait(d)
	t.w.Thaw(b)
	if on {
		t.mark("thaw " + b.Name)
	}
}
