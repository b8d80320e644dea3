package warden

import (
	"context"

	"github.com/warden-dev/warden/localapi/wire"
)

// KeyringResult is what a keyring call found across the cluster: how many
// agents were asked and answered, which refused and why, and (ListKeys)
// the keys they hold. Check Complete: agents that refused or did not
// answer are reported here, not as an error.
type KeyringResult = wire.KeyringResult

// GossipKey is one key of a keyring listing.
type GossipKey = wire.GossipKey

// The keyring calls manage the gossip encryption keys of every agent in
// the cluster (warden keyring). They work on a connection without a
// session, and only for the agent's own user or root. Keys are base64,
// as warden keygen prints them.

// ListKeys asks every agent for the gossip keys it holds.
func (c *Client) ListKeys(ctx context.Context) (*KeyringResult, error) {
	return c.keyring(ctx, wire.OpKeyringList, "")
}

// InstallKey adds key to every agent's keyring; they go on encrypting with
// their primary key.
func (c *Client) InstallKey(ctx context.Context, key string) (*KeyringResult, error) {
	return c.keyring(ctx, wire.OpKeyringInstall, key)
}

// UseKey makes key, already installed everywhere, the key every agent
// encrypts with.
func (c *Client) UseKey(ctx context.Context, key string) (*KeyringResult, error) {
	return c.keyring(ctx, wire.OpKeyringUse, key)
}

// RemoveKey removes key from every agent's keyring. The primary key cannot
// be removed.
func (c *Client) RemoveKey(ctx context.Context, key string) (*KeyringResult, error) {
	return c.keyring(ctx, wire.OpKeyringRemove, key)
}

func (c *Client) keyring(ctx context.Context, op, key string) (*KeyringResult, error) {
	var r wire.KeyringResult
	if err := c.call(ctx, &wire.Request{Op: op, Key: key}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
