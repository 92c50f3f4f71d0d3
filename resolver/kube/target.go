package kube

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/grpclb/grpclb/internal/targetopt"
)

// target is a parsed kubernetes target.
type target struct {
	namespace string // "" until the builder fills in its default
	service   string
	port      portSpec
	opts      Options
}

// portSpec is the port of a target: a number, a name, or none (the
// service's only port).
type portSpec struct {
	number int32
	name   string
}

func (p portSpec) String() string {
	switch {
	case p.number != 0:
		return strconv.Itoa(int(p.number))
	case p.name != "":
		return p.name
	}
	return "(the only port)"
}

// parseTarget reads a target URL; defaults are the builder's options, which
// query parameters override. It does no I/O, so it can be fuzzed.
//
//	kubernetes:///service.namespace:port
//	kubernetes:///service:port
//	kubernetes://namespace/service:port
//	kubernetes:///service.namespace.svc.cluster.local:port
func parseTarget(u url.URL, defaults Options) (target, error) {
	t := target{opts: defaults}
	if u.Opaque != "" {
		return t, fmt.Errorf("%q has no \"//\" after the scheme; write kubernetes:///%s", u.String(), u.Opaque)
	}
	if u.User != nil {
		return t, errors.New("user information in the target is not supported")
	}
	if u.Fragment != "" {
		return t, fmt.Errorf("unexpected fragment #%s", u.Fragment)
	}
	if err := t.applyQuery(u.RawQuery); err != nil {
		return t, err
	}
	if u.Host != "" {
		if err := checkNamespace(u.Host); err != nil {
			return t, fmt.Errorf("namespace %q in the authority: %w", u.Host, err)
		}
		t.namespace = u.Host
	}
	path := strings.TrimPrefix(u.Path, "/")
	if path == "" {
		return t, errors.New("no service: write kubernetes:///service.namespace:port")
	}
	if strings.Contains(path, "/") {
		return t, fmt.Errorf("%q: a service name has no '/'; write kubernetes:///service.namespace:port or kubernetes://namespace/service:port", path)
	}
	host, port, hasPort := strings.Cut(path, ":")
	if hasPort {
		p, err := parsePort(port)
		if err != nil {
			return t, err
		}
		t.port = p
	}
	labels := strings.Split(host, ".")
	switch {
	case len(labels) == 1:
	case len(labels) == 2, len(labels) >= 3 && labels[2] == "svc":
		// service.namespace, or the cluster DNS name
		// service.namespace.svc[.cluster.local].
		if t.namespace != "" && t.namespace != labels[1] {
			return t, fmt.Errorf("namespace given twice: %q in the authority and %q in %q", t.namespace, labels[1], host)
		}
		if err := checkNamespace(labels[1]); err != nil {
			return t, fmt.Errorf("namespace %q in %q: %w", labels[1], host, err)
		}
		t.namespace = labels[1]
	default:
		return t, fmt.Errorf("%q is not service, service.namespace or service.namespace.svc[.domain]", host)
	}
	if errs := validation.IsDNS1035Label(labels[0]); len(errs) > 0 {
		return t, fmt.Errorf("service name %q: %s", labels[0], strings.Join(errs, "; "))
	}
	t.service = labels[0]
	return t, nil
}

func checkNamespace(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// parsePort reads a port number (1-65535) or an IANA_SVC_NAME port name, as
// EndpointSlice ports are named.
func parsePort(s string) (portSpec, error) {
	if s == "" {
		return portSpec{}, errors.New("empty port after ':'; give a port number or name, or leave out the ':' for the service's only port")
	}
	if s[0] >= '0' && s[0] <= '9' {
		if err := targetopt.CheckPort(s); err != nil {
			return portSpec{}, err
		}
		n, _ := strconv.Atoi(s)
		return portSpec{number: int32(n)}, nil
	}
	if errs := validation.IsValidPortName(s); len(errs) > 0 {
		return portSpec{}, fmt.Errorf("port name %q: %s", s, strings.Join(errs, "; "))
	}
	return portSpec{name: s}, nil
}

// applyQuery reads the options a target may carry.
func (t *target) applyQuery(raw string) error {
	o := &t.opts
	return targetopt.Query(raw,
		targetopt.ChoiceOption("terminating", &o.Terminating, []string{"drain", "serve"}, []TerminatingMode{TerminatingDrain, TerminatingServe}),
		targetopt.ChoiceOption("empty", &o.KeepLastOnEmpty, []string{"keep", "publish"}, []bool{true, false}),
		targetopt.ChoiceOption("family", &o.Family, []string{"any", "ipv4", "ipv6"}, []Family{FamilyAny, FamilyIPv4, FamilyIPv6}),
		targetopt.ChoiceOption("fqdn", &o.IncludeFQDN, []string{"include", "ignore"}, []bool{true, false}),
	)
}
