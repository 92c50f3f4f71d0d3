// Package epmap keeps a value per endpoint across a balancer's updates,
// cheaply enough to be called on every SubConn state change.
//
// A policy over grpc-go's endpointsharding sees the state of every
// endpoint on every SubConn state change, so bringing N endpoints READY one
// by one makes N updates of N endpoints each. resolver.EndpointMap encodes
// each address in base64 on every lookup, and building a fresh one per
// update allocates a map each time: at 10,000 endpoints that made more than
// half of p2c_ewma's and wrr's start-up cost. A Map keys an endpoint of one
// address by the address itself and is refreshed in place, in rounds: the
// entries an update does not keep are dropped at its end.
package epmap

import (
	"iter"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/resolver"
)

// Map maps endpoints, identified as resolver.EndpointMap identifies them
// (by the unordered set of their addresses' Addr), to values of type V.
// The zero Map is empty and ready for use. It is not safe for concurrent
// use.
type Map[V any] struct {
	entries map[string]*entry[V]
	round   uint64 // counts Begin calls
	kept    int    // distinct entries kept in this round
}

type entry[V any] struct {
	value V
	round uint64 // the last round that kept it
}

// Begin starts a round: the entries that are not kept before the next End
// are dropped then. Get does not keep an entry.
func (m *Map[V]) Begin() {
	m.round++
	m.kept = 0
}

// Get returns the value of ep and whether it has one.
func (m *Map[V]) Get(ep resolver.Endpoint) (V, bool) {
	e, ok := m.entries[Key(ep)]
	if !ok {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Keep keeps ep through this round's End and returns its value's slot,
// and whether ep had a value before (if not, the slot holds V's zero value
// for the caller to set). One lookup serves both: the caller's usual
// update is "the old value, or a new one", for every endpoint of the set.
func (m *Map[V]) Keep(ep resolver.Endpoint) (slot *V, existed bool) {
	if m.entries == nil {
		m.entries = make(map[string]*entry[V])
	}
	k := Key(ep)
	e, existed := m.entries[k]
	if !existed {
		e = &entry[V]{}
		m.entries[k] = e
	}
	if e.round != m.round {
		e.round = m.round
		m.kept++
	}
	return &e.value, existed
}

// End drops the entries that this round did not keep.
func (m *Map[V]) End() { m.EndFunc(nil) }

// EndFunc is End, calling dropped (if not nil) with the value of each
// entry it drops, for a policy that has something to undo when an
// endpoint leaves.
func (m *Map[V]) EndFunc(dropped func(V)) {
	if len(m.entries) == m.kept {
		return
	}
	for k, e := range m.entries {
		if e.round != m.round {
			if dropped != nil {
				dropped(e.value)
			}
			delete(m.entries, k)
		}
	}
}

// Len returns the number of entries.
func (m *Map[V]) Len() int { return len(m.entries) }

// All yields each entry's Key and value, in no particular order.
func (m *Map[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		for k, e := range m.entries {
			if !yield(k, e.value) {
				return
			}
		}
	}
}

// Values returns the values, in no particular order.
func (m *Map[V]) Values() []V {
	vs := make([]V, 0, len(m.entries))
	for _, v := range m.All() {
		vs = append(vs, v)
	}
	return vs
}

// Key identifies an endpoint by the unordered set (with repeats) of its
// addresses' Addr, as resolver.EndpointMap does and endpointsharding keeps
// one child per such set, without allocating for the usual endpoint of one
// address: its key is the address itself. Other endpoints get "\x00" and
// then each address, sorted, prefixed with its length; a one-address key
// starting with "\x00" takes that form too, so that no two sets share a
// key. Like resolver.EndpointMap, it does not tell an endpoint without
// addresses from one with a single empty address: both have key "".
func Key(ep resolver.Endpoint) string {
	if len(ep.Addresses) == 0 {
		return ""
	}
	if len(ep.Addresses) == 1 && !strings.HasPrefix(ep.Addresses[0].Addr, "\x00") {
		return ep.Addresses[0].Addr
	}
	addrs := make([]string, len(ep.Addresses))
	for i, a := range ep.Addresses {
		addrs[i] = a.Addr
	}
	slices.Sort(addrs)
	var b strings.Builder
	b.WriteByte(0)
	for _, a := range addrs {
		b.WriteString(strconv.Itoa(len(a)))
		b.WriteByte(':')
		b.WriteString(a)
	}
	return b.String()
}
