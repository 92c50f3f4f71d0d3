package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// runArgs runs a command line and returns its exit status, stdout and
// stderr.
func runArgs(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// The conventions of every command: help on stdout with exit 0; a usage
// error is one line and a pointer to --help on stderr, exit 2; nothing on
// stdout then.
func TestCommandLineConventions(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // must contain ("" : must be empty)
		stderrLine string // first line of stderr must contain ("" : stderr empty)
	}{
		{"no command", nil, 2, "", "grpclb: gRPC load balancing"},
		{"--help", []string{"--help"}, 0, "grpclb lab [flags]", ""},
		{"help", []string{"help"}, 0, "grpclb version", ""},
		{"help lab", []string{"help", "lab"}, 0, "Usage: grpclb lab [flags]", ""},
		{"help bench", []string{"help", "bench"}, 0, "Usage: grpclb bench [flags] TARGET", ""},
		{"lab --help", []string{"lab", "--help"}, 0, "--scenario string", ""},
		{"lab -h", []string{"lab", "-h"}, 0, "--dry-run", ""},
		{"resolve --help", []string{"resolve", "--help"}, 0, "--watch", ""},
		{"version --help", []string{"version", "--help"}, 0, "Usage: grpclb version", ""},
		{"unknown command", []string{"frob"}, 2, "", `grpclb: unknown command "frob"`},
		{"help unknown", []string{"help", "frob"}, 2, "", `unknown command "frob"`},
		{"bad flag", []string{"lab", "--bogus"}, 2, "", "grpclb lab: flag provided but not defined: --bogus"},
		{"bad value", []string{"bench", "--rate", "x", "dns:///a:1"}, 2, "", `grpclb bench: invalid value "x" for flag --rate`},
		{"missing target", []string{"bench"}, 2, "", "grpclb bench: want one TARGET"},
		{"two targets", []string{"resolve", "a:1", "b:2"}, 2, "", "grpclb resolve: want one TARGET"},
		{"unknown scenario", []string{"lab", "--scenario", "nope"}, 2, "", `unknown scenario "nope"`},
		{"lab argument", []string{"lab", "extra"}, 2, "", `unexpected argument "extra"`},
		{"bad chart", []string{"lab", "--chart", "x.gif"}, 2, "", `--chart "x.gif" must end in .svg or .png`},
		{"proxy without config", []string{"proxy"}, 2, "", "grpclb proxy: --config is required"},
		{"proxy --help", []string{"proxy", "--help"}, 0, "--watch-interval duration", ""},
		{"version", []string{"version"}, 0, "grpclb ", ""},
		{"--version", []string{"--version"}, 0, "built with go", ""},
		{"version -o yaml", []string{"version", "-o", "yaml"}, 2, "", `-o "yaml": want text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.stdout == "" && stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if tt.stdout != "" && !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdout, stdout)
			}
			if tt.stderrLine == "" {
				if stderr != "" {
					t.Errorf("stderr %q, want nothing", stderr)
				}
				return
			}
			first, rest, _ := strings.Cut(stderr, "\n")
			if !strings.Contains(first, tt.stderrLine) {
				t.Errorf("stderr's first line %q does not contain %q", first, tt.stderrLine)
			}
			if tt.code == 2 && len(tt.args) > 0 {
				if want := "(see 'grpclb"; !strings.Contains(first, want) || rest != "" {
					t.Errorf("a usage error must be one line that says where to look; stderr:\n%s", stderr)
				}
			}
		})
	}
}

func TestVersionJSON(t *testing.T) {
	code, stdout, stderr := runArgs("version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if v.Module != "github.com/grpclb/grpclb/cmd/grpclb" || v.Version == "" || !strings.HasPrefix(v.Go, "go1.") {
		t.Errorf("version %+v: want the tools module, a version and the Go version", v)
	}
}

// A build without a module version (a checkout, the Dockerfile) prints the
// version stamped with -X main.stampedVersion; none stamped, "(devel)".
func TestVersionStamped(t *testing.T) {
	if v := readVersion().Version; v != "(devel)" {
		t.Fatalf("unstamped test binary: version %q, want (devel)", v)
	}
	old := stampedVersion
	t.Cleanup(func() { stampedVersion = old })
	stampedVersion = "v9.8.7"
	code, stdout, stderr := runArgs("version")
	if code != 0 || !strings.HasPrefix(stdout, "grpclb v9.8.7\n") {
		t.Errorf("exit %d, stdout %q, stderr %q: want grpclb v9.8.7 first", code, stdout, stderr)
	}
}

// Default strategies this machine cannot run are said, with the reason and
// the fix, not dropped silently.
func TestLabSaysWhatItSkips(t *testing.T) {
	code, stdout, stderr := runArgs("lab", "--scenario", "scaleup", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "grpclb lab: skipping scaleup/consul+round_robin: consul+round_robin needs --consul HOST:PORT"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr)
	}
	if strings.Contains(stdout, "consul+round_robin") || !strings.Contains(stdout, "scaleup/dnspoll+round_robin") {
		t.Errorf("dry run's plan:\n%s", stdout)
	}
	if !strings.Contains(stdout, "[1/") {
		t.Errorf("dry run does not number the runs:\n%s", stdout)
	}
}

func TestLabList(t *testing.T) {
	code, stdout, stderr := runArgs("lab", "--list")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"* scaleup", "fairness/10x8", "grpclb.NewClient", "not available here: consul+round_robin needs --consul"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--list does not show %q", want)
		}
	}
	code, stdout, _ = runArgs("lab", "--list", "--json")
	var cat struct {
		Scenarios []struct {
			Name       string   `json:"name"`
			Strategies []string `json:"strategies"`
		} `json:"scenarios"`
		Strategies []struct {
			Name    string `json:"name"`
			Missing string `json:"missing"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal([]byte(stdout), &cat); err != nil || code != 0 {
		t.Fatalf("--list --json: exit %d, %v", code, err)
	}
	if len(cat.Scenarios) < 10 || len(cat.Strategies) < 10 {
		t.Errorf("--list --json: %d scenarios, %d strategies", len(cat.Scenarios), len(cat.Strategies))
	}
}

// resolve accepts what grpc.NewClient accepts: a bare host:port is a
// dns:/// target.
func TestResolveBareHostPort(t *testing.T) {
	code, stdout, stderr := runArgs("resolve", "127.0.0.1:50051")
	if code != 0 || !strings.Contains(stdout, "1 endpoints\n  127.0.0.1:50051\n") {
		t.Errorf("resolve 127.0.0.1:50051: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runArgs("resolve", "")
	if code != 2 || !strings.Contains(stderr, "is not a target") {
		t.Errorf(`resolve "": exit %d, stderr %q`, code, stderr)
	}
}

func TestPrintChanges(t *testing.T) {
	ep := func(addr string, attrs ...string) resolvedEndpoint {
		e := resolvedEndpoint{Addresses: []string{addr}, Attributes: map[string]string{}}
		for i := 0; i+1 < len(attrs); i += 2 {
			e.Attributes[attrs[i]] = attrs[i+1]
		}
		return e
	}
	prev := resolvedState{Endpoints: []resolvedEndpoint{ep("10.0.0.1:80"), ep("10.0.0.2:80", "zone", "a")}}
	tests := []struct {
		name string
		cur  []resolvedEndpoint
		want []string
	}{
		{"same", prev.Endpoints, []string{"2 endpoints, no change"}},
		{"added", append(prev.Endpoints[:2:2], ep("10.0.0.3:80")), []string{"3 endpoints", "  + 10.0.0.3:80"}},
		{"removed", prev.Endpoints[:1], []string{"1 endpoints", "  - 10.0.0.2:80"}},
		{"changed", []resolvedEndpoint{ep("10.0.0.1:80"), ep("10.0.0.2:80", "zone", "b")}, []string{"2 endpoints", "  ~ 10.0.0.2:80  zone=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printChanges(&b, prev, resolvedState{Endpoints: tt.cur})
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			lines[0] = lines[0][strings.IndexByte(lines[0], ' ')+1:] // the time stamp
			if strings.Join(lines, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
