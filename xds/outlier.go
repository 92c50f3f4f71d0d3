package xds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	clusterpb "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// This file is a service's outlier detection (gRFC A50): the config block
// and its Cluster.outlier_detection.

// OutlierDetection ejects, for a while, the endpoints whose calls fail
// more than the others' (gRFC A50). Each client counts its own calls and
// ejects on its own: the server only hands out the rule, as the Cluster's
// outlier_detection. At least one of SuccessRate and FailurePercentage is
// needed. A zero field means its default (gRFC A50's, which are Envoy's),
// written out in the Cluster so that every client uses the same.
//
// In JSON the durations are strings: "10s", "250ms".
type OutlierDetection struct {
	// Interval is how often each client looks for outliers; 0 is 10s.
	Interval time.Duration
	// BaseEjectionTime is how long an endpoint is ejected the first time;
	// its n-th ejection in a row lasts n times as long, up to
	// MaxEjectionTime. 0 is 30s.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection; 0 is 300s (at least
	// BaseEjectionTime).
	MaxEjectionTime time.Duration
	// MaxEjectionPercent is the most of the endpoints ejected at once, in
	// percent; 0 is 10. At least one endpoint can always be ejected.
	MaxEjectionPercent int
	// SuccessRate ejects an endpoint whose success rate is far below the
	// others' mean. Nil: not by success rate.
	SuccessRate *SuccessRateEjection
	// FailurePercentage ejects an endpoint whose calls fail more than a
	// threshold. Nil: not by failure percentage.
	FailurePercentage *FailurePercentageEjection
}

// SuccessRateEjection ejects the endpoints whose success rate is below
// mean - stdev × StdevFactor/1000 of the endpoints' success rates.
type SuccessRateEjection struct {
	// StdevFactor is in thousandths; 0 is 1900 (1.9 standard deviations).
	StdevFactor int `json:"stdevFactor,omitempty"`
	// EnforcementPercentage is the chance, in percent, that an outlier
	// found is ejected; 0 is 100.
	EnforcementPercentage int `json:"enforcementPercentage,omitempty"`
	// MinimumHosts is how many endpoints need RequestVolume calls in an
	// interval for the rule to run; 0 is 5.
	MinimumHosts int `json:"minimumHosts,omitempty"`
	// RequestVolume is the calls an endpoint needs in an interval to be
	// counted; 0 is 100.
	RequestVolume int `json:"requestVolume,omitempty"`
}

// FailurePercentageEjection ejects the endpoints more than Threshold
// percent of whose calls failed in an interval.
type FailurePercentageEjection struct {
	// Threshold is in percent; 0 is 85.
	Threshold int `json:"threshold,omitempty"`
	// EnforcementPercentage is the chance, in percent, that an outlier
	// found is ejected; 0 is 100.
	EnforcementPercentage int `json:"enforcementPercentage,omitempty"`
	// MinimumHosts is how many endpoints need RequestVolume calls in an
	// interval for the rule to run; 0 is 5.
	MinimumHosts int `json:"minimumHosts,omitempty"`
	// RequestVolume is the calls an endpoint needs in an interval to be
	// counted; 0 is 50.
	RequestVolume int `json:"requestVolume,omitempty"`
}

// outlierJSON is OutlierDetection as JSON, durations as strings.
type outlierJSON struct {
	Interval           string                     `json:"interval,omitempty"`
	BaseEjectionTime   string                     `json:"baseEjectionTime,omitempty"`
	MaxEjectionTime    string                     `json:"maxEjectionTime,omitempty"`
	MaxEjectionPercent int                        `json:"maxEjectionPercent,omitempty"`
	SuccessRate        *SuccessRateEjection       `json:"successRate,omitempty"`
	FailurePercentage  *FailurePercentageEjection `json:"failurePercentage,omitempty"`
}

// UnmarshalJSON decodes the block, refusing unknown fields and naming the
// field whose duration does not parse.
func (o *OutlierDetection) UnmarshalJSON(b []byte) error {
	var j outlierJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("outlierDetection: %w", err)
	}
	out := OutlierDetection{MaxEjectionPercent: j.MaxEjectionPercent, SuccessRate: j.SuccessRate, FailurePercentage: j.FailurePercentage}
	for _, d := range []struct {
		name string
		s    string
		to   *time.Duration
	}{
		{"interval", j.Interval, &out.Interval},
		{"baseEjectionTime", j.BaseEjectionTime, &out.BaseEjectionTime},
		{"maxEjectionTime", j.MaxEjectionTime, &out.MaxEjectionTime},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("outlierDetection.%s %q is not a duration such as \"10s\" or \"250ms\"", d.name, d.s)
		}
		*d.to = v
	}
	*o = out
	return nil
}

