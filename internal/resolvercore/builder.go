package resolvercore

import (
	"fmt"
	"net/url"

	"google.golang.org/grpc/resolver"
)

// Target is a resolver's parsed target, T itself: its options are the
// builder's overridden by the target's query, and WithDefaults returns it
// with the zero ones filled in and the rest checked.
type Target[T any] interface {
	WithDefaults() (T, error)
}

// NewBuilder returns the resolver.Builder of scheme: Build parses the
// target's URL with parse, fills in the options' defaults (WithDefaults)
// and starts a resolver with start; an error of any step names the scheme
// and the target.
func NewBuilder[T Target[T]](scheme string, parse func(url.URL) (T, error), start func(t T, cc resolver.ClientConn, target string) (resolver.Resolver, error)) resolver.Builder {
	return &builder[T]{scheme: scheme, parse: parse, start: start}
}

type builder[T Target[T]] struct {
	scheme string
	parse  func(url.URL) (T, error)
	start  func(T, resolver.ClientConn, string) (resolver.Resolver, error)
}

func (b *builder[T]) Scheme() string { return b.scheme }

func (b *builder[T]) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	target := t.URL.String()
	pt, err := b.parse(t.URL)
	if err == nil {
		pt, err = pt.WithDefaults()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: target %q: %w", b.scheme, target, err)
	}
	r, err := b.start(pt, cc, target)
	if err != nil {
		return nil, fmt.Errorf("%s: target %q: %w", b.scheme, target, err)
	}
	return r, nil
}
