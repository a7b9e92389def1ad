package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

const exceptionCols = `id, clause_id, tier, tenant_id, agent_id, limit_value, allow, waive, reason,
	approved_by, created_at, expires_at, revoked_at, revoked_by`

func scanException(sc scanner) (store.Exception, error) {
	var (
		e     store.Exception
		limit sql.NullFloat64
	)
	err := sc.Scan(&e.ID, &e.ClauseID, &e.Tier, &e.TenantID, &e.AgentID, &limit, jsonCol[[]string]{&e.Allow},
		&e.Waive, &e.Reason, &e.ApprovedBy, timeCol{&e.CreatedAt}, timeCol{&e.ExpiresAt}, timeCol{&e.RevokedAt},
		&e.RevokedBy)
	if limit.Valid {
		e.Limit = &limit.Float64
	}
	return e, err
}

func (x *tx) CreateException(ctx context.Context, e store.Exception) error {
	x.touchCached()
	var limit any
	if e.Limit != nil {
		limit = *e.Limit
	}
	allow, err := jsonArg(e.Allow)
	if err != nil {
		return x.errorf("create exception %s: encode allow: %w", e.ID, err)
	}
	ok, err := x.execOne(ctx, `INSERT INTO exceptions (`+exceptionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING`,
		e.ID, e.ClauseID, e.Tier, e.TenantID, e.AgentID, limit, allow, e.Waive, e.Reason, e.ApprovedBy,
		x.time(e.CreatedAt), x.time(e.ExpiresAt), x.time(e.RevokedAt), e.RevokedBy)
	if err != nil {
		if x.d.IsUniqueViolation(err) {
			err = store.ErrConflict
		}
		return x.errorf("create exception %s: %w", e.ID, err)
	}
	if !ok {
		return x.errorf("create exception %s: %w", e.ID, store.ErrConflict)
	}
	return nil
}

func (x *tx) GetException(ctx context.Context, id string) (store.Exception, error) {
	e, err := scanException(x.queryRow(ctx, `SELECT `+exceptionCols+` FROM exceptions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Exception{}, x.errorf("get exception %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Exception{}, x.errorf("get exception %s: %w", id, err)
	}
	return e, nil
}

func (x *tx) ListExceptions(ctx context.Context, f store.ExceptionFilter) ([]store.Exception, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("agent_id", f.AgentID)
	w.eq("clause_id", f.ClauseID)
	if !f.ActiveAt.IsZero() {
		at := w.arg(x.time(f.ActiveAt))
		w.add("(revoked_at IS NULL OR revoked_at > " + at + ")")
		w.add("(expires_at IS NULL OR expires_at > " + at + ")")
	}
	rows, err := x.query(ctx, `SELECT `+exceptionCols+` FROM exceptions`+w.String()+
		` ORDER BY created_at NULLS FIRST, id`, w.args...)
	if err != nil {
		return nil, x.errorf("list exceptions: %w", err)
	}
	es, err := collect(rows, scanException)
	if err != nil {
		return nil, x.errorf("list exceptions: %w", err)
	}
	return es, nil
}

func (x *tx) RevokeException(ctx context.Context, id, by string, at time.Time) error {
	x.touchCached()
	if at.IsZero() {
		return x.errorf("revoke exception %s: zero time", id)
	}
	ok, err := x.execOne(ctx, `UPDATE exceptions SET revoked_at = $2, revoked_by = $3
		WHERE id = $1 AND revoked_at IS NULL`, id, x.time(at), by)
	if err != nil {
		return x.errorf("revoke exception %s: %w", id, err)
	}
	if !ok {
		return x.errorf("revoke exception %s: not found or already revoked: %w", id, store.ErrNotFound)
	}
	return nil
}
