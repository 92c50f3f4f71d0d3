package proxy

import "sync"

// requestWorkers run the request side of calls (client → upstream) on
// reused goroutines, for the same reason grpc.NumStreamWorkers runs
// handlers on reused goroutines: a fresh goroutine's stack grows, by
// copying, on every call. When every worker is busy a call gets a new
// goroutine.
type requestWorkers struct {
	calls chan *call
	once  sync.Once
}

// workerResetThreshold: a worker hands over to a fresh goroutine after
// this many calls, so that a stack grown by an unusual call does not stay
// forever.
const workerResetThreshold = 1 << 16

func newRequestWorkers(n int) *requestWorkers {
	w := &requestWorkers{calls: make(chan *call)}
	for range n {
		go w.work()
	}
	return w
}

func (w *requestWorkers) work() {
	for range workerResetThreshold {
		c, ok := <-w.calls
		if !ok {
			return
		}
		c.runRequests()
	}
	go w.work()
}

// start runs c's request side.
func (w *requestWorkers) start(c *call) {
	select {
	case w.calls <- c:
	default:
		go c.runRequests()
	}
}

// stop ends the idle workers; call it once no call can start.
func (w *requestWorkers) stop() { w.once.Do(func() { close(w.calls) }) }
