package outlier

import (
	"testing"
	"unsafe"
)

// The wrapper a pick and its Done read is 48 bytes: at 10,000 endpoints
// the wrappers take 480 KB, which mostly stays in a core's cache, and
// that is what keeps a pick's cost close to flat as the fleet grows. A
// field added to subConn that neither a pick nor a Done reads belongs in
// subConnCold.
func TestPickedWrapperStaysSmall(t *testing.T) {
	if got := unsafe.Sizeof(subConn{}); got > 48 {
		t.Fatalf("subConn is %d bytes, want at most 48: move what neither a pick nor its Done reads to subConnCold", got)
	}
}
