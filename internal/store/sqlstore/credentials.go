package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

const credentialCols = `id, kind, tenant_id, agent_id, agent_url, hash, prefix, label, created_at, revoked_at`

func scanCredential(sc scanner) (store.Credential, error) {
	var c store.Credential
	err := sc.Scan(&c.ID, &c.Kind, &c.TenantID, &c.AgentID, &c.AgentURL, bytesCol{&c.Hash}, &c.Prefix, &c.Label,
		timeCol{&c.CreatedAt}, timeCol{&c.RevokedAt})
	return c, err
}

func (x *tx) CreateCredential(ctx context.Context, c store.Credential) error {
	ok, err := x.execOne(ctx, `INSERT INTO credentials (`+credentialCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		c.ID, string(c.Kind), c.TenantID, c.AgentID, c.AgentURL, bytesArg(c.Hash), c.Prefix, c.Label,
		x.time(c.CreatedAt), x.time(c.RevokedAt))
	if err != nil {
		if x.d.IsUniqueViolation(err) {
			err = store.ErrConflict
		}
		return x.errorf("create credential %s: %w", c.ID, err)
	}
	if !ok {
		return x.errorf("create credential %s: %w", c.ID, store.ErrConflict)
	}
	return nil
}

func (x *tx) CredentialByHash(ctx context.Context, hash []byte) (store.Credential, error) {
	if len(hash) == 0 {
		return store.Credential{}, x.errorf("credential by hash: empty hash: %w", store.ErrNotFound)
	}
	c, err := scanCredential(x.queryRow(ctx, `SELECT `+credentialCols+` FROM credentials WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Credential{}, x.errorf("credential by hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Credential{}, x.errorf("credential by hash: %w", err)
	}
	return c, nil
}

func (x *tx) ListCredentials(ctx context.Context, f store.CredentialFilter) ([]store.Credential, error) {
	var w where
	w.eq("id", f.ID)
	w.eq("kind", string(f.Kind))
	w.eq("tenant_id", f.TenantID)
	w.eq("agent_id", f.AgentID)
	rows, err := x.query(ctx, `SELECT `+credentialCols+` FROM credentials`+w.String()+
		` ORDER BY created_at NULLS FIRST, id`, w.args...)
	if err != nil {
		return nil, x.errorf("list credentials: %w", err)
	}
	cs, err := collect(rows, scanCredential)
	if err != nil {
		return nil, x.errorf("list credentials: %w", err)
	}
	return cs, nil
}

func (x *tx) RevokeCredential(ctx context.Context, id string, at time.Time) error {
	x.touchCached()
	if at.IsZero() {
		return x.errorf("revoke credential %s: zero time", id)
	}
	ok, err := x.execOne(ctx, `UPDATE credentials SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,
		id, x.time(at))
	if err != nil {
		return x.errorf("revoke credential %s: %w", id, err)
	}
	if !ok {
		return x.errorf("revoke credential %s: not found or already revoked: %w", id, store.ErrNotFound)
	}
	return nil
}
