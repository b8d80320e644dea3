package wire

// Gossip keyring ops, for operators (warden keyring): each acts on every
// agent of the cluster through Serf. Install, use and remove carry the
// base64 key in Request.Key; list carries nothing. The agent allows them
// on a connection without a session, and only to its own user and root.
const (
	OpKeyringList    = "keyring_list"    // -> KeyringResult with Keys
	OpKeyringInstall = "keyring_install" // key -> KeyringResult
	OpKeyringUse     = "keyring_use"     // key -> KeyringResult
	OpKeyringRemove  = "keyring_remove"  // key -> KeyringResult
)

// KeyringResult answers the keyring ops: how many agents were asked and
// answered, which refused and why, and (list) the keys they hold. A
// refusal by some agents is in Failures, not an error reply; an error
// reply means no agent was asked.
type KeyringResult struct {
	Agents   int              `msgpack:"agents"`   // agents asked: the alive members, this agent included
	Answered int              `msgpack:"answered"` // agents that answered in time
	Keys     []GossipKey      `msgpack:"keys,omitempty"`
	Failures []KeyringFailure `msgpack:"failures,omitempty"` // sorted by node
}

// Complete says whether every agent asked answered and none refused.
func (r *KeyringResult) Complete() bool { return r.Answered == r.Agents && len(r.Failures) == 0 }

// GossipKey is one key of a keyring listing.
type GossipKey struct {
	Key     string `msgpack:"key"`     // base64
	Agents  int    `msgpack:"agents"`  // agents that hold it
	Primary int    `msgpack:"primary"` // agents that encrypt with it
}

// KeyringFailure is one agent's refusal.
type KeyringFailure struct {
	Node    string `msgpack:"node"`
	Message string `msgpack:"message"`
}
