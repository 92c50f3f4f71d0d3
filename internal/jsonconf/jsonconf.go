// Package jsonconf holds what grpclb's strict JSON config parsers (the
// balancer policies, hedge) share: an object reader that rejects repeated
// fields, a child-policy field, and error-message helpers.
package jsonconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/grpc/balancer"
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

// Field is one member of a JSON object, in the order given.
type Field struct {
	Key   string
	Value json.RawMessage
}

// Fields reads a JSON object's members in order, rejecting repeated keys
// (encoding/json would keep the last silently). Empty input and null are
// an object without members. subject names the object in the errors
// ("config" gives "config is not valid JSON: ..."); "" leaves it out
// ("not valid JSON: ...", for a value named by its caller).
func Fields(js json.RawMessage, subject string) ([]Field, error) {
	if len(bytes.TrimSpace(js)) == 0 {
		return nil, nil
	}
	is := "not valid JSON"
	must := "must be a JSON object"
	after := "unexpected data after the object"
	if subject != "" {
		is, must = subject+" is "+is, subject+" "+must
		after = "unexpected data after the " + subject + " object"
	}
	invalid := func(err error) error { return fmt.Errorf("%s: %v", is, err) }
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid(err)
	}
	var fields []Field
	switch tok {
	case nil: // null
	case json.Delim('{'):
		seen := make(map[string]bool)
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, invalid(err)
			}
			key, _ := tok.(string) // object keys are always strings
			var val json.RawMessage
			if err := dec.Decode(&val); err != nil {
				return nil, invalid(err)
			}
			if seen[key] {
				return nil, fmt.Errorf("field %q given twice", key)
			}
			seen[key] = true
			fields = append(fields, Field{key, val})
		}
		if _, err := dec.Token(); err != nil { // the closing '}'
			return nil, invalid(err)
		}
	default:
		return nil, fmt.Errorf("%s, got %s", must, DescribeToken(tok))
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, invalid(err)
		}
		return nil, invalid(errors.New(after))
	}
	return fields, nil
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
		fields, err := Fields(item, "")
		if err != nil || len(fields) != 1 {
			return "", nil, nil, fmt.Errorf("item %d: must be an object with one policy name, got %s", i, Truncate(string(item)))
		}
		name, cfgJSON := fields[0].Key, fields[0].Value
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
