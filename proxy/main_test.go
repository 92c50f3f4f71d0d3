package proxy_test

import (
	"fmt"
	"io"
	"os"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/grpclog"
)

// TestMain fails the run if any test leaves a goroutine behind, and makes
// grpc-go's fatal logs panic instead of exiting: grpc-go's interop cases
// report failures with logger.Fatalf, and a panic can be recovered and
// reported by the test that caused it.
func TestMain(m *testing.M) {
	grpclog.SetLoggerV2(panicOnFatal{grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr)})
	goleak.VerifyTestMain(m)
}

// panicOnFatal is a grpclog.LoggerV2 whose Fatal functions panic.
type panicOnFatal struct{ grpclog.LoggerV2 }

// fatal is the panic value of panicOnFatal.
type fatal string

func (panicOnFatal) Fatal(args ...any)                 { panic(fatal(fmt.Sprint(args...))) }
func (panicOnFatal) Fatalln(args ...any)               { panic(fatal(fmt.Sprintln(args...))) }
func (panicOnFatal) Fatalf(format string, args ...any) { panic(fatal(fmt.Sprintf(format, args...))) }
