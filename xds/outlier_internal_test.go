package xds

import (
	"testing"
	"time"

	clusterpb "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The Cluster's outlier_detection: every field written out, A50's
// defaults for zeros, a rule the config lacks disabled (and Envoy's
// consecutive-5xx rule always).
func TestOutlierDetectionResource(t *testing.T) {
	u := wrapperspb.UInt32
	d := durationpb.New
	base := func() *clusterpb.OutlierDetection {
		return &clusterpb.OutlierDetection{
			Interval: d(10 * time.Second), BaseEjectionTime: d(30 * time.Second), MaxEjectionTime: d(300 * time.Second),
			MaxEjectionPercent: u(10), EnforcingSuccessRate: u(0), EnforcingFailurePercentage: u(0), EnforcingConsecutive_5Xx: u(0),
		}
	}
	tests := []struct {
		name string
		in   *OutlierDetection
		want func() *clusterpb.OutlierDetection
	}{
		{"none", nil, func() *clusterpb.OutlierDetection { return nil }},
		{"failure percentage, defaults", &OutlierDetection{FailurePercentage: &FailurePercentageEjection{}}, func() *clusterpb.OutlierDetection {
			od := base()
			od.FailurePercentageThreshold, od.EnforcingFailurePercentage = u(85), u(100)
			od.FailurePercentageMinimumHosts, od.FailurePercentageRequestVolume = u(5), u(50)
			return od
		}},
		{"success rate, defaults", &OutlierDetection{SuccessRate: &SuccessRateEjection{}}, func() *clusterpb.OutlierDetection {
			od := base()
			od.SuccessRateStdevFactor, od.EnforcingSuccessRate = u(1900), u(100)
			od.SuccessRateMinimumHosts, od.SuccessRateRequestVolume = u(5), u(100)
			return od
		}},
		{"both, set", &OutlierDetection{
			Interval: time.Second, BaseEjectionTime: 2 * time.Second, MaxEjectionTime: time.Second, MaxEjectionPercent: 40,
			SuccessRate:       &SuccessRateEjection{StdevFactor: 1000, EnforcementPercentage: 50, MinimumHosts: 3, RequestVolume: 20},
			FailurePercentage: &FailurePercentageEjection{Threshold: 60, EnforcementPercentage: 70, MinimumHosts: 2, RequestVolume: 10},
		}, func() *clusterpb.OutlierDetection {
			return &clusterpb.OutlierDetection{
				Interval: d(time.Second), BaseEjectionTime: d(2 * time.Second), MaxEjectionTime: d(2 * time.Second), // at least the base
				MaxEjectionPercent: u(40), EnforcingConsecutive_5Xx: u(0),
				SuccessRateStdevFactor: u(1000), EnforcingSuccessRate: u(50), SuccessRateMinimumHosts: u(3), SuccessRateRequestVolume: u(20),
				FailurePercentageThreshold: u(60), EnforcingFailurePercentage: u(70), FailurePercentageMinimumHosts: u(2), FailurePercentageRequestVolume: u(10),
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cluster(Service{Name: "svc", OutlierDetection: tt.in}).GetOutlierDetection()
			if want := tt.want(); !proto.Equal(got, want) {
				t.Errorf("outlier_detection\n got %v\nwant %v", got, want)
			}
		})
	}
}
