package control

import (
	"context"
	"encoding/json"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/store"
)

// AuditEntry is an audit record as the API shows it.
type AuditEntry struct {
	Partition string          `json:"partition"`
	Seq       int64           `json:"seq"`
	Time      time.Time       `json:"time"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Object    string          `json:"object"`
	Outcome   string          `json:"outcome"`
	TraceID   string          `json:"trace_id,omitempty"`
	Detail    json.RawMessage `json:"detail,omitempty"`
	PrevHash  []byte          `json:"prev_hash,omitempty"`
	Hash      []byte          `json:"hash"`
}

// MaxAuditPage is the most records one ListAudit call returns.
const MaxAuditPage = 1000

// ListAudit returns audit records after seq: a tenant's own partition for a
// tenant credential, the platform partition for the platform admin.
func (p *Plane) ListAudit(ctx context.Context, pr auth.Principal, after int64, limit int) ([]AuditEntry, error) {
	if err := requireNotAgent(pr, "reading the audit log"); err != nil {
		return nil, err
	}
	part := pr.TenantID
	if pr.IsPlatform() {
		part = store.PlatformPartition
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
		out = append(out, AuditEntry{Partition: r.Partition, Seq: r.Seq, Time: r.Time, Actor: r.Actor, Action: r.Action,
			Object: r.Object, Outcome: r.Outcome, TraceID: r.TraceID, Detail: json.RawMessage(r.Detail), PrevHash: r.PrevHash, Hash: r.Hash})
	}
	return out, nil
}
