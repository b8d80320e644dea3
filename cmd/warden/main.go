// Command warden is Warden's single binary: the agent and the verbs that
// talk to it.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/warden-dev/warden/localapi/wire"
)

// command is one verb of the CLI.
type command struct {
	usage string // arguments, after the verb
	help  string // one line
	run   func(args []string) error
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

// usageError is a mistake in how the command was called (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitError carries a command's own exit status (warden lock exits with
// its child's).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage()
		if len(args) == 0 {
			return 2
		}
		return 0
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
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "warden %s: %s\nusage: warden %s %s\n", name, ue.msg, name, c.usage)
		return 2
	}
	fmt.Fprintf(os.Stderr, "warden %s: %s\n", name, oneLine(err.Error()))
	return 1
}

func printUsage() {
	fmt.Fprintln(os.Stderr, "usage: warden <command> [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", n, commands[n].help)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'warden <command> -h' for a command's flags.")
}

// socketUsage is the --socket flag's help for the client verbs.
func socketUsage() string {
	return "agent socket (default $WARDEN_SOCKET, then " + wire.DefaultSocketPath() + ")"
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
