package framerelay

import (
	"fmt"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// capTimeout caps a call's grpc-timeout header at limit, in place: a call
// without one, or with a later one, gets limit. It returns the call's
// timeout then.
func capTimeout(fields []hpack.HeaderField, limit time.Duration) ([]hpack.HeaderField, time.Duration) {
	for i, f := range fields {
		if f.Name != "grpc-timeout" {
			continue
		}
		if d, ok := parseTimeout(f.Value); ok && d <= limit {
			return fields, d
		}
		fields[i].Value = encodeTimeout(limit)
		return fields, limit
	}
	return append(fields, hpack.HeaderField{Name: "grpc-timeout", Value: encodeTimeout(limit)}), limit
}

// timeoutOf returns a call's grpc-timeout, if it has one.
func timeoutOf(fields []hpack.HeaderField) (time.Duration, bool) {
	for _, f := range fields {
		if f.Name == "grpc-timeout" {
			return parseTimeout(f.Value)
		}
	}
	return 0, false
}

// parseTimeout reads gRPC's grpc-timeout: at most 8 digits and a unit.
func parseTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}[v[len(v)-1]]
	if unit == 0 {
		return 0, false
	}
	if n > int64(1<<63-1)/int64(unit) {
		return 1<<63 - 1, true
	}
	return time.Duration(n) * unit, true
}

// encodeTimeout writes d as grpc-timeout, rounded up to the unit that
// keeps it within 8 digits.
func encodeTimeout(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Millisecond, "m"}, {time.Second, "S"}, {time.Minute, "M"}} {
		if n := (d + u.unit - 1) / u.unit; n <= 99999999 {
			return fmt.Sprintf("%d%s", n, u.name)
		}
	}
	return fmt.Sprintf("%dH", min((d+time.Hour-1)/time.Hour, 99999999))
}

// expire ends call l, client stream id, with DEADLINE_EXCEEDED when its
// route's timeout has passed (see abort).
func (l *link) expire(id uint32, limit time.Duration) {
	l.abort(id, status.Errorf(codes.DeadlineExceeded, "framerelay: the route's timeout of %v passed", limit))
}

// abort ends call l, client stream id, with err, if it is still in
// flight: a call still waiting for a backend stops waiting; a connected
// one is reset on its backend. The client gets err's status, as trailers
// after any response it had.
func (l *link) abort(id uint32, err error) {
	if l.swaps() {
		l.swap.Lock()
		defer l.swap.Unlock()
	}
	c := l.client
	if c.get(id) != l {
		return // ended
	}
	if w := l.wait; w != nil && w.giveUp(l.client) {
		l.stopRaceLocked(err)
		c.forget(id)
		l.finish(err)
		st := status.Convert(err)
		c.mu.Lock()
		c.headerFrames(id, grpcStatus(int(st.Code()), st.Message()), true)
		c.unlock()
		return
	}
	c.forget(id)
	bc := l.backend
	open := bc.lookup(l.toBackend.id, true) != nil
	if open {
		l.finish(err)
	}
	l.endBackend(open, http2.ErrCodeCancel)
	l.endClient(err)
}

// pastDeadline reports whether the deadline the relay sent the backend
// has passed.
func (l *link) pastDeadline() bool {
	return !l.deadline.IsZero() && !time.Now().Before(l.deadline)
}

// endClient ends the call on the client's side with err's status, as
// trailers after any response it had, unless it has ended.
func (l *link) endClient(err error) {
	st := status.Convert(err)
	l.endClientWith(func(c *conn, id uint32) {
		trailers := grpcStatus(int(st.Code()), st.Message())
		if l.responded.Load() {
			trailers = trailers[2:] // after response headers: no :status, no content-type
		}
		c.headerFrames(id, trailers, true)
	})
}

// expireAfter ends call l, client stream id, when its route's timeout
// passes (none if limit is 0); forget stops the timer when the call ends
// first.
func (c *clientConn) expireAfter(l *link, id uint32, limit time.Duration) {
	if limit <= 0 {
		return
	}
	c.lmu.Lock()
	if c.live[id] == l {
		l.timer = time.AfterFunc(limit, func() { l.expire(id, limit) })
	}
	c.lmu.Unlock()
}
