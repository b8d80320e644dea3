package recipes

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/warden-dev/warden/fsm"
)

// An election at PATH is the lock recipe with a value: each candidate is an
// ephemeral sequential node PATH/latch-NNNNNNNNNN holding the candidate's
// value, and the leader is the first of them by sequence. It is the layout
// of Curator's LeaderLatch, whose candidates (_c_<uuid>-latch-NNNNNNNNNN)
// take their places in the same line (see inLine), so a Curator latch and
// a Warden candidate on one path elect one leader between them. (Curator's
// LeaderSelector is a mutex, lock- nodes: Warden's lock joins it.) A
// candidate waits watching only the candidate just ahead of it, so a
// leader's end wakes one candidate, not all. The leader's token is the czxid of its node, so
// tokens strictly increase from one leader to the next.

// candidatePrefix names an election's candidate nodes:
// PATH/latch-0000000042, as Curator's LeaderLatch names its own.
const candidatePrefix = "latch-"

// Leadership is a won election. Token is its fencing token: the zxid that
// created the candidate node, so tokens strictly increase from one leader
// to the next.
type Leadership struct {
	Path  string // the election
	Key   string // the leader's candidate node, PATH/latch-NNNNNNNNNN
	Token uint64
}

// LeaderInfo says who leads an election: the first candidate's node, its
// value and token. Key is empty when nobody does.
type LeaderInfo struct {
	Key   string
	Value []byte
	Token uint64
}

var (
	errNotElected   = &recipeError{"not elected within the wait", ErrNotAcquired}
	errNotCandidate = &recipeError{"not a candidate of this session", ErrNotHeld}
	errNotLeader    = &recipeError{"this candidate is not the leader", ErrNotHeld}
)

// Campaign enters session s as a candidate, with value, in the election
// at path, and returns once it leads: when every candidate that entered
// before it has gone. wait < 0 waits until elected or ctx ends; wait == 0
// tries once (elected only if nobody is ahead); wait > 0 waits at most that
// long. On any failure the candidate node is removed, so a caller that
// gives up never holds up those behind it.
//
// A leader whose session expired (rather than closed) is followed only
// once the store's lock-delay on path has passed, so that a leader that was
// cut off has stopped before the next one starts.
func (s Session) Campaign(ctx context.Context, path string, value []byte, wait time.Duration) (*Leadership, error) {
	if err := checkRecipePath(path, "an election"); err != nil {
		return nil, err
	}
	key, czxid, err := s.createCandidate(ctx, path, value, wait)
	if err != nil {
		return nil, err
	}
	err = s.waitInLine(ctx, path, key, wait,
		func() (string, error) { return candidateAhead(s.Store, path, key) }, errNotElected, errNotCandidate)
	if err != nil {
		return nil, err
	}
	return &Leadership{Path: path, Key: key, Token: czxid}, nil
}

// createCandidate creates this session's candidate node under path, with
// the missing containers in the same write (as createContender does for a
// lock), and returns its path and czxid. The create runs to completion
// even when ctx ends, and the node is then removed again, so no candidate
// is left behind that nobody waits on.
func (s Session) createCandidate(ctx context.Context, path string, value []byte, wait time.Duration) (string, uint64, error) {
	return s.joinLine(ctx, path, candidatePrefix, value, wait)
}

// candidateAhead returns the candidate just ahead of key, or "" when key
// leads. It fails with ErrNotHeld when key itself is gone.
func candidateAhead(st Store, path, key string) (string, error) {
	return ahead(st, path, key, candidatePrefix, errNotCandidate)
}

// ownCandidate returns the Stat of key if it is a candidate node of session
// s (and, when token is not 0, the one created at zxid token).
func (s Session) ownCandidate(key string, token uint64) (fsm.Stat, error) {
	if err := fsm.ValidatePath(key); err != nil {
		return fsm.Stat{}, err
	}
	i := strings.LastIndexByte(key, '/')
	if i <= 0 || !strings.HasPrefix(key[i+1:], candidatePrefix) {
		return fsm.Stat{}, &fsm.Error{Code: fsm.CodeBadArguments, Msg: "not an election candidate key: " + key}
	}
	stat, ok, _, err := s.Store.Exists(key, false)
	if err != nil {
		return fsm.Stat{}, err
	}
	if !ok || stat.EphemeralOwner != s.ID || (token != 0 && stat.Czxid != token) {
		return fsm.Stat{}, errNotCandidate
	}
	return stat, nil
}

// Resign withdraws session s's candidacy key, leading or not. The next
// candidate is elected as soon as the delete is applied. A non-zero token
// must be the candidacy's own (its czxid), so a stale key that names a
// later candidacy is refused.
func (s Session) Resign(ctx context.Context, key string, token uint64) error {
	if _, err := s.ownCandidate(key, token); err != nil {
		return err
	}
	_, err := s.write(ctx, fsm.Op{Kind: fsm.OpDelete, Path: key, Version: fsm.AnyVersion})
	if errors.Is(err, fsm.ErrNoNode) {
		return errNotCandidate
	}
	return err
}

