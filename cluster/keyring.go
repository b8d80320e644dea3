package cluster

// The gossip keyring: the keys that encrypt and authenticate Serf's
// gossip, kept in the data dir, and their rotation across the cluster.
//
// Rotation goes through Serf's key manager: each request is a Serf query
// that every alive member answers, so one agent installs, switches to or
// removes a key on all of them. Every agent's Serf rewrites its keyring
// file after each change (Config.KeyringFile), so a restarted agent comes
// back with the keys the cluster uses now, whatever its --encrypt says.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Keyring errors: the request is refused as a whole, before any agent is
// asked.
var (
	// ErrGossipNotEncrypted: this agent runs without gossip encryption, so
	// there is no keyring to manage.
	ErrGossipNotEncrypted = errors.New("gossip encryption is off on this agent, so there is no keyring to manage: start every agent with --encrypt (see docs/security.md)")
	// ErrBadGossipKey: the key is not base64 of 16, 24 or 32 bytes.
	ErrBadGossipKey = errors.New("not a gossip key: want the base64 of 16, 24 or 32 bytes (warden keygen makes one)")
	// ErrRemovePrimaryKey: the key to remove is the one this agent
	// encrypts with; another key must be made primary first.
	ErrRemovePrimaryKey = errors.New("this is the primary gossip key, which encrypts the cluster's gossip: make another key primary first (warden keyring --use), then remove this one")
)

// keyringFile, in the data dir, keeps the gossip keys, the first the
// primary, in Serf's own keyring format: a JSON array of base64 keys.
// Serf rewrites it after every change, so a restarted agent keeps talking
// to the others after the keys were rotated.
const keyringFile = "serf.keyring"

// gossipKeyring turns on gossip encryption: from the keyring file when it
// exists (it wins over --encrypt, which only starts it, and keeps
// encryption on when a restart omits --encrypt), else from the key given,
// written to the file. Serf keeps the file up to date from then on.
func (n *Node) gossipKeyring(sc *serf.Config) error {
	path := filepath.Join(n.cfg.DataDir, keyringFile)
	keys, err := readKeyring(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && len(n.cfg.EncryptKey) > 0:
		keys = [][]byte{n.cfg.EncryptKey}
		if err := writeKeyring(path, keys); err != nil {
			return fmt.Errorf("gossip keyring: %w", err)
		}
	case err != nil:
		return err
	}
	kr, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return fmt.Errorf("gossip keyring %s: %w", path, err)
	}
	sc.MemberlistConfig.Keyring = kr
	sc.KeyringFile = path
	return nil
}

