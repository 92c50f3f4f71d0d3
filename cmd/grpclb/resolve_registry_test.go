package main

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/grpclb/grpclb/internal/itest/consultest"
	"github.com/grpclb/grpclb/internal/itest/etcdtest"
	"github.com/grpclb/grpclb/internal/itest/kubetest"
	consulreg "github.com/grpclb/grpclb/register/consul"
	register "github.com/grpclb/grpclb/register/etcd"
)

// resolve against a real kube-apiserver: the pod, zone and node of each
// endpoint are printed.
func TestResolveKubernetes(t *testing.T) {
	api := kubetest.Start(t)
	ns := api.Namespace(t)
	name, port, ready := "grpc", int32(50051), true
	zone, node := "zone-a", "node-1"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "echo-1", Labels: map[string]string{discoveryv1.LabelServiceName: "echo"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"192.0.2.10"},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: "echo-abc"},
			Zone:       &zone, NodeName: &node,
		}},
	}
	if _, err := api.Client().DiscoveryV1().EndpointSlices(ns).Create(context.Background(), slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := api.WriteKubeconfig(t, api.AdminToken(), ns)
	resolved(t, []string{"--kubeconfig", kc, "kubernetes:///echo:grpc"},
		"1 endpoints", "192.0.2.10:50051", "pod=echo-abc", "zone=zone-a", "node=node-1")
}

// resolve against a real etcd, with an instance registered by
// register/etcd.
func TestResolveEtcd(t *testing.T) {
	e := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := register.Register(ctx, e.Client(), "service/echo", "10.0.0.9:50051")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	resolved(t, []string{"etcd://" + e.Endpoint() + "/service/echo"}, "10.0.0.9:50051", "key=service/echo/")
}

// resolve against a real Consul agent, with an instance registered by
// register/consul (a TTL check, passing from the start).
func TestResolveConsul(t *testing.T) {
	agent := consultest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := consulreg.Register(ctx, agent.Client(t), consulreg.Service{Name: "echo", Address: "10.0.0.9", Port: 50051, Tags: []string{"grpc"}},
		consulreg.WithTTLCheck(10*time.Second), consulreg.WithInitialPassing())
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	resolved(t, []string{"consul://" + agent.HTTPAddr() + "/echo?tag=grpc"}, "10.0.0.9:50051", "tags=grpc")
}
