// Command release makes a grpclb release: one commit in which every
// module requires the other grpclb modules at the release version, with no
// replace directive and a go.sum that lists their hashes, tagged for each
// module ("v0.1.0" for the core, "resolver/kube/v0.1.0" for a nested one).
//
// Why a tool: between releases the nested modules reach each other through
// go.work and replace directives, which `go install ...@latest` refuses.
// A release commit cannot simply drop them: each go.sum must hold the
// hashes of the sibling modules at the new version, and those are known only
// once the siblings' release content is. The tool builds each module's zip
// exactly as the Go module proxy will (git archive of the commit), in
// dependency order, into a local file proxy, and lets `go mod tidy` record
// the hashes from there. It then checks that `go install
// github.com/grpclb/grpclb/cmd/grpclb@latest` resolves from that proxy.
//
// The release commit is not on any branch: main keeps its development
// replace directives. Push the tags it prints.
//
//	go run ./cmd/grpclb/internal/release [-install] [-proxy DIR] VERSION
//
// Modules under examples/ are not released.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	modzip "golang.org/x/mod/zip"
)

// corePath is the module at the repository's root; every released module's
// path starts with it.
const corePath = "github.com/grpclb/grpclb"

// mod is one module of the workspace.
type mod struct {
	dir  string // relative to the repository root, "" for the root
	path string // module path
	reqs []string
}

// tag is the git tag of version v of the module in dir.
func (m mod) tag(v string) string {
	if m.dir == "" {
		return v
	}
	return m.dir + "/" + v
}

// options of one release.
type options struct {
	repo    string    // repository root (a git work tree)
	rev     string    // the revision to release, HEAD by default
	version string    // vX.Y.Z
	proxy   string    // directory of the file proxy the module zips are written to
	install bool      // build and run grpclb from the proxy, not only resolve it
	log     io.Writer // progress
}

// result of a release.
type result struct {
	commit string
	tags   []string
}

// release makes the release commit and tags described in the package doc.
func release(ctx context.Context, o options) (*result, error) {
	if !semver.IsValid(o.version) || semver.Canonical(o.version) != o.version {
		return nil, fmt.Errorf("version %q: want a canonical semantic version such as v0.1.0", o.version)
	}
	if o.rev == "" {
		o.rev = "HEAD"
	}
	base, err := git(ctx, o.repo, "rev-parse", "--verify", o.rev+"^{commit}")
	if err != nil {
		return nil, err
	}
	base = strings.TrimSpace(base)

	tmp, err := os.MkdirTemp("", "grpclb-release-")
	if err != nil {
		return nil, err
	}
	defer func() {
		os.RemoveAll(tmp)
	}()
	// A clone of its own (sharing the objects): the release's commits stay
	// off the repository's branches, and module zips are made with git
	// archive in it, as the module proxy makes them.
	tree := filepath.Join(tmp, "tree")
	if _, err := git(ctx, "", "clone", "-q", "--shared", "--no-checkout", o.repo, tree); err != nil {
		return nil, err
	}
	if _, err := git(ctx, tree, "checkout", "-q", "--detach", base); err != nil {
		return nil, err
	}
	// A module cache of its own: the release versions it holds must not
	// reach the user's cache (a real release of the same version later
	// would not match them). Go makes it read-only; chmod before removal.
	modcache := filepath.Join(tmp, "modcache")
	defer filepath.WalkDir(modcache, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})

	mods, err := workspace(tree)
	if err != nil {
		return nil, err
	}
	ordered, err := dependencyOrder(mods)
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		if err := pinSiblings(tree, m, mods, o.version); err != nil {
			return nil, err
		}
	}
	if err := commit(ctx, tree, "release "+o.version+": go.mod files"); err != nil {
		return nil, err
	}

	env := goEnv(ctx, o.proxy, modcache)
	for _, m := range ordered {
		fmt.Fprintf(o.log, "release: %s@%s\n", m.path, o.version)
		dir := filepath.Join(tree, filepath.FromSlash(m.dir))
		if _, err := run(ctx, dir, env, "go", "mod", "tidy"); err != nil {
			return nil, fmt.Errorf("go mod tidy in %s: %w", m.path, err)
		}
		if err := commit(ctx, tree, "release "+o.version+": "+m.path+" go.sum"); err != nil {
			return nil, err
		}
		if err := publish(tree, o.proxy, m, o.version); err != nil {
			return nil, err
		}
	}

	// One release commit, whose tree is the last step's: each module's
	// content there is the content its zip was made from.
	if _, err := git(ctx, tree, "reset", "--soft", base); err != nil {
		return nil, err
	}
	if err := commit(ctx, tree, "release "+o.version+"\n\nEvery module requires the other grpclb modules at "+o.version+", without replace directives."); err != nil {
		return nil, err
	}
	head, err := git(ctx, tree, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	res := &result{commit: strings.TrimSpace(head)}
	for _, m := range ordered {
		if err := checkZip(ctx, tree, o.proxy, m, o.version, res.commit); err != nil {
			return nil, err
		}
	}
	var refspecs []string
	for _, m := range ordered {
		t := m.tag(o.version)
		if _, err := git(ctx, tree, "tag", "-a", "-m", m.path+" "+o.version, t, res.commit); err != nil {
			return nil, err
		}
		res.tags = append(res.tags, t)
		refspecs = append(refspecs, "refs/tags/"+t+":refs/tags/"+t)
	}
	if _, err := git(ctx, o.repo, append([]string{"fetch", "-q", tree}, refspecs...)...); err != nil {
		return nil, err
	}

	// What a user will run.
	gobin := filepath.Join(tmp, "bin")
	args := []string{"install"}
	if !o.install {
		args = append(args, "-n") // resolve, download and check every module; compile nothing
	}
	args = append(args, corePath+"/cmd/grpclb@latest")
	if _, err := run(ctx, tmp, append(env, "GOBIN="+gobin), "go", args...); err != nil {
		return nil, fmt.Errorf("go %s from the release's proxy: %w", strings.Join(args, " "), err)
	}
	if o.install {
		out, err := run(ctx, tmp, nil, filepath.Join(gobin, "grpclb"), "version")
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(out, "grpclb "+o.version+"\n") {
			return nil, fmt.Errorf("the installed grpclb says %q, want version %s", out, o.version)
		}
	}
	fmt.Fprintf(o.log, "release: go %s works from %s\n", strings.Join(args, " "), o.proxy)
	return res, nil
}

