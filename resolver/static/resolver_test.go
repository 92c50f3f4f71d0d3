package static

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/resolver"

	"github.com/grpclb/grpclb/internal/resolvertest"
	"github.com/grpclb/grpclb/internal/wait"
)

// These tests drive a resolver directly and record what it tells its
// ClientConn, to check what it publishes, and what it does not, exactly.
// e2e_test.go checks the same behaviour through a real grpc.ClientConn.

// stateAddrs returns the addresses of s, after checking that Endpoints and
// Addresses agree: one endpoint of one address per address.
func stateAddrs(t *testing.T, s resolver.State) []string {
	t.Helper()
	addrs := []string{}
	for _, a := range s.Addresses {
		addrs = append(addrs, a.Addr)
	}
	if len(s.Endpoints) != len(s.Addresses) {
		t.Fatalf("state has %d endpoints and %d addresses", len(s.Endpoints), len(s.Addresses))
	}
	for i, ep := range s.Endpoints {
		if len(ep.Addresses) != 1 || ep.Addresses[0].Addr != addrs[i] {
			t.Fatalf("endpoint %d is %+v, want one address %q", i, ep, addrs[i])
		}
	}
	return addrs
}

// newLogger returns a logger that records every record, debug included,
// in the returned recorder.
func newLogger(t *testing.T) (*slog.Logger, *resolvertest.LogRecorder) {
	logs := resolvertest.NewLogRecorder(t)
	return logs.Logger(), logs
}

// buildFile writes content to a new backends file and builds a resolver
// of it with opts, logging to the returned recorder; query follows
// "static:///?file=<path>" in the target ("&interval=1h": only ResolveNow
// makes the resolver re-read).
func buildFile(t *testing.T, content string, opts Options, query string) (path string, cc *resolvertest.RecordingCC, r resolver.Resolver, logs *resolvertest.LogRecorder) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "backends.txt")
	writeFile(t, path, content)
	opts.Logger, logs = newLogger(t)
	cc, r, err := build(t, opts, "static:///?file="+path+query)
	if err != nil {
		t.Fatal(err)
	}
	return path, cc, r, logs
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameFile replaces path atomically, as config management tools do.
func renameFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(path), ".backends-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		t.Fatal(err)
	}
}

func build(t *testing.T, opts Options, target string) (*resolvertest.RecordingCC, resolver.Resolver, error) {
	t.Helper()
	cc := &resolvertest.RecordingCC{}
	r, err := NewBuilder(opts).Build(mustTarget(t, target), cc, resolver.BuildOptions{})
	if err == nil {
		t.Cleanup(r.Close)
	}
	return cc, r, err
}

func TestBuilderScheme(t *testing.T) {
	if got := NewBuilder(Options{}).Scheme(); got != "static" {
		t.Errorf("Scheme() = %q, want %q", got, "static")
	}
	if b := resolver.Get(Scheme); b == nil {
		t.Errorf("resolver.Get(%q) = nil; the package did not register its builder", Scheme)
	}
}

