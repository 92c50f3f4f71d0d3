package framerelay

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
)

// grpcMessage is a gRPC length-prefixed message of n bytes.
func grpcMessage(n int) []byte {
	b := make([]byte, 5+n)
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

// TestMsgParser: message sizes are read across any split of the stream
// into frames; the messages under the limit are counted (all of them
// with no limit).
func TestMsgParser(t *testing.T) {
	stream := append(append(grpcMessage(10), grpcMessage(0)...), grpcMessage(300)...)
	for _, tc := range []struct {
		limit int64
		want  int64 // the first size over limit, 0 for none
		total int64 // the bytes of the messages before it
	}{{0, 0, 310}, {300, 0, 310}, {299, 300, 10}, {9, 10, 0}} {
		for _, chunk := range []int{1, 2, 3, 5, 7, 64, len(stream)} {
			var p msgParser
			var got int64
			var total atomic.Int64
			for i := 0; i < len(stream) && got == 0; i += chunk {
				got = p.feed(stream[i:min(i+chunk, len(stream))], tc.limit, &total)
			}
			if got != tc.want || total.Load() != tc.total {
				t.Errorf("limit %d, frames of %d bytes: first size over the limit %d, want %d; %d bytes counted, want %d", tc.limit, chunk, got, tc.want, total.Load(), tc.total)
			}
		}
	}
}
