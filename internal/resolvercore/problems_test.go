package resolvercore

import (
	"testing"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

func TestProblems(t *testing.T) {
	logs := resolvertest.NewLogRecorder(t)
	p := NewProblems(logs.Logger())
	rounds := []struct {
		keys   []string
		logged int // lines this round adds
	}{
		{[]string{"a", "b"}, 2},
		{[]string{"a", "b", "a"}, 0}, // still wrong: quiet
		{[]string{"b"}, 0},           // a was fixed
		{[]string{"a", "b"}, 1},      // a is wrong again: said again
		{nil, 0},
		{[]string{"b@2"}, 1}, // a new version of b
	}
	for i, r := range rounds {
		before := len(logs.Lines())
		for _, k := range r.keys {
			p.Note(k, "skipping "+k)
		}
		p.Done()
		if got := len(logs.Lines()) - before; got != r.logged {
			t.Errorf("round %d: %d lines, want %d: %q", i, got, r.logged, logs.Lines())
		}
	}
}
