package jsonconf

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// Marshal writes the struct v (or a pointer to one) in the form Decode
// reads: fields by their json tags, in order, time.Duration fields as
// duration strings and status codes by name; a field tagged omitempty is
// left out when it is zero. A config type's MarshalJSON calls it.
func Marshal(v any) ([]byte, error) {
	rv := reflect.Indirect(reflect.ValueOf(v))
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range rv.NumField() {
		sf, fv := rv.Type().Field(i), rv.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() || strings.Contains(opts, "omitempty") && fv.IsZero() {
			continue
		}
		if w, ok := wireTypes[fv.Type()]; ok {
			fv = convert(fv, w)
		}
		js, err := json.Marshal(fv.Interface())
		if err != nil {
			return nil, err
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(name) + ":")
		b.Write(js)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
