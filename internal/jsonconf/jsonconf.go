// Package jsonconf holds what grpclb's strict JSON config parsers (the
// balancer policies, hedge) share: an object reader that rejects repeated
// fields, a child-policy field, and error-message helpers.
package jsonconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/serviceconfig"
)

// DescribeToken names a JSON token for an error message.
func DescribeToken(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		switch tok {
		case json.Delim('['):
			return "an array"
		case json.Delim('{'):
			return "an object"
		}
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprint(tok)
}

// Truncate shortens s for an error message.
func Truncate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// onlyField returns the one member of the JSON object item, and false if
// item is not an object with exactly one member.
func onlyField(item json.RawMessage) (key string, value json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(item))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') || !dec.More() {
		return "", nil, false
	}
	tok, _ := dec.Token() // object keys are always strings
	if err := dec.Decode(&value); err != nil || dec.More() {
		return "", nil, false
	}
	return tok.(string), value, true
}

// ChildPolicy parses a parent policy's child policy field: a list of
// {"policy name": config} objects, of which the first whose policy is
// registered is taken (as grpc-go's own parents do), its config compacted
// and parsed by the policy. self, when set, is the parent's name, which
// may not be its own child.
func ChildPolicy(val json.RawMessage, self string) (name string, js json.RawMessage, cfg serviceconfig.LoadBalancingConfig, err error) {
	// Each level of policies parses its child's config from JSON, as
	// grpc-go's parsers do, so a tree n levels deep is read about n times:
	// bound n (the deepest real trees have a handful of levels).
	if d := nesting(val); d > MaxNesting {
		return "", nil, nil, fmt.Errorf("nested %d levels deep, more than the %d allowed", d, MaxNesting)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(val, &list); err != nil {
		return "", nil, nil, fmt.Errorf("must be a list of {\"policy name\": config} objects, got %s", Truncate(string(val)))
	}
	if len(list) == 0 {
		return "", nil, nil, errors.New("must not be empty")
	}
	var names []string
	for i, item := range list {
		name, cfgJSON, ok := onlyField(item)
		if !ok {
			return "", nil, nil, fmt.Errorf("item %d: must be an object with one policy name, got %s", i, Truncate(string(item)))
		}
		if self != "" && name == self {
			return "", nil, nil, fmt.Errorf("item %d: %q cannot be its own child", i, self)
		}
		bb := balancer.Get(name)
		if bb == nil {
			names = append(names, strconv.Quote(name))
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, cfgJSON); err != nil { // cannot fail: the decoder read it
			return "", nil, nil, fmt.Errorf("%q: %v", name, err)
		}
		if p, ok := bb.(balancer.ConfigParser); ok {
			if cfg, err = p.ParseConfig(compact.Bytes()); err != nil {
				return "", nil, nil, fmt.Errorf("%q: %v", name, err)
			}
		}
		return name, compact.Bytes(), cfg, nil
	}
	return "", nil, nil, fmt.Errorf("no registered policy among %s (import the package that registers it)", strings.Join(names, ", "))
}

// Child is a parent policy's child policy, read from its childPolicy
// field by ChildPolicy: the first registered policy of the list.
type Child struct {
	Name   string
	Config serviceconfig.LoadBalancingConfig // as parsed by the child; may be nil
	JSON   json.RawMessage                   // the child's config, compacted
	parent string                            // the policy that may not be its own child
}

// RoundRobin is the child of a parent whose config names none. parent,
// when set, is the parent's name, which its childPolicy list may not name.
func RoundRobin(parent string) Child {
	return Child{Name: roundrobin.Name, JSON: json.RawMessage("{}"), parent: parent}
}

// UnmarshalJSON reads a childPolicy list with ChildPolicy.
func (c *Child) UnmarshalJSON(b []byte) (err error) {
	c.Name, c.JSON, c.Config, err = ChildPolicy(b, c.parent)
	return err
}

// MarshalJSON writes the child as a list of one {"name": config}.
func (c Child) MarshalJSON() ([]byte, error) {
	js := c.JSON
	if len(js) == 0 {
		js = json.RawMessage("{}")
	}
	return json.Marshal([]map[string]json.RawMessage{{c.Name: js}})
}

// MaxNesting bounds the nesting of objects and lists in a child policy's
// config (outlier_ejection over deterministic_subset over p2c_ewma is 7).
const MaxNesting = 64

// nesting is the deepest nesting of objects and lists in js, read once.
func nesting(js []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range js {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}
