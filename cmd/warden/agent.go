package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/warden-dev/warden/agent"
)

func init() {
	register("agent", command{
		usage: "--dev [--socket PATH] [--data-dir DIR] [--node NAME] [--log-level LEVEL]",
		help:  "run an agent",
		run:   runAgent,
	})
}

func runAgent(args []string) error {
	cfg := agent.DefaultConfig()
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.BoolVar(&cfg.Dev, "dev", false, "run a single server; without --data-dir, data lives in a temporary folder")
	fs.StringVar(&cfg.SocketPath, "socket", envOr("WARDEN_SOCKET", cfg.SocketPath), "Unix socket for local apps (env WARDEN_SOCKET)")
	fs.StringVar(&cfg.DataDir, "data-dir", os.Getenv("WARDEN_DATA_DIR"), "data directory (env WARDEN_DATA_DIR)")
	fs.StringVar(&cfg.NodeName, "node", envOr("WARDEN_NODE", cfg.NodeName), "node name (env WARDEN_NODE)")
	fs.StringVar(&cfg.LogLevel, "log-level", envOr("WARDEN_LOG_LEVEL", cfg.LogLevel), "trace, debug, info, warn or error (env WARDEN_LOG_LEVEL)")
	fs.DurationVar(&cfg.DefaultSessionTimeout, "session-timeout", cfg.DefaultSessionTimeout, "session timeout for apps that ask for none")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if !cfg.Dev {
		return usagef("only --dev mode exists so far: run 'warden agent --dev'")
	}
	a, err := agent.New(cfg, nil)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("warden agent %s is ready\n  socket: %s\n  try:    WARDEN_SOCKET=%s warden lock /demo -- echo held\n",
		cfg.NodeName, cfg.SocketPath, cfg.SocketPath)
	return a.Run(ctx)
}

// parse parses flags, turning -h into a clean exit and other flag errors
// into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: 0}
		}
		return &exitError{code: 2}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
