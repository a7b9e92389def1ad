package governance

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/store"
)

// MaxTokenLifetime is the longest a governance_context lives (execution
// phases); a retired key stays published this long after it stopped signing.
const MaxTokenLifetime = 30 * 24 * time.Hour

// keyCacheTTL bounds how stale another replica's rotation can look here.
const keyCacheTTL = 30 * time.Second

// KeyRing holds each account's signing keys. Private keys are stored only
// sealed, with AES-256-GCM under the master key, bound to account and kid.
type KeyRing struct {
	st   store.Store
	aead cipher.AEAD

	mu    sync.Mutex
	cache map[string]cachedKeys
}

type cachedKeys struct {
	loaded time.Time
	keys   []store.SigningKey
	parsed map[string]*govtoken.Key
}

// NewKeyRing returns a key ring over st sealing with a 32-byte master key.
func NewKeyRing(st store.Store, master []byte) (*KeyRing, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("governance: the master key is %d bytes, want 32", len(master))
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, fmt.Errorf("governance: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("governance: master key: %w", err)
	}
	return &KeyRing{st: st, aead: aead, cache: map[string]cachedKeys{}}, nil
}

func (k *KeyRing) seal(account string, key *govtoken.Key) ([]byte, error) {
	plain, err := key.MarshalPrivate()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, plain, []byte(account+"\x00"+key.KID)), nil
}

func (k *KeyRing) open(sk store.SigningKey) (*govtoken.Key, error) {
	n := k.aead.NonceSize()
	if len(sk.Sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	plain, err := k.aead.Open(nil, sk.Sealed[:n], sk.Sealed[n:], []byte(sk.Account+"\x00"+sk.KID))
	if err != nil {
		return nil, fmt.Errorf("unseal key %s of %s (wrong master key?): %w", sk.KID, sk.Account, err)
	}
	key, err := govtoken.UnmarshalKey(plain)
	if err != nil {
		return nil, err
	}
	key.CreatedAt, key.RetiredAt = sk.CreatedAt, sk.RetiredAt
	return key, nil
}

// load returns an account's keys, from the cache while it is fresh.
func (k *KeyRing) load(ctx context.Context, account string, now time.Time, fresh bool) (cachedKeys, error) {
	k.mu.Lock()
	c, ok := k.cache[account]
	k.mu.Unlock()
	if ok && !fresh && now.Sub(c.loaded) < keyCacheTTL {
		return c, nil
	}
	keys, err := k.st.ListSigningKeys(ctx, account)
	if err != nil {
		return cachedKeys{}, fmt.Errorf("governance: signing keys of %s: %w", account, err)
	}
	c = cachedKeys{loaded: now, keys: keys, parsed: map[string]*govtoken.Key{}}
	for _, sk := range keys {
		key, err := k.open(sk)
		if err != nil {
			return cachedKeys{}, fmt.Errorf("governance: %w", err)
		}
		c.parsed[sk.KID] = key
	}
	k.mu.Lock()
	k.cache[account] = c
	k.mu.Unlock()
	return c, nil
}

// Signer returns the key that signs the account's tokens, creating the
// account's first key on first use.
func (k *KeyRing) Signer(ctx context.Context, account string, now time.Time) (*govtoken.Key, error) {
	c, err := k.load(ctx, account, now, false)
	if err != nil {
		return nil, err
	}
	for _, sk := range c.keys { // newest first
		if sk.RetiredAt.IsZero() && sk.RevokedAt.IsZero() {
			return c.parsed[sk.KID], nil
		}
	}
	return k.Rotate(ctx, account, now)
}

// Rotate creates a new signing key and retires the current one, which stays
// published until the last token it signed has expired.
func (k *KeyRing) Rotate(ctx context.Context, account string, now time.Time) (*govtoken.Key, error) {
	key, err := govtoken.GenerateKey(now)
	if err != nil {
		return nil, fmt.Errorf("governance: new signing key: %w", err)
	}
	sealed, err := k.seal(account, key)
	if err != nil {
		return nil, fmt.Errorf("governance: seal key: %w", err)
	}
	err = k.st.Atomic(ctx, func(tx store.Tx) error {
		old, err := tx.ListSigningKeys(ctx, account)
		if err != nil {
			return err
		}
		for _, sk := range old {
			if sk.RetiredAt.IsZero() {
				sk.RetiredAt = now
				if err := tx.UpdateSigningKey(ctx, sk); err != nil {
					return err
				}
			}
		}
		return tx.PutSigningKey(ctx, store.SigningKey{Account: account, KID: key.KID, Public: key.Public, Sealed: sealed, CreatedAt: now})
	})
	if err != nil {
		return nil, fmt.Errorf("governance: rotate keys of %s: %w", account, err)
	}
	if _, err := k.load(ctx, account, now, true); err != nil {
		return nil, err
	}
	return key, nil
}

// Revoke revokes a key: it leaves the JWKS at once and its tokens fail.
func (k *KeyRing) Revoke(ctx context.Context, account, kid string, now time.Time) error {
	c, err := k.load(ctx, account, now, true)
	if err != nil {
		return err
	}
	for _, sk := range c.keys {
		if sk.KID == kid {
			if sk.RetiredAt.IsZero() {
				sk.RetiredAt = now
			}
			sk.RevokedAt = now
			if err := k.st.UpdateSigningKey(ctx, sk); err != nil {
				return fmt.Errorf("governance: revoke key %s: %w", kid, err)
			}
			_, err := k.load(ctx, account, now, true)
			return err
		}
	}
	return store.ErrNotFound
}

// Published returns the keys the account's JWKS lists: not revoked, and
// either signing or retired within MaxTokenLifetime.
func (k *KeyRing) Published(ctx context.Context, account string, now time.Time) ([]*govtoken.Key, []string, error) {
	c, err := k.load(ctx, account, now, false)
	if err != nil {
		return nil, nil, err
	}
	var keys []*govtoken.Key
	var revoked []string
	for _, sk := range c.keys {
		switch {
		case !sk.RevokedAt.IsZero():
			revoked = append(revoked, sk.KID)
		case sk.RetiredAt.IsZero() || now.Sub(sk.RetiredAt) < MaxTokenLifetime:
			keys = append(keys, c.parsed[sk.KID])
		}
	}
	return keys, revoked, nil
}
