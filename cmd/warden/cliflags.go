package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	warden "github.com/warden-dev/warden/clients/go"
)

// How every verb reads its command line: flags (the std flag package,
// -flag or --flag) may come before, between or after the positional
// arguments; "--" ends them. The verbs that run a command (lock, elect,
// task) take it after "--", or from the first argument that is neither a
// flag nor one of their positionals. -h and --help print the verb's usage
// on standard output and exit 0.

// clientFlags are the flags every client verb takes.
type clientFlags struct {
	socket    string
	timeout   time.Duration
	noSession bool // read-only verbs: no session, so they work without a leader
}

// defaultOpTimeout is --op-timeout's default.
const defaultOpTimeout = 30 * time.Second

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.socket, "socket", "", socketUsage())
	fs.DurationVar(&c.timeout, "op-timeout", defaultOpTimeout,
		"give up on the agent after this long: bounds connecting and each call (the cluster's answer says why, e.g. no leader)")
}

// check refuses an --op-timeout that is not positive.
func (c *clientFlags) check() error {
	if c.timeout <= 0 {
		return usagef("--op-timeout must be positive, not %v", c.timeout)
	}
	return nil
}

// dial connects for a short-lived verb. The context bounds the whole verb.
func (c *clientFlags) dial() (*warden.Client, context.Context, context.CancelFunc, error) {
	if err := c.check(); err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	cl, err := warden.Dial(ctx, warden.Options{Socket: c.socket, Name: "warden-cli", NoSession: c.noSession})
	if err != nil {
		cancel()
		return nil, nil, nil, c.explain(err)
	}
	return cl, ctx, func() { cl.Close(); cancel() }, nil
}

// explain turns a bare deadline into what it means for the user.
func (c *clientFlags) explain(err error) error {
	if errors.Is(err, context.DeadlineExceeded) && warden.CodeOf(err) == "" {
		return fmt.Errorf("no answer from the agent at %s within --op-timeout %v", warden.SocketPath(c.socket), c.timeout)
	}
	return err
}

// run parses a client verb's flags and arguments, connects, runs f, and
// closes the connection.
func (c *clientFlags) run(fs *flag.FlagSet, args []string, minArgs, maxArgs int, f func(context.Context, *warden.Client) error) error {
	if err := parseArgs(fs, args, minArgs, maxArgs); err != nil {
		return err
	}
	cl, ctx, done, err := c.dial()
	if err != nil {
		return err
	}
	defer done()
	return c.explain(f(ctx, cl))
}

// parseArgs parses flags given before, between or after the positional
// arguments (after "--" everything is positional), checks the positional
// count, naming a missing one as the verb's usage does, and leaves the
// positionals in fs.Args().
func parseArgs(fs *flag.FlagSet, args []string, minArgs, maxArgs int) error {
	pos, _, err := scanArgs(fs, args, -1)
	if err != nil {
		return err
	}
	names := positionalNames(fs.Name())
	if len(pos) < minArgs {
		if len(pos) < len(names) {
			return usagef("missing %s", names[len(pos)])
		}
		return usagef("missing arguments")
	}
	if len(pos) > maxArgs {
		return usagef("unexpected argument %q", pos[maxArgs])
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

// parseCmd parses the command line of a verb that runs a command: the
// positionals names, then the command (after "--", or from the first
// argument past the positionals that is not a flag).
func parseCmd(fs *flag.FlagSet, args []string, names ...string) (pos, cmd []string, err error) {
	pos, cmd, err = scanArgs(fs, args, len(names))
	if err != nil {
		return nil, nil, err
	}
	if len(pos) < len(names) {
		return nil, nil, usagef("missing %s", names[len(pos)])
	}
	if len(cmd) == 0 {
		return nil, nil, usagef("missing CMD (give it after --)")
	}
	return pos, cmd, nil
}

// scanArgs parses the flags among args and returns the positionals. With
// names >= 0 it takes that many positionals at most, and returns what
// follows "--" (or the first argument past them that is not a flag) as
// cmd; with names < 0, what follows "--" is positional.
func scanArgs(fs *flag.FlagSet, args []string, names int) (pos, cmd []string, err error) {
	for {
		if err := parse(fs, args); err != nil {
			return nil, nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			// Flag parsing ended at "--".
			if names < 0 {
				return append(pos, rest...), nil, nil
			}
			return pos, rest, nil
		}
		if names >= 0 && len(pos) == names {
			return pos, rest, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// positionalNames are the positional arguments in a verb's usage line
// (PATH, [DATA]...), without brackets, in order; flags and their values
// are left out.
func positionalNames(verb string) []string {
	name, sub, _ := strings.Cut(verb, " ")
	c, ok := commands[name]
	if !ok {
		return nil
	}
	usage := c.usage
	if sub != "" {
		// A subcommand's usage is its alternative: "save FILE | inspect FILE".
		usage = ""
		for _, alt := range strings.Split(c.usage, " | ") {
			if rest, ok := strings.CutPrefix(alt, sub+" "); ok {
				usage = rest
			}
		}
	}
	var names []string
	afterFlag := false
	for _, w := range strings.Fields(usage) {
		isFlag := strings.HasPrefix(strings.TrimLeft(w, "[("), "-")
		bare := strings.Trim(w, "[]()|.")
		switch {
		case w == "--":
			return names
		case isFlag:
			afterFlag = !strings.HasSuffix(w, "]") && !strings.HasSuffix(w, ")")
		case afterFlag:
			afterFlag = false // the flag's value
		case bare != "" && bare == strings.ToUpper(bare) && w != "|":
			names = append(names, bare)
		}
	}
	return names
}
