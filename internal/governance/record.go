package governance

import (
	"context"
	"encoding/json"

	"github.com/fleetgov/fleetgov/internal/store"
)

// appendRecord writes an entry to the account's partition of the audit log.
func appendRecord(ctx context.Context, tx store.Tx, r *request, action, object, outcome string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["caller"] = r.caller.AgentURL
	detail["adcp_version"] = string(r.version)
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = tx.AppendAudit(ctx, store.AuditRecord{Partition: r.caller.Account, Time: r.now,
		Actor: "adcp:" + r.caller.principal(), Action: "adcp." + action, Object: object, Outcome: outcome, Detail: b})
	return err
}

// checkAudit is the audit detail of a check: the fields AdCP requires.
func checkAudit(c *store.GovCheck, e *evaluation) map[string]any {
	d := map[string]any{"check_id": c.ID, "plan_id": c.PlanID, "plan_version": c.PlanVersion, "plan_hash": c.PlanHash,
		"check_type": c.Type, "phase": c.Phase, "tool": c.Tool, "verdict": c.Verdict, "status": c.Status,
		"findings": findingsJSON(e.findings), "categories_evaluated": e.categories, "policies_evaluated": e.policies,
		"human_review": c.Review != nil, "jti": c.JTI, "sub": c.Sub}
	if c.Amount != nil {
		d["amount"] = *c.Amount
		d["currency"] = c.Currency
	}
	if c.Review != nil {
		d["review_reason"] = c.Review.Reason
	}
	return d
}
