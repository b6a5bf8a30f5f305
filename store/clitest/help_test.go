package clitest

import (
	"regexp"
	"strings"
	"testing"
)

// helpFlag is one flag's line in a help page.
type helpFlag struct {
	names       []string // without dashes, the long name first
	placeholder string   // the word after the names, "" for none
	line        string
}

// helpFlags runs `johnlocke [CMD] --help` (cmd "" for johnlocke's own
// page) and returns the flags of its OPTIONS or GLOBAL OPTIONS section, as
// urfave/cli renders them: "--name PLACEHOLDER, -n PLACEHOLDER  usage".
func helpFlags(t *testing.T, cmd string) []helpFlag {
	t.Helper()
	var flags []helpFlag
	inOptions := false
	for _, line := range strings.Split(helpPage(t, cmd), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasSuffix(line, "OPTIONS:"):
			inOptions = true
		case line == "":
			inOptions = false
		case inOptions && strings.HasPrefix(line, "-"):
			// The names and placeholder end at the gap before the usage.
			head, _, _ := strings.Cut(line, "  ")
			f := helpFlag{line: line}
			for _, name := range strings.Split(head, ", ") {
				// A repeatable flag adds "[ --name PLACEHOLDER ]".
				words := strings.Fields(name)
				f.names = append(f.names, strings.TrimLeft(words[0], "-"))
				if len(words) > 1 && f.placeholder == "" {
					f.placeholder = words[1]
				}
			}
			flags = append(flags, f)
		}
	}
	if len(flags) == 0 {
		t.Fatalf("johnlocke %s --help lists no flags", cmd)
	}
	return flags
}

// helpPage is the output of `johnlocke [CMD] --help`, which must exit 0.
func helpPage(t *testing.T, cmd string) string {
	t.Helper()
	r := run(t, nil, helpArgs(cmd)...)
	if r.code != 0 {
		t.Fatalf("johnlocke %s --help: exit %d\n%s", cmd, r.code, r.stderr)
	}
	return r.stdout
}

func helpArgs(cmd string, more ...string) []string {
	args := []string{"--help"}
	if cmd != "" {
		args = []string{cmd, "--help"}
	}
	return append(args, more...)
}

// placeholderPattern is what a flag's placeholder must look like: a name
// in capitals for its value (FILE, DURATION, HOST:PORT), never urfave/cli's
// "value" nor a word of the usage text backquoted by accident.
var placeholderPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_:]*$`)

// TestHelpReadsRight renders the help of johnlocke and of every subcommand
// it lists and checks each flag's line: one placeholder that names its
// value (none for a switch), at most one default, no stray backquote.
func TestHelpReadsRight(t *testing.T) {
	cmds := []string{""}
	inCommands := false
	for _, line := range strings.Split(helpPage(t, ""), "\n") {
		switch {
		case strings.TrimSpace(line) == "COMMANDS:":
			inCommands = true
		case strings.TrimSpace(line) == "":
			inCommands = false
		case inCommands:
			cmds = append(cmds, strings.Fields(line)[0])
		}
	}
	if len(cmds) < 2 {
		t.Fatal("johnlocke --help lists no subcommands")
	}
	for _, cmd := range cmds {
		t.Run("johnlocke "+cmd, func(t *testing.T) {
			for _, line := range strings.Split(helpPage(t, cmd), "\n") {
				if n := strings.Count(line, "(default:"); n > 1 {
					t.Errorf("%d defaults in %q", n, line)
				}
				if strings.Contains(line, "`") {
					t.Errorf("a backquote left in %q", line)
				}
			}
			for _, f := range helpFlags(t, cmd) {
				name := f.names[0]
				switch takes := takesValue(t, cmd, name); {
				case !takes && f.placeholder != "":
					t.Errorf("--%s is a switch but shows placeholder %q: %q", name, f.placeholder, f.line)
				case takes && !placeholderPattern.MatchString(f.placeholder):
					t.Errorf("--%s shows placeholder %q, want a name in capitals for its value: %q", name, f.placeholder, f.line)
				}
			}
		})
	}
}

// takesValue asks the binary whether --name of cmd takes a value: given
// last, after --help, a flag that wants a value has none and the command
// line is a usage error, while a switch leaves --help to print the page.
// Either way nothing runs.
func takesValue(t *testing.T, cmd, name string) bool {
	t.Helper()
	r := run(t, nil, helpArgs(cmd, "--"+name)...)
	switch {
	case r.code == 0:
		return false
	case r.code == 2 && strings.Contains(r.stderr, "flag needs an argument: -"+name):
		return true
	}
	t.Fatalf("johnlocke %s --help --%s: exit %d, want 0 (a switch) or 2 (a flag that takes a value)\n%s", cmd, name, r.code, r.stderr)
	return false
}