// MarshalJSON encodes the block as UnmarshalJSON reads it.
func (o OutlierDetection) MarshalJSON() ([]byte, error) {
	str := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	return json.Marshal(outlierJSON{
		Interval: str(o.Interval), BaseEjectionTime: str(o.BaseEjectionTime), MaxEjectionTime: str(o.MaxEjectionTime),
		MaxEjectionPercent: o.MaxEjectionPercent, SuccessRate: o.SuccessRate, FailurePercentage: o.FailurePercentage,
	})
}

// validate reports every problem of o, each naming its field.
func (o *OutlierDetection) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", o.Interval}, {"baseEjectionTime", o.BaseEjectionTime}, {"maxEjectionTime", o.MaxEjectionTime}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("outlierDetection.%s %v is negative", d.name, d.v))
		}
	}
	percent := func(name string, v int) {
		if v < 0 || v > 100 {
			errs = append(errs, fmt.Errorf("outlierDetection.%s %d is not a percentage from 0 to 100", name, v))
		}
	}
	count := func(name string, v int) {
		if v < 0 || v > math.MaxInt32 {
			errs = append(errs, fmt.Errorf("outlierDetection.%s %d is not from 0 to %d", name, v, math.MaxInt32))
		}
	}
	percent("maxEjectionPercent", o.MaxEjectionPercent)
	if sr := o.SuccessRate; sr != nil {
		count("successRate.stdevFactor", sr.StdevFactor)
		percent("successRate.enforcementPercentage", sr.EnforcementPercentage)
		count("successRate.minimumHosts", sr.MinimumHosts)
		count("successRate.requestVolume", sr.RequestVolume)
	}
	if fp := o.FailurePercentage; fp != nil {
		percent("failurePercentage.threshold", fp.Threshold)
		percent("failurePercentage.enforcementPercentage", fp.EnforcementPercentage)
		count("failurePercentage.minimumHosts", fp.MinimumHosts)
		count("failurePercentage.requestVolume", fp.RequestVolume)
	}
	if o.SuccessRate == nil && o.FailurePercentage == nil {
		errs = append(errs, errors.New("outlierDetection has neither successRate nor failurePercentage: it would eject nothing"))
	}
	return errors.Join(errs...)
}

// or returns v, or def when v is 0.
func or[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// outlierDetection is o as a Cluster's outlier_detection, every field
// written out. A rule o does not have is disabled by an enforcement of 0
// (gRPC clients otherwise run success rate with its defaults), and so is
// Envoy's consecutive-5xx rule, which gRPC clients do not have: Envoy and
// gRPC clients eject alike.
func outlierDetection(o *OutlierDetection) *clusterpb.OutlierDetection {
	if o == nil {
		return nil
	}
	u32 := func(v int) *wrapperspb.UInt32Value { return wrapperspb.UInt32(uint32(v)) }
	base := or(o.BaseEjectionTime, 30*time.Second)
	od := &clusterpb.OutlierDetection{
		Interval:                   durationpb.New(or(o.Interval, 10*time.Second)),
		BaseEjectionTime:           durationpb.New(base),
		MaxEjectionTime:            durationpb.New(max(or(o.MaxEjectionTime, 300*time.Second), base)),
		MaxEjectionPercent:         u32(or(o.MaxEjectionPercent, 10)),
		EnforcingSuccessRate:       u32(0),
		EnforcingFailurePercentage: u32(0),
		EnforcingConsecutive_5Xx:   u32(0),
	}
	if sr := o.SuccessRate; sr != nil {
		od.SuccessRateStdevFactor = u32(or(sr.StdevFactor, 1900))
		od.EnforcingSuccessRate = u32(or(sr.EnforcementPercentage, 100))
		od.SuccessRateMinimumHosts = u32(or(sr.MinimumHosts, 5))
		od.SuccessRateRequestVolume = u32(or(sr.RequestVolume, 100))
	}
	if fp := o.FailurePercentage; fp != nil {
		od.FailurePercentageThreshold = u32(or(fp.Threshold, 85))
		od.EnforcingFailurePercentage = u32(or(fp.EnforcementPercentage, 100))
		od.FailurePercentageMinimumHosts = u32(or(fp.MinimumHosts, 5))
		od.FailurePercentageRequestVolume = u32(or(fp.RequestVolume, 50))
	}
	return od
}
