// Package jsonconf holds what grpclb's strict JSON config parsers (the
// balancer policies, hedge) share for their error messages.
package jsonconf

import (
	"encoding/json"
	"fmt"
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
