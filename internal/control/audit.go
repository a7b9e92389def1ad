package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgov/fleetgov/internal/audit"
	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/store"
)

// AuditEntry is an audit record as the API shows it.
type AuditEntry struct {
	Partition  string          `json:"partition"`
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Agent      string          `json:"agent,omitempty"`
	Resource   string          `json:"resource,omitempty"`
	Action     string          `json:"action"`
	Object     string          `json:"object"`
	Outcome    string          `json:"outcome"`
	TraceID    string          `json:"trace_id,omitempty"`
	CostMicros int64           `json:"cost_micros,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
	PrevHash   []byte          `json:"prev_hash,omitempty"`
	Hash       []byte          `json:"hash"`
}

// AuditAggregate is one group of the platform's audit summary: how many
// records of a partition (a tenant, or _platform) had that resource and
// outcome (the decision), and what they cost. It carries no payload.
type AuditAggregate struct {
	Partition  string `json:"partition"`
	Resource   string `json:"resource"`
	Outcome    string `json:"outcome"`
	Count      int64  `json:"count"`
	CostMicros int64  `json:"cost_micros"`
}

// MaxAuditPage is the most records one ListAudit call returns.
const MaxAuditPage = 1000

// auditPartition resolves the partition pr asks for: "" is the caller's
// own (a tenant's, or the platform's). A tenant reads only its own; any
// other name answers as a missing partition, so that a tenant learns nothing
// of another's. The platform admin reads the platform partition's records
// and tenants' only as aggregates (AuditSummary). Agent keys and AdCP
// principals (a buyer's or seller's agent, which reads its plans' audit
// through the governance agent) are refused.
func auditPartition(pr auth.Principal, partition string) (string, error) {
	if pr.Kind != store.KindTenant && !pr.IsPlatform() {
		return "", fmt.Errorf("reading the audit log needs a tenant or platform credential: %w", ErrForbidden)
	}
	own := pr.TenantID
	if pr.IsPlatform() {
		own = store.PlatformPartition
	}
	switch {
	case partition == "" || partition == own:
		return own, nil
	case pr.IsPlatform():
		return "", fmt.Errorf("reading a tenant's audit records needs that tenant's credential; the platform admin reads the %s partition's records and tenants' as aggregates (leave out partition): %w",
			store.PlatformPartition, ErrForbidden)
	}
	return "", notFound("audit partition", partition)
}

// resolvePartition is auditPartition, auditing a tenant's reach for a
// partition not its own: a refusal in its own partition, worded the same
// whether that partition exists or not, and, when it names another tenant,
// a Cat 4 cross-tenant event at the platform tier.
func (p *Plane) resolvePartition(ctx context.Context, pr auth.Principal, partition string) (string, error) {
	part, err := auditPartition(pr, partition)
	if !errors.Is(err, ErrNotFound) || pr.Kind != store.KindTenant {
		return part, err
	}
	now := p.now()
	werr := p.st.Atomic(ctx, func(tx store.Tx) error {
		// The tenant's own record leaves the name out: its partition names
		// no other tenant, whatever the tenant typed.
		r := auditRecord(pr.TenantID, now, actor(pr), "audit.read", "(another partition)", "refused", "",
			map[string]any{"contract": "fleet.audit-partition", "reason": "a tenant reads only its own audit partition"})
		r.Resource = "audit-log"
		if _, err := tx.AppendAudit(ctx, r); err != nil {
			return err
		}
		if _, ok := p.Repo().Tenant(partition); !ok && partition != store.PlatformPartition {
			return nil
		}
		c := auditRecord(store.PlatformPartition, now, actor(pr), "isolation.cross_tenant", partition, "refused", "",
			map[string]any{"cat": 4, "tier": "platform", "category": "cross-tenant attempt", "tenant": pr.TenantID,
				"resource": "audit-log", "action": "audit.read", "contract": "fleet.audit-partition"})
		c.Resource = "audit-log"
		_, err := tx.AppendAudit(ctx, c)
		return err
	})
	if werr != nil {
		return "", wrapStore("audit a refused audit read", werr)
	}
	return "", err
}

// ListAudit returns audit records after seq: a tenant's own partition for a
// tenant credential, the platform partition for the platform admin.
func (p *Plane) ListAudit(ctx context.Context, pr auth.Principal, after int64, limit int) ([]AuditEntry, error) {
	return p.ListAuditPartition(ctx, pr, "", after, limit)
}

// ListAuditPartition returns records of partition ("" for the caller's
// own) after seq after, at most limit (at most MaxAuditPage).
func (p *Plane) ListAuditPartition(ctx context.Context, pr auth.Principal, partition string, after int64, limit int) ([]AuditEntry, error) {
	part, err := p.resolvePartition(ctx, pr, partition)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxAuditPage {
		limit = MaxAuditPage
	}
	if after < 0 {
		return nil, invalid("after", "must not be negative")
	}
	recs, err := p.st.ListAudit(ctx, store.AuditFilter{Partition: part, AfterSeq: after, Limit: limit})
	if err != nil {
		return nil, wrapStore("list audit", err)
	}
	out := make([]AuditEntry, 0, len(recs))
	for _, r := range recs {
		out = append(out, AuditEntry{Partition: r.Partition, Seq: r.Seq, Time: r.Time, Actor: r.Actor, Agent: r.Agent,
			Resource: r.Resource, Action: r.Action, Object: r.Object, Outcome: r.Outcome, TraceID: r.TraceID,
			CostMicros: r.CostMicros, Detail: json.RawMessage(r.Detail), PrevHash: r.PrevHash, Hash: r.Hash})
	}
	return out, nil
}

// AuditSummary returns, for the platform admin, record counts and costs by
// partition, resource and outcome, of the records in [since, until) (a zero
// bound is open): every tenant's and the platform's, no payloads.
func (p *Plane) AuditSummary(ctx context.Context, pr auth.Principal, since, until time.Time) ([]AuditAggregate, error) {
	if err := requirePlatform(pr, "the audit summary across tenants"); err != nil {
		return nil, err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return nil, invalid("until", "must be after since")
	}
	as, err := p.st.AuditSummary(ctx, store.AuditSummaryFilter{Since: since, Until: until})
	if err != nil {
		return nil, wrapStore("audit summary", err)
	}
	out := make([]AuditAggregate, 0, len(as))
	for _, a := range as {
		out = append(out, AuditAggregate{Partition: a.Partition, Resource: a.Resource, Outcome: a.Outcome, Count: a.Count, CostMicros: a.CostMicros})
	}
	return out, nil
}

// ExportAudit calls fn with every record of partition ("" for the caller's
// own, under the rules of ListAuditPartition) in Seq order, reading a page
// at a time, and stops at fn's first error. The partition is resolved
// before fn is first called, so a refusal comes before any record.
func (p *Plane) ExportAudit(ctx context.Context, pr auth.Principal, partition string, fn func(store.AuditRecord) error) error {
	part, err := p.resolvePartition(ctx, pr, partition)
	if err != nil {
		return err
	}
	if err := audit.Each(ctx, p.st, part, fn); err != nil {
		return wrapStore("export audit", err)
	}
	return nil
}
