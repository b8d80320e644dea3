package localapi

import (
	"strings"
	"testing"

	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

func TestPolicyParse(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader(`
# comments and blank lines are skipped
*          read   /
uid:1000   write  /app
gid:50     admin  /app/locks
uid:1001   write  /
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		peer Peer
		path string
		want Level
	}{
		{Peer{Uid: 7, Gid: 7}, "/", LevelRead},
		{Peer{Uid: 7, Gid: 7}, "/app/x", LevelRead},
		{Peer{Uid: 1000, Gid: 7}, "/app", LevelWrite},
		{Peer{Uid: 1000, Gid: 7}, "/app/x/y", LevelWrite},
		{Peer{Uid: 1000, Gid: 7}, "/apple", LevelRead}, // a prefix covers whole path elements only
		{Peer{Uid: 1000, Gid: 7}, "/other", LevelRead},
		{Peer{Uid: 1000, Gid: 50}, "/app/locks/a", LevelAdmin},
		{Peer{Uid: 1000, Gid: 7, Gids: []uint32{9, 50}}, "/app/locks", LevelAdmin}, // a supplementary group
		{Peer{Uid: 1001, Gid: 50}, "/app/locks/a", LevelAdmin},                     // the highest level wins
		{Peer{Uid: 1001, Gid: 7}, "/app/locks/a", LevelWrite},
	} {
		if got := p.Level(c.peer, c.path); got != c.want {
			t.Errorf("%+v on %s: got %s, want %s", c.peer, c.path, got, c.want)
		}
	}
	empty, err := ParsePolicy(strings.NewReader("# nobody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := empty.Level(Peer{Uid: 5}, "/"); got != LevelNone {
		t.Errorf("an empty policy grants %s", got)
	}
	for _, bad := range []string{
		"uid:1000 write",                // too few fields
		"uid:1000 write /a extra",       // too many
		"uid:x write /",                 // not a number
		"pid:5 write /",                 // no such subject
		"uid:1000 own /",                // no such level
		"uid:1000 write app",            // not absolute
		"uid:1000 write /app/",          // trailing slash
		"user:no-such-user-here read /", // unknown user
	} {
		if _, err := ParsePolicy(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		} else if !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %q does not name the line", bad, err)
		}
	}
}

// TestEveryOpHasAnAccessRule: a new op must say what it needs, or it would
// be open to anyone who reaches the socket by omission.
func TestEveryOpHasAnAccessRule(t *testing.T) {
	for op := range handlers {
		_, need := needs[op]
		if need == pathless[op] {
			t.Errorf("op %q must be in exactly one of needs and pathless", op)
		}
	}
}

func TestContenderNames(t *testing.T) {
	for name, want := range map[string]bool{
		"lock-0000000001": true, "latch-0000000042": true, "n-0000000042": false, "lease-0000000000": true,
		"lock-1": false, "lock-000000000x": false, "locks-0000000001": false, "config": false,
	} {
		if got := recipes.IsContenderName(name, false); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	if !recipes.IsContenderName("lock-", true) || recipes.IsContenderName("job-", true) || !recipes.IsContenderName("latch-", true) || recipes.IsContenderName("lock-0000000001", true) {
		t.Error("sequential prefixes misjudged")
	}
}

// TestOpTableMatchesTheAgent: the protocol's op table (localapi/wire/ops.go,
// from which the clients' tables are generated) lists exactly the ops the
// agent serves, with the same answer to "allowed without a session".
func TestOpTableMatchesTheAgent(t *testing.T) {
	described := map[string]bool{}
	for _, o := range wire.Ops {
		described[o.Op] = true
		if _, served := handlers[o.Op]; !served && o.Op != wire.OpHello && o.Op != wire.OpCancel {
			t.Errorf("the op table describes %q, which the agent does not serve", o.Op)
		}
		if o.Op != wire.OpHello && o.Op != wire.OpCancel && o.Sessionless != sessionless[o.Op] {
			t.Errorf("%q: the op table says sessionless=%v, the agent %v", o.Op, o.Sessionless, sessionless[o.Op])
		}
	}
	for op := range handlers {
		if !described[op] {
			t.Errorf("the agent serves %q, which the op table does not describe", op)
		}
	}
}
