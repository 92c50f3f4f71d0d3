package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// versionInfo is what `grpclb version` prints: the module version the
// binary was built from (a tag for `go install ...@v0.1.0`, "(devel)" for a
// build in a checkout), the VCS revision and time the go command stamped,
// and the Go version.
type versionInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// stampedVersion is the version a build outside a git checkout or the
// module proxy was given, with -ldflags "-X main.stampedVersion=v0.1.0"
// (scripts/build-static.sh sets it from GRPCLB_VERSION; the Dockerfile from
// its VERSION build argument, as .git is not in the build context). It is
// used only when the go command stamped no module version.
var stampedVersion string

func readVersion() versionInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return versionInfo{Version: "unknown"}
	}
	v := versionInfo{Module: bi.Main.Path, Version: bi.Main.Version, Go: bi.GoVersion}
	if (v.Version == "" || v.Version == "(devel)") && stampedVersion != "" {
		v.Version = stampedVersion
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

const versionHelp = `Usage: grpclb version [-o json]

Prints the version grpclb was built from: the module version, the VCS
revision and its time (when built in a git checkout), and the Go version.

`

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version")
	output := fs.String("o", "text", "output format: text or json")
	pos, err := parseFlags(fs, args, stdout, versionHelp)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("version", "unexpected argument %q", pos[0])
	}
	v := readVersion()
	switch *output {
	case "json":
		return writeJSON(stdout, v)
	case "text":
	default:
		return usagef("version", "-o %q: want text or json", *output)
	}
	fmt.Fprintf(stdout, "grpclb %s\n", v.Version)
	if v.Revision != "" {
		mod := ""
		if v.Modified {
			mod = " (modified)"
		}
		fmt.Fprintf(stdout, "revision %s%s %s\n", v.Revision, mod, v.Time)
	}
	fmt.Fprintf(stdout, "built with %s\n", v.Go)
	return nil
}
