package jsonconf

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// typed has the fields a policy's Config decodes without a JSON mirror:
// time.Duration and status codes in their written forms, ranges in tags,
// a child policy.
type typed struct {
	Every   time.Duration `json:"every" range:"(0,1h]"`
	Grace   time.Duration `json:"grace" range:"[0,1m]"`
	Percent int           `json:"percent" range:"[0,100]"`
	Factor  float64       `json:"factor" range:"(0,10]"`
	Floor   float64       `json:"floor" range:"[1,100]"`
	Code    codes.Code    `json:"code"`
	Codes   []codes.Code  `json:"codes,omitempty"`
	Child   Child         `json:"child"`
	Mode    string        `json:"mode" oneof:"fast safe"`
	Wait    Duration      `json:"wait,omitempty" range:"(0,1m]"` // the Duration type itself
}

func defaultTyped() typed {
	return typed{Every: time.Second, Percent: 10, Factor: 1, Floor: 1, Child: RoundRobin("self"), Mode: "fast"}
}

func TestDecodeTypedFields(t *testing.T) {
	tests := []struct {
		js      string
		check   func(typed) bool
		wantErr string
	}{
		{`{"every":"10s","grace":"0s"}`, func(c typed) bool { return c.Every == 10*time.Second && c.Grace == 0 }, ""},
		{`{"every":null,"percent":null,"factor":null}`, func(c typed) bool { return c.Every == time.Second && c.Percent == 10 && c.Factor == 1 }, ""},
		{`{"every":10}`, nil, `field "every": 10 is not a duration string such as "10s" or "250ms"`},
		{`{"every":"0s"}`, nil, `field "every": must be positive, got "0s"`},
		{`{"every":"2h"}`, nil, `field "every": must be at most 1h0m0s, got "2h0m0s"`},
		{`{"grace":"-1s"}`, nil, `field "grace": must not be negative, got "-1s"`},
		{`{"wait":"1m"}`, func(c typed) bool { return c.Wait == Duration(time.Minute) }, ""},
		{`{"wait":"0s"}`, nil, `field "wait": must be positive, got "0s"`},
		{`{"wait":"61s"}`, nil, `field "wait": must be at most 1m0s, got "1m1s"`},
		{`{"percent":100}`, func(c typed) bool { return c.Percent == 100 }, ""},
		{`{"percent":101}`, nil, `field "percent": must be an integer from 0 to 100, got 101`},
		{`{"percent":-1}`, nil, `field "percent": must be an integer from 0 to 100, got -1`},
		{`{"factor":10}`, func(c typed) bool { return c.Factor == 10 }, ""},
		{`{"factor":0}`, nil, `field "factor": must be in (0, 10], got 0`},
		{`{"factor":10.5}`, nil, `field "factor": must be in (0, 10], got 10.5`},
		{`{"floor":1}`, func(c typed) bool { return c.Floor == 1 }, ""},
		{`{"floor":0.99}`, nil, `field "floor": must be in [1, 100], got 0.99`},
		{`{"code":"CANCELLED","codes":["UNAVAILABLE",4]}`,
			func(c typed) bool {
				return c.Code == codes.Canceled && len(c.Codes) == 2 && c.Codes[0] == codes.Unavailable && c.Codes[1] == codes.DeadlineExceeded
			}, ""},
		{`{"code":"CANCELED"}`, nil, `field "code": unknown status code "CANCELED"`},
		{`{"codes":"UNAVAILABLE"}`, nil, `field "codes": "UNAVAILABLE" is not a list of status code names`},
		{`{"child":[{"nope":{}},{"pick_first":{}}]}`, func(c typed) bool { return c.Child.Name == "pick_first" }, ""},
		{`{"child":[{"self":{}}]}`, nil, `field "child": item 0: "self" cannot be its own child`},
		{`{"child":{}}`, nil, `field "child": must be a list`},
		{`{"mode":"safe"}`, func(c typed) bool { return c.Mode == "safe" }, ""},
		{`{"mode":null}`, func(c typed) bool { return c.Mode == "fast" }, ""},
		{`{"mode":"Safe"}`, nil, `field "mode": "Safe" is not one of "fast", "safe"`},
		{`{"mode":""}`, nil, `field "mode": "" is not one of "fast", "safe"`},
	}
	for _, tt := range tests {
		t.Run(tt.js, func(t *testing.T) {
			c := defaultTyped()
			err := Decode([]byte(tt.js), &c)
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Decode = %v, want an error containing %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tt.wantErr == "" && !tt.check(c):
				t.Fatalf("Decode gave %+v", c)
			}
		})
	}
}

// Marshal writes what Decode reads: durations as strings, codes by name,
// the child as a one-item list, omitempty fields left out when zero.
func TestMarshal(t *testing.T) {
	c := defaultTyped()
	c.Grace, c.Code = 1500*time.Millisecond, codes.Unavailable
	js, err := Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"every":"1s","grace":"1.5s","percent":10,"factor":1,"floor":1,"code":"UNAVAILABLE","child":[{"round_robin":{}}],"mode":"fast"}`
	if string(js) != want {
		t.Fatalf("Marshal = %s, want %s", js, want)
	}
	c.Codes = []codes.Code{codes.Internal}
	js, _ = Marshal(c)
	back := defaultTyped()
	if err := Decode(js, &back); err != nil || back.Grace != c.Grace || back.Code != c.Code || len(back.Codes) != 1 || back.Codes[0] != codes.Internal {
		t.Fatalf("Decode(Marshal) = %+v, %v; want %+v", back, err, c)
	}
	if _, err := Marshal(typed{Code: codes.Code(99)}); err == nil {
		t.Fatal("Marshal of a code without a name: no error")
	}
}

// A range tag that does not parse is an error naming it, not a panic.
func TestBadRangeTag(t *testing.T) {
	var c struct {
		N int           `json:"n" range:"[1,x]"`
		D time.Duration `json:"d" range:"(0,soon]"`
		F float64       `json:"f" range:"[a,1]"`
	}
	for _, js := range []string{`{"n":1}`, `{"d":"1s"}`, `{"f":0.5}`} {
		if err := Decode([]byte(js), &c); err == nil || !strings.Contains(err.Error(), "range tag") {
			t.Errorf("Decode(%s) = %v, want an error naming the range tag", js, err)
		}
	}
}
