package localapi

// Access control between the apps of one host.
//
// Every connection is tied to the process at its other end: the kernel
// reports the peer's pid, uid and gid (SO_PEERCRED), and its supplementary
// groups are read from /proc when the connection opens. A policy grants
// users and groups one of three levels on path prefixes:
//
//	read   get, exists, children, subscribe, watch, observe a leader,
//	       list a job's tasks or a group's members, read a counter
//	write  everything read allows, plus every write and recipe: create,
//	       set, delete, multi, lock, campaign, report, join, queue, ...
//	admin  write, plus setting or deleting another live session's
//	       ephemeral nodes (its lock contenders, its group membership)
//
// A request needs its level on every path it names; a recipe's paths are
// its own (a job's tasks live under /warden/progress/JOB, a group's
// members under /warden/groups/GROUP). Root and the agent's own user
// always have admin: they can read the data dir anyway.
//
// Policy file: one rule per line, "SUBJECT LEVEL PREFIX", where SUBJECT is
// uid:N, user:NAME, gid:N, group:NAME or * (anyone who can reach the
// socket), LEVEL is read, write or admin, and PREFIX an absolute path that
// covers itself and everything below it. A peer gets the highest level of
// the rules that match it and the path; none means no access. Blank lines
// and lines starting with # are ignored. Without a policy file every peer
// has write on everything, so no app can touch what another app holds.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/warden-dev/warden/fsm"
	"github.com/warden-dev/warden/localapi/wire"
	"github.com/warden-dev/warden/recipes"
)

// Level is what a policy grants on a path.
type Level uint8

// Levels, each including the ones before it.
const (
	LevelNone Level = iota
	LevelRead
	LevelWrite
	LevelAdmin
)

var levelNames = map[string]Level{"read": LevelRead, "write": LevelWrite, "admin": LevelAdmin}

func (l Level) String() string {
	for n, v := range levelNames {
		if v == l {
			return n
		}
	}
	return "none"
}

// Peer is the process at the other end of a connection.
type Peer struct {
	Pid  int32
	Uid  uint32
	Gid  uint32   // the primary group
	Gids []uint32 // the supplementary groups, when /proc tells them
}

// inGroup reports whether the peer is in group gid.
func (p Peer) inGroup(gid uint32) bool {
	if p.Gid == gid {
		return true
	}
	for _, g := range p.Gids {
		if g == gid {
			return true
		}
	}
	return false
}

// Policy grants levels on path prefixes to users and groups.
type Policy struct {
	rules []rule
}

type rule struct {
	anyone bool
	uid    *uint32
	gid    *uint32
	level  Level
	prefix string
	line   int
}

func (r rule) matches(p Peer, path string) bool {
	switch {
	case r.uid != nil && *r.uid != p.Uid:
		return false
	case r.gid != nil && !p.inGroup(*r.gid):
		return false
	}
	return covers(r.prefix, path)
}

// covers reports whether prefix is path or one of its ancestors.
func covers(prefix, path string) bool {
	if prefix == "/" || prefix == path {
		return true
	}
	return strings.HasPrefix(path, prefix) && path[len(prefix)] == '/'
}

// OpenPolicy is the policy without a file: anyone who reaches the socket
// may read and write everything, but not touch another session's
// ephemeral nodes.
func OpenPolicy() *Policy {
	return &Policy{rules: []rule{{anyone: true, level: LevelWrite, prefix: "/"}}}
}

