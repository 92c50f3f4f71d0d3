package framerelay

import (
	"slices"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/grpclb/grpclb/hedge"
)

// hedging is what a call of a route that hedges (Route.Hedge) keeps while
// its attempts race. Its request is held whole, as a retried call's is;
// the first attempt goes to the backend the cluster's policy picks, and
// each later one, to the backend it picks then, after the Hedger's delay
// (at once after an attempt failed with a non-fatal code), while the
// Hedger's budget allows. The first attempt to send response headers, or
// to end with a fatal status, wins: the others are reset on their
// backends. Until then the attempts live in their connections' attempts,
// not streams, and the call waits (a reset or a timeout gives up on all
// of them). Under the link's swap.
type hedging struct {
	call   *hedge.Call
	info   balancer.PickInfo
	fields []hpack.HeaderField // the request headers, as first sent
	end    bool                // the headers ended the request
	cid    uint32
	racing []*attempt // sent and not ended
	// picking counts the attempts whose backend is being picked.
	picking int
	sent    int
	over    bool // an attempt won, or the call ended
	timer   *time.Timer
	lastErr error // the last non-fatal failure, the call's if none wins
}

// attempt is one copy of a hedged call, until one of them wins.
type attempt struct {
	l    *link
	n    int // 0 for the first
	bc   *backendConn
	h    *half // the request's half towards bc
	done func(balancer.DoneInfo)
}

// errLostRace is how an attempt that lost to another ends for its policy.
var errLostRace = status.Error(codes.Canceled, "framerelay: another attempt of the hedged call answered first")

// swaps reports whether call l changes attempts, which swap serialises.
func (l *link) swaps() bool { return l.retry != nil || l.hedge != nil }

// hedgePicked is told the pick of one of hedged call l's attempts: it
// sends the attempt, unless the call is over; a pick error ends the call
// if no other attempt can answer it.
func (r *Relay) hedgePicked(l *link, bc *backendConn, done func(balancer.DoneInfo), err error) {
	l.swap.Lock()
	defer l.swap.Unlock()
	hg := l.hedge
	hg.picking--
	switch {
	case hg.over || l.wait.isGivenUp():
		if done != nil {
			done(balancer.DoneInfo{Err: status.Error(codes.Canceled, "framerelay: the call ended before its attempt was sent")})
		}
	case err != nil:
		if hg.lastErr == nil {
			hg.lastErr = l.cl.unreached(err)
		}
		l.settleLocked()
	default:
		r.sendAttemptLocked(l, bc, done)
	}
}

// pickAttempt picks the backend of one of hedged call l's attempts and
// sends it.
func (r *Relay) pickAttempt(l *link) {
	bc, done, err := l.cl.pickConn(l.hedge.info, maxPickWait, l.wait.stop)
	r.hedgePicked(l, bc, done, err)
}

// sendAttemptLocked sends hedged call l's next attempt to bc: its
// headers (a later attempt's with grpc-previous-rpc-attempts and what is
// left of the deadline) and the request it keeps. Then it arms the delay
// before the next attempt.
func (r *Relay) sendAttemptLocked(l *link, bc *backendConn, done func(balancer.DoneInfo)) {
	hg, w, c := l.hedge, l.wait, l.client
	a := &attempt{l: l, n: hg.sent, bc: bc, done: done}
	fields := hg.fields
	if a.n > 0 {
		fields = replayFields(hg.fields, l.deadline, a.n)
	}
	hg.sent++
	hg.racing = append(hg.racing, a)
	w.mu.Lock()
	bc.mu.Lock()
	bid := bc.nextID
	bc.nextID += 2
	a.h = bc.openLocked(bid, c.conn, hg.cid)
	bc.smu.Lock()
	gone := bc.gone
	if !gone {
		bc.attempts[bid] = a
	}
	bc.smu.Unlock()
	if gone {
		a.h.finishLocked()
	} else {
		a.h.writeHeadersLocked(fields, hg.end)
		w.resendLocked(a.h)
	}
	bc.unlock()
	w.mu.Unlock()
	if gone { // lost the race with the connection's end: not sent
		r.attemptFailedLocked(a, status.Error(codes.Unavailable, "framerelay: backend connection closed"))
		return
	}
	l.armHedgeLocked(r)
}

// armHedgeLocked starts the delay before hedged call l's next attempt,
// unless none may follow or the call's deadline comes first.
func (l *link) armHedgeLocked(r *Relay) {
	hg := l.hedge
	if hg.over || !hg.call.More() {
		return
	}
	delay := hg.call.Delay()
	if !l.deadline.IsZero() && time.Until(l.deadline) <= delay {
		return
	}
	if hg.timer != nil {
		hg.timer.Stop()
	}
	hg.timer = time.AfterFunc(delay, func() {
		l.swap.Lock()
		next := l.nextLocked()
		l.swap.Unlock()
		if next {
			r.pickAttempt(l)
		}
	})
}

// nextLocked reports whether hedged call l sends another attempt now (the
// call goes on, and the Hedger allows it); the caller picks its backend.
func (l *link) nextLocked() bool {
	hg := l.hedge
	if hg.over || l.wait.isGivenUp() || !hg.call.Extra() {
		return false
	}
	hg.picking++
	return true
}

// attemptFailed is told that attempt a ended, from its backend's side,
// with err before any response headers (taken out of its connection's
// attempts already).
func (r *Relay) attemptFailed(a *attempt, err error) {
	a.l.swap.Lock()
	defer a.l.swap.Unlock()
	r.attemptFailedLocked(a, err)
}

