package framerelay

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// msgParser follows the gRPC messages of one direction of a call (each a
// 5-byte prefix, the compressed flag and a big-endian length, then the
// message) across DATA frames, to bound and count their size. The length
// is the message's size on the wire: compressed, if it is.
type msgParser struct {
	count int   // messages begun
	left  int64 // bytes of the current message still to come
	pre   [5]byte
	preN  int
}

// feed reads data, adds to total the size of each message whose prefix
// ends in it, and returns the size of the first one over limit (if limit
// is set), 0 if none.
func (p *msgParser) feed(data []byte, limit int64, total *atomic.Int64) int64 {
	for len(data) > 0 {
		if p.left > 0 {
			n := min(p.left, int64(len(data)))
			p.left -= n
			data = data[n:]
			continue
		}
		n := copy(p.pre[p.preN:], data)
		p.preN += n
		data = data[n:]
		if p.preN < len(p.pre) {
			return 0
		}
		p.preN = 0
		p.count++
		size := int64(binary.BigEndian.Uint32(p.pre[1:]))
		if limit > 0 && size > limit {
			return size
		}
		total.Add(size)
		p.left = size
	}
	return 0
}

// requestTooLarge ends call l, client stream id, whose client sent a
// message of size bytes, over limit: the backend's stream is reset and
// the client gets RESOURCE_EXHAUSTED. The frame's window is given back.
func (c *clientConn) requestTooLarge(l *link, f *http2.DataFrame, size, limit int64) {
	c.giveConn(int64(f.Length))
	l.abort(f.StreamID, status.Errorf(codes.ResourceExhausted, "framerelay: a request message of %d bytes, over the limit of %d", size, limit))
}

// responseTooLarge ends call l, whose backend sent a message of size
// bytes, over limit: the backend's stream is reset and the client gets
// RESOURCE_EXHAUSTED. The frame's window is given back.
func (bc *backendConn) responseTooLarge(l *link, f *http2.DataFrame, size, limit int64) {
	bc.giveConn(int64(f.Length))
	if !f.StreamEnded() {
		bc.lookup(f.StreamID, true) // data already looked it up, and forgot it if the stream ended
	}
	l.client.forget(l.toClient.id)
	err := status.Errorf(codes.ResourceExhausted, "framerelay: a response message of %d bytes, over the limit of %d", size, limit)
	l.finish(err)
	l.endBackend(!f.StreamEnded(), http2.ErrCodeCancel)
	l.endClient(err)
}
