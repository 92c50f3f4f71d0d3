module github.com/grpclb/grpclb/examples/gateway

go 1.26.0

// Development: grpclb from this checkout.
replace github.com/grpclb/grpclb => ../..

require (
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.29.0
	github.com/grpclb/grpclb v0.0.0-00010101000000-000000000000
	go.uber.org/goleak v1.3.0
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.61.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)
