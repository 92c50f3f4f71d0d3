package jsonconf

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestCodeRoundTrip(t *testing.T) {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		b, err := json.Marshal(Code(c))
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		var back Code
		if err := json.Unmarshal(b, &back); err != nil || codes.Code(back) != c {
			t.Errorf("%v: marshalled %s, read back %v (%v)", c, b, codes.Code(back), err)
		}
	}
	if CodeName(codes.Canceled) != "CANCELLED" {
		t.Errorf("codes.Canceled is %q in service configs, want CANCELLED (grpc-go's parser refuses CANCELED)", CodeName(codes.Canceled))
	}
	var c Code
	for _, bad := range []string{`"CANCELED"`, `"unavailable"`, `17`, `-1`, `1.5`, `true`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s read as %v, want an error", bad, codes.Code(c))
		} else if (bad[0] == '"' || bad == `17`) && !strings.Contains(err.Error(), "unknown status code") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
	if err := json.Unmarshal([]byte(`14`), &c); err != nil || codes.Code(c) != codes.Unavailable {
		t.Errorf("14 read as %v (%v), want UNAVAILABLE", codes.Code(c), err)
	}
	if _, err := json.Marshal(Code(99)); err == nil {
		t.Error("code 99 marshalled, want an error")
	}
}
