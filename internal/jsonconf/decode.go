package jsonconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// Decode decodes the JSON object js into the struct dst points to, the
// way every grpclb config is read:
//   - a repeated field is an error (encoding/json would keep the last);
//   - a field that dst has no `json` tag for is an error that lists the
//     known fields, matched exactly (encoding/json would accept
//     "LOADFACTOR" for "loadFactor");
//   - null is the same as absent: the field keeps what dst held, its
//     default;
//   - a struct field is decoded by Decode too, so the same holds at every
//     level, and an error names the field's path ("slowStart.window");
//   - a field whose type has its own UnmarshalJSON (Duration, Code...) is
//     decoded by it; a time.Duration is read as a Duration (a string such
//     as "10s"), a codes.Code as a Code (a name such as "UNAVAILABLE");
//   - a number whose field has a range tag, such as `range:"[1,100]"` or
//     `range:"(0,1h]"`, is checked against it (see inRange), and a string
//     whose field has a oneof tag (`oneof:"random error"`) must be one of
//     its words.
//
// Empty input and null are an object without fields. Decode reads js once
// (linear time, however deep).
func Decode(js json.RawMessage, dst any) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("jsonconf.Decode: dst is %T, want a pointer to a struct", dst))
	}
	if len(bytes.TrimSpace(js)) == 0 {
		return nil
	}
	d := &decoder{dec: json.NewDecoder(bytes.NewReader(js))}
	if _, err := d.object(v.Elem(), ""); err != nil {
		return err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		if err != nil {
			return d.invalid(err, "")
		}
		return errors.New("config is not valid JSON: unexpected data after the config object")
	}
	return nil
}

// Defaulter is a struct that a pointer field holds: when the field is
// given, Decode allocates the struct, calls SetDefaults, then decodes the
// field's object into it, so fields the object omits keep their defaults.
type Defaulter interface{ SetDefaults() }

// FieldError is an error in one field of a config.
type FieldError struct {
	Path string // "slowStart.window"
	Err  error
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %v", e.Path, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decoder reads one config with one json.Decoder, token by token: each
// byte is read a bounded number of times, whatever the nesting.
type decoder struct{ dec *json.Decoder }

// at is err as an error of the field at path ("" for the config itself).
func at(path string, err error) error {
	if path == "" {
		return err
	}
	return &FieldError{path, err}
}

func (d *decoder) invalid(err error, path string) error {
	if path == "" {
		return fmt.Errorf("config is not valid JSON: %v", err)
	}
	return &FieldError{path, fmt.Errorf("not valid JSON: %v", err)}
}

// object decodes the object (or null) that comes next into the struct v;
// it reports whether it was null.
func (d *decoder) object(v reflect.Value, path string) (null bool, err error) {
	if null, err := d.open('{', path); null || err != nil {
		return null, err
	}
	known := jsonFields(v.Type())
	seen := make(map[string]bool)
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return false, d.invalid(err, path)
		}
		key, _ := tok.(string) // object keys are always strings
		if seen[key] {
			return false, at(path, fmt.Errorf("field %q given twice", key))
		}
		seen[key] = true
		i, ok := known.index[key]
		if !ok {
			return false, at(path, fmt.Errorf("unknown field %q (known fields: %s)", key, known.list))
		}
		p := key
		if path != "" {
			p = path + "." + key
		}
		if err := d.value(v.Field(i), p, v.Type().Field(i).Tag); err != nil {
			return false, err
		}
	}
	if _, err := d.dec.Token(); err != nil { // the closing '}'
		return false, d.invalid(err, path)
	}
	return false, nil
}

