package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ttlUsage is the --ttl flag's help.
const ttlUsage = "make a TTL node, deleted once `DURATION` has passed since its last change and it has no children: a Go duration (90s, 30m, 72h, 1h30m) with whole days allowed in front (7d, 1d12h); not with --container"

// parseTTL reads a TTL: a Go duration, optionally led by whole days
// ("7d", "1d12h"). It must be positive; the node keeps it in whole
// milliseconds.
func parseTTL(s string) (time.Duration, error) {
	rest := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 72h, 7d)", s)
		}
		days, rest = time.Duration(n)*24*time.Hour, s[i+1:]
		if days/(24*time.Hour) != time.Duration(n) {
			return 0, fmt.Errorf("%q is too long", s)
		}
	}
	var d time.Duration
	if rest != "" || days == 0 {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 72h, 7d)", s)
		}
	}
	total := days + d
	if total < days || (d < 0 && days > 0) {
		return 0, fmt.Errorf("%q is not a duration (e.g. 90s, 72h, 7d)", s)
	}
	if total <= 0 {
		return 0, errors.New("a TTL must be positive")
	}
	return total, nil
}

// ttlText describes a node's TTL for warden stat: the duration and when
// the node is due, given its mtime.
func ttlText(ttlMs, mtime int64) string {
	d := time.Duration(ttlMs) * time.Millisecond
	return fmt.Sprintf("%d ms (%v), due %s if it has no children", ttlMs, d, msTime(mtime+ttlMs))
}
