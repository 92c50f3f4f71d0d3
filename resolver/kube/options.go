package kube

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Options configure a Kubernetes resolver builder. The zero value of a
// field takes its default.
type Options struct {
	// Client, when set, is the Kubernetes client every watch uses.
	// Config and Kubeconfig are then ignored.
	Client kubernetes.Interface
	// Config, when set, is the REST configuration the builder makes its
	// client from.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file to make the client from,
	// with its current context. Default, when Client and Config are nil
	// too: the in-cluster configuration (the pod's service account) when
	// running in a pod, else the kubeconfig kubectl would use ($KUBECONFIG,
	// else ~/.kube/config).
	Kubeconfig string
	// Namespace is the namespace of targets that name none. Default: the
	// pod's own namespace (the service account's namespace file), else the
	// namespace of the kubeconfig's current context, else "default".
	Namespace string
	// Terminating says what happens to endpoints that are terminating but
	// still serving (a pod being deleted, in its grace period). Default
	// TerminatingDrain.
	Terminating TerminatingMode
	// KeepLastOnEmpty keeps the last set when the service has no usable
	// endpoint left. Default false: the empty set is published (and
	// logged), so calls fail fast with UNAVAILABLE when the service is
	// scaled to zero, every pod is unready or the service has no
	// EndpointSlice at all, instead of going to pods that are gone. Before
	// any set was published, an empty service is also reported to the
	// channel as an error that says so.
	KeepLastOnEmpty bool
	// Family restricts the address family used: FamilyAny (default: every
	// address type the service has, an endpoint with an IPv4 and an IPv6
	// address gets both), FamilyIPv4 or FamilyIPv6.
	Family Family
	// IncludeFQDN uses EndpointSlices of address type FQDN (host names,
	// dialed through DNS). Default false: they are skipped, with a log
	// line, as kube-proxy skips them; the EndpointSlice controller never
	// writes them, so they come from hand-made slices.
	IncludeFQDN bool
	// MaxBackoff caps the wait before listing again after the API server
	// failed or a watch ended with an error. Retries start at 200ms and
	// double up to MaxBackoff, with jitter. Default 5s (client-go's own
	// default is 30s, too slow to notice a restarted API server).
	MaxBackoff time.Duration
	// Logger receives one line per change of a service's endpoint set and
	// per API server failure. Default slog.Default().
	Logger *slog.Logger
}

// TerminatingMode says whether a terminating endpoint that still serves
// gets new RPCs.
type TerminatingMode int

const (
	// TerminatingDrain (the default) gives terminating endpoints no new
	// RPCs: they leave the set when they start terminating, and grpc-go
	// closes their connections gracefully, so RPCs in flight on them
	// finish. When no endpoint of the service is ready, terminating ones
	// that still serve are used, as kube-proxy does, so the last moments of
	// a rollout or a scale-down do not fail calls.
	TerminatingDrain TerminatingMode = iota
	// TerminatingServe keeps terminating endpoints in the set for as long
	// as they say they are serving.
	TerminatingServe
)

func (m TerminatingMode) String() string {
	switch m {
	case TerminatingDrain:
		return "drain"
	case TerminatingServe:
		return "serve"
	}
	return fmt.Sprintf("TerminatingMode(%d)", int(m))
}

// Family is an address family filter.
type Family int

const (
	FamilyAny Family = iota
	FamilyIPv4
	FamilyIPv6
)

func (f Family) String() string {
	switch f {
	case FamilyAny:
		return "any"
	case FamilyIPv4:
		return "ipv4"
	case FamilyIPv6:
		return "ipv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// Defaults for Options.
const (
	DefaultMaxBackoff = 5 * time.Second
	minBackoff        = 200 * time.Millisecond
)

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < minBackoff {
		return o, fmt.Errorf("option MaxBackoff %v is below the %v retries start at", o.MaxBackoff, minBackoff)
	}
	if o.Terminating != TerminatingDrain && o.Terminating != TerminatingServe {
		return o, fmt.Errorf("option Terminating: unknown mode %d", int(o.Terminating))
	}
	if o.Family < FamilyAny || o.Family > FamilyIPv6 {
		return o, fmt.Errorf("option Family: unknown family %d", int(o.Family))
	}
	o.Logger = cmp.Or(o.Logger, slog.Default())
	return o, nil
}
