package jsonconf

import (
	"encoding/json"
	"strings"
	"testing"

	_ "google.golang.org/grpc/balancer/roundrobin" // a registered policy
)

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
		{`[{"round_robin":{},"round_robin":{}}]`, "", "", "item 0: must be an object with one policy name"},
		{`[{}]`, "", "", "item 0: must be an object with one policy name"},
		{`[null]`, "", "", "item 0: must be an object with one policy name"},
		{`[["round_robin"]]`, "", "", "item 0: must be an object with one policy name"},
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
