package recipes

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/warden-dev/warden/fsm"
)

// A counter at PATH is a persistent node whose data is the value as decimal
// text ("42"), so that `warden get PATH` shows it. A missing node is 0; the
// first change creates it (and its missing ancestors, as containers). An
// update reads the value and its version and writes the new value on the
// condition that the version is unchanged; when another update got in
// between (bad_version) it reads again and retries, so every update is
// applied exactly once, atomically (Curator's DistributedAtomicLong,
// without its lock).
//
// Reads are the agent's replica, like get: a counter_get may trail a
// change just made through another agent. Updates are always against the
// latest value: a stale read fails its version check and is read again.

// CounterValue is a counter's value, and the version of its node (-1 when
// the node does not exist yet). Swapped answers a compare-and-set.
type CounterValue struct {
	Value   int64
	Version int32
	Swapped bool
}

// errOverflow refuses an add whose result does not fit in an int64.
var errOverflow = badArgs("the counter would overflow")

// CounterGet returns the value of the counter at path from the local
// replica.
func CounterGet(st Store, path string) (CounterValue, error) {
	if err := checkRecipePath(path, "a counter"); err != nil {
		return CounterValue{}, err
	}
	v, _, err := readCounter(st, path)
	return v, err
}

// CounterAdd adds delta to the counter at path, for session s, and
// returns the new value. An add of 0 writes nothing.
func (s Session) CounterAdd(ctx context.Context, path string, delta int64) (CounterValue, error) {
	if err := checkRecipePath(path, "a counter"); err != nil {
		return CounterValue{}, err
	}
	return s.updateCounter(ctx, path, func(cur int64) (int64, bool, error) {
		if delta == 0 {
			return cur, false, nil
		}
		if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
			return 0, false, errOverflow
		}
		return cur + delta, true, nil
	})
}

// CounterCAS sets the counter at path to value if it is expect, for
// session s. The result's Swapped says whether it did; its Value is the
// counter's value afterwards (the one that differed from expect, if not).
func (s Session) CounterCAS(ctx context.Context, path string, expect, value int64) (CounterValue, error) {
	if err := checkRecipePath(path, "a counter"); err != nil {
		return CounterValue{}, err
	}
	v, err := s.updateCounter(ctx, path, func(cur int64) (int64, bool, error) {
		return value, cur == expect, nil
	})
	return v, err
}

// updateCounter applies next to the counter at path until its conditional
// write succeeds. next returns the new value and whether to write it at
// all. Each write runs to completion even if ctx ends, so that the caller
// learns whether its update was applied; ctx is checked between attempts.
func (s Session) updateCounter(ctx context.Context, path string, next func(int64) (int64, bool, error)) (CounterValue, error) {
	for {
		if err := ctx.Err(); err != nil {
			return CounterValue{}, err
		}
		cur, exists, err := readCounter(s.Store, path)
		if err != nil {
			return CounterValue{}, err
		}
		val, apply, err := next(cur.Value)
		if err != nil || !apply {
			return cur, err
		}
		data := []byte(strconv.FormatInt(val, 10))
		ops := []fsm.Op{{Kind: fsm.OpSet, Path: path, Data: data, Version: cur.Version}}
		if !exists {
			if ops, err = missingContainers(s.Store, parentOf(path)); err != nil {
				return CounterValue{}, err
			}
			ops = append(ops, fsm.Op{Kind: fsm.OpCreate, Path: path, Data: data})
		}
		res, err := s.writeDetached(ctx, ops...)
		switch {
		case err == nil:
			return CounterValue{Value: val, Version: res.Ops[len(res.Ops)-1].Stat.Version, Swapped: true}, nil
		case errors.Is(err, fsm.ErrBadVersion), errors.Is(err, fsm.ErrNodeExists), errors.Is(err, fsm.ErrNoNode):
			continue // another update got in first: read again
		}
		return CounterValue{}, err
	}
}

// readCounter reads the counter at path; a missing node is 0 at version -1.
func readCounter(st Store, path string) (CounterValue, bool, error) {
	data, stat, _, err := st.Get(path, false)
	if errors.Is(err, fsm.ErrNoNode) {
		return CounterValue{Value: 0, Version: -1}, false, nil
	}
	if err != nil {
		return CounterValue{}, false, err
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return CounterValue{Value: 0, Version: stat.Version}, true, nil
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return CounterValue{}, false, badArgs("the data of " + path + " is not a counter (decimal text)")
	}
	return CounterValue{Value: v, Version: stat.Version}, true, nil
}
