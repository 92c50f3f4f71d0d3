package resolvercore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

// callLog is a resolver.ClientConn that writes down each call as a word:
// "state a,b", "state -" (empty), "error why"; reject makes UpdateState
// fail.
type callLog struct {
	calls  []string
	reject bool
}

func (c *callLog) UpdateState(s resolver.State) error {
	addrs := resolvertest.StateAddrs(s)
	if len(addrs) == 0 {
		addrs = []string{"-"}
	}
	c.calls = append(c.calls, "state "+strings.Join(addrs, ","))
	if c.reject {
		return errors.New("bad resolver state")
	}
	return nil
}
func (c *callLog) ReportError(err error)                                { c.calls = append(c.calls, "error "+err.Error()) }
func (c *callLog) NewAddress([]resolver.Address)                        {}
func (c *callLog) ParseServiceConfig(string) *serviceconfig.ParseResult { return nil }

// set is one answer of addresses, fingerprinted by address.
func set(addrs ...string) ([]resolver.Endpoint, []string) {
	var eps []resolver.Endpoint
	for _, a := range addrs {
		eps = append(eps, resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}})
	}
	return eps, addrs
}

func TestPublisher(t *testing.T) {
	down := errors.New("registry: connection refused")
	none := errors.New("registry: no instance of echo")
	type step struct {
		do     string // "set a,b", "empty", "fail", "reject", "accept"
		want   []string
		logged int // Warn lines this step adds
	}
	tests := []struct {
		name         string
		publishEmpty bool
		steps        []step
	}{
		{"a failure before any set is reported, once", false, []step{
			{do: "fail", want: []string{"error " + down.Error()}, logged: 1},
			{do: "fail"},
			{do: "set a", want: []string{"state a"}},
			{do: "fail", logged: 1}, // kept: the channel is not told
			{do: "fail"},
		}},
		{"an empty answer before any set is reported alone", true, []step{
			{do: "empty", want: []string{"error " + none.Error()}, logged: 1},
			{do: "empty"},
			{do: "set a", want: []string{"state a"}},
		}},
		{"keep: an empty answer keeps the set", false, []step{
			{do: "set a,b", want: []string{"state a,b"}},
			{do: "empty", logged: 1},
			{do: "empty"},
			{do: "set a,b"}, // unchanged: not sent again
			{do: "set b", want: []string{"state b"}},
		}},
		{"publish: an empty answer is published, then why", true, []step{
			{do: "set a", want: []string{"state a"}},
			{do: "empty", want: []string{"state -", "error " + none.Error()}, logged: 1},
			{do: "empty"},
			{do: "fail", want: []string{"error " + down.Error()}, logged: 1},
			{do: "set a", want: []string{"state a"}},
		}},
		{"a rejected set is sent again with the next answer", false, []step{
			{do: "reject"},
			{do: "set a", want: []string{"state a"}, logged: 1},
			{do: "set a", want: []string{"state a"}},
			{do: "accept"},
			{do: "set a", want: []string{"state a"}},
			{do: "set a"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &callLog{}
			logs := resolvertest.NewLogRecorder(t)
			p := NewPublisher(cc, Config{Name: "registry", Source: "query", PublishEmpty: tt.publishEmpty, Logger: logs.Logger()})
			for i, s := range tt.steps {
				before, warns := len(cc.calls), logs.Count("WARN ")
				switch verb, arg, _ := strings.Cut(s.do, " "); verb {
				case "set":
					eps, fp := set(strings.Split(arg, ",")...)
					p.Publish(eps, fp)
				case "empty":
					p.Empty(none)
				case "fail":
					p.Fail(down)
				case "reject":
					cc.reject = true
				case "accept":
					cc.reject = false
				}
				if got := cc.calls[before:]; !slices.Equal(got, s.want) && len(got)+len(s.want) > 0 {
					t.Fatalf("step %d (%s): the channel got %q, want %q", i, s.do, got, s.want)
				}
				if got := logs.Count("WARN ") - warns; got != s.logged {
					t.Errorf("step %d (%s): %d warnings, want %d: %q", i, s.do, got, s.logged, logs.Lines())
				}
			}
		})
	}
}

func TestRecovered(t *testing.T) {
	p := NewPublisher(&callLog{}, Config{Name: "r", Source: "read"})
	if p.Recovered() {
		t.Fatal("recovered before any problem")
	}
	p.Fail(errors.New("x"))
	if !p.Recovered() || p.Recovered() {
		t.Fatal("Recovered must report a logged problem exactly once")
	}
	// After a recovery, the same problem is logged again.
	logs := resolvertest.NewLogRecorder(t)
	p = NewPublisher(&callLog{}, Config{Name: "r", Source: "read", Logger: logs.Logger()})
	for range 2 {
		p.Fail(errors.New("x"))
		p.Fail(errors.New("x"))
		p.Recovered()
	}
	if n := logs.Count("r: read failed"); n != 2 {
		t.Errorf("%d lines for two episodes of one problem, want 2: %q", n, logs.Lines())
	}
}

func ExamplePublisher() {
	cc := &callLog{}
	p := NewPublisher(cc, Config{Name: "registry", Source: "query"})
	p.Fail(errors.New("registry: connection refused")) // nothing known yet: reported
	eps, fp := set("10.0.0.1:80")
	p.Publish(eps, fp)
	p.Fail(errors.New("registry: connection refused")) // kept
	p.Publish(eps, fp)                                 // unchanged
	fmt.Println(strings.Join(cc.calls, "\n"))
	// Output:
	// error registry: connection refused
	// state 10.0.0.1:80
}
