package outlier

import (
	"testing"
	"unsafe"
)

// The wrapper a pick reads is 40 bytes (a 48-byte allocation): at 10,000
// endpoints the wrappers fit in a core's cache with room to spare, which
// is what keeps a pick's cost flat as the fleet grows. A field added to
// subConn that a pick does not read belongs in subConnCold.
func TestPickedWrapperStaysSmall(t *testing.T) {
	if got := unsafe.Sizeof(subConn{}); got > 48 {
		t.Fatalf("subConn is %d bytes, want at most 48: move what a pick does not read to subConnCold", got)
	}
}
