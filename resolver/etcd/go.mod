module github.com/grpclb/grpclb/resolver/etcd

go 1.26.0

// Development: the other grpclb modules from this checkout (go.work does
// the same for the whole workspace).
replace (
	github.com/grpclb/grpclb => ../..
	github.com/grpclb/grpclb/cmd/grpclb => ../../cmd/grpclb
	github.com/grpclb/grpclb/internal/itest => ../../internal/itest
	github.com/grpclb/grpclb/proxy => ../../proxy
	github.com/grpclb/grpclb/resolver/consul => ../consul
	github.com/grpclb/grpclb/resolver/kube => ../kube
)

require (
	github.com/grpclb/grpclb v0.0.0-00010101000000-000000000000
	github.com/grpclb/grpclb/internal/itest v0.0.0-00010101000000-000000000000
	go.etcd.io/etcd/api/v3 v3.6.16
	go.etcd.io/etcd/client/v3 v3.6.16
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.27.0
	google.golang.org/grpc v1.85.0
)

require (
	github.com/coreos/go-semver v0.3.1 // indirect
	github.com/coreos/go-systemd/v22 v22.5.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.29.0 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	go.etcd.io/etcd/client/pkg/v3 v3.6.16 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