func TestBuildFixedList(t *testing.T) {
	tests := []struct {
		target string
		want   []string
	}{
		{"static:///10.0.0.1:50051", []string{"10.0.0.1:50051"}},
		{"static:///10.0.0.1:50051,10.0.0.2:50051,[::1]:50051", []string{"10.0.0.1:50051", "10.0.0.2:50051", "[::1]:50051"}},
		{"static:///db.internal:5432,10.0.0.1:1,db.internal:5432", []string{"db.internal:5432", "10.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			cc, r, err := build(t, Options{}, tt.target)
			if err != nil {
				t.Fatalf("Build(%q): %v", tt.target, err)
			}
			r.ResolveNow(resolver.ResolveNowOptions{})
			states, errs := cc.Snapshot()
			if len(states) != 1 || len(errs) != 0 {
				t.Fatalf("Build(%q) made %d updates and %d errors, want 1 update: %v %v", tt.target, len(states), len(errs), states, errs)
			}
			if got := stateAddrs(t, states[0]); !slices.Equal(got, tt.want) {
				t.Errorf("Build(%q) published %q, want %q", tt.target, got, tt.want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	writeFile(t, good, "10.0.0.1:1\n")
	tests := []struct {
		name    string
		content *string // written to dir/b.txt unless nil
		target  string  // %s is dir
		opts    Options
		buildOK bool   // Build succeeds and reports the error to the channel
		wantErr string // %s is dir
	}{
		{
			name:    "bad target",
			target:  "static:///10.0.0.1",
			wantErr: `static: target "static:///10.0.0.1": "10.0.0.1" has no port`,
		},
		{
			name:    "missing file",
			buildOK: true,
			target:  "static:///?file=%s/nope.txt",
			wantErr: `static: reading backends file: open %s/nope.txt: no such file or directory`,
		},
		{
			name:    "directory",
			buildOK: true,
			target:  "static:///?file=%s",
			wantErr: `static: reading backends file: read %s: is a directory`,
		},
		{
			name:    "bad line",
			buildOK: true,
			content: ptr("10.0.0.1:1\n10.0.0.2\n"),
			target:  "static:///?file=%s/b.txt",
			wantErr: `static: line 2 of %s/b.txt: "10.0.0.2" has no port`,
		},
		{
			name:    "empty file",
			buildOK: true,
			content: ptr(""),
			target:  "static:///?file=%s/b.txt",
			wantErr: `static: %s/b.txt has no addresses (set Options.AllowEmpty to allow an empty list)`,
		},
		{
			name:    "only comments",
			buildOK: true,
			content: ptr("# 10.0.0.1:1\n\n"),
			target:  "static:///?file=%s/b.txt",
			wantErr: `static: %s/b.txt has no addresses (set Options.AllowEmpty to allow an empty list)`,
		},
		{
			name:    "too large",
			buildOK: true,
			content: ptr(strings.Repeat("#", maxFileSize) + "\n"),
			target:  "static:///?file=%s/b.txt",
			wantErr: `static: backends file %s/b.txt is larger than 4194304 bytes`,
		},
		{
			name:    "Options.Interval too small",
			target:  "static:///?file=%s/good.txt",
			opts:    Options{Interval: 10 * time.Millisecond},
			wantErr: `static: Options.Interval 10ms is below the minimum of 50ms`,
		},
		{
			name:    "Options.Interval negative",
			target:  "static:///?file=%s/good.txt",
			opts:    Options{Interval: -time.Second},
			wantErr: `static: Options.Interval -1s is below the minimum of 50ms`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content != nil {
				writeFile(t, filepath.Join(dir, "b.txt"), *tt.content)
			}
			target := strings.ReplaceAll(tt.target, "%s", dir)
			want := strings.ReplaceAll(tt.wantErr, "%s", dir)
			cc, r, err := build(t, tt.opts, target)
			if !tt.buildOK {
				if err == nil {
					t.Fatalf("Build(%q) = %v, want error %q", target, r, tt.wantErr)
				}
				if err.Error() != want {
					t.Errorf("Build(%q) error:\n got: %s\nwant: %s", target, err, want)
				}
				if states, errs := cc.Snapshot(); len(states) != 0 || len(errs) != 0 {
					t.Errorf("failed Build(%q) still made %d updates and %d errors", target, len(states), len(errs))
				}
				return
			}
			// A bad file is not a bad target: Build succeeds, publishes
			// nothing and reports the reason to the channel.
			if err != nil {
				t.Fatalf("Build(%q): %v; a bad file must be reported, not fail Build", target, err)
			}
			r.Close()
			states, errs := cc.Snapshot()
			if len(states) != 0 || len(errs) != 1 || errs[0].Error() != want {
				t.Errorf("Build(%q) published %d states, reported %v; want only the error %q", target, len(states), errs, want)
			}
		})
	}
	// A failed Build leaves nothing running.
	goleak.VerifyNone(t)
}

func ptr[T any](v T) *T { return &v }

func TestBuildFileIntervals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.txt")
	writeFile(t, path, "10.0.0.1:1\n")
	tests := []struct {
		name   string
		opts   Options
		target string
		want   time.Duration
	}{
		{"default", Options{}, "static:///?file=" + path, DefaultInterval},
		{"from options", Options{Interval: 3 * time.Second}, "static:///?file=" + path, 3 * time.Second},
		{"target wins", Options{Interval: 3 * time.Second}, "static:///?file=" + path + "&interval=250ms", 250 * time.Millisecond},
		{"target wins over bad options", Options{Interval: time.Millisecond}, "static:///?file=" + path + "&interval=1m", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r, err := build(t, tt.opts, tt.target)
			if err != nil {
				t.Fatalf("Build(%q): %v", tt.target, err)
			}
			if got := r.(*fileResolver).interval; got != tt.want {
				t.Errorf("Build(%q) polls every %v, want %v", tt.target, got, tt.want)
			}
		})
	}
}

// TestFileBadRereadKeepsLastGood breaks a watched file in several ways and
// checks that the resolver neither publishes nor reports an error, logs the
// problem, and picks up the next good content.
func TestFileBadRereadKeepsLastGood(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(t *testing.T, path string)
		wantLog string // %s is the path
	}{
		{
			name:    "bad line",
			breakIt: func(t *testing.T, path string) { writeFile(t, path, "10.0.0.3:1\n10.0.0.4\n") },
			wantLog: `line 2 of %s`,
		},
		{
			name:    "bad line by rename",
			breakIt: func(t *testing.T, path string) { renameFile(t, path, "10.0.0.3:1\n10.0.0.4:http\n") },
			wantLog: `line 2 of %s`,
		},
		{
			name: "file removed",
			breakIt: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			wantLog: `open %s: no such file or directory`,
		},
		{
			name:    "empty file",
			breakIt: func(t *testing.T, path string) { writeFile(t, path, "") },
			wantLog: `%s has no addresses`,
		},
		{
			name:    "only comments",
			breakIt: func(t *testing.T, path string) { writeFile(t, path, "# 10.0.0.1:1\n") },
			wantLog: `%s has no addresses`,
		},
		{
			name: "replaced by a directory",
			breakIt: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantLog: `read %s: is a directory`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A long interval: only ResolveNow makes the resolver re-read,
			// so each step below is one re-read.
			path, cc, r, logs := buildFile(t, "10.0.0.1:1\n10.0.0.2:1\n", Options{}, "&interval=1h")

			tt.breakIt(t, path)
			r.ResolveNow(resolver.ResolveNowOptions{})
			wantLog := strings.ReplaceAll(tt.wantLog, "%s", path)
			wait.For(t, 10*time.Second, "a log of "+wantLog, func() bool {
				return strings.Contains(logs.String(), wantLog)
			})
			states, errs := cc.Snapshot()
			if len(states) != 1 || len(errs) != 0 {
				t.Fatalf("after a bad re-read: %d updates and %d errors, want only the first update; errors: %v", len(states), len(errs), errs)
			}
			if !strings.Contains(logs.String(), "keeping the last good set") {
				t.Errorf("log does not say the last good backends are kept:\n%s", logs)
			}

			// The resolver still works, and publishes the next good list.
			if err := os.RemoveAll(path); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, "10.0.0.3:1\n")
			r.ResolveNow(resolver.ResolveNowOptions{})
			wait.For(t, 10*time.Second, "the repaired file to be published", func() bool {
				states, _ := cc.Snapshot()
				return len(states) == 2
			})
			states, errs = cc.Snapshot()
			if got, want := stateAddrs(t, states[1]), []string{"10.0.0.3:1"}; !slices.Equal(got, want) {
				t.Errorf("after repair published %q, want %q", got, want)
			}
			if len(errs) != 0 {
				t.Errorf("ReportError called: %v", errs)
			}
			if !strings.Contains(logs.String(), "backends file is good again") {
				t.Errorf("log does not say the file is good again:\n%s", logs)
			}
		})
	}
}

