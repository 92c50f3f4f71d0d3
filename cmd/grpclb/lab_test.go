package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLabJSONOutput(t *testing.T) {
	chart := filepath.Join(t.TempDir(), "out.svg")
	var stdout, stderr bytes.Buffer
	err := runLab([]string{"--scenario", "scaleup", "--strategy", "dnspoll+round_robin,dns+round_robin",
		"--duration", "3s", "--add-after", "1s", "--poll-interval", "300ms", "--rate", "50", "--json", "--chart", chart},
		&stdout, &stderr)
	if err != nil {
		t.Fatalf("lab: %v\n%s", err, stderr.String())
	}
	// stderr has the progress: each run with its place and the time left.
	for i, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.Contains(line, fmt.Sprintf("[%d/2] running scaleup/", i+1)) || !strings.Contains(line, "left in all") {
			t.Errorf("stderr line %d is not progress: %q", i+1, line)
		}
	}
	type backend struct {
		Addr       *string  `json:"addr"`
		AddedLater *bool    `json:"added_later"`
		RPCs       *int     `json:"rpcs"`
		FirstRPCMs *float64 `json:"first_rpc_ms"`
	}
	type line struct {
		Scenario string    `json:"scenario"`
		Strategy string    `json:"strategy"`
		RPCs     *int      `json:"rpcs"`
		Failed   *int      `json:"failed"`
		P50      *float64  `json:"p50_ms"`
		P99      *float64  `json:"p99_ms"`
		Backends []backend `json:"backends"`
	}
	var lines []line
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not one JSON object per line: %v: %q", err, sc.Text())
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 || lines[0].Strategy != "dnspoll+round_robin" || lines[1].Strategy != "dns+round_robin" {
		t.Fatalf("got %d lines: %+v", len(lines), lines)
	}
	for _, l := range lines {
		if l.Scenario != "scaleup" || l.RPCs == nil || l.Failed == nil || l.P50 == nil || l.P99 == nil || len(l.Backends) != 5 {
			t.Fatalf("missing fields: %+v", l)
		}
		for _, b := range l.Backends {
			if b.Addr == nil || b.AddedLater == nil || b.RPCs == nil {
				t.Fatalf("backend missing fields: %+v", b)
			}
			// first_rpc_ms is present as a number or null, and null exactly
			// when the backend got no call.
			if (b.FirstRPCMs == nil) != (*b.RPCs == 0) {
				t.Errorf("%s: first_rpc_ms %v with %d rpcs", l.Strategy, b.FirstRPCMs, *b.RPCs)
			}
		}
	}
	svg, err := os.ReadFile(chart)
	if err != nil || !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "dnspoll+round_robin") {
		t.Errorf("chart: %v, %d bytes", err, len(svg))
	}
}

func TestLabFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "nope"}, `unknown scenario "nope"`},
		{[]string{"--strategy", "magic"}, `unknown strategy "magic"`},
		{[]string{"--rate", "0"}, "rate 0"},
		{[]string{"--chart", "out.gif"}, `--chart "out.gif" must end in .svg or .png`},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := runLab(tt.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
	var out, errOut bytes.Buffer
	if err := runLab([]string{"--help"}, &out, &errOut); err != errHelpShown || !strings.Contains(out.String(), "Examples:") {
		t.Errorf("--help: %v, %q", err, out.String())
	}
}
