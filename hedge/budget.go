package hedge

import "sync/atomic"

// tokenUnit is one token in the budget's fixed-point units.
const tokenUnit = 1_000_000

// budget is a token bucket: each hedged call deposits a fraction of a token
// (the Budget ratio), each extra attempt withdraws a whole one, and the
// bucket holds at most burst tokens. It starts full. Over any stretch of
// time, withdrawals ≤ burst + ratio × deposits.
type budget struct {
	tokens  atomic.Int64 // in tokenUnit
	max     int64
	deposit int64
}

func newBudget(ratio float64, burst int) *budget {
	b := &budget{max: int64(burst) * tokenUnit, deposit: roundTokens(ratio)}
	b.tokens.Store(b.max)
	return b
}

// add deposits one call's share.
func (b *budget) add() {
	for {
		t := b.tokens.Load()
		if t >= b.max {
			return
		}
		if b.tokens.CompareAndSwap(t, min(t+b.deposit, b.max)) {
			return
		}
	}
}

// take withdraws one token for an extra attempt, if there is one.
func (b *budget) take() bool {
	for {
		t := b.tokens.Load()
		if t < tokenUnit {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-tokenUnit) {
			return true
		}
	}
}
