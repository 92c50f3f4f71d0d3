package jsonconf

import (
	"strings"
	"testing"
)

func TestNesting(t *testing.T) {
	tests := []struct {
		js   string
		want int
	}{
		{`1`, 0}, {`{}`, 1}, {`[{"a":[1,{}]}]`, 4},
		{`{"s":"{[{[\"]"}`, 1},             // brackets and escaped quotes in strings do not count
		{`["\\\\", {"x": "\\\\\"[["}]`, 2}, // escaped backslashes, then an escaped quote
	}
	for _, tt := range tests {
		if got := nesting([]byte(tt.js)); got != tt.want {
			t.Errorf("nesting(%s) = %d, want %d", tt.js, got, tt.want)
		}
	}
}

func TestChildPolicyTooDeep(t *testing.T) {
	js := `[{"x":` + strings.Repeat(`{"a":`, MaxNesting) + `1` + strings.Repeat(`}`, MaxNesting) + `}]`
	_, _, _, err := ChildPolicy([]byte(js), "")
	if err == nil || !strings.Contains(err.Error(), "more than the 64 allowed") {
		t.Errorf("error %v, want the nesting bound", err)
	}
}
