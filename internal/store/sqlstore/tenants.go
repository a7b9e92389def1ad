package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

const tenantCols = `id, name, team, owner, kind, sandbox, created_at, updated_at, retired_at`

// upsertTenant inserts a tenant, or updates it if a field changed or it was
// retired; an unchanged tenant is left alone.
const upsertTenant = `INSERT INTO tenants (` + tenantCols + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7, NULL)
ON CONFLICT (id) DO UPDATE SET
	name = excluded.name, team = excluded.team, owner = excluded.owner,
	kind = excluded.kind, sandbox = excluded.sandbox,
	updated_at = excluded.updated_at, retired_at = NULL
WHERE tenants.name <> excluded.name OR tenants.team <> excluded.team
	OR tenants.owner <> excluded.owner OR tenants.kind <> excluded.kind
	OR tenants.sandbox <> excluded.sandbox OR tenants.retired_at IS NOT NULL`

func scanTenant(sc scanner) (store.Tenant, error) {
	var t store.Tenant
	err := sc.Scan(&t.ID, &t.Name, &t.Team, &t.Owner, &t.Kind, &t.Sandbox,
		timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, timeCol{&t.RetiredAt})
	return t, err
}

func (x *tx) SyncTenants(ctx context.Context, tenants []store.Tenant, at time.Time) error {
	x.touchCached()
	if at.IsZero() {
		return x.errorf("sync tenants: zero time")
	}
	now := x.time(at)
	present := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		present[t.ID] = true
		if _, err := x.exec(ctx, upsertTenant, t.ID, t.Name, t.Team, t.Owner, t.Kind, t.Sandbox, now); err != nil {
			return x.errorf("sync tenants: put %s: %w", t.ID, err)
		}
	}
	rows, err := x.query(ctx, `SELECT id FROM tenants WHERE retired_at IS NULL`)
	if err != nil {
		return x.errorf("sync tenants: list: %w", err)
	}
	ids, err := collect(rows, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	})
	if err != nil {
		return x.errorf("sync tenants: list: %w", err)
	}
	for _, id := range ids {
		if present[id] {
			continue
		}
		if _, err := x.exec(ctx, `UPDATE tenants SET retired_at = $2, updated_at = $2
			WHERE id = $1 AND retired_at IS NULL`, id, now); err != nil {
			return x.errorf("sync tenants: retire %s: %w", id, err)
		}
	}
	return nil
}

func (x *tx) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	t, err := scanTenant(x.queryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Tenant{}, x.errorf("get tenant %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Tenant{}, x.errorf("get tenant %s: %w", id, err)
	}
	return t, nil
}

func (x *tx) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := x.query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY id`)
	if err != nil {
		return nil, x.errorf("list tenants: %w", err)
	}
	ts, err := collect(rows, scanTenant)
	if err != nil {
		return nil, x.errorf("list tenants: %w", err)
	}
	return ts, nil
}
