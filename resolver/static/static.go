package static

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvercore"
)

// Scheme is the URI scheme of this resolver's targets.
const Scheme = "static"

const (
	// DefaultInterval is the polling interval of a file target when neither
	// the target nor Options.Interval sets one.
	DefaultInterval = time.Second
	// MinInterval is the smallest polling interval allowed.
	MinInterval = 50 * time.Millisecond
	// maxFileSize bounds how much of a backends file is read, so that a
	// wrong path (a log file, a device) cannot make the resolver read
	// without end.
	maxFileSize = 4 << 20
)

// Options configures the resolvers made by a Builder from NewBuilder.
type Options struct {
	// Interval is how often a watched file is re-read when its target has
	// no interval parameter. Zero means DefaultInterval. A non-zero value
	// below MinInterval makes Build fail for such targets.
	Interval time.Duration

	// AllowEmpty, when true, publishes an empty list for a watched file
	// without addresses. When false (the default), such a file is an error:
	// the last good list is kept, or, before there is one, the error is
	// reported to the channel.
	AllowEmpty bool

	// Logger receives the resolver's log records: list changes and bad
	// re-reads of a watched file. Nil means slog.Default() at the time the
	// resolver is built.
	Logger *slog.Logger
}

func init() {
	resolver.Register(NewBuilder(Options{}))
}

// NewBuilder returns a resolver.Builder for the "static" scheme that uses
// opts. Pass it to grpc.NewClient with grpc.WithResolvers to use options
// other than the defaults of the builder registered by this package.
func NewBuilder(opts Options) resolver.Builder {
	return &builder{opts: opts}
}

type builder struct {
	opts Options
}

// Scheme returns "static".
func (b *builder) Scheme() string {
	return Scheme
}

// Build parses the target and publishes its addresses. For a file target it
// reads the file, publishes its addresses (or reports why it cannot) and
// starts watching it. Only a bad target or bad Options make Build fail.
func (b *builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	cfg, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	if cfg.file == "" {
		// The list never changes, so re-resolving cannot fix an error from
		// UpdateState; there is nothing to do with it.
		_ = cc.UpdateState(newState(cfg.addrs))
		return nopResolver{}, nil
	}

	interval := cfg.interval
	if interval == 0 {
		interval = b.opts.Interval
		if interval == 0 {
			interval = DefaultInterval
		}
		if interval < MinInterval {
			return nil, fmt.Errorf("static: Options.Interval %v is below the minimum of %v", interval, MinInterval)
		}
	}
	logger := b.opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	logger = logger.With("resolver", Scheme, "file", cfg.file)
	r := &fileResolver{
		path:       cfg.file,
		interval:   interval,
		allowEmpty: b.opts.AllowEmpty,
		logger:     logger,
		pub:        resolvercore.NewPublisher(cc, resolvercore.Config{Name: "static", Source: "reading the backends file", Logger: logger}),
		rn:         resolvercore.NewWake(),
	}
	// A file that is missing or bad now may be fixed later: report the
	// error to the channel (its calls fail with it) and keep watching.
	r.reread()
	r.loop = resolvercore.Go(r.watch)
	return r, nil
}

// nopResolver is the resolver of a fixed list: there is nothing to
// re-resolve and nothing to stop.
type nopResolver struct{}

func (nopResolver) ResolveNow(resolver.ResolveNowOptions) {}

func (nopResolver) Close() {}

// fileResolver watches a backends file by polling it.
type fileResolver struct {
	path       string
	interval   time.Duration
	allowEmpty bool
	logger     *slog.Logger
	loop       *resolvercore.Loop

	// rn asks the watcher for an immediate re-read; concurrent ResolveNow
	// calls coalesce.
	rn resolvercore.Wake

	// Owned by the watcher goroutine once it runs (by Build before).
	pub       *resolvercore.Publisher
	addrs     []string // the last list published
	hash      [sha256.Size]byte
	hashValid bool // hash is that of the content last parsed
}

// ResolveNow asks for an immediate re-read of the file.
func (r *fileResolver) ResolveNow(resolver.ResolveNowOptions) { r.rn.Signal() }

// Close stops watching the file. It returns when the watcher goroutine has
// exited; the resolver calls the ClientConn no more after that.
func (r *fileResolver) Close() { r.loop.Stop() }

func (r *fileResolver) watch(ctx context.Context) {
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-r.rn:
		}
		// select picks at random among ready cases; do not start a re-read
		// once Close has been called.
		if ctx.Err() != nil {
			return
		}
		r.reread()
	}
}

// reread reads the file and publishes its list if the list changed. On any
// problem it keeps the last good list.
func (r *fileResolver) reread() {
	content, err := readFile(r.path)
	if err != nil {
		// Parse whatever content comes next, even the same as before.
		r.hashValid = false
		r.pub.Fail(err)
		return
	}
	h := sha256.Sum256(content)
	if r.hashValid && h == r.hash {
		return
	}
	r.hash, r.hashValid = h, true
	addrs, err := r.parse(content)
	if err != nil {
		r.pub.Fail(err)
		return
	}
	if r.pub.Recovered() {
		r.logger.Info("static: backends file is good again")
	}
	added, removed := diff(r.addrs, addrs)
	st := newState(addrs)
	switch {
	case r.pub.Publish(st.Endpoints, addrs, "added", added, "removed", removed):
		r.addrs = addrs
	case slices.Equal(addrs, r.addrs):
		r.logger.Debug("static: backends file changed, the backends did not")
	}
}

// parse parses the file's content, treating an empty list as an error unless
// empty lists are allowed.
func (r *fileResolver) parse(content []byte) ([]string, error) {
	addrs, err := parseList(string(content), r.path)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 && !r.allowEmpty {
		return nil, fmt.Errorf("static: %s has no addresses (set Options.AllowEmpty to allow an empty list)", r.path)
	}
	return addrs, nil
}

// readFile reads a backends file of at most maxFileSize bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("static: reading backends file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("static: reading backends file: %w", err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("static: backends file %s is larger than %d bytes", path, maxFileSize)
	}
	return b, nil
}

// newState makes a State with one Endpoint, of one Address, per address.
func newState(addrs []string) resolver.State {
	s := resolver.State{
		Addresses: make([]resolver.Address, len(addrs)),
		Endpoints: make([]resolver.Endpoint, len(addrs)),
	}
	for i, a := range addrs {
		s.Addresses[i] = resolver.Address{Addr: a}
		s.Endpoints[i] = resolver.Endpoint{Addresses: []resolver.Address{{Addr: a}}}
	}
	return s
}

// diff returns the addresses of next not in prev, and of prev not in next.
func diff(prev, next []string) (added, removed []string) {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, a := range list {
			m[a] = true
		}
		return m
	}
	inPrev, inNext := in(prev), in(next)
	for _, a := range next {
		if !inPrev[a] {
			added = append(added, a)
		}
	}
	for _, a := range prev {
		if !inNext[a] {
			removed = append(removed, a)
		}
	}
	return added, removed
}
