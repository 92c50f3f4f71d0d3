package resolvercore

import (
	"errors"
	"log/slog"
	"slices"

	"google.golang.org/grpc/resolver"
)

// Config names a resolver for its log lines and says how it treats an
// empty answer.
type Config struct {
	// Name prefixes log lines: "consul".
	Name string
	// Source is what fails, for log lines: "query" gives "consul: query
	// failed; keeping the last good set".
	Source string
	// PublishEmpty publishes an empty answer (after a set was published
	// once); false keeps the last good set instead.
	PublishEmpty bool
	// Logger receives the log lines; nil discards them.
	Logger *slog.Logger
}

// Publisher decides what a resolver tells its channel. It is not safe for
// concurrent use: one goroutine of the resolver owns it.
type Publisher struct {
	cc  resolver.ClientConn
	cfg Config
	log *slog.Logger

	accepted []string // fingerprint of the set the channel last accepted; nil: none
	ever     bool     // a set (even an empty one) was accepted once
	problem  string   // the problem last logged, "" when none
	reported string   // the error last reported since the last accepted set
}

// NewPublisher returns a Publisher for cc.
func NewPublisher(cc resolver.ClientConn, cfg Config) *Publisher {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cc: cc, cfg: cfg, log: log}
}

// HaveGood reports whether the channel holds a non-empty set from this
// resolver.
func (p *Publisher) HaveGood() bool { return len(p.accepted) > 0 }

// Published reports how many endpoints the channel holds from this
// resolver.
func (p *Publisher) Published() int { return len(p.accepted) }

// Publish sends eps to the channel, unless fp (one comparable string per
// endpoint, in the order of eps) equals the fingerprint of the set the
// channel last accepted. args are logged with the change. An empty eps is
// published as it is: call Empty for an answer that should not be. It
// reports whether the channel accepted a new set.
func (p *Publisher) Publish(eps []resolver.Endpoint, fp []string, args ...any) bool {
	if fp == nil {
		fp = []string{}
	}
	if p.accepted != nil && slices.Equal(fp, p.accepted) {
		return false // nothing changed; do not churn the balancer
	}
	state := resolver.State{Endpoints: eps, Addresses: make([]resolver.Address, 0, len(eps))}
	for _, ep := range eps {
		state.Addresses = append(state.Addresses, ep.Addresses...)
	}
	if err := p.cc.UpdateState(state); err != nil {
		// The balancer refused the set: forget what it held, so that the
		// next answer is sent even if it is the same.
		p.note(p.cfg.Name+": the channel rejected the endpoint set", append([]any{"err", err, "endpoints", len(eps)}, args...)...)
		p.accepted = nil
		return false
	}
	p.log.Info(p.cfg.Name+": endpoint set changed", append([]any{"endpoints", len(eps), "was", len(p.accepted)}, args...)...)
	p.accepted, p.ever, p.reported = fp, true, ""
	return true
}

// Empty handles an answer with no usable endpoint; why says so, in the
// words callers should see. Until a set was published, why is reported
// alone; then the last good set is kept, or, with PublishEmpty, the empty
// set is published and why reported after it.
func (p *Publisher) Empty(why error) {
	switch {
	case !p.ever:
		p.note(why.Error() + "; no set published yet")
		p.report(why)
	case !p.cfg.PublishEmpty && p.HaveGood():
		p.note(why.Error()+"; keeping the last good set", "endpoints", len(p.accepted))
	case !p.cfg.PublishEmpty:
		p.note(why.Error() + "; no endpoints to keep")
		p.report(why)
	default:
		if p.accepted == nil || len(p.accepted) > 0 {
			p.note(why.Error() + "; publishing the empty set")
			p.Publish(nil, nil)
		}
		p.report(why)
	}
}

// Fail handles a source that could not be read: the last good set is
// kept, and err, in the words callers should see, is reported while there
// is none.
func (p *Publisher) Fail(err error) {
	if p.HaveGood() {
		p.note(p.cfg.Name+": "+p.cfg.Source+" failed; keeping the last good set", "err", err, "endpoints", len(p.accepted))
		return
	}
	p.note(p.cfg.Name+": "+p.cfg.Source+" failed and no endpoints are known", "err", err)
	p.report(err)
}

// Recovered reports whether a problem was logged since the source last
// answered well, and forgets it: the caller logs the recovery in its own
// words. Call it after every good answer.
func (p *Publisher) Recovered() bool {
	was := p.problem != ""
	p.problem = ""
	return was
}

// note logs msg once while it stays the current problem.
func (p *Publisher) note(msg string, args ...any) {
	key := msg
	for _, a := range args {
		if err, ok := a.(error); ok {
			key += "\x00" + err.Error()
		}
	}
	if key == p.problem {
		return
	}
	p.problem = key
	p.log.Warn(msg, args...)
}

// report tells the channel err, unless it was the last error reported
// since the channel last accepted a set.
func (p *Publisher) report(err error) {
	if err.Error() == p.reported {
		return
	}
	p.reported = err.Error()
	p.cc.ReportError(err)
}

// ErrEmpty is a convenient why for Empty when the source has no words of
// its own.
var ErrEmpty = errors.New("no endpoints")
