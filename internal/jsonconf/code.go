package jsonconf

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/grpc/codes"
)

// codeNames are the status codes' names in service configs, as grpc-go's
// service-config parser knows them: CANCELLED with two Ls, unlike Go's
// codes.Canceled, whose String is "Canceled".
var codeNames = []string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}

// CodeName is c's name in a service config ("CANCELLED"), or "" for a
// code that has none.
func CodeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return ""
}

// Code is a config field holding a status code by its service-config name
// ("UNAVAILABLE").
type Code codes.Code

// UnmarshalJSON reads a status code name, or its number (0 to 16), as
// grpc-go's service config parser does.
func (c *Code) UnmarshalJSON(b []byte) error {
	var n uint32
	if json.Unmarshal(b, &n) == nil {
		if int(n) >= len(codeNames) {
			return fmt.Errorf("unknown status code %d (want 0 to %d, or a name such as \"UNAVAILABLE\")", n, len(codeNames)-1)
		}
		*c = Code(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errNotString
	}
	i := slices.Index(codeNames, s)
	if i < 0 {
		return fmt.Errorf("unknown status code %s (want names such as \"UNAVAILABLE\" or \"DEADLINE_EXCEEDED\")", Truncate(strconv.Quote(s)))
	}
	*c = Code(i)
	return nil
}

// MarshalJSON writes the code's name.
func (c Code) MarshalJSON() ([]byte, error) {
	n := CodeName(codes.Code(c))
	if n == "" {
		return nil, fmt.Errorf("status code %d has no name", int(c))
	}
	return json.Marshal(n)
}
