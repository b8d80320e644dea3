package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/warden-dev/warden/localapi/wire"
)

// TestCreateTTL: warden create --ttl makes a TTL node that warden stat
// shows with its TTL and that is gone once the TTL has passed; days are
// accepted; a TTL that is not a positive duration, or with --container,
// is a usage error.
func TestCreateTTL(t *testing.T) {
	e := startAgent(t)
	c := e.dial()
	if r := e.cli("create", "--ttl", "1s", "/t", "x"); r.code != 0 || r.stdout != "/t\n" {
		t.Fatalf("create --ttl 1s: %+v", r)
	}
	r := e.cli("stat", "/t")
	if r.code != 0 || !strings.Contains(r.stdout, "ttl             1000 ms (1s), due ") {
		t.Fatalf("stat of a TTL node: %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, ok, w, err := c.ExistsW(ctx, "/t")
	if err != nil || !ok || st.TTL != 1000 {
		t.Fatalf("exists /t: %+v %v %v", st, ok, err)
	}
	if ev, err := w.Wait(ctx); err != nil || ev.Type != wire.ChangeDeleted {
		t.Fatalf("waiting for /t to expire: %+v %v", ev, err)
	}
	if now := time.Now().UnixMilli(); now < st.Mtime+1000 {
		t.Fatalf("/t deleted at %d, before its mtime %d + 1000 ms", now, st.Mtime)
	}
	if r := e.cli("stat", "/t"); r.code == 0 {
		t.Fatalf("stat of the expired node succeeded: %+v", r)
	}

	if r := e.cli("create", "-p", "--ttl", "7d", "/logs/2026-12-05"); r.code != 0 {
		t.Fatalf("create -p --ttl 7d: %+v", r)
	}
	r = e.cli("stat", "--json", "/logs/2026-12-05")
	var js struct {
		TTL int64 `json:"ttl"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &js) != nil || js.TTL != 7*24*3600*1000 {
		t.Fatalf("stat --json of a 7d node: %+v", r)
	}
	if r := e.cli("stat", "/logs"); strings.Contains(r.stdout, "ttl") {
		t.Fatalf("a parent made by -p has a TTL: %+v", r)
	}

	for _, tc := range []struct{ args []string }{
		{[]string{"create", "--ttl", "0s", "/bad"}},
		{[]string{"create", "--ttl", "-5m", "/bad"}},
		{[]string{"create", "--ttl", "soon", "/bad"}},
		{[]string{"create", "--ttl", "1.5d", "/bad"}},
		{[]string{"create", "--ttl", "1s", "--container", "/bad"}},
	} {
		if r := e.cli(tc.args...); r.code != 2 || r.stderr == "" {
			t.Errorf("warden %v: %+v, want a usage error", tc.args, r)
		}
	}
	if r := e.cli("stat", "/bad"); r.code == 0 {
		t.Fatalf("a refused create made /bad")
	}
}

func TestParseTTL(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "72h": 72 * time.Hour, "7d": 7 * 24 * time.Hour,
		"1d12h": 36 * time.Hour, "1ms": time.Millisecond, "1h30m": 90 * time.Minute,
	} {
		if got, err := parseTTL(in); err != nil || got != want {
			t.Errorf("parseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0d", "d", "x", "-1s", "1d-2h", "1.5d", "99999999d", "3 days"} {
		if got, err := parseTTL(in); err == nil {
			t.Errorf("parseTTL(%q) = %v, want an error", in, got)
		}
	}
}