// readKeyring reads a keyring file: a JSON array of base64 keys, the
// first the primary.
func readKeyring(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil || len(encoded) == 0 {
		return nil, fmt.Errorf("gossip keyring %s: not a JSON list of base64 keys", path)
	}
	keys := make([][]byte, 0, len(encoded))
	for _, e := range encoded {
		k, err := decodeGossipKey(e)
		if err != nil {
			return nil, fmt.Errorf("gossip keyring %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// writeKeyring writes keys as Serf writes its keyring file (an indented
// JSON array of base64 keys, mode 0600), through a temporary file so that
// a crash leaves the old file or the new one.
func writeKeyring(path string, keys [][]byte) error {
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// decodeGossipKey decodes a base64 gossip key and checks its length.
func decodeGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrBadGossipKey, err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("%w (it is %d bytes)", ErrBadGossipKey, len(k))
	}
	return k, nil
}

// KeyringResult is what a keyring request found across the cluster.
type KeyringResult struct {
	// Agents is how many agents the request went to: the members Serf
	// saw alive when it asked, this one included.
	Agents int
	// Answered is how many of them answered before Serf's query timeout.
	Answered int
	// Keys (list only): every key any agent holds, with how many agents
	// hold it and how many use it as their primary key, sorted by key.
	Keys []GossipKey
	// Failures maps the name of each agent that refused the request to
	// its reason.
	Failures map[string]string
}

// GossipKey is one key of a keyring listing.
type GossipKey struct {
	Key     string // base64
	Agents  int    // agents that hold it
	Primary int    // agents that encrypt with it
}

// Complete says whether every agent asked answered and none refused.
func (r *KeyringResult) Complete() bool {
	return r.Answered == r.Agents && len(r.Failures) == 0
}

// keyQueryOptions: each agent sends its answer to a keyring request
// through two other agents too, so one lost datagram does not make it
// count as not answering.
var keyQueryOptions = &serf.KeyRequestOptions{RelayFactor: 2}

// ListKeys asks every agent for the gossip keys it holds.
func (n *Node) ListKeys(ctx context.Context) (*KeyringResult, error) {
	return n.keyQuery(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) { return km.ListKeysWithOptions(keyQueryOptions) })
}

// InstallKey adds key (base64) to every agent's keyring. Agents go on
// encrypting with their primary key and start accepting gossip encrypted
// with this one.
func (n *Node) InstallKey(ctx context.Context, key string) (*KeyringResult, error) {
	if _, err := decodeGossipKey(key); err != nil {
		return nil, err
	}
	return n.keyQuery(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) {
		return km.InstallKeyWithOptions(key, keyQueryOptions)
	})
}

// UseKey makes key, which every agent must already hold, the primary key
// that agents encrypt their gossip with.
func (n *Node) UseKey(ctx context.Context, key string) (*KeyringResult, error) {
	if _, err := decodeGossipKey(key); err != nil {
		return nil, err
	}
	return n.keyQuery(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) {
		return km.UseKeyWithOptions(key, keyQueryOptions)
	})
}

// RemoveKey removes key from every agent's keyring. It refuses, before
// asking anyone, to remove this agent's primary key; an agent whose
// primary it is refuses too.
func (n *Node) RemoveKey(ctx context.Context, key string) (*KeyringResult, error) {
	k, err := decodeGossipKey(key)
	if err != nil {
		return nil, err
	}
	if n.serf != nil && n.serf.EncryptionEnabled() {
		if keys, err := readKeyring(filepath.Join(n.cfg.DataDir, keyringFile)); err == nil && bytes.Equal(keys[0], k) {
			return nil, ErrRemovePrimaryKey
		}
	}
	return n.keyQuery(ctx, func(km *serf.KeyManager) (*serf.KeyResponse, error) {
		return km.RemoveKeyWithOptions(key, keyQueryOptions)
	})
}

// keyQuery runs one key manager request. The query ends by itself within
// Serf's query timeout; when ctx ends first the caller is answered at
// once, and the change may still reach the agents.
func (n *Node) keyQuery(ctx context.Context, q func(*serf.KeyManager) (*serf.KeyResponse, error)) (*KeyringResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.serf == nil || !n.serf.EncryptionEnabled() {
		return nil, ErrGossipNotEncrypted
	}
	type answer struct {
		resp *serf.KeyResponse
		err  error
	}
	done := make(chan answer, 1)
	if !n.run.Go(func(context.Context) {
		resp, err := q(n.serf.KeyManager())
		done <- answer{resp, err}
	}) {
		return nil, ErrClosed
	}
	var a answer
	select {
	case a = <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.shutdown:
		return nil, ErrClosed
	}
	// Serf reports refusals and missing answers as an error beside a
	// filled response; those are in the result. An error before any
	// agent was asked has no response count.
	if a.err != nil && (a.resp == nil || a.resp.NumNodes == 0) {
		return nil, fmt.Errorf("gossip keyring: %w", a.err)
	}
	return keyringResult(a.resp), nil
}

func keyringResult(resp *serf.KeyResponse) *KeyringResult {
	r := &KeyringResult{Agents: resp.NumNodes, Answered: resp.NumResp, Failures: map[string]string{}}
	for node, msg := range resp.Messages {
		r.Failures[node] = msg
	}
	for key, count := range resp.Keys {
		r.Keys = append(r.Keys, GossipKey{Key: key, Agents: count, Primary: resp.PrimaryKeys[key]})
	}
	sort.Slice(r.Keys, func(i, j int) bool { return r.Keys[i].Key < r.Keys[j].Key })
	return r
}
