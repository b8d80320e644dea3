package recipes

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// A read-write lock at PATH shares the lock recipe's line: every contender
// is an ephemeral sequential node PATH/lock-NNNNNNNNNN, in one sequence, so
// the order of arrival across readers and writers is the byte order of the
// names. A read contender holds "read" as its data; every other contender
// is a writer, so a plain lock on the same path is a write lock, and
// unlock (Release) and the lock-delay work unchanged.
//
//   - A writer holds when it is first, and waits watching only the
//     contender just ahead of it: it is exactly a plain lock.
//   - A reader holds when no writer is ahead of it, and waits watching only
//     the nearest writer ahead of it. The readers behind one writer all
//     wake when it goes, which is the point: they all hold then.
//   - Fair: a reader that arrives after a waiting writer waits behind it,
//     so a stream of readers never starves a writer.
//
// Token is the czxid of the contender, as for a lock: tokens of writers
// strictly increase from one writer to the next, and every reader's token
// is above the token of the writer before it and below that of the writer
// after it.

// readMark is the data of a read contender.
var readMark = []byte("read")

// ReadLock takes the lock at path for reading, for session s: it is held
// alongside other readers, never alongside a writer. wait is as for
// Acquire. On any failure the contender node is removed.
func (s Session) ReadLock(ctx context.Context, path string, wait time.Duration) (*Lease, error) {
	if err := checkRecipePath(path, "a lock"); err != nil {
		return nil, err
	}
	created, err := s.createWithContainers(ctx, path,
		fsm.Op{Kind: fsm.OpCreate, Path: path + "/" + lockPrefix, Data: readMark, Ephemeral: true, Sequential: true})
	if err != nil {
		return nil, err
	}
	key := created.Path
	if ctx.Err() != nil {
		s.abandon(key)
		return nil, ctx.Err()
	}
	readers := map[string]bool{} // contender name -> is a reader; a node's kind never changes
	err = s.waitInLine(ctx, path, key, wait,
		func() (string, error) { return writerAhead(s.Store, path, key, readers) }, ErrNotAcquired, ErrNotHeld)
	if err != nil {
		return nil, err
	}
	return &Lease{Path: path, Key: key, Token: created.Stat.Czxid}, nil
}

// WriteLock takes the lock at path for writing, for session s: it is
// held by nobody else, reader or writer. It is the lock recipe itself
// (Acquire): a writer's contender is an ordinary lock contender.
func (s Session) WriteLock(ctx context.Context, path string, wait time.Duration) (*Lease, error) {
	return s.Acquire(ctx, path, wait)
}

// writerAhead returns the nearest writer ahead of key in the line at path,
// or "" when there is none. readers caches the kinds already read. It
// fails with ErrNotHeld when key itself is gone (its session ended).
func writerAhead(st Store, path, key string, readers map[string]bool) (string, error) {
	kids, _, _, err := st.Children(path, false)
	if errors.Is(err, fsm.ErrNoNode) {
		return "", ErrNotHeld
	}
	if err != nil {
		return "", err
	}
	line, err := inLine(st, path, kids, lockPrefix)
	if err != nil {
		return "", err
	}
	me := -1
	for i, k := range line {
		if path+"/"+k == key {
			me = i
			break
		}
	}
	if me < 0 {
		return "", ErrNotHeld
	}
	for i := me - 1; i >= 0; i-- {
		name := line[i]
		reader, known := readers[name]
		if !known {
			data, _, _, err := st.Get(path+"/"+name, false)
			if errors.Is(err, fsm.ErrNoNode) {
				continue // gone since the listing
			}
			if err != nil {
				return "", err
			}
			reader = isReader(data)
			readers[name] = reader
		}
		if !reader {
			return path + "/" + name, nil
		}
	}
	return "", nil
}

// isReader reports whether a lock contender's data marks a read lease.
func isReader(data []byte) bool { return bytes.Equal(data, readMark) }
