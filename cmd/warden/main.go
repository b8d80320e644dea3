// Command warden is Warden's single binary: the agent and the verbs that
// talk to it.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/warden-dev/warden/localapi/wire"
)

// command is one verb of the CLI.
type command struct {
	usage string // arguments, after the verb
	help  string // one line
	long  string // more, for -h (optional)
	run   func(args []string) error
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

// usageError is a mistake in how the command was called (exit status 2).
// quiet ones (bad settings in a config file) are not followed by the
// verb's usage.
type usageError struct {
	msg   string
	quiet bool
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// inputf is a usage error about input other than the arguments (exit
// status 2, without the usage line).
func inputf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), quiet: true}
}

// exitError carries a command's own exit status (warden lock exits with
// its child's, or 124 when the lock did not come in time), and the
// message to print first, if any.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		printUsage(os.Stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 {
			// warden help VERB: the verb's -h.
			if _, ok := commands[args[1]]; ok {
				return run([]string{args[1], "-h"})
			}
		}
		printUsage(os.Stdout)
		return 0
	case "--version", "-version":
		args = append([]string{"version"}, args[1:]...)
	}
	name := args[0]
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "warden: unknown command %q (run 'warden help')\n", name)
		return 2
	}
	err := c.run(args[1:])
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintf(os.Stderr, "warden %s: %s\n", name, oneLine(ee.msg))
		}
		return ee.code
	case errors.As(err, &ue) && ue.quiet:
		fmt.Fprintf(os.Stderr, "warden %s: %s\n", name, ue.msg)
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "warden %s: %s\nusage: warden %s %s\n", name, ue.msg, name, c.usage)
		return 2
	}
	fmt.Fprintf(os.Stderr, "warden %s: %s\n", name, oneLine(err.Error()))
	return 1
}

// printUsage lists the verbs: on standard output when asked for (-h),
// on standard error after a mistake.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: warden <command> [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].help)
	}
	fmt.Fprintln(w, "\nRun 'warden <command> -h' for a command's flags, 'warden --version' for the version.")
}

// socketUsage is the --socket flag's help for the client verbs.
func socketUsage() string {
	return "agent socket (default $WARDEN_SOCKET, then " + wire.DefaultSocketPath() + ")"
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// helpAsked reports whether args ask a verb without flags of its own for
// its usage.
func helpAsked(args []string) bool {
	return len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help")
}

// printVerbUsage prints a verb's usage on standard output.
func printVerbUsage(name string) error {
	c := commands[name]
	fmt.Printf("usage: warden %s %s\n\n%s\n", name, c.usage, c.help)
	if c.long != "" {
		fmt.Printf("\n%s", c.long)
	}
	return nil
}
