package lab

import (
	"context"
	"math/rand"
	"strconv"
	"sync"

	"google.golang.org/grpc/metadata"

	"github.com/grpclb/grpclb/balancer/chash"
)

// keyHeader carries the hash key for policies that read it from a header
// (grpc-go's ring_hash, or consistent_hash with hashHeader).
const keyHeader = "x-lab-key"

// withKey attaches a hash key both ways: chash.WithKey (kept in the
// process) and the x-lab-key header (sent, for ring_hash).
func withKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(chash.WithKey(ctx, key), keyHeader, key)
}

// zipfKeys draws keys "user-N" from a Zipf distribution over n keys with
// exponent s: a few keys are very hot.
func zipfKeys(s float64, n uint64, seed int64) func() string {
	var mu sync.Mutex
	z := rand.NewZipf(rand.New(rand.NewSource(seed)), s, 1, n-1)
	return func() string {
		mu.Lock()
		k := z.Uint64()
		mu.Unlock()
		return "user-" + strconv.FormatUint(k, 10)
	}
}
