package xds_test

import (
	"strings"
	"testing"

	"github.com/grpclb/grpclb/xds"
)

// NewServer refuses an invalid config and a target its resolver refuses,
// naming the service.
func TestNewServerErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     xds.Config
		wantErr string
	}{
		{"invalid config", xds.Config{}, "no services"},
		{"resolver refuses the target", xds.Config{Services: []xds.Service{
			{Name: "good", Target: "static:///127.0.0.1:1"},
			{Name: "bad", Target: "static:///127.0.0.1"},
		}}, `service "bad": resolver for "static:///127.0.0.1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := xds.NewServer(tt.cfg, xds.Options{Logger: testLogger(t)})
			if err == nil {
				s.Close()
				t.Fatalf("NewServer: no error, want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewServer: %v, want %q", err, tt.wantErr)
			}
		})
	}
}
