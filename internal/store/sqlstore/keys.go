package sqlstore

import (
	"context"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// Signing keys and revoked tokens of the AdCP governance agents.

const signingKeyCols = `account, kid, public_key, sealed, created_at, retired_at, revoked_at`

func scanSigningKey(sc scanner) (store.SigningKey, error) {
	var k store.SigningKey
	err := sc.Scan(&k.Account, &k.KID, bytesCol{&k.Public}, bytesCol{&k.Sealed}, timeCol{&k.CreatedAt},
		timeCol{&k.RetiredAt}, timeCol{&k.RevokedAt})
	return k, err
}

// PutSigningKey refuses a KID the account already has: replacing a key
// would break the verification of the tokens it signed.
func (x *tx) PutSigningKey(ctx context.Context, k store.SigningKey) error {
	ok, err := x.execOne(ctx, insertSigningKey,
		k.Account, k.KID, bytesArg(k.Public), bytesArg(k.Sealed), x.time(k.CreatedAt), x.time(k.RetiredAt),
		x.time(k.RevokedAt))
	if err != nil {
		return x.errorf("put signing key %s/%s: %w", k.Account, k.KID, err)
	}
	if !ok {
		return x.errorf("put signing key %s/%s: %w", k.Account, k.KID, store.ErrConflict)
	}
	return nil
}

func (x *tx) ListSigningKeys(ctx context.Context, account string) ([]store.SigningKey, error) {
	rows, err := x.query(ctx, `SELECT `+signingKeyCols+` FROM gov_signing_keys WHERE account = $1
		ORDER BY created_at DESC NULLS LAST, kid`, account)
	if err != nil {
		return nil, x.errorf("list signing keys of %s: %w", account, err)
	}
	ks, err := collect(rows, scanSigningKey)
	if err != nil {
		return nil, x.errorf("list signing keys of %s: %w", account, err)
	}
	return ks, nil
}

func (x *tx) UpdateSigningKey(ctx context.Context, k store.SigningKey) error {
	ok, err := x.execOne(ctx, `UPDATE gov_signing_keys SET retired_at = $3, revoked_at = $4
		WHERE account = $1 AND kid = $2`, k.Account, k.KID, x.time(k.RetiredAt), x.time(k.RevokedAt))
	if err != nil {
		return x.errorf("update signing key %s/%s: %w", k.Account, k.KID, err)
	}
	if !ok {
		return x.errorf("update signing key %s/%s: %w", k.Account, k.KID, store.ErrNotFound)
	}
	return nil
}

// RevokeToken keeps the first revocation of a jti: revoking it again is a
// no-op.
func (x *tx) RevokeToken(ctx context.Context, account, jti string, at time.Time) error {
	if at.IsZero() {
		return x.errorf("revoke token %s/%s: zero time", account, jti)
	}
	if _, err := x.exec(ctx, `INSERT INTO gov_revoked_tokens (account, jti, revoked_at) VALUES ($1, $2, $3)
		ON CONFLICT (account, jti) DO NOTHING`, account, jti, x.time(at)); err != nil {
		return x.errorf("revoke token %s/%s: %w", account, jti, err)
	}
	return nil
}

func (x *tx) ListRevokedTokens(ctx context.Context, account string) ([]store.RevokedToken, error) {
	rows, err := x.query(ctx, `SELECT account, jti, revoked_at FROM gov_revoked_tokens WHERE account = $1
		ORDER BY revoked_at NULLS FIRST, jti`, account)
	if err != nil {
		return nil, x.errorf("list revoked tokens of %s: %w", account, err)
	}
	ts, err := collect(rows, func(sc scanner) (store.RevokedToken, error) {
		var t store.RevokedToken
		err := sc.Scan(&t.Account, &t.JTI, timeCol{&t.RevokedAt})
		return t, err
	})
	if err != nil {
		return nil, x.errorf("list revoked tokens of %s: %w", account, err)
	}
	return ts, nil
}
