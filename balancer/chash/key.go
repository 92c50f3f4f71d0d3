package chash

import "context"

type keyCtxKey struct{}

// WithKey returns a copy of ctx that carries the consistent-hashing key of
// the calls made with it. The key stays in the process: it is not sent to
// the server. Calls with the same key go to the same endpoint (while it is
// READY and, with bounded loads, has room). An empty key counts as no key.
// A key set with WithKey wins over the Config.HashHeader header.
func WithKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, keyCtxKey{}, key)
}

// keyFromContext returns the key set by WithKey, or "".
func keyFromContext(ctx context.Context) string {
	k, _ := ctx.Value(keyCtxKey{}).(string)
	return k
}
