package etcd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/grpclb/grpclb/internal/resolvercore"
	"github.com/grpclb/grpclb/internal/targetopt"

	"google.golang.org/grpc/resolver"
)

// wireValue is the value etcd's naming/endpoints package stores under each
// key: its internal.Update, JSON-encoded by encoding/json. Op is 0 (Add) in
// every value it writes; deletes are key deletions.
type wireValue struct {
	Op       uint8
	Addr     string
	Metadata json.RawMessage
}

// Instance is what the resolver read from etcd for one endpoint. Read it
// with InstanceFromEndpoint.
type Instance struct {
	// Key is the etcd key, "<prefix>/<addr>" for instances registered by
	// grpclb's register/etcd or etcd's endpoints.Manager.
	Key string
	// Addr is the endpoint's address, host:port (IP addresses in
	// canonical form).
	Addr string
	// Metadata is the value's Metadata as JSON, exactly as stored; nil
	// when absent or null. Decode it with json.Unmarshal into the type the
	// registering side used.
	Metadata json.RawMessage
}

// Equal lets grpc-go's attributes compare Instances.
func (i *Instance) Equal(o any) bool {
	x, ok := o.(*Instance)
	return ok && x.Key == i.Key && x.Addr == i.Addr && bytes.Equal(x.Metadata, i.Metadata)
}

type instanceKey struct{}

// InstanceFromEndpoint returns what etcd held for an endpoint the resolver
// published. A balancer sees it in resolver.State.Endpoints.
func InstanceFromEndpoint(ep resolver.Endpoint) (Instance, bool) {
	return resolvercore.FromEndpoint[Instance](ep, instanceKey{})
}

func (i *Instance) endpoint() resolver.Endpoint {
	return resolvercore.Endpoint(i.Addr, instanceKey{}, i)
}

// decodeValue reads one key's value. It never panics, whatever the bytes.
func decodeValue(key string, value []byte) (*Instance, error) {
	var v wireValue
	if err := json.Unmarshal(value, &v); err != nil {
		return nil, fmt.Errorf("value is not the JSON of an endpoints.Endpoint: %w", err)
	}
	if v.Op != 0 {
		return nil, fmt.Errorf("value has Op %d; only 0 (Add) is stored by naming/endpoints", v.Op)
	}
	addr, err := canonicalAddr(v.Addr)
	if err != nil {
		return nil, err
	}
	inst := &Instance{Key: key, Addr: addr}
	if m := bytes.TrimSpace(v.Metadata); len(m) > 0 && !bytes.Equal(m, []byte("null")) {
		inst.Metadata = append(json.RawMessage(nil), m...)
	}
	return inst, nil
}

// canonicalAddr checks a host:port and writes IP literals canonically, so
// "10.0.0.1:080" and "10.0.0.1:80" are the same instance.
func canonicalAddr(a string) (string, error) {
	if a == "" {
		return "", errors.New("value has an empty address (Addr)")
	}
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf("address %q is not host:port", a)
	}
	if err := targetopt.CheckPort(p); err != nil {
		return "", fmt.Errorf("address %q: %w", a, err)
	}
	if h == "" {
		return "", fmt.Errorf("address %q has no host", a)
	}
	if err := targetopt.CheckHost(h); err != nil {
		return "", fmt.Errorf("address %q: %w", a, err)
	}
	port, _ := strconv.ParseUint(p, 10, 16) // checked above
	if ip, err := netip.ParseAddr(h); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(port)).String(), nil
	}
	return net.JoinHostPort(h, strconv.FormatUint(port, 10)), nil
}