// TestFileRestoredSameContent checks that a file that comes back with the
// content it had before it went missing counts as good again.
func TestFileRestoredSameContent(t *testing.T) {
	const content = "10.0.0.1:1\n"
	path, cc, r, logs := buildFile(t, content, Options{}, "&interval=1h")
	for round := range 2 {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		r.ResolveNow(resolver.ResolveNowOptions{})
		wait.For(t, 10*time.Second, fmt.Sprintf("round %d: a log of the missing file", round), func() bool {
			return strings.Count(logs.String(), "no such file or directory") == round+1
		})
		writeFile(t, path, content)
		r.ResolveNow(resolver.ResolveNowOptions{})
		wait.For(t, 10*time.Second, fmt.Sprintf("round %d: a log of the file being good again", round), func() bool {
			return strings.Count(logs.String(), "backends file is good again") == round+1
		})
	}
	if states, errs := cc.Snapshot(); len(states) != 1 || len(errs) != 0 {
		t.Errorf("got %d updates and %d errors, want only the first update", len(states), len(errs))
	}
}

// TestFileAllowEmpty checks that with AllowEmpty an empty file publishes an
// empty list, and that errors are reported to the channel only while there
// are no backends to keep.
func TestFileAllowEmpty(t *testing.T) {
	path, cc, r, _ := buildFile(t, "10.0.0.1:1\n", Options{AllowEmpty: true}, "&interval=1h")
	steps := []struct {
		name       string
		change     func()
		wantStates [][]string
		wantErrs   []string
	}{
		{
			name:       "emptied",
			change:     func() { writeFile(t, path, "# drained for maintenance\n") },
			wantStates: [][]string{{"10.0.0.1:1"}, {}},
		},
		{
			name: "removed while empty",
			change: func() {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			wantStates: [][]string{{"10.0.0.1:1"}, {}},
			wantErrs:   []string{"static: reading backends file: open " + path + ": no such file or directory"},
		},
		{
			name:       "back",
			change:     func() { writeFile(t, path, "10.0.0.2:1\n") },
			wantStates: [][]string{{"10.0.0.1:1"}, {}, {"10.0.0.2:1"}},
			wantErrs:   []string{"static: reading backends file: open " + path + ": no such file or directory"},
		},
	}
	for _, step := range steps {
		step.change()
		r.ResolveNow(resolver.ResolveNowOptions{})
		wait.For(t, 10*time.Second, "step "+step.name, func() bool {
			states, errs := cc.Snapshot()
			return len(states) == len(step.wantStates) && len(errs) == len(step.wantErrs)
		})
		states, errs := cc.Snapshot()
		for i, s := range states {
			if got := stateAddrs(t, s); !slices.Equal(got, step.wantStates[i]) {
				t.Errorf("step %s: update %d is %q, want %q", step.name, i, got, step.wantStates[i])
			}
		}
		for i, err := range errs {
			if err.Error() != step.wantErrs[i] {
				t.Errorf("step %s: error %d is %q, want %q", step.name, i, err, step.wantErrs[i])
			}
		}
	}
}

// TestFileChangeDetection checks that polling sees changes made in place
// (even without a change of size or modification time) and by rename.
func TestFileChangeDetection(t *testing.T) {
	tests := []struct {
		name   string
		before string
		after  string
		change func(t *testing.T, path, content string)
		want   []string
	}{
		{
			name:   "in place, same size and time",
			before: "10.0.0.1:1\n",
			after:  "10.0.0.2:1\n",
			change: func(t *testing.T, path, content string) {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, content)
				if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"10.0.0.2:1"},
		},
		{
			name:   "atomic rename",
			before: "10.0.0.1:1\n10.0.0.2:1\n",
			after:  "10.0.0.2:1\n10.0.0.3:1\n",
			change: renameFile,
			want:   []string{"10.0.0.2:1", "10.0.0.3:1"},
		},
		{
			name:   "reordered",
			before: "10.0.0.1:1\n10.0.0.2:1\n",
			after:  "10.0.0.2:1,10.0.0.1:1\n",
			change: writeFile,
			want:   []string{"10.0.0.2:1", "10.0.0.1:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, cc, _, _ := buildFile(t, tt.before, Options{Interval: MinInterval}, "")
			tt.change(t, path, tt.after)
			wait.For(t, 10*time.Second, "the change to be published", func() bool {
				states, _ := cc.Snapshot()
				return len(states) >= 2
			})
			states, errs := cc.Snapshot()
			if len(states) != 2 || len(errs) != 0 {
				t.Fatalf("got %d updates and %d errors, want 2 updates", len(states), len(errs))
			}
			if got := stateAddrs(t, states[1]); !slices.Equal(got, tt.want) {
				t.Errorf("published %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFileSameBackendsNotRepublished checks that a change of the file that
// does not change the list (comments, order of duplicates, formatting) is
// not published.
func TestFileSameBackendsNotRepublished(t *testing.T) {
	path, cc, r, logs := buildFile(t, "10.0.0.1:1\n10.0.0.2:1\n", Options{}, "&interval=1h")
	writeFile(t, path, "# same backends\n10.0.0.1:01, 10.0.0.2:1,10.0.0.1:1\n")
	r.ResolveNow(resolver.ResolveNowOptions{})
	wait.For(t, 10*time.Second, "the re-read", func() bool {
		return strings.Contains(logs.String(), "backends file changed, the backends did not")
	})
	if states, _ := cc.Snapshot(); len(states) != 1 {
		t.Errorf("got %d updates, want 1: the same list was published again", len(states))
	}
}

func TestResolveNowDoesNotBlock(t *testing.T) {
	path, cc, r, _ := buildFile(t, "10.0.0.1:1\n", Options{}, "&interval=1h")
	// Many concurrent calls coalesce; none blocks on the watcher.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				r.ResolveNow(resolver.ResolveNowOptions{})
			}
		})
	}
	wg.Wait()
	writeFile(t, path, "10.0.0.2:1\n")
	r.ResolveNow(resolver.ResolveNowOptions{})
	wait.For(t, 10*time.Second, "the change to be published", func() bool {
		states, _ := cc.Snapshot()
		return len(states) == 2
	})
}

func TestCloseStopsWatcher(t *testing.T) {
	dir := t.TempDir()
	for i, interval := range []string{"50ms", "1h"} {
		path := filepath.Join(dir, fmt.Sprintf("b%d.txt", i))
		writeFile(t, path, "10.0.0.1:1\n")
		logger, _ := newLogger(t)
		cc := &resolvertest.RecordingCC{}
		r, err := NewBuilder(Options{Logger: logger}).Build(mustTarget(t, "static:///?file="+path+"&interval="+interval), cc, resolver.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r.ResolveNow(resolver.ResolveNowOptions{})
		r.Close()
		goleak.VerifyNone(t)
		// After Close: no goroutine to send to, and nothing blocks or panics.
		r.ResolveNow(resolver.ResolveNowOptions{})
		r.Close()
	}
}

// A file missing at start-up is reported, and the resolver recovers by
// itself when the file appears: the channel is not stuck until it idles.
func TestFileAppearsAfterBuild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.txt")
	cc, r, err := build(t, Options{Interval: MinInterval}, "static:///?file="+path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, errs := cc.Snapshot(); len(errs) != 1 {
		t.Fatalf("missing file reported %d errors, want 1", len(errs))
	}
	writeFile(t, path, "10.0.0.1:1\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if states, _ := cc.Snapshot(); len(states) == 1 && len(states[0].Endpoints) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file appeared but nothing was published")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
