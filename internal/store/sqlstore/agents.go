package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

const agentCols = `id, tenant_id, name, archetype, spec_id, spec_version, library_version, owner,
	status, last_review, tools, escalation_path, shared_resources, registered_at, updated_at`

// upsertAgent inserts an agent or overwrites it, keeping the first non-zero
// registered_at.
const upsertAgent = `INSERT INTO agents (` + agentCols + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (id) DO UPDATE SET
	tenant_id = excluded.tenant_id, name = excluded.name, archetype = excluded.archetype,
	spec_id = excluded.spec_id, spec_version = excluded.spec_version,
	library_version = excluded.library_version, owner = excluded.owner,
	status = excluded.status, last_review = excluded.last_review, tools = excluded.tools,
	escalation_path = excluded.escalation_path, shared_resources = excluded.shared_resources,
	registered_at = COALESCE(agents.registered_at, excluded.registered_at),
	updated_at = excluded.updated_at`

const revisionCols = `agent_id, spec_id, version, digest, source, registered_at, registered_by`

func scanAgent(sc scanner) (store.Agent, error) {
	var a store.Agent
	err := sc.Scan(&a.ID, &a.TenantID, &a.Name, &a.Archetype, &a.SpecID, &a.SpecVersion,
		&a.LibraryVersion, &a.Owner, &a.Status, timeCol{&a.LastReview}, jsonCol[[]store.Tool]{&a.Tools},
		&a.EscalationPath, jsonCol[[]string]{&a.SharedResources}, timeCol{&a.RegisteredAt}, timeCol{&a.UpdatedAt})
	return a, err
}

func scanRevision(sc scanner) (store.SpecRevision, error) {
	var r store.SpecRevision
	err := sc.Scan(&r.AgentID, &r.SpecID, &r.Version, &r.Digest, &r.Source,
		timeCol{&r.RegisteredAt}, &r.RegisteredBy)
	return r, err
}

func (x *tx) PutAgent(ctx context.Context, a store.Agent, rev store.SpecRevision) error {
	x.touchCached()
	switch rev.AgentID {
	case "":
		rev.AgentID = a.ID
	case a.ID:
	default:
		return x.errorf("put agent %s: revision is for agent %s", a.ID, rev.AgentID)
	}
	// The revision first, so that a conflict returns before anything is
	// written; the foreign key to agents is checked at commit.
	added, err := x.execOne(ctx, `INSERT INTO spec_revisions (`+revisionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (agent_id, version) DO NOTHING`,
		rev.AgentID, rev.SpecID, rev.Version, rev.Digest, rev.Source, x.time(rev.RegisteredAt), rev.RegisteredBy)
	if err != nil {
		return x.errorf("put agent %s: add revision %s: %w", a.ID, rev.Version, err)
	}
	if !added {
		var digest string
		err := x.queryRow(ctx, `SELECT digest FROM spec_revisions WHERE agent_id = $1 AND version = $2`,
			rev.AgentID, rev.Version).Scan(&digest)
		if err != nil {
			return x.errorf("put agent %s: read revision %s: %w", a.ID, rev.Version, err)
		}
		if digest != rev.Digest {
			return x.errorf("put agent %s: revision %s is registered with digest %s, not %s: %w",
				a.ID, rev.Version, digest, rev.Digest, store.ErrConflict)
		}
	}
	tools, err := jsonArg(a.Tools)
	if err != nil {
		return x.errorf("put agent %s: encode tools: %w", a.ID, err)
	}
	shared, err := jsonArg(a.SharedResources)
	if err != nil {
		return x.errorf("put agent %s: encode shared resources: %w", a.ID, err)
	}
	if _, err := x.exec(ctx, upsertAgent, a.ID, a.TenantID, a.Name, a.Archetype, a.SpecID, a.SpecVersion,
		a.LibraryVersion, a.Owner, string(a.Status), x.time(a.LastReview), tools, a.EscalationPath, shared,
		x.time(a.RegisteredAt), x.time(a.UpdatedAt)); err != nil {
		return x.errorf("put agent %s: %w", a.ID, err)
	}
	return nil
}

func (x *tx) GetAgent(ctx context.Context, id string) (store.Agent, error) {
	a, err := scanAgent(x.queryRow(ctx, `SELECT `+agentCols+` FROM agents WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Agent{}, x.errorf("get agent %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Agent{}, x.errorf("get agent %s: %w", id, err)
	}
	return a, nil
}

func (x *tx) ListAgents(ctx context.Context, f store.AgentFilter) ([]store.Agent, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("archetype", f.Archetype)
	w.eq("status", string(f.Status))
	rows, err := x.query(ctx, `SELECT `+agentCols+` FROM agents`+w.String()+` ORDER BY id`, w.args...)
	if err != nil {
		return nil, x.errorf("list agents: %w", err)
	}
	as, err := collect(rows, scanAgent)
	if err != nil {
		return nil, x.errorf("list agents: %w", err)
	}
	return as, nil
}

func (x *tx) SetAgentStatus(ctx context.Context, id string, status store.AgentStatus, at time.Time) error {
	x.touchCached()
	ok, err := x.execOne(ctx, `UPDATE agents SET status = $2, updated_at = $3 WHERE id = $1`,
		id, string(status), x.time(at))
	if err != nil {
		return x.errorf("set agent %s status: %w", id, err)
	}
	if !ok {
		return x.errorf("set agent %s status: %w", id, store.ErrNotFound)
	}
	return nil
}

func (x *tx) GetSpecRevision(ctx context.Context, agentID, version string) (store.SpecRevision, error) {
	var row *sql.Row
	if version == "" {
		row = x.queryRow(ctx, `SELECT `+revisionCols+` FROM spec_revisions
			WHERE agent_id = $1 AND version = (SELECT spec_version FROM agents WHERE id = $1)`, agentID)
	} else {
		row = x.queryRow(ctx, `SELECT `+revisionCols+` FROM spec_revisions
			WHERE agent_id = $1 AND version = $2`, agentID, version)
	}
	r, err := scanRevision(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SpecRevision{}, x.errorf("get agent %s spec revision %q: %w", agentID, version, store.ErrNotFound)
	}
	if err != nil {
		return store.SpecRevision{}, x.errorf("get agent %s spec revision %q: %w", agentID, version, err)
	}
	return r, nil
}

func (x *tx) ListSpecRevisions(ctx context.Context, agentID string) ([]store.SpecRevision, error) {
	rows, err := x.query(ctx, `SELECT `+revisionCols+` FROM spec_revisions WHERE agent_id = $1 ORDER BY id`, agentID)
	if err != nil {
		return nil, x.errorf("list agent %s spec revisions: %w", agentID, err)
	}
	rs, err := collect(rows, scanRevision)
	if err != nil {
		return nil, x.errorf("list agent %s spec revisions: %w", agentID, err)
	}
	return rs, nil
}