// value decodes the value that comes next into the field fv, and checks it
// against the field's tag: a number against its range (see inRange), a
// string against its oneof list of words.
// null leaves the field as it was.
func (d *decoder) value(fv reflect.Value, path string, tag reflect.StructTag) error {
	t := fv.Type()
	switch {
	case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType):
		_, err := d.object(fv, path)
		return err
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && !t.Implements(unmarshalerType):
		elem := reflect.New(t.Elem())
		if dv, ok := elem.Interface().(Defaulter); ok {
			dv.SetDefaults()
		}
		null, err := d.object(elem.Elem(), path)
		if err == nil && !null {
			fv.Set(elem)
		}
		return err
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && structish(t.Elem()):
		return d.mapOf(fv, path)
	case t.Kind() == reflect.Slice && structish(t.Elem()):
		return d.listOf(fv, path)
	}
	var raw json.RawMessage
	if err := d.dec.Decode(&raw); err != nil {
		return d.invalid(err, path)
	}
	if string(raw) == "null" {
		return nil
	}
	dst := fv.Addr()
	if w, ok := wireTypes[t]; ok {
		dst = reflect.New(w)
	}
	if err := json.Unmarshal(raw, dst.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) || errors.Is(err, errNotString) {
			return &FieldError{path, fmt.Errorf("%s is not %s", Truncate(string(raw)), describeType(t))}
		}
		return &FieldError{path, err}
	}
	if dst != fv.Addr() {
		fv.Set(convert(dst.Elem(), t))
	}
	if spec := tag.Get("range"); spec != "" {
		return inRange(path, spec, fv)
	}
	if list, ok := tag.Lookup("oneof"); ok && !slices.Contains(strings.Fields(list), fv.String()) {
		return &FieldError{path, fmt.Errorf("%s is not one of %s", Truncate(strconv.Quote(fv.String())), quoteAll(strings.Fields(list)))}
	}
	return nil
}

// quoteAll writes words as "a", "b".
func quoteAll(words []string) string {
	for i, w := range words {
		words[i] = strconv.Quote(w)
	}
	return strings.Join(words, ", ")
}

// wireTypes maps the field types that a config writes in a form of its
// own to the type that reads and writes that form: a time.Duration is a
// duration string ("10s"), a status code a name ("UNAVAILABLE").
var wireTypes = map[reflect.Type]reflect.Type{
	reflect.TypeFor[time.Duration](): reflect.TypeFor[Duration](),
	reflect.TypeFor[codes.Code]():    reflect.TypeFor[Code](),
	reflect.TypeFor[[]codes.Code]():  reflect.TypeFor[[]Code](),
}

// convert converts v to t, a list item by item.
func convert(v reflect.Value, t reflect.Type) reflect.Value {
	if t.Kind() != reflect.Slice {
		return v.Convert(t)
	}
	out := reflect.MakeSlice(t, v.Len(), v.Len())
	for i := range v.Len() {
		out.Index(i).Set(v.Index(i).Convert(t.Elem()))
	}
	return out
}

// describeType names what a field of type t takes, for an error message.
func describeType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if w, ok := wireTypes[t]; ok {
		t = w
	}
	switch t {
	case reflect.TypeFor[Duration]():
		return `a duration string such as "10s" or "250ms"`
	case reflect.TypeFor[Code]():
		return `a status code name such as "UNAVAILABLE"`
	case reflect.TypeFor[[]Code]():
		return `a list of status code names such as ["UNAVAILABLE"]`
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Slice, reflect.Array:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(describeType(t.Elem()), "an "), "a ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

type fieldSet struct {
	index map[string]int
	list  string // "\"a\", \"b\""
}

// jsonFields maps the JSON names of t's fields to their index.
func jsonFields(t reflect.Type) fieldSet {
	fs := fieldSet{index: map[string]int{}}
	var names []string
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" || name == "" || !sf.IsExported() {
			continue
		}
		fs.index[name] = i
		names = append(names, strconv.Quote(name))
	}
	fs.list = strings.Join(names, ", ")
	return fs
}

var errNotString = errors.New("not a string")

