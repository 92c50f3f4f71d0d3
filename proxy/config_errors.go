package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// locateError finds the field a decoding error is about, which
// encoding/json does not say for unknown fields and custom types: it walks
// the document (decoded generically) along the Go type and decodes each
// leaf on its own. It returns nil if every part decodes.
func locateError(doc any, t reflect.Type, path string) error {
	at := func(format string, args ...any) error {
		if path == "" {
			return fmt.Errorf(format, args...)
		}
		return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	if doc == nil {
		return nil // null: the zero value
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return decodeLeaf(doc, t, at)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return locateError(doc, t.Elem(), path)
	case reflect.Struct:
		m, ok := doc.(map[string]any)
		if !ok {
			return at("want a mapping, got %s", describe(doc))
		}
		for _, k := range sortedKeys(m) {
			f, ok := fieldByJSONName(t, k)
			if !ok {
				return at("unknown field %q", k)
			}
			if err := locateError(m[k], f.Type, join(path, k)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		m, ok := doc.(map[string]any)
		if !ok {
			return at("want a mapping, got %s", describe(doc))
		}
		for _, k := range sortedKeys(m) {
			if err := locateError(m[k], t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		s, ok := doc.([]any)
		if !ok {
			return at("want a list, got %s", describe(doc))
		}
		for i, v := range s {
			if err := locateError(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	default:
		return decodeLeaf(doc, t, at)
	}
}

func decodeLeaf(doc any, t reflect.Type, at func(string, ...any) error) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return at("%v", err)
	}
	if err := json.Unmarshal(b, reflect.New(t).Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return at("want %s, got %s", kindName(t), describe(doc))
		}
		return at("%v", err)
	}
	return nil
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	default:
		return t.Kind().String()
	}
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// fieldByJSONName finds a struct field the way encoding/json does: by its
// json tag (or name), case-insensitively.
func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if strings.EqualFold(tag, name) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