// attemptFailedLocked ends attempt a with err: a fatal status ends the
// call with it; a non-fatal one sends the next attempt at once, if the
// Hedger allows, or ends the call if no attempt is left to answer it.
func (r *Relay) attemptFailedLocked(a *attempt, err error) {
	l := a.l
	hg := l.hedge
	i := slices.Index(hg.racing, a)
	if i < 0 {
		return // ended already: the call is over
	}
	hg.racing = slices.Delete(hg.racing, i, i+1)
	a.stop(err, false)
	if hg.over {
		return
	}
	if !hg.call.NonFatal(status.Code(err)) {
		hg.call.End(a.n, err)
		l.endRaceLocked(err)
		return
	}
	hg.call.Failed(a.n)
	hg.lastErr = err
	if l.nextLocked() {
		go r.pickAttempt(l)
	}
	l.settleLocked()
}

// settleLocked ends hedged call l with its last failure once no attempt
// races or is being picked.
func (l *link) settleLocked() {
	hg := l.hedge
	if !hg.over && len(hg.racing) == 0 && hg.picking == 0 {
		l.endRaceLocked(hg.lastErr)
	}
}

// endRaceLocked ends hedged call l, which no attempt answered, with err:
// the attempts still racing are reset, and the client gets err's status.
func (l *link) endRaceLocked(err error) {
	if err == nil { // not expected: every way here records a failure
		err = status.Error(codes.Unavailable, "framerelay: no attempt of the hedged call answered")
	}
	l.stopRaceLocked(err)
	w := l.wait
	w.mu.Lock()
	if !w.gaveUp {
		l.endWaiting(l.hedge.cid, err)
	}
	w.mu.Unlock()
}

// stopRaceLocked ends hedged call l's race (if it is one): no attempt
// follows, and those racing are reset, told err.
func (l *link) stopRaceLocked(err error) {
	hg := l.hedge
	if hg == nil {
		return
	}
	hg.over = true
	if hg.timer != nil {
		hg.timer.Stop()
	}
	for _, a := range hg.racing {
		a.stop(err, true)
	}
	hg.racing = nil
}

// stop ends attempt a and tells its policy err. Its stream is reset if
// live (the backend has not ended it), or if the relay has not finished
// sending the request (the backend answered before reading it all).
func (a *attempt) stop(err error, live bool) {
	bc, h := a.bc, a.h
	bc.smu.Lock()
	delete(bc.attempts, h.id)
	idle := bc.draining && bc.idleLocked()
	bc.smu.Unlock()
	bc.mu.Lock()
	if live || !h.done {
		bc.fr.WriteRSTStream(h.id, http2.ErrCodeCancel)
	}
	if !h.done {
		h.dropLocked() // kept data: no window to give
		h.finishLocked()
	}
	bc.unlock()
	if idle {
		bc.close()
	}
	if a.done != nil {
		a.done(balancer.DoneInfo{Err: err, BytesSent: true})
	}
}

// win makes attempt a, whose backend sent response headers (trailers if
// end, with err), the call's: the other attempts are reset, and the call
// is relayed as any other from now on. False if the call is over (a lost
// the race, or the call ended).
func (a *attempt) win(err error) bool {
	l := a.l
	l.swap.Lock()
	defer l.swap.Unlock()
	hg, w := l.hedge, l.wait
	if hg.over || !slices.Contains(hg.racing, a) {
		return false
	}
	w.mu.Lock()
	if w.gaveUp {
		w.mu.Unlock()
		return false
	}
	w.connected = true
	w.mu.Unlock()
	hg.racing = slices.DeleteFunc(hg.racing, func(b *attempt) bool { return b == a })
	l.stopRaceLocked(errLostRace)
	hg.call.End(a.n, err)

	bc := a.bc
	bc.smu.Lock()
	delete(bc.attempts, a.h.id)
	bc.streams[a.h.id] = l
	bc.smu.Unlock()
	l.backend, l.toBackend, l.done = bc, a.h, a.done
	c := l.client
	c.mu.Lock()
	l.toClient = c.openLocked(hg.cid, bc.conn, 0)
	l.toClient.fromID = a.h.id
	c.mu.Unlock()
	return true
}

// answered handles response headers (trailers if end) for attempt a, on
// its backend's read loop: a non-fatal status fails the attempt; else it
// tries to win the call. It reports whether the headers are the call's,
// to relay.
func (bc *backendConn) answered(r *Relay, a *attempt, fields []hpack.HeaderField, end bool) bool {
	var err error
	if end {
		err = trailerErr(fields)
		if err != nil && a.l.hedge.call.NonFatal(status.Code(err)) {
			bc.takeAttempt(a.h.id)
			r.attemptFailed(a, err)
			return false
		}
	}
	return a.win(err)
}

// takeAttempt returns and forgets the racing attempt of stream id.
func (bc *backendConn) takeAttempt(id uint32) *attempt {
	bc.smu.Lock()
	a := bc.attempts[id]
	delete(bc.attempts, id)
	bc.smu.Unlock()
	return a
}

// idleLocked reports whether the connection carries no call (under smu).
func (bc *backendConn) idleLocked() bool { return len(bc.streams) == 0 && len(bc.attempts) == 0 }

// isGivenUp reports whether the call gave up waiting.
func (w *pending) isGivenUp() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gaveUp
}