// LoadPolicy reads a policy file.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("access policy: %w", err)
	}
	defer f.Close()
	p, err := ParsePolicy(f)
	if err != nil {
		return nil, fmt.Errorf("access policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy reads policy rules, one per line.
func ParsePolicy(r io.Reader) (*Policy, error) {
	p := &Policy{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want SUBJECT LEVEL PREFIX, got %q", n, line)
		}
		ru := rule{line: n}
		if err := ru.parseSubject(f[0]); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		lv, ok := levelNames[f[1]]
		if !ok {
			return nil, fmt.Errorf("line %d: level %q is not read, write or admin", n, f[1])
		}
		ru.level = lv
		if err := fsm.ValidatePath(f[2]); err != nil {
			return nil, fmt.Errorf("line %d: prefix %q: %v", n, f[2], err)
		}
		ru.prefix = f[2]
		p.rules = append(p.rules, ru)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

func (r *rule) parseSubject(s string) error {
	if s == "*" {
		r.anyone = true
		return nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return fmt.Errorf("subject %q is not uid:N, user:NAME, gid:N, group:NAME or *", s)
	}
	var id string
	switch kind {
	case "uid", "gid":
		id = name
	case "user":
		u, err := user.Lookup(name)
		if err != nil {
			return fmt.Errorf("subject %q: %v", s, err)
		}
		id, kind = u.Uid, "uid"
	case "group":
		g, err := user.LookupGroup(name)
		if err != nil {
			return fmt.Errorf("subject %q: %v", s, err)
		}
		id, kind = g.Gid, "gid"
	default:
		return fmt.Errorf("subject %q is not uid:N, user:NAME, gid:N, group:NAME or *", s)
	}
	v, err := strconv.ParseUint(id, 10, 32)
	if err != nil {
		return fmt.Errorf("subject %q: %q is not a number", s, id)
	}
	n := uint32(v)
	if kind == "uid" {
		r.uid = &n
	} else {
		r.gid = &n
	}
	return nil
}

// Level returns the highest level the policy grants p on path.
func (pol *Policy) Level(p Peer, path string) Level {
	best := LevelNone
	for _, r := range pol.rules {
		if r.level > best && r.matches(p, path) {
			best = r.level
		}
	}
	return best
}

// supplementaryGroups reads a process's groups from /proc; nil when it
// cannot (the process is gone, or /proc is not there).
func supplementaryGroups(pid int32) []uint32 {
	if pid <= 0 {
		return nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/status")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		var out []uint32
		for _, f := range strings.Fields(rest) {
			if v, err := strconv.ParseUint(f, 10, 32); err == nil {
				out = append(out, uint32(v))
			}
		}
		return out
	}
	return nil
}

// needs maps each op to the level it needs on every path it names. Ops
// not here name no path: ping, hello, sync, status, members, cancel,
// unsubscribe. A test checks every registered op is in one list or the
// other, so a new op cannot go unguarded by omission.
var needs = map[string]Level{
	wire.OpGet: LevelRead, wire.OpExists: LevelRead, wire.OpChildren: LevelRead,
	wire.OpSubscribe: LevelRead, wire.OpLockCheck: LevelRead, wire.OpLeader: LevelRead,
	wire.OpObserve: LevelRead, wire.OpProgressGet: LevelRead, wire.OpProgressWatch: LevelRead,
	wire.OpMembersOf: LevelRead, wire.OpGroupWatch: LevelRead, wire.OpCounterGet: LevelRead,
	wire.OpBarrierWait: LevelRead, wire.OpSessions: LevelRead,

	wire.OpCreate: LevelWrite, wire.OpSet: LevelWrite, wire.OpDelete: LevelWrite,
	wire.OpMulti: LevelWrite, wire.OpLock: LevelWrite, wire.OpUnlock: LevelWrite,
	wire.OpReadLock: LevelWrite, wire.OpWriteLock: LevelWrite,
	wire.OpSemAcquire: LevelWrite, wire.OpSemRelease: LevelWrite,
	wire.OpCampaign: LevelWrite, wire.OpResign: LevelWrite, wire.OpProclaim: LevelWrite,
	wire.OpBarrierSet: LevelWrite, wire.OpBarrierRemove: LevelWrite,
	wire.OpBarrierEnter: LevelWrite, wire.OpBarrierLeave: LevelWrite,
	wire.OpQueuePut: LevelWrite, wire.OpQueueTake: LevelWrite,
	wire.OpCounterAdd: LevelWrite, wire.OpCounterCAS: LevelWrite,
	wire.OpReport: LevelWrite, wire.OpJoin: LevelWrite, wire.OpLeave: LevelWrite,
}

// pathless lists the ops that name no path, so need no level.
var pathless = map[string]bool{
	wire.OpPing: true, wire.OpHello: true, wire.OpSync: true, wire.OpStatus: true,
	wire.OpMembers: true, wire.OpCancel: true, wire.OpUnsubscribe: true,
	// The keyring ops name no path; they check their own, stricter rule.
	wire.OpKeyringList: true, wire.OpKeyringInstall: true, wire.OpKeyringUse: true, wire.OpKeyringRemove: true,
	// The snapshot and peer ops name no path; they need admin on "/"
	// (see operator.go).
	wire.OpSnapshotSave: true, wire.OpSnapshotRestore: true, wire.OpRemovePeer: true, wire.OpForceLeave: true,
}

// privileged reports whether the peer is root or the agent's own user.
func (c *conn) privileged() bool {
	return c.peer.Uid == 0 || c.peer.Uid == c.s.euid
}

// level is what this connection's peer may do on path.
func (c *conn) level(path string) Level {
	if c.privileged() {
		return LevelAdmin
	}
	return c.s.policy.Load().Level(c.peer, path)
}

// authorize refuses a request whose peer lacks the level it needs on a
// path it names. A name the recipes cannot turn into a path is let through:
// the handler refuses it as bad arguments.
func (c *conn) authorize(req *wire.Request) *wire.Error {
	need, ok := needs[req.Op]
	if !ok {
		return nil
	}
	check := func(need Level, path string) *wire.Error {
		if path == "" {
			path = "/"
		}
		if got := c.level(path); got < need {
			return wire.Errorf(wire.CodePermissionDenied, fmt.Sprintf("permission denied: uid %d may not %s %s (it has %s, %s needs %s)",
				c.peer.Uid, req.Op, fsm.QuoteName(path), got, req.Op, need))
		}
		return nil
	}
	switch req.Op {
	case wire.OpMulti:
		for i, o := range req.Ops {
			need := LevelWrite
			if o.Op == wire.OpCheck {
				need = LevelRead
			}
			if werr := check(need, o.Path); werr != nil {
				werr.Index = &i
				return werr
			}
		}
		return nil
	case wire.OpSessions:
		return check(need, "/")
	case wire.OpReport:
		if p, err := recipes.TaskPath(req.Job, req.Task); err == nil {
			return check(need, p)
		}
		return nil
	case wire.OpProgressGet, wire.OpProgressWatch:
		if p, err := recipes.JobPath(req.Job); err == nil {
			return check(need, p)
		}
		return nil
	case wire.OpJoin, wire.OpLeave:
		if p, err := recipes.MemberPath(req.Group, req.Member); err == nil {
			return check(need, p)
		}
		return nil
	case wire.OpMembersOf, wire.OpGroupWatch:
		if p, err := recipes.GroupPath(req.Group); err == nil {
			return check(need, p)
		}
		return nil
	case wire.OpUnlock, wire.OpResign, wire.OpProclaim, wire.OpSemRelease:
		return check(need, req.Key)
	}
	return check(need, req.Path)
}

// guard marks an app's raw write so that it cannot set or delete another
// session's ephemeral node unless the peer has admin on its path, and
// refuses what an app's own create may not make without admin: a
// persistent node or container named like a recipe's contender
// (lock-0000000001, latch-0000000001, lease-0000000001). Recipes ignore such
// nodes anyway; refusing them keeps a lock path free of look-alikes, which
// a Curator app sharing the path (through the ZooKeeper port) would count:
// Curator's recipes count every child. The recipes' lines also take in
// Curator's protected names (_c_<uuid>-lock-0000000001), ephemeral only.
func (c *conn) guard(op *fsm.Op) *wire.Error {
	admin := c.level(op.Path) >= LevelAdmin
	op.Guarded = !admin
	if op.Kind == fsm.OpCreate && !op.Ephemeral && !admin && recipes.IsContenderName(baseName(op.Path), op.Sequential) {
		return wire.Errorf(wire.CodePermissionDenied, fmt.Sprintf(
			"permission denied: %s is named like a lock, election or semaphore contender, and those must be ephemeral", fsm.QuoteName(op.Path)))
	}
	return nil
}

func baseName(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}
