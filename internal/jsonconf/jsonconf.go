// Package jsonconf holds what grpclb's strict JSON config parsers (the
// balancer policies, hedge) share for their error messages.
package jsonconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DescribeToken names a JSON token for an error message.
func DescribeToken(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		if tok == json.Delim('[') {
			return "an array"
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
