package etcd

import (
	"encoding/json"
	"testing"

	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvertest"
)

func TestDecodeValue(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		addr    string
		meta    string
		wantErr string
	}{
		{name: "as endpoints.Manager writes it", value: `{"Op":0,"Addr":"10.0.0.1:50051","Metadata":null}`, addr: "10.0.0.1:50051"},
		{name: "metadata", value: `{"Op":0,"Addr":"10.0.0.1:50051","Metadata":{"zone":"a","weight":3}}`, addr: "10.0.0.1:50051", meta: `{"zone":"a","weight":3}`},
		{name: "scalar metadata", value: `{"Addr":"10.0.0.1:1","Metadata":"blue"}`, addr: "10.0.0.1:1", meta: `"blue"`},
		{name: "no Op, no Metadata", value: `{"Addr":"backend-1.internal:50051"}`, addr: "backend-1.internal:50051"},
		{name: "lower-case fields, as encoding/json allows", value: `{"addr":"10.0.0.1:50051"}`, addr: "10.0.0.1:50051"},
		{name: "unknown fields ignored", value: `{"Addr":"10.0.0.1:50051","Weight":7}`, addr: "10.0.0.1:50051"},
		{name: "IPv6 canonical", value: `{"Addr":"[0:0::1]:050051"}`, addr: "[::1]:50051"},
		{name: "IPv4-mapped IPv6 unmapped", value: `{"Addr":"[::ffff:10.0.0.1]:80"}`, addr: "10.0.0.1:80"},

		{name: "garbage", value: `not json`, wantErr: "not the JSON"},
		{name: "empty value", value: ``, wantErr: "not the JSON"},
		{name: "JSON array", value: `[1,2]`, wantErr: "not the JSON"},
		{name: "null", value: `null`, wantErr: "empty address"},
		{name: "empty address", value: `{"Op":0,"Addr":""}`, wantErr: "empty address"},
		{name: "no port", value: `{"Addr":"10.0.0.1"}`, wantErr: "not host:port"},
		{name: "port 0", value: `{"Addr":"10.0.0.1:0"}`, wantErr: `port "0"`},
		{name: "port too big", value: `{"Addr":"10.0.0.1:65536"}`, wantErr: `port "65536"`},
		{name: "named port", value: `{"Addr":"10.0.0.1:http"}`, wantErr: `port "http"`},
		{name: "signed port", value: `{"Addr":"10.0.0.1:+80"}`, wantErr: `port "+80"`},
		{name: "no host", value: `{"Addr":":50051"}`, wantErr: "no host"},
		{name: "space in host", value: `{"Addr":"a b:1"}`, wantErr: "has character"},
		{name: "URL, not an address", value: `{"Addr":"http://10.0.0.1:80"}`, wantErr: "not host:port"},
		{name: "delete op", value: `{"Op":1,"Addr":"10.0.0.1:50051"}`, wantErr: "Op 1"},
		{name: "op out of range", value: `{"Op":300,"Addr":"10.0.0.1:50051"}`, wantErr: "not the JSON"},
		{name: "addr not a string", value: `{"Addr":50051}`, wantErr: "not the JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := decodeValue("svc/k", []byte(tt.value))
			if !resolvertest.WantErr(t, err, tt.wantErr) {
				return
			}
			if inst.Addr != tt.addr || string(inst.Metadata) != tt.meta || inst.Key != "svc/k" {
				t.Errorf("got %+v (metadata %s), want addr %q metadata %s", inst, inst.Metadata, tt.addr, tt.meta)
			}
		})
	}
}

// TestDecodesWhatEndpointsWrites checks the decoder against the encoding
// etcd's naming/endpoints package uses (its internal.Update, marshalled by
// encoding/json), through the Update type it exposes.
func TestDecodesWhatEndpointsWrites(t *testing.T) {
	// endpoints.Manager marshals internal.Update{Op, Addr, Metadata}; the
	// exported Update differs only by the Key field, so marshal the same
	// three fields in the same order.
	for _, md := range []any{nil, map[string]any{"zone": "b"}, []int{1, 2}, 42.5} {
		v, err := json.Marshal(struct {
			Op       endpoints.Operation
			Addr     string
			Metadata any
		}{endpoints.Add, "10.1.2.3:8080", md})
		if err != nil {
			t.Fatal(err)
		}
		inst, err := decodeValue("k", v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		want, _ := json.Marshal(md)
		if md == nil {
			want = nil
		}
		if inst.Addr != "10.1.2.3:8080" || string(inst.Metadata) != string(want) {
			t.Errorf("%s decoded as %+v", v, inst)
		}
	}
}

func TestInstanceAttributes(t *testing.T) {
	in := &Instance{Key: "svc/10.0.0.1:1", Addr: "10.0.0.1:1", Metadata: json.RawMessage(`{"zone":"a"}`)}
	ep := in.endpoint()
	got, ok := InstanceFromEndpoint(ep)
	if !ok || !got.Equal(in) {
		t.Fatalf("InstanceFromEndpoint: %+v, %v", got, ok)
	}
	if _, ok := InstanceFromEndpoint(resolver.Endpoint{}); ok {
		t.Error("an endpoint without attributes has an Instance")
	}
	// Attributes compare with Equal: the same content is equal, other
	// metadata is not, and a map in Metadata never makes == panic.
	same := (&Instance{Key: in.Key, Addr: in.Addr, Metadata: json.RawMessage(`{"zone":"a"}`)}).endpoint()
	other := (&Instance{Key: in.Key, Addr: in.Addr, Metadata: json.RawMessage(`{"zone":"b"}`)}).endpoint()
	if !ep.Attributes.Equal(same.Attributes) || ep.Attributes.Equal(other.Attributes) {
		t.Error("attribute equality does not follow the instance's content")
	}
}

func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{
		`{"Op":0,"Addr":"10.0.0.1:50051","Metadata":null}`, `{"Addr":"[::1]:1","Metadata":{"a":[1,2]}}`,
		`{"Addr":":1"}`, `null`, `{"Op":1}`, `{"Addr":"h:65535"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		inst, err := decodeValue("k", v)
		if err != nil {
			return
		}
		if err := checkAddrRoundTrip(inst.Addr); err != nil {
			t.Fatalf("%q decoded to address %q: %v", v, inst.Addr, err)
		}
		if inst.Metadata != nil && !json.Valid(inst.Metadata) {
			t.Fatalf("%q decoded to invalid metadata %q", v, inst.Metadata)
		}
	})
}

// checkAddrRoundTrip: a decoded address is canonical already.
func checkAddrRoundTrip(a string) error {
	c, err := canonicalAddr(a)
	if err != nil {
		return err
	}
	if c != a {
		return &json.UnsupportedValueError{Str: "not canonical: " + c}
	}
	return nil
}
