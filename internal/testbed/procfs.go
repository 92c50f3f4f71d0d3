package testbed

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcessUsage reads what process pid has used from /proc: its CPU time
// in seconds (utime + stime of /proc/pid/stat, in the 1/100 s ticks Linux
// reports to user space) and its peak resident memory in bytes (VmHWM of
// /proc/pid/status).
func ProcessUsage(pid int) (cpuSeconds float64, peakRSS int64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// from the last ')'. utime and stime are fields 14 and 15.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields after the name, want 13 or more", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, found := strings.CutPrefix(line, "VmHWM:"); found {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/%d/status: VmHWM %q", pid, v)
			}
			return float64(utime+stime) / 100, kb << 10, nil
		}
	}
	return 0, 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}
