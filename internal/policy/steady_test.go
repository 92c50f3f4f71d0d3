package policy

import (
	"errors"
	"testing"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/metadata"
)

type subConn struct {
	balancer.SubConn
	id int
}

// unhashable is a SubConn whose dynamic type cannot be compared: comparing
// two of them panics, which SteadySubConn must survive.
type unhashable struct {
	balancer.SubConn
	ids []int
}

// scriptedPicker answers its picks in turn from results.
type scriptedPicker struct {
	results []balancer.PickResult
	err     error
	n       int
}

func (p *scriptedPicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	res := p.results[p.n%len(p.results)]
	p.n++
	return res, p.err
}

func TestSteadySubConn(t *testing.T) {
	a, b := &subConn{id: 1}, &subConn{id: 2}
	done := func(balancer.DoneInfo) {}
	for _, tc := range []struct {
		name   string
		picker balancer.Picker
		want   balancer.SubConn
	}{
		{name: "no picker", picker: nil, want: nil},
		{name: "one SubConn, nothing else (pick_first READY)", picker: &scriptedPicker{results: []balancer.PickResult{{SubConn: a}}}, want: a},
		{name: "an error", picker: &scriptedPicker{results: []balancer.PickResult{{}}, err: errors.New("down")}, want: nil},
		{name: "no SubConn", picker: &scriptedPicker{results: []balancer.PickResult{{}}}, want: nil},
		{name: "a Done", picker: &scriptedPicker{results: []balancer.PickResult{{SubConn: a, Done: done}}}, want: nil},
		{name: "metadata", picker: &scriptedPicker{results: []balancer.PickResult{{SubConn: a, Metadata: metadata.Pairs("k", "v")}}}, want: nil},
		{name: "another SubConn the second time", picker: &scriptedPicker{results: []balancer.PickResult{{SubConn: a}, {SubConn: b}}}, want: nil},
		{name: "an uncomparable SubConn", picker: &scriptedPicker{results: []balancer.PickResult{{SubConn: unhashable{ids: []int{1}}}}}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SteadySubConn(tc.picker); got != tc.want {
				t.Errorf("SteadySubConn = %v, want %v", got, tc.want)
			}
		})
	}
}
