package kube

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/grpclb/grpclb/internal/itest/kubeapi"
)

// ep describes one endpoint of a test slice.
type ep struct {
	ip                    string
	pod                   string // targetRef name; "" for none
	notReady, terminating bool
	notServing            bool
	zone, node, hostname  string
	nilConditions         bool // leave every condition nil
}

func ptr[T any](v T) *T { return &v }

// tcpPort is a named TCP port for a slice; an empty name is unnamed.
func tcpPort(name string, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(port), Protocol: ptr(corev1.ProtocolTCP)}
}

// slice builds an EndpointSlice of service svc.
func slice(ns, svc, name string, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ns,
			Labels:    map[string]string{discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "grpclb-test"},
		},
		AddressType: at,
		Ports:       ports,
	}
	for _, e := range eps {
		out := discoveryv1.Endpoint{Addresses: []string{e.ip}}
		if !e.nilConditions {
			out.Conditions = discoveryv1.EndpointConditions{
				Ready:       ptr(!e.notReady && !e.terminating),
				Serving:     ptr(!e.notServing && !e.notReady),
				Terminating: ptr(e.terminating),
			}
		}
		if e.pod != "" {
			out.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.pod}
		}
		if e.zone != "" {
			out.Zone = ptr(e.zone)
		}
		if e.node != "" {
			out.NodeName = ptr(e.node)
		}
		if e.hostname != "" {
			out.Hostname = ptr(e.hostname)
		}
		s.Endpoints = append(s.Endpoints, out)
	}
	return s
}

// apply creates or replaces s on the API server.
func apply(tb testing.TB, c kubernetes.Interface, s *discoveryv1.EndpointSlice) {
	tb.Helper()
	if err := kubeapi.ApplySlice(context.Background(), c, s); err != nil {
		tb.Fatal(err)
	}
}

// remove deletes an EndpointSlice.
func remove(tb testing.TB, c kubernetes.Interface, ns, name string) {
	tb.Helper()
	if err := c.DiscoveryV1().EndpointSlices(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		tb.Fatalf("deleting EndpointSlice %s: %v", name, err)
	}
}

// headless creates a headless Service with a selector and the given ports,
// the kind of Service client-side balancing is pointed at.
func headless(tb testing.TB, c kubernetes.Interface, ns, name string, ports ...corev1.ServicePort) {
	tb.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": name},
			Ports:     ports,
		},
	}
	if _, err := c.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("creating Service %s: %v", name, err)
	}
}
