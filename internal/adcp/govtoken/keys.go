package govtoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Key is an Ed25519 governance-signing key. A key signs from CreatedAt until
// RetiredAt (zero while active); after that it only verifies, and stays in the
// published JWKS until every token it signed has expired.
type Key struct {
	KID       string
	Private   ed25519.PrivateKey
	Public    ed25519.PublicKey
	CreatedAt time.Time
	RetiredAt time.Time
}

// GenerateKey makes a new key, created at now. Its kid is
// "gov-<yyyymmdd>-" plus the start of its RFC 7638 thumbprint.
func GenerateKey(now time.Time) (*Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("govtoken: generate key: %w", err)
	}
	k, err := NewKey("", seed, now)
	if err != nil {
		return nil, err
	}
	k.KID = "gov-" + now.UTC().Format("20060102") + "-" + k.Thumbprint()[:12]
	return k, nil
}

// NewKey rebuilds a key from its 32-byte seed.
func NewKey(kid string, seed []byte, createdAt time.Time) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("govtoken: key seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Key{
		KID:       kid,
		Private:   priv,
		Public:    priv.Public().(ed25519.PublicKey),
		CreatedAt: createdAt,
	}, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of the public key, unpadded
// base64url.
func (k *Key) Thumbprint() string {
	var w objectWriter // members in lexicographic order, as RFC 7638 asks
	w.str("crv", "Ed25519")
	w.str("kty", "OKP")
	w.str("x", b64.EncodeToString(k.Public))
	return b64Hash(w.bytes())
}

// Active reports whether k may sign at now.
func (k *Key) Active(now time.Time) bool {
	return !now.Before(k.CreatedAt) && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt))
}

// JWK returns the public key as published: kty, crv, x, kid, use, key_ops,
// adcp_use, alg.
func (k *Key) JWK() JWK {
	return JWK{
		KTY:     "OKP",
		CRV:     "Ed25519",
		X:       b64.EncodeToString(k.Public),
		KID:     k.KID,
		Use:     "sig",
		KeyOps:  []string{"verify"},
		ADCPUse: ADCPUseGovernance,
		Alg:     AlgEdDSA,
		pub:     k.Public,
	}
}

// keyRecord is the private form of a key, for the caller to seal and store.
type keyRecord struct {
	KID       string    `json:"kid"`
	Alg       string    `json:"alg"`
	Seed      string    `json:"seed"`
	CreatedAt time.Time `json:"created_at"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// MarshalPrivate returns the key with its private seed, as JSON. The bytes
// are secret: the caller encrypts them before they reach any store.
func (k *Key) MarshalPrivate() ([]byte, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil, errors.New("govtoken: key has no private part")
	}
	return json.Marshal(keyRecord{
		KID:       k.KID,
		Alg:       AlgEdDSA,
		Seed:      b64.EncodeToString(k.Private.Seed()),
		CreatedAt: k.CreatedAt.UTC(),
		RetiredAt: k.RetiredAt.UTC(),
	})
}

// UnmarshalKey reads what MarshalPrivate wrote.
func UnmarshalKey(data []byte) (*Key, error) {
	var r keyRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("govtoken: unmarshal key: %w", err)
	}
	if r.Alg != AlgEdDSA || r.KID == "" {
		return nil, fmt.Errorf("govtoken: unmarshal key: want an %s key with a kid", AlgEdDSA)
	}
	seed, err := b64.DecodeString(r.Seed)
	if err != nil {
		return nil, fmt.Errorf("govtoken: unmarshal key: seed: %w", err)
	}
	k, err := NewKey(r.KID, seed, r.CreatedAt)
	if err != nil {
		return nil, err
	}
	k.RetiredAt = r.RetiredAt
	return k, nil
}

// KeyRing is one issuer's signing keys. The newest active key signs; a
// retired key is published until MaxLifetime after its retirement, which is
// when the last token it can have signed expires. It is safe for concurrent
// use.
type KeyRing struct {
	// MaxLifetime is the longest lifetime of a token the issuer signs; zero
	// means MaxExecutionLifetime.
	MaxLifetime time.Duration

	mu   sync.RWMutex
	keys []*Key // oldest first
}

// NewKeyRing returns a ring holding keys.
func NewKeyRing(keys ...*Key) (*KeyRing, error) {
	r := &KeyRing{}
	for _, k := range keys {
		if err := r.Add(k); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *KeyRing) maxLifetime() time.Duration {
	if r.MaxLifetime > 0 {
		return r.MaxLifetime
	}
	return MaxExecutionLifetime
}

// Add puts a key in the ring; kids are unique.
func (r *KeyRing) Add(k *Key) error {
	if k == nil || k.KID == "" || len(k.Private) != ed25519.PrivateKeySize {
		return errors.New("govtoken: key ring: key needs a kid and a private part")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, old := range r.keys {
		if old.KID == k.KID {
			return fmt.Errorf("govtoken: key ring: kid %q is already in the ring", k.KID)
		}
	}
	r.keys = append(r.keys, k)
	slices.SortStableFunc(r.keys, func(a, b *Key) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return nil
}

// Keys returns the ring's keys, oldest first, for the caller to store.
func (r *KeyRing) Keys() []*Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.keys)
}

// Signer returns the newest key active at now.
func (r *KeyRing) Signer(now time.Time) (*Key, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for i := len(r.keys) - 1; i >= 0; i-- {
		if r.keys[i].Active(now) {
			return r.keys[i], nil
		}
	}
	return nil, ErrNoSigningKey
}

// Rotate generates a key that signs from now on and retires every key that
// was active. Retired keys stay published (see JWKS) until their last token
// expires. For a compromised key, also list its kid in the revocation list.
func (r *KeyRing) Rotate(now time.Time) (*Key, error) {
	k, err := GenerateKey(now)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, old := range r.keys {
		if old.RetiredAt.IsZero() || old.RetiredAt.After(now) {
			retired := *old // a copy: a signer may still hold the old pointer
			retired.RetiredAt = now
			r.keys[i] = &retired
		}
	}
	r.keys = append(r.keys, k)
	return k, nil
}

// published reports whether k is still in the JWKS at now.
func (r *KeyRing) published(k *Key, now time.Time) bool {
	return k.RetiredAt.IsZero() || now.Before(k.RetiredAt.Add(r.maxLifetime()))
}

// JWKS returns the key set to publish at now: active keys and retired keys
// whose tokens may not all have expired yet.
func (r *KeyRing) JWKS(now time.Time) *JWKS {
	r.mu.RLock()
	defer r.mu.RUnlock()
	set := &JWKS{Keys: []JWK{}}
	for _, k := range r.keys {
		if r.published(k, now) {
			set.Keys = append(set.Keys, k.JWK())
		}
	}
	return set
}

// Prune removes retired keys that are no longer published at now and returns
// them, for the caller's archive (security.mdx keeps retired keys
// discoverable for audit, in a separate jwks-archive.json).
func (r *KeyRing) Prune(now time.Time) []*Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []*Key
	kept := r.keys[:0]
	for _, k := range r.keys {
		if r.published(k, now) {
			kept = append(kept, k)
		} else {
			gone = append(gone, k)
		}
	}
	clear(r.keys[len(kept):])
	r.keys = kept
	return gone
}

// Remove takes the key with kid out of the ring at once, whatever its state,
// and returns it (nil if absent).
func (r *KeyRing) Remove(kid string) *Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range r.keys {
		if k.KID == kid {
			r.keys = slices.Delete(r.keys, i, i+1)
			return k
		}
	}
	return nil
}
