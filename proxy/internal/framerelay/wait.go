package framerelay

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// pending is a call waiting for its cluster's policy to offer a backend.
// It waits on a goroutine of its own, not on its client connection's read
// loop, so that the connection's other calls go on; the DATA the client
// sends meanwhile is held (at most the stream window the relay granted)
// and sent after the headers once the call is connected.
type pending struct {
	mu        sync.Mutex
	connected bool          // the link's halves are set: relay as usual
	gaveUp    bool          // the client reset the call or left
	stop      chan struct{} // closed when gaveUp
	held      []heldData
	size      int64 // flow-controlled bytes held

	// keep: the call's route retries (see RetryPolicy): its request is
	// held whole before the first attempt (complete is closed once it
	// is, whole set) and kept, with its window, to be sent again, until
	// the call commits or ends.
	keep     bool
	whole    bool
	complete chan struct{}
	// kept is the connection window the kept request holds (keep only):
	// given back once, by whoever swaps it to 0 first.
	kept atomic.Int64
}

// releaseLocked drops the held data and returns the connection window it
// held, for the caller to give back (under mu).
func (w *pending) releaseLocked() int64 {
	n := w.size
	if w.keep {
		n = w.kept.Swap(0)
	}
	w.held, w.size = nil, 0
	return n
}

// heldData is a DATA frame's payload held while its call waits.
type heldData struct {
	data []byte
	size int64 // the frame's flow-controlled size (payload and padding)
	end  bool
}

// hold keeps a copy of DATA frame f (under mu); false if the client sent
// more than the stream window it was given.
func (w *pending) hold(f *http2.DataFrame) bool {
	w.size += int64(f.Length)
	if w.size > StreamWindow {
		return false
	}
	if w.keep {
		w.kept.Add(int64(f.Length))
	}
	w.held = append(w.held, heldData{data: bytes.Clone(f.Data()), size: int64(f.Length), end: f.StreamEnded()})
	return true
}

// sendLocked writes the held data on h, the call's half towards its
// backend (under h.c.mu), and returns what to give back to the client
// for it: the bytes written now and the padding.
func (w *pending) sendLocked(h *half) []grant {
	if w.keep {
		w.resendLocked(h)
		w.connected = true
		return nil
	}
	h.recvWin.Add(-w.size) // taken from the client's window while held
	var grants []grant
	for _, d := range w.held {
		if d.end {
			h.fromOpen.Store(false)
		}
		n := len(d.data)
		if !h.done {
			n = h.writeDataLocked(d.data, d.end, false)
		}
		if g := n + int(d.size) - len(d.data); g > 0 {
			grants = append(grants, grant{h, g})
		}
	}
	w.held = nil
	w.connected = true
	return grants
}

// resendLocked writes the request the call keeps (keep) on h, an
// attempt's half towards its backend (under mu and h.c.mu).
func (w *pending) resendLocked(h *half) {
	h.keepsWindow = true
	h.fromOpen.Store(false) // the request is whole: no stream window to give
	for _, d := range w.held {
		if !h.done {
			h.writeDataLocked(d.data, d.end, true)
		}
	}
}

// giveUp ends the wait of a call that will not be connected (its client
// reset it, its timeout passed); false if the call is already connected,
// and must be ended on its backend. The held data's connection window
// goes back to c.
func (w *pending) giveUp(c *clientConn) bool {
	w.mu.Lock()
	if w.connected {
		w.mu.Unlock()
		return false
	}
	var held int64
	if !w.gaveUp {
		w.gaveUp = true
		close(w.stop)
		held = w.releaseLocked()
	}
	w.mu.Unlock()
	if held > 0 {
		c.giveConn(held)
	}
	return true
}

// endWaiting ends call l, client stream cid, which waited for a backend
// and got none, with err, under l.wait.mu: its held data is dropped and
// its window given back.
func (l *link) endWaiting(cid uint32, err error) {
	w, c := l.wait, l.client
	w.gaveUp = true
	close(w.stop)
	c.giveConn(w.releaseLocked())
	c.forget(cid)
	l.finish(err)
	c.mu.Lock()
	c.headerFrames(cid, grpcStatusOf(err), true)
	c.unlock()
}

// wait waits, on a goroutine, for cl's policy to offer a backend for
// call l, client stream cid (request headers fields, and end if they
// ended the client's side), then connects it; or answers the client with
// the pick's error. The route's timeout, if any, bounds the wait too.
func (r *Relay) wait(l *link, cl *cluster, cid uint32, info balancer.PickInfo, fields []hpack.HeaderField, end bool, timeout time.Duration) {
	c, w := l.client, l.wait
	if !c.register(cid, l, r.limits.MaxConcurrentStreams) {
		l.finish(errRefused)
		c.refuse(cid)
		return
	}
	c.expireAfter(l, cid, timeout) // while it waits too
	r.waiting.Add(1)
	go func() {
		defer r.waiting.Add(-1)
		if w.keep {
			select { // for the whole request
			case <-w.complete:
			case <-w.stop:
			}
		}
		bc, done, err := cl.pickConn(info, maxPickWait, w.stop)
		if l.hedge != nil {
			r.hedgePicked(l, bc, done, err)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if l.pickedLocked(cid, done, err) {
			r.connect(l, cid, fields, end, bc, done, w)
		}
	}()
}

// pickedLocked settles a pick made for call l, client stream cid, while
// it waited (under l.wait.mu): if the call was given up meanwhile, the
// policy hears that its pick went unused; a pick error ends the call. It
// reports whether to connect the call to the pick.
func (l *link) pickedLocked(cid uint32, done func(balancer.DoneInfo), err error) bool {
	switch {
	case l.wait.gaveUp:
		if done != nil {
			done(balancer.DoneInfo{Err: status.Error(codes.Canceled, "framerelay: the client reset the call")})
		}
		return false
	case err != nil:
		l.endWaiting(cid, l.cl.unreached(err))
		return false
	}
	return true
}
