package resolvercore

import (
	"fmt"

	"google.golang.org/grpc/resolver"
)

// TargetChecker is a resolver.Builder that can check a target without
// building a resolver: every builder NewBuilder returns is one. A proxy or
// a config loader calls it so that a malformed target is a config error
// at load time, not a channel that fails every call later.
type TargetChecker interface {
	CheckTarget(resolver.Target) error
}

// CheckTarget parses t and fills in its defaults as Build does, and
// returns Build's error for them; it starts nothing.
func (b *builder[T]) CheckTarget(t resolver.Target) error {
	pt, err := b.parse(t.URL)
	if err == nil {
		_, err = pt.WithDefaults()
	}
	if err != nil {
		return fmt.Errorf("%s: target %q: %w", b.scheme, t.URL.String(), err)
	}
	return nil
}
