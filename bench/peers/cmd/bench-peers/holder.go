package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/warden-dev/warden/bench/peers/system"
)

// holderLife is how long a holder process waits to be killed before it
// gives up and exits by itself.
const holderLife = 5 * time.Minute

// runHolder is the crash-failover helper: a separate app process that
// takes the lock key (or, with elect, leads the election key) on sys
// through endpoint, says "held" on stdout and waits for its SIGKILL.
func runHolder(sys system.System, endpoint, key string, elect bool, session time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), holderLife)
	defer cancel()
	c, err := sys.Dial(ctx, endpoint, system.DialOptions{SessionTimeout: session})
	if err != nil {
		return err
	}
	defer c.Close()
	var u system.Unlocker
	if elect {
		u, err = c.Campaign(ctx, key, []byte("holder"))
	} else {
		u, err = c.Lock(ctx, key)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, "held")
	<-ctx.Done()
	return u.Unlock(context.Background())
}
