package resolvertest

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// URL parses a target written in a test, failing the test if it is not a
// URL.
func URL(tb testing.TB, s string) url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return *u
}

// WantErr checks err against a table row's wantErr: when wantErr is set, err
// must contain it; otherwise err must be nil. It reports whether the row
// wants a result, so the caller checks that next:
//
//	got, err := parse(...)
//	if !resolvertest.WantErr(t, err, tt.wantErr) {
//		return
//	}
func WantErr(tb testing.TB, err error, wantErr string) bool {
	tb.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			tb.Fatalf("error %v, want one containing %q", err, wantErr)
		}
		return false
	}
	if err != nil {
		tb.Fatal(err)
	}
	return true
}

// FuzzTarget fuzzes a target parser, which it calls with the zero value of
// its options. f is seeded with seeds; a string url.Parse rejects is
// skipped, a target parse rejects must say why, and check looks at what
// parse accepted from s.
func FuzzTarget[O, T any](f *testing.F, seeds []string, parse func(url.URL, O) (T, error), check func(t *testing.T, s string, got T)) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		var defaults O
		got, err := parse(*u, defaults)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: rejected with an empty error message", s)
			}
			return
		}
		check(t, s, got)
	})
}

// JSONMap decodes JSON metadata into a map; nil stays nil.
func JSONMap(tb testing.TB, raw json.RawMessage) map[string]any {
	tb.Helper()
	if raw == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}
