// Package auth mints and verifies fleetgov's bearer credentials: the platform
// admin token, tenant tokens and agent keys. A secret is shown once, when it
// is minted; the store keeps only its SHA-256 hash (the secrets are 256-bit
// random, so a fast hash is the right one) and a short non-secret prefix.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/secret"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Errors.
var (
	// ErrUnauthenticated means no valid credential was presented.
	ErrUnauthenticated = errors.New("auth: missing, unknown or revoked credential")
)

// Principal is who a request acts as.
type Principal struct {
	Kind         store.CredentialKind
	CredentialID string
	TenantID     string // empty for the platform admin
	AgentID      string // set for agent keys
	AgentURL     string // set for AdCP principal credentials
}

// IsPlatform reports whether the principal is the platform admin.
func (p Principal) IsPlatform() bool { return p.Kind == store.KindPlatformAdmin }

// String names the principal for logs and audit records; it holds no secret.
func (p Principal) String() string {
	switch p.Kind {
	case store.KindPlatformAdmin:
		return "platform:" + p.CredentialID
	case store.KindAgent:
		return "agent:" + p.AgentID + ":" + p.CredentialID
	case store.KindADCPPrincipal:
		return "adcp:" + p.AgentURL + ":" + p.CredentialID
	}
	return "tenant:" + p.TenantID + ":" + p.CredentialID
}

var prefixes = map[store.CredentialKind]string{
	store.KindPlatformAdmin: secret.PrefixPlatformAdmin,
	store.KindTenant:        secret.PrefixTenant,
	store.KindAgent:         secret.PrefixAgent,
	store.KindADCPPrincipal: secret.PrefixADCP,
}

// Minted is a new credential: the record to store and the secret to hand out once.
type Minted struct {
	Credential store.Credential
	Secret     string
}

// Mint creates a credential of the given kind with a random secret.
func Mint(kind store.CredentialKind, tenantID, agentID, label string, now time.Time) (Minted, error) {
	prefix, ok := prefixes[kind]
	if !ok {
		return Minted{}, fmt.Errorf("auth: unknown credential kind %q", kind)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Minted{}, fmt.Errorf("auth: random: %w", err)
	}
	sec := prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	id, err := NewID("cred")
	if err != nil {
		return Minted{}, err
	}
	return Minted{
		Secret: sec,
		Credential: store.Credential{ID: id, Kind: kind, TenantID: tenantID, AgentID: agentID,
			Hash: Hash(sec), Prefix: sec[:len(prefix)+4], Label: label, CreatedAt: now},
	}, nil
}

// Hash returns the stored form of a secret.
func Hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// NewID returns a random identifier such as "cred_3kq9x2m1p0z7w4tb".
func NewID(kind string) (string, error) {
	var raw [10]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("auth: random: %w", err)
	}
	return kind + "_" + strings.ToLower(base32(raw[:])), nil
}

func base32(b []byte) string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	var out []byte
	var acc, bits uint
	for _, c := range b {
		acc = acc<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, alphabet[(acc>>bits)&31])
		}
	}
	if bits > 0 {
		out = append(out, alphabet[(acc<<(5-bits))&31])
	}
	return string(out)
}

// Lookup is the part of the store Authenticate needs.
type Lookup interface {
	CredentialByHash(ctx context.Context, hash []byte) (store.Credential, error)
}

// Authenticate resolves a bearer secret to its principal. Unknown and
// revoked secrets are the same error.
func Authenticate(ctx context.Context, s Lookup, bearer string) (Principal, error) {
	bearer = strings.TrimSpace(bearer)
	if bearer == "" || !strings.HasPrefix(bearer, "fgv_") || len(bearer) > 256 {
		return Principal{}, ErrUnauthenticated
	}
	c, err := s.CredentialByHash(ctx, Hash(bearer))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("auth: look up credential: %w", err)
	}
	if !c.RevokedAt.IsZero() {
		return Principal{}, ErrUnauthenticated
	}
	return Principal{Kind: c.Kind, CredentialID: c.ID, TenantID: c.TenantID, AgentID: c.AgentID, AgentURL: c.AgentURL}, nil
}
