// Package nometrics is a grpc-go metrics recorder that records nothing,
// for code that hosts balancers outside grpc.ClientConn (the frame relay's
// clusters, balancer tests) and has no metrics pipeline to give them.
package nometrics

import estats "google.golang.org/grpc/experimental/stats"

// Recorder implements estats.MetricsRecorder and drops every measurement.
type Recorder struct {
	estats.MetricsRecorder // methods grpc-go adds later panic until added here
}

func (Recorder) RecordInt64Count(*estats.Int64CountHandle, int64, ...string)             {}
func (Recorder) RecordFloat64Count(*estats.Float64CountHandle, float64, ...string)       {}
func (Recorder) RecordInt64Histo(*estats.Int64HistoHandle, int64, ...string)             {}
func (Recorder) RecordFloat64Histo(*estats.Float64HistoHandle, float64, ...string)       {}
func (Recorder) RecordInt64Gauge(*estats.Int64GaugeHandle, int64, ...string)             {}
func (Recorder) RecordInt64UpDownCount(*estats.Int64UpDownCountHandle, int64, ...string) {}

// RegisterAsyncReporter registers nothing and returns a no-op unregister.
func (Recorder) RegisterAsyncReporter(estats.AsyncMetricReporter, ...estats.AsyncMetric) func() {
	return func() {}
}
