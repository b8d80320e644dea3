package recipes

import (
	"context"
	"errors"
	"strings"

	"github.com/warden-dev/warden/fsm"
)

// Reclaim deletes the places in line a resumed session holds that its app
// does not know of: of owned, the session's ephemeral nodes, each named
// like a lock, read-write lock, semaphore or election contender and not
// in holds, the keys the app holds. Those are what grant requests in
// flight when the app's connection dropped left queued (their waits
// ended with the connection; their nodes live on with the session), and
// grants whose reply never reached the app. Left alone they would reach
// the head of their line and hold it for nobody.
//
// Other ephemeral nodes (group memberships, tasks, the app's own) are
// the app's, known or not, and stay. A node already gone is no error. It
// returns how many nodes it deleted.
func (s Session) Reclaim(ctx context.Context, owned, holds []string) (int, error) {
	keep := make(map[string]bool, len(holds))
	for _, h := range holds {
		keep[h] = true
	}
	n := 0
	for _, p := range owned {
		if keep[p] || !IsContenderName(p[strings.LastIndexByte(p, '/')+1:], false) {
			continue
		}
		_, err := s.write(ctx, fsm.Op{Kind: fsm.OpDelete, Path: p, Version: fsm.AnyVersion})
		switch {
		case errors.Is(err, fsm.ErrNoNode):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}
