package consul

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/grpclb/grpclb/endpoint"
	"github.com/grpclb/grpclb/internal/resolvercore"
	"github.com/grpclb/grpclb/internal/targetopt"

	"github.com/hashicorp/consul/api"
	"google.golang.org/grpc/resolver"
)

// Instance is what Consul held for one published endpoint. Read it with
// InstanceFromEndpoint.
type Instance struct {
	// ID is the service instance's ID, unique on its node.
	ID string
	// Service is the service name.
	Service string
	// Node is the name of the node (agent) the instance is registered on.
	Node string
	// Datacenter is the node's datacenter.
	Datacenter string
	// Addr is the address dialed, host:port: the service's address, or
	// the node's when the service has none (Consul's own rule), and the
	// service's port. IP addresses are written canonically.
	Addr string
	// Tags are the service's tags, as registered.
	Tags []string
	// Meta is the service's metadata (Service.Meta).
	Meta map[string]string
	// NodeMeta is the node's metadata (Node.Meta).
	NodeMeta map[string]string
}

// Equal lets grpc-go's attributes compare Instances.
func (i *Instance) Equal(o any) bool {
	x, ok := o.(*Instance)
	return ok && x.ID == i.ID && x.Service == i.Service && x.Node == i.Node &&
		x.Datacenter == i.Datacenter && x.Addr == i.Addr && slices.Equal(x.Tags, i.Tags) &&
		maps.Equal(x.Meta, i.Meta) && maps.Equal(x.NodeMeta, i.NodeMeta)
}

// fingerprint is a string that changes when anything published changes.
func (i *Instance) fingerprint() string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%q\x00%v\x00%v", i.Addr, i.ID, i.Service, i.Node, i.Datacenter, i.Tags, i.Meta, i.NodeMeta)
}

type instanceKey struct{}

// InstanceFromEndpoint returns what Consul held for an endpoint the
// resolver published. A balancer sees it in resolver.State.Endpoints. The
// Instance shares its slices and maps with the resolver: do not modify
// them.
func InstanceFromEndpoint(ep resolver.Endpoint) (Instance, bool) {
	return resolvercore.FromEndpoint[Instance](ep, instanceKey{})
}

// endpoint is i as a published endpoint: the Instance, and the service's
// Meta "zone" as its endpoint.Zone, which zone-aware consumers (grpclb's
// xDS server) read whatever the resolver.
func (i *Instance) endpoint() resolver.Endpoint {
	return endpoint.WithZone(resolvercore.Endpoint(i.Addr, instanceKey{}, i), i.Meta["zone"])
}

// entryName names an entry in log lines: node/service-id.
func entryName(e *api.ServiceEntry) string {
	node, id := "?", "?"
	if e.Node != nil {
		node = e.Node.Node
	}
	if e.Service != nil {
		id = e.Service.ID
	}
	return node + "/" + id
}

// instanceFromEntry reads one health entry. It never panics, whatever the
// entry holds.
func instanceFromEntry(e *api.ServiceEntry) (*Instance, error) {
	if e == nil || e.Service == nil || e.Node == nil {
		return nil, fmt.Errorf("entry has no service or no node")
	}
	host := e.Service.Address
	if host == "" {
		host = e.Node.Address // Consul's rule, as its DNS interface does
	}
	if host == "" {
		return nil, fmt.Errorf("neither the service nor its node %q has an address", e.Node.Node)
	}
	if e.Service.Port < 1 || e.Service.Port > 65535 {
		return nil, fmt.Errorf("port %d is not from 1 to 65535", e.Service.Port)
	}
	if err := targetopt.CheckHost(host); err != nil {
		return nil, fmt.Errorf("address: %w", err)
	}
	var addr string
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return nil, fmt.Errorf("address %q has a zone", host)
		}
		addr = netip.AddrPortFrom(ip.Unmap(), uint16(e.Service.Port)).String()
	} else {
		if strings.ContainsAny(host, ":[]") {
			return nil, fmt.Errorf("address %q is not a host name or an IP address", host)
		}
		addr = net.JoinHostPort(host, strconv.Itoa(e.Service.Port))
	}
	return &Instance{
		ID:         e.Service.ID,
		Service:    e.Service.Service,
		Node:       e.Node.Node,
		Datacenter: e.Node.Datacenter,
		Addr:       addr,
		Tags:       slices.Clone(e.Service.Tags),
		Meta:       maps.Clone(e.Service.Meta),
		NodeMeta:   maps.Clone(e.Node.Meta),
	}, nil
}
