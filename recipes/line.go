package recipes

import (
	"context"
	"errors"
	"time"
)

// waitInLine waits until key, this session's node in the line of
// contenders at path, may proceed: when ahead names no node that blocks it,
// and any lock-delay on path has passed. It watches only the blocking node
// and key itself, so a key deleted by another session ends the wait (with
// gone) instead of lasting until the node ahead goes. When the wait fails,
// key is removed (unless it is gone already); a try, or a wait that ran
// out, fails with notGranted.
//
// The lock, the read lock and the election differ only in ahead (the
// predecessor, or the nearest writer) and in the words of their errors.
func (s Session) waitInLine(ctx context.Context, path, key string, wait time.Duration,
	ahead func() (string, error), notGranted, gone error) error {
	dl := newDeadline(wait)
	defer dl.stop()
	for {
		blocker, err := ahead()
		if err != nil {
			if !errors.Is(err, ErrNotHeld) {
				s.abandon(key)
			}
			return err
		}
		if blocker == "" {
			held, err := sitOutLockDelay(ctx, s.Store, path, dl.try(), dl.C())
			if err != nil {
				s.abandon(key)
				if errors.Is(err, ErrNotAcquired) {
					return notGranted
				}
				return err
			}
			if held {
				continue
			}
			return nil
		}
		if dl.try() {
			s.abandon(key)
			return notGranted
		}
		_, exists, w, err := s.Store.Exists(blocker, true)
		if err != nil {
			s.abandon(key)
			return err
		}
		if !exists {
			s.Store.StopWatch(w)
			continue
		}
		_, mine, own, err := s.Store.Exists(key, true)
		if err != nil || !mine {
			s.Store.StopWatch(w)
			s.Store.StopWatch(own)
			if err != nil {
				s.abandon(key)
				return err
			}
			return gone
		}
		select {
		case <-w.C():
		case <-own.C():
		case <-dl.C():
			err = notGranted
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.Store.StopWatch(w)
		s.Store.StopWatch(own)
		if err != nil {
			s.abandon(key)
			return err
		}
	}
}