// Duration is a config field holding a duration written as a Go duration
// string: "10s", "250ms", "1m30s". Ranges are the caller's to check.
type Duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errNotString
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a duration such as \"10s\" or \"250ms\"", Truncate(strconv.Quote(s)))
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// inRange checks the number v at path against spec, a field's range tag:
// "[1,100]" for an integer or a number from 1 to 100, "(0,10]" for a
// number above 0 and at most 10, "(0,1h]" for a positive duration of at
// most an hour ("[0,1h]" takes 0 too). A tag that does not parse is an
// error naming it (a mistake in the program), never a panic.
func inRange(path, spec string, v reflect.Value) error {
	lo, hi, _ := strings.Cut(strings.Trim(spec, "[(])"), ",")
	lowOpen := strings.HasPrefix(spec, "(")
	var err error
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]() || v.Type() == reflect.TypeFor[Duration]():
		d := time.Duration(v.Int())
		max, perr := time.ParseDuration(hi)
		switch {
		case perr != nil:
			return badTag(path, spec, perr)
		case d < 0 && !lowOpen:
			err = fmt.Errorf("must not be negative, got %q", d.String())
		case d <= 0 && lowOpen:
			err = fmt.Errorf("must be positive, got %q", d.String())
		case d > max:
			err = fmt.Errorf("must be at most %v, got %q", max, d.String())
		}
	case v.CanInt():
		l, lerr := strconv.ParseInt(lo, 10, 64)
		h, herr := strconv.ParseInt(hi, 10, 64)
		if e := errors.Join(lerr, herr); e != nil {
			return badTag(path, spec, e)
		}
		if n := v.Int(); n < l || n > h {
			err = fmt.Errorf("must be an integer from %d to %d, got %d", l, h, n)
		}
	default:
		l, lerr := strconv.ParseFloat(lo, 64)
		h, herr := strconv.ParseFloat(hi, 64)
		if e := errors.Join(lerr, herr); e != nil {
			return badTag(path, spec, e)
		}
		if f := v.Float(); !(f > l || !lowOpen && f == l) || !(f <= h) {
			err = fmt.Errorf("must be in %s%s, %s], got %v", spec[:1], lo, hi, f)
		}
	}
	if err != nil {
		return &FieldError{path, err}
	}
	return nil
}

// badTag is the error of a range tag that does not parse.
func badTag(path, spec string, err error) error {
	return &FieldError{path, fmt.Errorf("grpclb bug: range tag %q does not parse: %v", spec, err)}
}

// open reads the opening delim ('{' or '[') of the value at path, or null.
func (d *decoder) open(delim json.Delim, path string) (null bool, err error) {
	tok, err := d.dec.Token()
	if err != nil {
		return false, d.invalid(err, path)
	}
	switch tok {
	case nil:
		return true, nil
	case delim:
		return false, nil
	}
	want := "a list"
	if delim == '{' {
		want = "a JSON object"
	}
	if path == "" {
		return false, fmt.Errorf("config must be %s, got %s", want, DescribeToken(tok))
	}
	return false, &FieldError{path, fmt.Errorf("must be %s, got %s", want, DescribeToken(tok))}
}

// structish reports a struct, or a pointer to one, that Decode reads
// field by field (it has no UnmarshalJSON of its own).
func structish(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		return t.Elem().Kind() == reflect.Struct && !t.Implements(unmarshalerType)
	}
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType)
}

// mapOf decodes an object of structs keyed by name: each value's path is
// path.key.
func (d *decoder) mapOf(fv reflect.Value, path string) error {
	if null, err := d.open('{', path); null || err != nil {
		return err
	}
	if fv.IsNil() {
		fv.Set(reflect.MakeMap(fv.Type()))
	}
	seen := make(map[string]bool)
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return d.invalid(err, path)
		}
		key, _ := tok.(string)
		if seen[key] {
			return &FieldError{path, fmt.Errorf("%q given twice", key)}
		}
		seen[key] = true
		elem := reflect.New(fv.Type().Elem()).Elem()
		if err := d.value(elem, path+"."+key, ""); err != nil {
			return err
		}
		fv.SetMapIndex(reflect.ValueOf(key).Convert(fv.Type().Key()), elem)
	}
	if _, err := d.dec.Token(); err != nil {
		return d.invalid(err, path)
	}
	return nil
}

// listOf decodes a list of structs: each item's path is path[i].
func (d *decoder) listOf(fv reflect.Value, path string) error {
	if null, err := d.open('[', path); null || err != nil {
		return err
	}
	list := reflect.MakeSlice(fv.Type(), 0, 0)
	for i := 0; d.dec.More(); i++ {
		elem := reflect.New(fv.Type().Elem()).Elem()
		if err := d.value(elem, fmt.Sprintf("%s[%d]", path, i), ""); err != nil {
			return err
		}
		list = reflect.Append(list, elem)
	}
	if _, err := d.dec.Token(); err != nil {
		return d.invalid(err, path)
	}
	fv.Set(list)
	return nil
}
