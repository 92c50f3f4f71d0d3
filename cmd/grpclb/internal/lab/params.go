package lab

import (
	"fmt"
	"time"
)

// Params are the knobs of a run, shared by every scenario and strategy.
type Params struct {
	// Duration of each strategy's run; 0 takes each scenario's own (a
	// strategy may need longer).
	Duration time.Duration
	// Rate of calls per second, spread evenly (open loop).
	Rate int
	// Workers bounds the calls in flight.
	Workers int
	// Callers, when set, replaces the open loop by a closed one: this many
	// callers, each making one call after another.
	Callers int
	// Timeout of each call.
	Timeout time.Duration
	// AddAfter is when scaleup adds its backends.
	AddAfter time.Duration
	// MaxAge and MaxAgeGrace are the server MaxConnectionAge options of the
	// +maxage strategies.
	MaxAge, MaxAgeGrace time.Duration
	// PollInterval is dnspoll's interval (jitter 20%).
	PollInterval time.Duration
	// ConsulAddr is a Consul agent's HTTP address for consul+round_robin.
	ConsulAddr string
	// Kubeconfig names a cluster for the kubernetes strategy; empty: the
	// lab starts a kube-apiserver itself if it finds the binary.
	Kubeconfig string
	// RegistryOutage is how long registry-down takes the registry away.
	RegistryOutage time.Duration
	// Bucket is the width of the time series buckets.
	Bucket time.Duration
}

// DefaultParams are the lab's defaults: a full default run takes under two
// minutes.
func DefaultParams() Params {
	return Params{
		Rate:           200,
		Workers:        32,
		Timeout:        time.Second,
		AddAfter:       3 * time.Second,
		MaxAge:         5 * time.Second,
		MaxAgeGrace:    time.Second,
		PollInterval:   2 * time.Second,
		Bucket:         500 * time.Millisecond,
		RegistryOutage: 20 * time.Second,
	}
}

// Validate names the first bad knob.
func (p Params) Validate() error {
	switch {
	case p.Duration < 0:
		return fmt.Errorf("duration %v must not be negative", p.Duration)
	case p.Rate <= 0 || p.Rate > 100000:
		return fmt.Errorf("rate %d must be between 1 and 100000 calls per second", p.Rate)
	case p.Callers < 0 || p.Callers > 10000:
		return fmt.Errorf("callers %d must be between 0 and 10000", p.Callers)
	case p.Workers <= 0 || p.Workers > 10000:
		return fmt.Errorf("workers %d must be between 1 and 10000", p.Workers)
	case p.Timeout <= 0:
		return fmt.Errorf("timeout %v must be positive", p.Timeout)
	case p.AddAfter < 0:
		return fmt.Errorf("add-after %v must not be negative", p.AddAfter)
	case p.MaxAge <= 0 || p.MaxAgeGrace < 0:
		return fmt.Errorf("max-age %v must be positive and its grace %v not negative", p.MaxAge, p.MaxAgeGrace)
	case p.PollInterval < 10*time.Millisecond:
		return fmt.Errorf("poll interval %v must be at least 10ms", p.PollInterval)
	case p.Bucket <= 0:
		return fmt.Errorf("bucket %v must be positive", p.Bucket)
	}
	return nil
}
