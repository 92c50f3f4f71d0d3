package kube

import (
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	const max = 5 * time.Second
	tests := []struct {
		failures int
		r        float64
		want     time.Duration
	}{
		{0, 0, minBackoff},
		{0, 0.999, minBackoff + time.Duration(0.999*float64(minBackoff)/2)},
		{1, 0, 2 * minBackoff},
		{3, 0, 8 * minBackoff},
		{4, 0, 16 * minBackoff},
		{5, 0, max},             // 6.4 s capped
		{100, 0, max},           // no overflow
		{100, 0.5, max + max/4}, // jitter on top of the cap
		{-1, 0, minBackoff},     // never below the floor
	}
	for _, tt := range tests {
		if got := retryDelay(tt.failures, max, tt.r); got != tt.want {
			t.Errorf("retryDelay(%d, %v, %v) = %v, want %v", tt.failures, max, tt.r, got, tt.want)
		}
	}
}
