package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"
)

// loss is one way a command's grant (a lock, a leadership, a task) can
// end, and how to say so.
type loss struct {
	c   <-chan struct{}
	why func() string
}

// supervise waits for cmd, which runs under a grant. It forwards signals
// to cmd. If a loss fires first, it says why, stops cmd (SIGTERM, then
// SIGKILL after killAfter) and returns lostErr: nobody may rely on the
// grant any more, so the command must not go on. If cmd exits first, it
// returns onExit's result for the command's end.
func supervise(verb string, cmd *exec.Cmd, exited <-chan error, sigs <-chan os.Signal, killAfter time.Duration,
	lostErr error, onExit func(error) error, losses ...loss) error {
	done := make(chan struct{})
	defer close(done)
	lost := make(chan string, 1)
	for _, l := range losses {
		go func(l loss) {
			select {
			case <-l.c:
				select {
				case lost <- l.why():
				default:
				}
			case <-done:
			}
		}(l)
	}
	for {
		select {
		case err := <-exited:
			return onExit(err)
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case why := <-lost:
			fmt.Fprintf(os.Stderr, "warden %s: %s; stopping %s\n", verb, why, cmd.Args[0])
			stop(cmd, exited, killAfter)
			return lostErr
		}
	}
}
