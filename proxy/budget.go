package proxy

import (
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"google.golang.org/grpc/mem"
)

// budgetPool bounds the bytes of messages the proxy holds: the buffers
// gRPC reads DATA frames into, on the client side of the proxy and on its
// clusters' side, come from it, and stay taken until the message they
// hold has been written out (or its call ended). A frame that would take
// the total over the budget waits for buffers to come back, so the
// connection it arrives on stops being read, and HTTP/2 and TCP flow
// control push back on its sender instead of the proxy buffering.
//
// gRPC does not give back every buffer: the frames a stream had received
// but not read when it ended are left to the garbage collector. So the
// pool remembers the buffers that are out by weak pointer, and a Get that
// has to wait first forgets those the collector has freed.
//
// A wait lasts at most maxWait: the connection's reader also handles its
// pings, window updates and cancellations, which must not wait for other
// connections' calls. After maxWait the frame is read over the budget (and
// counted), so a connection whose calls are all stuck behind the budget
// still reads a frame per maxWait (100ms), and sees its cancellations
// within seconds.
type budgetPool struct {
	inner   mem.BufferPool
	max     int64
	maxWait time.Duration

	used    atomic.Int64 // bytes of the buffers out of the pool
	waiting atomic.Int32 // Gets waiting for buffers to come back
	onWait  func(overrun bool)
	out     sync.Map     // weak.Pointer[[]byte] → int64: the buffers out, and their size
	swept   atomic.Int64 // unix nanoseconds of the last forgetCollected of a wait

	mu    sync.Mutex
	freed chan struct{} // closed by the next Put while Gets wait
}

// defaultBudgetWait is budgetPool.maxWait.
const defaultBudgetWait = 100 * time.Millisecond

func newBudgetPool(max int64, onWait func(overrun bool)) *budgetPool {
	return &budgetPool{inner: mem.DefaultBufferPool(), max: max, maxWait: defaultBudgetWait, onWait: onWait}
}

// Get returns a buffer of length n once the budget has room for it, or
// after maxWait.
func (b *budgetPool) Get(n int) *[]byte {
	if b.used.Load()+int64(n) > b.max {
		b.wait(int64(n))
	}
	buf := b.inner.Get(n)
	size := int64(cap(*buf))
	b.out.Store(weak.Make(buf), size)
	b.used.Add(size)
	return buf
}

// Put takes a buffer back and wakes the Gets waiting for room.
func (b *budgetPool) Put(buf *[]byte) {
	if size, ok := b.out.LoadAndDelete(weak.Make(buf)); ok {
		b.used.Add(-size.(int64))
	}
	b.inner.Put(buf)
	if b.waiting.Load() > 0 {
		b.mu.Lock()
		if b.freed != nil {
			close(b.freed)
			b.freed = nil
		}
		b.mu.Unlock()
	}
}

// wait returns once n more bytes fit in the budget (or nothing is out,
// for a buffer larger than the budget), or after maxWait.
func (b *budgetPool) wait(n int64) {
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	timer := time.NewTimer(b.maxWait)
	defer timer.Stop()
	poll := time.NewTicker(b.maxWait / 4)
	defer poll.Stop()
	for {
		if now, last := time.Now().UnixNano(), b.swept.Load(); now-last >= int64(b.maxWait) && b.swept.CompareAndSwap(last, now) {
			b.forgetCollected() // once per maxWait, however many connections wait
		}
		b.mu.Lock()
		if used := b.used.Load(); used+n <= b.max || used == 0 {
			b.mu.Unlock()
			b.onWait(false)
			return
		}
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-poll.C: // the collector may have freed buffers gRPC dropped
		case <-timer.C:
			b.onWait(true)
			return
		}
	}
}

// forgetCollected forgets the buffers out of the pool that the garbage
// collector has freed.
func (b *budgetPool) forgetCollected() {
	b.out.Range(func(k, size any) bool {
		if k.(weak.Pointer[[]byte]).Value() == nil && b.out.CompareAndDelete(k, size) {
			b.used.Add(-size.(int64))
		}
		return true
	})
}

// Used returns the bytes of the buffers out of the pool, once those the
// collector has freed are forgotten.
func (b *budgetPool) Used() int64 {
	b.forgetCollected()
	return b.used.Load()
}