// workspace reads go.work: every module but those under examples/.
func workspace(root string) ([]mod, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, err
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, err
	}
	var mods []mod
	for _, u := range wf.Use {
		dir := path.Clean(strings.TrimPrefix(filepath.ToSlash(u.Path), "./"))
		if dir == "." {
			dir = ""
		}
		if dir == "examples" || strings.HasPrefix(dir, "examples/") {
			continue
		}
		mf, err := readMod(root, dir)
		if err != nil {
			return nil, err
		}
		m := mod{dir: dir, path: mf.Module.Mod.Path}
		if want := path.Join(corePath, dir); m.path != want {
			return nil, fmt.Errorf("%s/go.mod: module %s, want %s (the tag names the directory)", dir, m.path, want)
		}
		for _, r := range mf.Require {
			if r.Mod.Path == corePath || strings.HasPrefix(r.Mod.Path, corePath+"/") {
				m.reqs = append(m.reqs, r.Mod.Path)
			}
		}
		mods = append(mods, m)
	}
	return mods, nil
}

func readMod(root, dir string) (*modfile.File, error) {
	name := filepath.Join(root, filepath.FromSlash(dir), "go.mod")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return modfile.Parse(name, data, nil)
}

// dependencyOrder sorts mods so that each comes after the grpclb modules it
// requires. A cycle is an error: each go.sum would need the other's hash,
// which depends on its own go.sum.
func dependencyOrder(mods []mod) ([]mod, error) {
	byPath := map[string]mod{}
	for _, m := range mods {
		byPath[m.path] = m
	}
	var out []mod
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string, stack []string) error
	visit = func(p string, stack []string) error {
		switch state[p] {
		case 2:
			return nil
		case 1:
			i := slices.Index(stack, p)
			return fmt.Errorf("modules require each other in a cycle: %s", strings.Join(append(stack[i:], p), " -> "))
		}
		m, ok := byPath[p]
		if !ok {
			return fmt.Errorf("%s requires %s, which is not a released module of go.work", stack[len(stack)-1], p)
		}
		state[p] = 1
		for _, r := range m.reqs {
			if err := visit(r, append(stack, p)); err != nil {
				return err
			}
		}
		state[p] = 2
		out = append(out, m)
		return nil
	}
	for _, m := range mods {
		if err := visit(m.path, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pinSiblings makes m's go.mod require every grpclb module at v, without
// replace directives for them.
func pinSiblings(root string, m mod, mods []mod, v string) error {
	mf, err := readMod(root, m.dir)
	if err != nil {
		return err
	}
	for _, r := range m.reqs {
		if err := mf.AddRequire(r, v); err != nil {
			return err
		}
	}
	for _, r := range slices.Clone(mf.Replace) {
		if r.Old.Path == corePath || strings.HasPrefix(r.Old.Path, corePath+"/") {
			if err := mf.DropReplace(r.Old.Path, r.Old.Version); err != nil {
				return err
			}
		}
	}
	mf.Cleanup()
	data, err := mf.Format()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, filepath.FromSlash(m.dir), "go.mod"), data, 0o644)
}

