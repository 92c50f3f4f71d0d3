package resolvercore

import "log/slog"

// Problems logs the items a resolver skips (a bad registry entry, a
// duplicate address, a slice of the wrong type) once each while they stay
// wrong. A resolver notes every problem it sees while building a set, then
// calls Done: a problem noted in the previous round is not logged again,
// one that went away is forgotten (and logged again if it comes back).
type Problems struct {
	log       *slog.Logger
	prev, cur map[string]bool
}

// NewProblems returns a Problems that logs to log (nil discards).
func NewProblems(log *slog.Logger) *Problems {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Problems{log: log, prev: map[string]bool{}, cur: map[string]bool{}}
}

// Note records the problem named key (include what identifies its
// version, such as a revision, so that a changed value is logged anew) and
// logs msg with args unless it was already current.
func (p *Problems) Note(key, msg string, args ...any) {
	if !p.prev[key] && !p.cur[key] {
		p.log.Warn(msg, args...)
	}
	p.cur[key] = true
}

// Done ends a round: the problems noted in it are the current ones.
func (p *Problems) Done() {
	p.prev, p.cur = p.cur, make(map[string]bool, len(p.cur))
}
