package jsonconf

import (
	"encoding/json"
	"strings"
	"testing"

	_ "google.golang.org/grpc/balancer/roundrobin" // a registered policy
)

func TestFields(t *testing.T) {
	tests := []struct {
		js, subject string
		keys        []string
		err         string
	}{
		{``, "config", nil, ""},
		{`null`, "config", nil, ""},
		{`{}`, "config", nil, ""},
		{`{"b": 1, "a": {"x": [1]}}`, "config", []string{"b", "a"}, ""},
		{`{`, "config", nil, "config is not valid JSON: "},
		{`{"a": 1,}`, "", nil, "not valid JSON: "},
		{`{"a": 1, "a": 2}`, "config", nil, `field "a" given twice`},
		{`[]`, "config", nil, "config must be a JSON object, got an array"},
		{`"x"`, "", nil, "must be a JSON object, got a string"},
		{`{} {}`, "config", nil, "config is not valid JSON: unexpected data after the config object"},
		{`{} 1`, "", nil, "not valid JSON: unexpected data after the object"},
	}
	for _, tt := range tests {
		fields, err := Fields(json.RawMessage(tt.js), tt.subject)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("Fields(%q): error %v, want one starting %q", tt.js, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Fields(%q): %v", tt.js, err)
			continue
		}
		var keys []string
		for _, f := range fields {
			keys = append(keys, f.Key)
		}
		if strings.Join(keys, ",") != strings.Join(tt.keys, ",") {
			t.Errorf("Fields(%q) keys %v, want %v", tt.js, keys, tt.keys)
		}
	}
}

func TestChildPolicy(t *testing.T) {
	tests := []struct {
		js, self, name, err string
	}{
		{`[{"round_robin":{}}]`, "", "round_robin", ""},
		{`[{"nope":{}},{"round_robin":{ }}]`, "", "round_robin", ""},
		{`[{"nope":{}}]`, "", "", `no registered policy among "nope"`},
		{`[]`, "", "", "must not be empty"},
		{`{}`, "", "", "must be a list"},
		{`[{"a":{},"b":{}}]`, "", "", "item 0: must be an object with one policy name"},
		{`[{"round_robin":{}}]`, "round_robin", "", `"round_robin" cannot be its own child`},
	}
	for _, tt := range tests {
		name, js, _, err := ChildPolicy(json.RawMessage(tt.js), tt.self)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ChildPolicy(%s): error %v, want %q", tt.js, err, tt.err)
			}
			continue
		}
		if err != nil || name != tt.name || string(js) != "{}" {
			t.Errorf("ChildPolicy(%s) = %q, %s, %v; want %q with its config compacted", tt.js, name, js, err, tt.name)
		}
	}
}
