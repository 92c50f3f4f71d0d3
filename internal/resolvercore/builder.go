package resolvercore

import (
	"fmt"
	"net/url"

	"google.golang.org/grpc/resolver"
)

// NewBuilder returns the resolver.Builder of scheme: Build parses the
// target's URL with parse (options and defaults applied) and starts a
// resolver with start; an error of either names the scheme and the target.
func NewBuilder[T any](scheme string, parse func(url.URL) (T, error), start func(t T, cc resolver.ClientConn, target string) (resolver.Resolver, error)) resolver.Builder {
	return &builder[T]{scheme: scheme, parse: parse, start: start}
}

type builder[T any] struct {
	scheme string
	parse  func(url.URL) (T, error)
	start  func(T, resolver.ClientConn, string) (resolver.Resolver, error)
}

func (b *builder[T]) Scheme() string { return b.scheme }

func (b *builder[T]) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	target := t.URL.String()
	pt, err := b.parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: target %q: %w", b.scheme, target, err)
	}
	r, err := b.start(pt, cc, target)
	if err != nil {
		return nil, fmt.Errorf("%s: target %q: %w", b.scheme, target, err)
	}
	return r, nil
}
