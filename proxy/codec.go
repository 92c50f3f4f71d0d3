package proxy

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // clients may compress; the proxy decompresses, and answers in kind
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// frame is one message as it arrived on the wire, never decoded: the
// transport's own buffers, with a reference held until the message is
// sent on.
type frame struct {
	data mem.BufferSlice
}

// free drops the frame's buffers if they were not handed on.
func (f *frame) free() {
	if f.data != nil {
		f.data.Free()
		f.data = nil
	}
}

// rawCodec passes frames through untouched, without copying them: Unmarshal
// takes a reference to the received buffers and Marshal hands the same
// buffers to the transport, which frees them once written. Any other value
// (the proxy's own health and reflection messages) goes to the proto codec.
type rawCodec struct {
	proto encoding.CodecV2
}

func newRawCodec() rawCodec {
	return rawCodec{proto: encoding.GetCodecV2(proto.Name)}
}

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*frame); ok {
		data := f.data
		f.data = nil // ownership moves to the transport
		return data, nil
	}
	if f, ok := v.(*sharedFrame); ok {
		f.data.Ref() // the transport's reference; the call keeps its own
		return f.data, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*frame); ok {
		data.Ref()
		f.data = data
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// Name is "proto" so that upstream requests carry the usual content-type;
// calls of other subtypes keep theirs (see forward).
func (rawCodec) Name() string { return proto.Name }
