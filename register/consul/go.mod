module github.com/grpclb/grpclb/register/consul

go 1.26.0

// Development: the other grpclb modules from this checkout (go.work does
// the same for the whole workspace).
replace (
	github.com/grpclb/grpclb => ../..
	github.com/grpclb/grpclb/cmd/grpclb => ../../cmd/grpclb
	github.com/grpclb/grpclb/internal/itest => ../../internal/itest
	github.com/grpclb/grpclb/proxy => ../../proxy
	github.com/grpclb/grpclb/register/etcd => ../etcd
	github.com/grpclb/grpclb/resolver/consul => ../../resolver/consul
	github.com/grpclb/grpclb/resolver/etcd => ../../resolver/etcd
	github.com/grpclb/grpclb/resolver/kube => ../../resolver/kube
)

require (
	github.com/grpclb/grpclb v0.0.0-00010101000000-000000000000
	github.com/grpclb/grpclb/internal/itest v0.0.0-00010101000000-000000000000
	github.com/grpclb/grpclb/resolver/consul v0.0.0-00010101000000-000000000000
	github.com/hashicorp/consul/api v1.33.4
	go.uber.org/goleak v1.3.0
	google.golang.org/grpc v1.85.0
)

require (
	github.com/armon/go-metrics v0.4.1 // indirect
	github.com/fatih/color v1.16.0 // indirect
	github.com/go-viper/mapstructure/v2 v2.4.0 // indirect
	github.com/hashicorp/errwrap v1.1.0 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	github.com/hashicorp/go-hclog v1.5.0 // indirect
	github.com/hashicorp/go-immutable-radix v1.3.1 // indirect
	github.com/hashicorp/go-multierror v1.1.1 // indirect
	github.com/hashicorp/go-rootcerts v1.0.2 // indirect
	github.com/hashicorp/golang-lru v0.5.4 // indirect
	github.com/hashicorp/serf v0.10.1 // indirect
	github.com/mattn/go-colorable v0.1.13 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/miekg/dns v1.1.73 // indirect
	github.com/mitchellh/go-homedir v1.1.0 // indirect
	golang.org/x/exp v0.0.0-20250808145144-a408d31f581a // indirect
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
