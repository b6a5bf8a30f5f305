package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// placeholderPattern is what a flag's placeholder must look like: a name
// in capitals for its value (FILE, DURATION, HOST:PORT), never urfave/cli's
// "value" nor a word of the usage text backquoted by accident.
var placeholderPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_:]*$`)

// TestHelpReadsRight renders the help of johnlocke and of every subcommand
// and checks each flag's line: one placeholder that names its value (none
// for a switch), at most one default, no stray backquote.
func TestHelpReadsRight(t *testing.T) {
	app := newApp(new(bytes.Buffer), new(bytes.Buffer))
	pages := []struct {
		args  []string
		flags []cli.Flag
	}{{[]string{"johnlocke", "--help"}, app.Flags}}
	for _, cmd := range app.Commands {
		pages = append(pages, struct {
			args  []string
			flags []cli.Flag
		}{[]string{"johnlocke", cmd.Name, "--help"}, cmd.Flags})
	}
	for _, page := range pages {
		t.Run(strings.Join(page.args[1:], " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(page.args, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			help := stdout.String()
			lines := strings.Split(help, "\n")
			for _, line := range lines {
				if n := strings.Count(line, "(default:"); n > 1 {
					t.Errorf("%d defaults in %q", n, line)
				}
				if strings.Contains(line, "`") {
					t.Errorf("a backquote left in %q", line)
				}
			}
			for _, f := range page.flags {
				name := f.Names()[0]
				line := flagLine(lines, name)
				if line == "" {
					t.Errorf("--%s is not in the help", name)
					continue
				}
				placeholder := placeholderOf(line, f.Names())
				takesValue := f.(cli.DocGenerationFlag).TakesValue()
				switch {
				case !takesValue && placeholder != "":
					t.Errorf("--%s is a switch but shows placeholder %q: %q", name, placeholder, line)
				case takesValue && !placeholderPattern.MatchString(placeholder):
					t.Errorf("--%s shows placeholder %q, want a name in capitals for its value: %q", name, placeholder, line)
				}
			}
		})
	}
}

// flagLine returns the help line that documents --name.
func flagLine(lines []string, name string) string {
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "--"+name+" ") || strings.HasPrefix(l, "--"+name+",") {
			return l
		}
	}
	return ""
}

// placeholderOf returns the word after a flag's names on its help line,
// "" when the usage text follows them directly.
func placeholderOf(line string, names []string) string {
	head, _, _ := strings.Cut(line, "  ") // names and placeholder end at the column gap
	for _, n := range names {
		prefix := "--"
		if len(n) == 1 {
			prefix = "-"
		}
		head = strings.Replace(head, prefix+n, "", 1)
	}
	head = strings.TrimLeft(head, ", ")
	word, _, _ := strings.Cut(head, " ")
	return word
}
