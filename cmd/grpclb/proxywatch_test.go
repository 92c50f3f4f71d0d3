package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configMapDir is a directory laid out like a ConfigMap volume: each
// version of the data in a directory of its own, ..data a symlink to the
// current one, and every key a symlink through ..data.
type configMapDir struct {
	t   *testing.T
	dir string
	n   int
}

// write publishes a new version of the key name the way the kubelet does
// (its AtomicWriter): the files go to a fresh timestamped directory, a
// symlink to it is renamed over ..data in one step, the key's symlink
// is created once, and the old directory removed.
func (c *configMapDir) write(name, body string) {
	c.t.Helper()
	c.n++
	ts := fmt.Sprintf("..2026_01_02_15_04_05.%09d", c.n)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ts, name), []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
	data := filepath.Join(c.dir, "..data")
	old, _ := os.Readlink(data)
	if err := os.Symlink(ts, filepath.Join(c.dir, "..data_tmp")); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(c.dir, "..data_tmp"), data); err != nil {
		c.t.Fatal(err)
	}
	key := filepath.Join(c.dir, name)
	if _, err := os.Lstat(key); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join("..data", name), key); err != nil {
			c.t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(c.dir, old)); err != nil {
			c.t.Fatal(err)
		}
	}
}

// TestConfigWatch: what configWatch.check counts as a change.
func TestConfigWatch(t *testing.T) {
	cm := &configMapDir{t: t, dir: t.TempDir()}
	cm.write("proxy.yaml", "routes: a\n")
	w := &configWatch{path: filepath.Join(cm.dir, "proxy.yaml")}
	step := func(what string, wantChanged, wantErr bool) {
		t.Helper()
		changed, err := w.check()
		if changed != wantChanged || (err != nil) != wantErr {
			t.Fatalf("%s: check() = %v, %v; want changed %v, error %v", what, changed, err, wantChanged, wantErr)
		}
	}
	step("baseline", false, false)
	step("nothing done", false, false)

	cm.write("proxy.yaml", "routes: b\n") // the same size
	step("ConfigMap update", true, false)
	step("after the update", false, false)

	cm.write("proxy.yaml", "routes: b\n")
	step("ConfigMap update with the same bytes", false, false)

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(w.path, later, later); err != nil {
		t.Fatal(err)
	}
	step("touch", false, false)

	// In place, with the same size and modification time: only the
	// content tells.
	fi, err := os.Stat(w.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.path, []byte("routes: c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(w.path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	step("in-place edit, same size and time", true, false)

	target, err := filepath.EvalSymlinks(w.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(target, target+".moved"); err != nil {
		t.Fatal(err)
	}
	step("file gone", false, true)
	step("file still gone: reported once", false, false)
	if err := os.Rename(target+".moved", target); err != nil {
		t.Fatal(err)
	}
	step("back with the same bytes", false, false)
	cm.write("proxy.yaml", "routes: d\n")
	step("update after the outage", true, false)
}

// TestProxyWatchFlag: --watch-interval is documented and checked.
func TestProxyWatchFlag(t *testing.T) {
	var stdout bytes.Buffer
	if err := runProxy([]string{"--help"}, &stdout, io.Discard); err != errHelpShown {
		t.Fatal(err)
	}
	for _, want := range []string{"--watch-interval", "ConfigMap", "subPath"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	if err := os.WriteFile(path, []byte("routes: [{service: a.B, cluster: c}]\nclusters: {c: {target: 'static:///127.0.0.1:1'}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runProxy([]string{"--config", path, "--watch-interval", "-1s"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--watch-interval") {
		t.Fatalf("a negative interval: got %v, want an error naming --watch-interval", err)
	}
}

// TestProxyWatchReload runs the command on a config in a ConfigMap-style
// directory: a ConfigMap update moves the route without a signal, and an
// update to a bad file is logged and keeps the running config.
func TestProxyWatchReload(t *testing.T) {
	backends := fleet(t, 2).Backends()
	b1, b2 := backends[0], backends[1]
	configFor := func(addr string) string {
		return fmt.Sprintf("drain: {grace: 1ms, timeout: 10s}\nroutes: [{service: grpclb.testbed.v1.Echo, cluster: echo}]\nclusters: {echo: {target: 'static:///%s'}}\n", addr)
	}
	cm := &configMapDir{t: t, dir: t.TempDir()}
	cm.write("proxy.yaml", configFor(b1.Addr))

	pr := startProxyCommand(t, "--config", filepath.Join(cm.dir, "proxy.yaml"), "--listen", "127.0.0.1:0", "--admin", "off",
		"--access-log=false", "--log-format", "json", "--watch-interval", "10ms")
	defer pr.stop(t)
	if got := pr.backend(t); got != b1.Name {
		t.Fatalf("served by %s, want %s", got, b1.Name)
	}

	// A ConfigMap update moves the route to b2: no signal sent.
	cm.write("proxy.yaml", configFor(b2.Addr))
	pr.servedBy(t, b2.Name, "the file change")
	if !strings.Contains(pr.stderr.String(), "config file changed") {
		t.Errorf("the reload was not logged as a file change:\n%s", pr.stderr.String())
	}

	// An update to a bad file is logged, once, and keeps the config.
	cm.write("proxy.yaml", "routes: []\n")
	pr.logs(t, "reload failed")
	for range 5 {
		if got := pr.backend(t); got != b2.Name {
			t.Fatalf("after a bad update, served by %s, want %s", got, b2.Name)
		}
	}
	if !strings.Contains(pr.stderr.String(), `"trigger":"file changed"`) {
		t.Errorf("the failure does not name its trigger:\n%s", pr.stderr.String())
	}

	// Fixed again: it reloads.
	cm.write("proxy.yaml", configFor(b1.Addr))
	pr.servedBy(t, b1.Name, "the fixed file")
	// The polls in between did not retry the bad file.
	if n := strings.Count(pr.stderr.String(), "reload failed"); n != 1 {
		t.Errorf("the bad file was reloaded %d times, want once:\n%s", n, pr.stderr.String())
	}
}
