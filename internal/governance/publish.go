package governance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
)

// ErrNoAccount is an account no governance agent serves.
var ErrNoAccount = errors.New("governance: no such account")

// RevocationListTTL is how far ahead a published revocation list's
// next_update lies.
const RevocationListTTL = 15 * time.Minute

// JWKS returns the account's published signing keys as a JWK Set.
func (a *Agent) JWKS(ctx context.Context, account string) ([]byte, error) {
	if _, ok := a.Account(account); !ok {
		return nil, ErrNoAccount
	}
	now := a.now().UTC()
	if _, err := a.keys.Signer(ctx, account, now); err != nil { // an account publishes a key before its first token
		return nil, err
	}
	keys, _, err := a.keys.Published(ctx, account, now)
	if err != nil {
		return nil, err
	}
	set := govtoken.JWKS{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	return set.Marshal()
}

// RevocationList returns the account's signed revocation list.
func (a *Agent) RevocationList(ctx context.Context, account string) ([]byte, error) {
	if _, ok := a.Account(account); !ok {
		return nil, ErrNoAccount
	}
	now := a.now().UTC()
	key, err := a.keys.Signer(ctx, account, now)
	if err != nil {
		return nil, err
	}
	_, kids, err := a.keys.Published(ctx, account, now)
	if err != nil {
		return nil, err
	}
	toks, err := a.st.ListRevokedTokens(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("governance: revoked tokens: %w", err)
	}
	list := govtoken.RevocationList{Version: 1, Issuer: a.Issuer(account), Updated: now, NextUpdate: now.Add(RevocationListTTL),
		RevokedJTIs: []string{}, RevokedKIDs: kids}
	if list.RevokedKIDs == nil {
		list.RevokedKIDs = []string{}
	}
	for _, t := range toks {
		list.RevokedJTIs = append(list.RevokedJTIs, t.JTI)
	}
	s, err := govtoken.SignRevocationList(key, list)
	if err != nil {
		return nil, err
	}
	return govtoken.RevocationDocument(s)
}

// RevokeToken revokes one governance_context by its jti.
func (a *Agent) RevokeToken(ctx context.Context, account, jti string) error {
	if _, ok := a.Account(account); !ok {
		return ErrNoAccount
	}
	return a.st.RevokeToken(ctx, account, jti, a.now().UTC())
}

// Keys returns the key ring, for rotation and revocation by operators.
func (a *Agent) Keys() *KeyRing { return a.keys }

// RotateKey gives an account a new signing key, on the agent's clock; the
// previous key stays published until the tokens it signed have expired.
func (a *Agent) RotateKey(ctx context.Context, account string) (*govtoken.Key, error) {
	if _, ok := a.Account(account); !ok {
		return nil, ErrNoAccount
	}
	return a.keys.Rotate(ctx, account, a.now().UTC())
}