// publish writes m at v into the file proxy: the zip from the work tree's
// HEAD commit (git archive, as the module proxy makes it), go.mod, info, list.
func publish(tree, proxy string, m mod, v string) error {
	esc, err := module.EscapePath(m.path)
	if err != nil {
		return err
	}
	dir := filepath.Join(proxy, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromVCS(&zip, module.Version{Path: m.path, Version: v}, tree, "HEAD", m.dir); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(tree, filepath.FromSlash(m.dir), "go.mod"))
	if err != nil {
		return err
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{v, time.Now().UTC().Truncate(time.Second)})
	files := map[string][]byte{v + ".zip": zip.Bytes(), v + ".mod": gomod, v + ".info": info}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	list, _ := os.ReadFile(filepath.Join(dir, "list"))
	versions := strings.Fields(string(list))
	if !slices.Contains(versions, v) {
		versions = append(versions, v)
	}
	return os.WriteFile(filepath.Join(dir, "list"), []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}

// checkZip checks that m's zip in the proxy is the one the release commit
// gives: the hashes recorded in go.sum files are those of the tags.
func checkZip(ctx context.Context, tree, proxy string, m mod, v, rev string) error {
	esc, _ := module.EscapePath(m.path)
	published, err := os.ReadFile(filepath.Join(proxy, filepath.FromSlash(esc), "@v", v+".zip"))
	if err != nil {
		return err
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromVCS(&zip, module.Version{Path: m.path, Version: v}, tree, rev, m.dir); err != nil {
		return err
	}
	if !bytes.Equal(published, zip.Bytes()) {
		return fmt.Errorf("%s@%s: the zip of the release commit differs from the one whose hash the go.sum files hold", m.path, v)
	}
	return nil
}

// goEnv is the environment of the go commands of a release: no workspace,
// the release's file proxy first, then this machine's module cache and
// proxy; grpclb's modules are not in the checksum database yet.
func goEnv(ctx context.Context, proxy, modcache string) []string {
	upstream, _ := run(ctx, "", nil, "go", "env", "GOPROXY")
	cached, _ := run(ctx, "", nil, "go", "env", "GOMODCACHE")
	goproxy := "file://" + filepath.ToSlash(proxy)
	if c := strings.TrimSpace(cached); c != "" {
		goproxy += ",file://" + filepath.ToSlash(filepath.Join(c, "cache", "download"))
	}
	if u := strings.TrimSpace(upstream); u != "" && u != "off" {
		goproxy += "," + u
	}
	return []string{
		"GOWORK=off", "GOTOOLCHAIN=local",
		"GOPROXY=" + goproxy, "GONOSUMDB=" + corePath,
		"GOMODCACHE=" + modcache,
	}
}

// commit commits every change in the work tree, if there is one.
func commit(ctx context.Context, tree, msg string) error {
	st, err := git(ctx, tree, "status", "--porcelain")
	if err != nil || strings.TrimSpace(st) == "" {
		return err
	}
	_, err = git(ctx, tree, "commit", "-q", "-a", "-m", msg)
	return err
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	return run(ctx, dir, nil, "git", args...)
}

// run runs name in dir with env added to this process's environment, and
// returns its standard output; an error carries its standard error.
func run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return stdout.String(), fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), msg)
		}
		return stdout.String(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}