// Proclaim sets the value of session s's candidacy key, only while it
// leads; otherwise it fails with ErrNotHeld. A leader stays first until
// its node goes, so the check and the write cannot be overtaken by another
// candidate; the write is conditional on the version read, so it changes
// only the node that was checked.
func (s Session) Proclaim(ctx context.Context, key string, token uint64, value []byte) error {
	for attempt := 0; ; attempt++ {
		stat, err := s.ownCandidate(key, token)
		if err != nil {
			return err
		}
		path := key[:strings.LastIndexByte(key, '/')]
		pred, err := candidateAhead(s.Store, path, key)
		if err != nil {
			return err
		}
		if pred != "" {
			return errNotLeader
		}
		_, err = s.write(ctx, fsm.Op{Kind: fsm.OpSet, Path: key, Data: value, Version: stat.Version})
		switch {
		case errors.Is(err, fsm.ErrNoNode):
			return errNotCandidate
		case errors.Is(err, fsm.ErrBadVersion) && attempt < maxCreateAttempts:
			continue // a concurrent proclaim of the same session: read again
		}
		return err
	}
}

// Leader returns who leads the election at path: the first candidate. It
// reads the local replica. Key is empty when there is no candidate. During
// a lock-delay (the previous leader's session expired) it names the
// candidate that will be elected when the delay has passed.
func Leader(st Store, path string) (LeaderInfo, error) {
	if err := checkRecipePath(path, "an election"); err != nil {
		return LeaderInfo{}, err
	}
	for {
		kids, _, _, err := st.Children(path, false)
		if errors.Is(err, fsm.ErrNoNode) {
			return LeaderInfo{}, nil
		}
		if err != nil {
			return LeaderInfo{}, err
		}
		line, err := inLine(st, path, kids, candidatePrefix)
		if err != nil {
			return LeaderInfo{}, err
		}
		first := ""
		if len(line) > 0 {
			first = line[0]
		}
		if first == "" {
			return LeaderInfo{}, nil
		}
		key := path + "/" + first
		data, stat, _, err := st.Get(key, false)
		if errors.Is(err, fsm.ErrNoNode) {
			continue // it went between the two reads: look again
		}
		if err != nil {
			return LeaderInfo{}, err
		}
		return LeaderInfo{Key: key, Value: data, Token: stat.Czxid}, nil
	}
}

// Observer follows who leads an election, from the election's change
// stream: it keeps the candidates it has heard of and reports the first
// one each time the leader or its value changes. It is not safe for
// concurrent use.
type Observer struct {
	path    string
	sub     *fsm.Subscription
	cands   map[string]observedCandidate // by node name
	syncing bool                         // inside a resync: the state is being replaced
	last    LeaderInfo
	told    bool // last has been returned
}

type observedCandidate struct {
	value []byte
	token uint64
}

// NewObserver starts following the election at path. The first Next
// returns the current leader (or none); each later one the next change of
// leader or of the leader's value. The caller must Close it.
func NewObserver(st Store, path string) (*Observer, error) {
	if err := checkRecipePath(path, "an election"); err != nil {
		return nil, err
	}
	sub, err := st.Subscribe(path, fsm.ScopeChildren, 0)
	if err != nil {
		return nil, err
	}
	return &Observer{path: path, sub: sub, cands: map[string]observedCandidate{}}, nil
}

// Next waits for the leader to differ (by key or value) from the one last
// returned, and returns it. A LeaderInfo with an empty Key means nobody
// leads.
func (o *Observer) Next(ctx context.Context) (LeaderInfo, error) {
	for {
		ev, err := o.sub.Next(ctx)
		if err != nil {
			return LeaderInfo{}, err
		}
		name := ""
		if len(ev.Path) > len(o.path)+1 {
			name = ev.Path[len(o.path)+1:]
		}
		switch ev.Type {
		case fsm.EventResync:
			if !o.syncing {
				clear(o.cands)
				o.syncing = true
			}
			o.put(name, ev)
			continue
		case fsm.EventSynced:
			if !o.syncing {
				clear(o.cands) // a resync of an empty state
			}
			o.syncing = false
		case fsm.EventCreated, fsm.EventDataChanged:
			o.put(name, ev)
		case fsm.EventDeleted:
			delete(o.cands, name)
		default:
			continue
		}
		if o.syncing {
			continue
		}
		cur := o.leader()
		if o.told && cur.Key == o.last.Key && bytes.Equal(cur.Value, o.last.Value) {
			continue
		}
		o.last, o.told = cur, true
		return cur, nil
	}
}

func (o *Observer) put(name string, ev fsm.Event) {
	// Only ephemeral nodes are candidates (see inLine).
	if strings.Contains(name, candidatePrefix) && ev.Stat.EphemeralOwner != 0 {
		o.cands[name] = observedCandidate{value: ev.Data, token: ev.Stat.Czxid}
	}
}

// leader is the first candidate known, by sequence (as inLine orders).
func (o *Observer) leader() LeaderInfo {
	first := ""
	for name := range o.cands {
		if first == "" || lineBefore(name, first, candidatePrefix) {
			first = name
		}
	}
	if first == "" {
		return LeaderInfo{}
	}
	c := o.cands[first]
	return LeaderInfo{Key: o.path + "/" + first, Value: c.value, Token: c.token}
}

// Close ends the observer; a blocked Next returns.
func (o *Observer) Close() { o.sub.Close() }

// Observe calls emit with the leader of the election at path, then with
// every change of leader or of its value, until ctx ends or emit returns
// false.
func Observe(ctx context.Context, st Store, path string, emit func(LeaderInfo) bool) error {
	o, err := NewObserver(st, path)
	if err != nil {
		return err
	}
	defer o.Close()
	for {
		l, err := o.Next(ctx)
		if err != nil {
			return err
		}
		if !emit(l) {
			return nil
		}
	}
}
