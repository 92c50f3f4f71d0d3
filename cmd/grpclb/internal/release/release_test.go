package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDependencyOrder(t *testing.T) {
	core := mod{path: corePath}
	itest := mod{dir: "internal/itest", path: corePath + "/internal/itest", reqs: []string{corePath}}
	kube := mod{dir: "resolver/kube", path: corePath + "/resolver/kube", reqs: []string{corePath, itest.path}}
	cmd := mod{dir: "cmd/grpclb", path: corePath + "/cmd/grpclb", reqs: []string{kube.path, corePath}}
	a := mod{dir: "a", path: corePath + "/a", reqs: []string{corePath + "/b"}}
	b := mod{dir: "b", path: corePath + "/b", reqs: []string{corePath + "/a"}}
	tests := []struct {
		name    string
		mods    []mod
		want    []string // paths in order
		wantErr string
	}{
		{"already ordered", []mod{core, itest, kube, cmd}, []string{core.path, itest.path, kube.path, cmd.path}, ""},
		{"reversed", []mod{cmd, kube, itest, core}, []string{core.path, itest.path, kube.path, cmd.path}, ""},
		{"cycle", []mod{core, a, b}, nil, "cycle: " + a.path + " -> " + b.path + " -> " + a.path},
		{"unknown module", []mod{cmd, core}, nil, cmd.path + " requires " + kube.path + ", which is not a released module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dependencyOrder(tt.mods)
			var paths []string
			for _, m := range got {
				paths = append(paths, m.path)
			}
			if !errSays(err, tt.wantErr) || !slices.Equal(paths, tt.want) {
				t.Errorf("order %v, error %v; want %v, error containing %q", paths, err, tt.want, tt.wantErr)
			}
		})
	}
}

// errSays reports whether err is what a test wants: nil for want "", else
// an error that says want.
func errSays(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

func TestReleaseRejectsBadVersions(t *testing.T) {
	for _, v := range []string{"", "0.1.0", "v0.1", "v1.2.3+meta", "latest"} {
		if _, err := release(context.Background(), options{version: v}); !errSays(err, "canonical semantic version") {
			t.Errorf("version %q: error %v, want one asking for a canonical semantic version", v, err)
		}
	}
}

// A release of this repository's HEAD commit (in a clone): tags for every
// module but the examples, a release commit off the branch whose go.mod
// files pin the siblings without replace directives, and `go install
// github.com/grpclb/grpclb/cmd/grpclb@latest` resolving, downloading and
// checking every module from the release's file proxy (-n: nothing is
// compiled). Uncommitted changes are not part of it.
func TestReleaseResolvesWithGoInstall(t *testing.T) {
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	clone := filepath.Join(tmp, "repo")
	// Without the repository's tags: a real v0.1.0 tag must not collide
	// with the one this test makes.
	gitIn(t, "", "clone", "-q", "--no-tags", root, clone)
	for _, kv := range [][2]string{{"GIT_AUTHOR_NAME", "release test"}, {"GIT_AUTHOR_EMAIL", "release@test.invalid"}, {"GIT_COMMITTER_NAME", "release test"}, {"GIT_COMMITTER_EMAIL", "release@test.invalid"}} {
		t.Setenv(kv[0], kv[1])
	}
	before := gitIn(t, clone, "rev-parse", "HEAD")

	res, err := release(ctx, options{repo: clone, version: "v0.1.0", proxy: filepath.Join(tmp, "proxy"), log: t.Output()})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"v0.1.0", "internal/itest/v0.1.0", "resolver/kube/v0.1.0", "proxy/v0.1.0", "cmd/grpclb/v0.1.0"} {
		if !slices.Contains(res.tags, want) {
			t.Errorf("tags %v lack %s", res.tags, want)
		}
	}
	for _, tag := range res.tags {
		if strings.HasPrefix(tag, "examples/") {
			t.Errorf("tag %s: examples are not released", tag)
		}
		if got := gitIn(t, clone, "rev-list", "-n1", tag); got != res.commit {
			t.Errorf("tag %s is on %s, want the release commit %s", tag, got, res.commit)
		}
	}
	if after := gitIn(t, clone, "rev-parse", "HEAD"); after != before {
		t.Errorf("the branch moved from %s to %s: the release commit must stay off it", before, after)
	}
	gomod := gitIn(t, clone, "show", res.commit+":cmd/grpclb/go.mod")
	if strings.Contains(gomod, "replace") || !strings.Contains(gomod, corePath+" v0.1.0") {
		t.Errorf("cmd/grpclb/go.mod of the release pins no v0.1.0 or keeps a replace directive:\n%s", gomod)
	}
	if gosum := gitIn(t, clone, "show", res.commit+":cmd/grpclb/go.sum"); !strings.Contains(gosum, corePath+"/resolver/kube v0.1.0 h1:") {
		t.Errorf("cmd/grpclb/go.sum of the release has no hash of resolver/kube v0.1.0")
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed to make a release: %v", err)
	}
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("not in a git checkout: %v", err)
		}
		t.Skipf("not in a git checkout (a release is made from one): %v", err)
	}
	return strings.TrimSpace(string(out))
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := run(context.Background(), dir, nil, "git", args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
