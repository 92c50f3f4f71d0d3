package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// The command line's conventions, shared by every command:
//
//   - --help (or -h, or `grpclb help CMD`) prints the command's help on
//     stdout and exits 0, so `grpclb lab --help | less` works;
//   - a mistake in the command line is one line on stderr, ending with
//     where to look (see 'grpclb CMD --help'), and exit status 2;
//   - a failure at run time is one line on stderr and exit status 1.

// usageError is a mistake in the command line.
type usageError struct {
	cmd string // "lab", "bench", ...; "" for grpclb itself
	msg string
}

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError of command cmd.
func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// checkFileArg lets --check take the config file as its argument
// (grpclb proxy --check FILE, as nginx -t and haproxy -c read it): with
// --check and no --config, a single positional argument is the file. It
// returns the positional arguments left.
func checkFileArg(check bool, config *string, pos []string) []string {
	if check && *config == "" && len(pos) == 1 {
		*config = pos[0]
		return nil
	}
	return pos
}

// errHelpShown says that the command printed its help, as asked: exit 0.
var errHelpShown = errors.New("help shown")

// command is one of grpclb's commands, for main and `grpclb help CMD`.
type command struct {
	name string
	run  func(args []string, stdout, stderr io.Writer) error
}

// exitCode prints err as the conventions say and returns the exit status.
func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &ue):
		name := "grpclb"
		if ue.cmd != "" {
			name += " " + ue.cmd
		}
		fmt.Fprintf(stderr, "%s: %s (see '%s --help')\n", name, ue.msg, name)
		return 2
	default:
		fmt.Fprintln(stderr, "grpclb:", err)
		return 1
	}
}

// parseFlags parses a command's flags, which may come before and after its
// positional arguments (grpclb bench TARGET --rate 500), and returns the
// positional ones. --help prints help (its text, then the flags) on stdout
// and returns errHelpShown; a bad flag returns a usageError of one line.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, help string) ([]string, error) {
	fs.SetOutput(io.Discard) // the flag package's own messages and usage are replaced
	fs.Usage = func() {}
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, help)
			printFlags(stdout, fs)
			return nil, errHelpShown
		}
		if err != nil {
			return nil, usagef(fs.Name(), "%s", flagError(err))
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// flagError rewords the flag package's messages in the --flag spelling.
func flagError(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"flag provided but not defined: -", "flag needs an argument: -"} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			return strings.TrimSuffix(prefix, "-") + "--" + rest
		}
	}
	// invalid value "x" for flag -rate: parse error
	return strings.Replace(msg, "for flag -", "for flag --", 1)
}

// printFlags prints the flags as `--name type` with their help and
// default, in the --flag spelling the help texts use.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Flags:")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "        %s", strings.ReplaceAll(usage, "\n", "\n        "))
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" && !strings.Contains(usage, "(default") {
			if name == "string" {
				d = fmt.Sprintf("%q", d)
			}
			fmt.Fprintf(w, " (default %s)", d)
		}
		fmt.Fprintln(w)
	})
}

// newFlagSet returns a command's flag set; parseFlags reports its errors.
func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
