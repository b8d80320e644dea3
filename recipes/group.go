package recipes

import (
	"context"
	"errors"

	"github.com/warden-dev/warden/fsm"
)

// Groups. A group is a node GroupRoot/GROUP (a container: it comes with its
// first member and goes with its last), and each member an ephemeral node
// GROUP/MEMBER holding the member's data, owned by the session that
// joined. A member is in the group exactly while its session lives: a
// process that exits or crashes leaves at once, an agent or host that goes
// away leaves when the leader expires its sessions. So the members of a
// group are the workers that are alive.
//
// A member id is unique within its group: joining with an id another
// session holds fails with node_exists. Joining again with an id this
// session already holds replaces the member's data.

// GroupRoot is where groups live.
const GroupRoot = "/warden/groups"

// Member is one member of a group. Token is the czxid of its node, which
// differs from one joining of the id to the next.
type Member struct {
	Member string
	Data   []byte
	Token  uint64
}

// MemberEvent is a watched group's change: a member joined or changed its
// data, or left (Left, with the member's last data).
type MemberEvent struct {
	Member Member
	Left   bool
}

var errNotGroupMember = &recipeError{"not a member of the group held by this session", ErrNotHeld}

// GroupPath returns the node of group.
func GroupPath(group string) (string, error) {
	if err := checkSegment(group, "group"); err != nil {
		return "", err
	}
	return GroupRoot + "/" + group, nil
}

// MemberPath returns the node of member in group.
func MemberPath(group, member string) (string, error) {
	gp, err := GroupPath(group)
	if err != nil {
		return "", err
	}
	if err := checkSegment(member, "member"); err != nil {
		return "", err
	}
	p := gp + "/" + member
	if err := fsm.ValidatePath(p); err != nil {
		return "", err
	}
	return p, nil
}

// Join makes session s member of group, with data. It returns the
// member's node and its token. A member id held by another session (or
// taken by a node that is not a member's) fails with node_exists; one held
// by this session has its data replaced.
//
// The write runs to completion even if ctx ends meanwhile, so that the
// caller learns whether it joined.
func (s Session) Join(ctx context.Context, group, member string, data []byte) (string, uint64, error) {
	path, err := MemberPath(group, member)
	if err != nil {
		return "", 0, err
	}
	for attempt := 0; ; attempt++ {
		stat, exists, _, err := s.Store.Exists(path, false)
		if err != nil {
			return "", 0, err
		}
		if exists {
			if stat.EphemeralOwner != s.ID {
				return "", 0, memberTaken(member, group)
			}
			res, err := s.writeDetached(ctx,
				fsm.Op{Kind: fsm.OpSet, Path: path, Data: data, Version: fsm.AnyVersion})
			switch {
			case err == nil:
				return path, res.Ops[0].Stat.Czxid, nil
			case errors.Is(err, fsm.ErrNoNode) && attempt < maxCreateAttempts:
				continue // it went meanwhile (its session ended): look again
			}
			return "", 0, err
		}
		op := fsm.Op{Kind: fsm.OpCreate, Path: path, Data: data, Ephemeral: true}
		created, err := s.createWithContainers(ctx, parentOf(path), op)
		switch {
		case err == nil:
			return path, created.Stat.Czxid, nil
		case errors.Is(err, fsm.ErrNodeExists) && attempt < maxCreateAttempts:
			continue // someone joined with the id meanwhile: whose is it?
		}
		return "", 0, err
	}
}

func memberTaken(member, group string) error {
	return &fsm.Error{Code: fsm.CodeNodeExists, Msg: "member " + fsm.QuoteName(member) + " of group " + fsm.QuoteName(group) + " is held by another session"}
}

// Leave ends session s's membership of group as member. It fails with
// ErrNotHeld when this session does not hold that member.
func (s Session) Leave(ctx context.Context, group, member string) error {
	path, err := MemberPath(group, member)
	if err != nil {
		return err
	}
	stat, exists, _, err := s.Store.Exists(path, false)
	if err != nil {
		return err
	}
	if !exists || stat.EphemeralOwner != s.ID {
		return errNotGroupMember
	}
	_, err = s.write(ctx, fsm.Op{Kind: fsm.OpDelete, Path: path, Version: fsm.AnyVersion})
	if errors.Is(err, fsm.ErrNoNode) {
		return errNotGroupMember
	}
	return err
}

// MembersOf returns the members of group, in id order, from the local
// replica. A group nobody is in has none.
func MembersOf(st Store, group string) ([]Member, error) {
	gp, err := GroupPath(group)
	if err != nil {
		return nil, err
	}
	kids, err := readChildren(st, gp)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(kids))
	for _, k := range kids {
		out = append(out, Member{Member: k.Name, Data: k.Data, Token: k.Stat.Czxid})
	}
	return out, nil
}

// GroupWatcher follows the members of a group. It is not safe for
// concurrent use.
type GroupWatcher struct{ v *childView }

// WatchGroup starts following group. The first events are its current
// members (as joined), then every join, change of data and leave, in
// order. The caller must Close it.
func WatchGroup(st Store, group string) (*GroupWatcher, error) {
	gp, err := GroupPath(group)
	if err != nil {
		return nil, err
	}
	v, err := newChildView(st, gp)
	if err != nil {
		return nil, err
	}
	return &GroupWatcher{v}, nil
}

// Next waits for the next event.
func (w *GroupWatcher) Next(ctx context.Context) (MemberEvent, error) {
	c, err := w.v.next(ctx)
	if err != nil {
		return MemberEvent{}, err
	}
	return MemberEvent{Member: Member{Member: c.Name, Data: c.Data, Token: c.Stat.Czxid}, Left: c.Removed}, nil
}

// Close ends the watcher; a blocked Next returns.
func (w *GroupWatcher) Close() { w.v.close() }
