// Package xdsitest checks grpclb's xDS control plane (package xds) end to
// end against real registries: services discovered from a real etcd, a
// real Consul agent and a real kube-apiserver (internal/itest's harnesses)
// are followed by grpc-go's own xDS client. It lives in the tools module
// because it needs every resolver module at once; it has tests only.
package xdsitest
