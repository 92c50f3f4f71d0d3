package framerelay

import (
	"encoding/binary"
	"testing"
)

// grpcMessage is a gRPC length-prefixed message of n bytes.
func grpcMessage(n int) []byte {
	b := make([]byte, 5+n)
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

// TestMsgParser: message sizes are read across any split of the stream
// into frames.
func TestMsgParser(t *testing.T) {
	stream := append(append(grpcMessage(10), grpcMessage(0)...), grpcMessage(300)...)
	for _, tc := range []struct {
		limit int64
		want  int64 // the first size over limit, 0 for none
	}{{300, 0}, {299, 300}, {9, 10}} {
		for _, chunk := range []int{1, 2, 3, 5, 7, 64, len(stream)} {
			var p msgParser
			var got int64
			for i := 0; i < len(stream) && got == 0; i += chunk {
				got = p.feed(stream[i:min(i+chunk, len(stream))], tc.limit)
			}
			if got != tc.want {
				t.Errorf("limit %d, frames of %d bytes: first size over the limit %d, want %d", tc.limit, chunk, got, tc.want)
			}
		}
	}
}
