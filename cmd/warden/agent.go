package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/warden-dev/warden/agent"
)

func init() {
	register("agent", command{
		usage: "[--config FILE] (--dev | --server [--bootstrap-expect N] | replica flags) [--join ADDR]... [--bind IP] [--socket PATH] [--data-dir DIR] ...",
		help:  "run an agent",
		run:   runAgent,
	})
}

func runAgent(args []string) error {
	// Everything the agent creates (data dir, Raft log, snapshots) is
	// private to its user.
	syscall.Umask(0o077)
	af, err := loadAgentConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	cfg := af.cfg
	if af.validate {
		if err := cfg.Validate(); err != nil {
			return inputf("%v", err)
		}
		if af.config != "" {
			fmt.Printf("%s: ok\n", af.config)
		} else {
			fmt.Println("configuration ok")
		}
		return nil
	}
	a, err := agent.New(cfg, nil)
	if err != nil {
		return usagef("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := a.Logger()
	if err := a.Start(ctx); err != nil {
		if cfg.LogFormat == "json" {
			// A log shipper reads every line of standard error as JSON.
			log.Error("the agent did not start", "error", err)
			return &exitError{code: 1}
		}
		return err
	}
	if cfg.TLS != nil || cfg.AccessPolicy != "" {
		// SIGHUP re-reads the TLS files (renewed certificates take effect
		// for new connections, on the cluster port and the HTTP endpoint)
		// and the access policy, without a restart. Whatever fails to load
		// keeps its previous version.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for range hup {
				for _, r := range []struct {
					on   bool
					what string
					f    func() error
				}{{cfg.TLS != nil, "TLS certificates", a.Node().ReloadTLS}, {cfg.AccessPolicy != "", "access policy", a.ReloadPolicy}} {
					if !r.on {
						continue
					}
					if err := r.f(); err != nil {
						log.Error("reload failed; keeping the previous one", "what", r.what, "error", err)
					} else {
						log.Info("reloaded", "what", r.what)
					}
				}
			}
		}()
	}
	fmt.Printf("warden agent %s is ready\n  socket: %s\n  serf:   %s\n  rpc:    %s\n  http:   %s\n  try:    WARDEN_SOCKET=%s warden lock /demo -- echo held\n",
		cfg.NodeName, a.SocketPath(), a.Node().SerfAddr(), a.Node().RPCAddr(), a.HTTPAddr(), a.SocketPath())
	return a.Run(ctx)
}

// parse parses flags. -h and --help print the verb's usage and flags on
// standard output and exit 0; other flag errors go to standard error with
// the usage, and exit 2.
func parse(fs *flag.FlagSet, args []string) error {
	var out bufferWriter
	fs.SetOutput(&out)
	fs.Usage = func() {
		if c, ok := commands[fs.Name()]; ok {
			fmt.Fprintf(fs.Output(), "usage: warden %s %s\n\n%s\n", fs.Name(), c.usage, c.help)
			if c.long != "" {
				fmt.Fprintf(fs.Output(), "\n%s", c.long)
			}
		} else {
			fmt.Fprintf(fs.Output(), "usage: warden %s ...\n", fs.Name())
		}
		fmt.Fprintf(fs.Output(), "\nflags:\n")
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	fs.SetOutput(os.Stderr)
	if err != nil {
		if err == flag.ErrHelp {
			os.Stdout.Write(out.b)
			return &exitError{code: 0}
		}
		os.Stderr.Write(out.b)
		return &exitError{code: 2}
	}
	return nil
}

type bufferWriter struct{ b []byte }

func (w *bufferWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
