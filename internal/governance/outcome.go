package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/fleetgov/fleetgov/internal/store"
)

func (a *Agent) reportOutcome(ctx context.Context, r *request) (map[string]any, error) {
	reporter, err := r.actor("")
	if err != nil {
		return nil, err
	}
	cached, hash, err := a.idempotent(ctx, r)
	if err != nil || cached != nil {
		return cached, err
	}
	outcome := r.str("outcome")
	gc := r.str("governance_context")
	var act *store.GovAction
	var sp store.GovPlan
	var p *Plan
	if gc != "" {
		if act, sp, p, err = a.resolveAction(ctx, r, gc); err != nil {
			if ae, ok := asError(err); ok && ae.Code == CodePermissionDenied {
				return nil, newError(CodeReferenceNotFound, Correctable, "governance_context", "no approval of this account matches the governance_context")
			}
			if ae, ok := asError(err); ok && ae.Code == CodeValidation && ae.Field == "plan_id" {
				// The tuple (plan_id, governance_context) names no approval:
				// a reference error, alike for another plan and a missing one.
				return nil, newError(CodeReferenceNotFound, Correctable, "plan_id", "the governance_context does not belong to this plan")
			}
			return nil, err
		}
	} else if sp, p, err = a.loadPlan(ctx, r, r.str("plan_id")); err != nil {
		return nil, err
	}
	if p.PlanID != r.str("plan_id") {
		return nil, newError(CodeReferenceNotFound, Correctable, "plan_id", "the governance_context does not belong to this plan")
	}
	if !r.mayAct(sp, p, reporter) || (act != nil && reporter != "" && reporter != act.Buyer && !r.tenant.Sandbox) {
		return nil, newError(CodeReferenceNotFound, Correctable, "plan_id", "no such plan or approval for this reporter")
	}
	if sp.Status == store.PlanSuspended {
		return nil, newError(CodeCampaignSuspended, Transient, "plan_id", "the plan is suspended pending human review")
	}
	if cid := r.str("check_id"); cid != "" && act != nil {
		c, err := a.st.GetCheck(ctx, r.caller.Account, cid)
		if err != nil || c.Sub != act.Sub {
			return nil, newError(CodeReferenceNotFound, Correctable, "check_id", "check_id is not a check of this approval")
		}
	}
	if pt := r.str("purchase_type"); pt != "" && act != nil && pt != act.PurchaseType {
		return nil, validationError("purchase_type", "the approval was for %s, not %s", act.PurchaseType, pt)
	}
	o := store.GovOutcome{ID: newID("out"), Account: r.caller.Account, PlanID: p.PlanID, CheckID: r.str("check_id"),
		Outcome: outcome, Reporter: reporter, Request: r.raw, CreatedAt: r.now}
	var findings []Finding
	var updated *store.GovAction
	state := "accepted"
	switch outcome {
	case "completed", "failed":
		if act == nil {
			return nil, newError(CodeReferenceNotFound, Correctable, "governance_context", "no approval to settle for this plan")
		}
		if act.Settlement != "" {
			return a.orReplay(ctx, r, newError(CodeConflict, Correctable, "outcome", "this approval was already settled (%s); one terminal settlement per action", act.Settlement))
		}
		o.Sub = act.Sub
		u := *act
		u.Settlement, u.SettledAt, u.UpdatedAt = outcome, r.now, r.now
		if outcome == "completed" {
			u.Committed = act.Authorized
			if sr, ok := r.args["seller_response"].(map[string]any); ok {
				if reported, ok := number(sr["committed_budget"]); ok {
					switch {
					case reported > act.Authorized+1e-9:
						return nil, validationError("seller_response.committed_budget", "the seller reports %s committed, above the approved %s",
							money(reported, act.Currency), money(act.Authorized, act.Currency))
					case reported < act.Authorized-1e-9:
						findings = append(findings, Finding{CategoryID: CatBudget, Severity: SevWarning,
							Explanation: fmt.Sprintf("the seller reports %s committed, below the approved %s; the ledger keeps the approved amount, and a lower report does not restore headroom",
								money(reported, act.Currency), money(act.Authorized, act.Currency))})
					}
				}
				if ref, _ := sr["seller_reference"].(string); ref != "" {
					u.MediaBuyID = ref
				}
			}
		}
		o.Committed = u.Committed
		updated = &u
	case "delivery":
		if act != nil {
			o.Sub = act.Sub
		}
		findings = append(findings, a.reconcile(ctx, r, act)...)
	}
	if len(findings) > 0 {
		state = "findings"
	}
	led, err := a.loadLedger(ctx, r, p.PlanID, "", "")
	if err != nil {
		return nil, err
	}
	committed := led.committed
	if updated != nil && updated.Settlement == "completed" {
		committed += updated.Committed
	}
	body := map[string]any{"outcome_id": o.ID, "plan_id": p.PlanID}
	if r.legacy() {
		body["status"] = state
	} else {
		body["outcome_state"] = state
		body["status"] = "completed"
	}
	if updated != nil {
		body["committed_budget"] = updated.Committed
		body["plan_summary"] = map[string]any{"total_committed": committed, "budget_remaining": math.Max(0, p.Budget.Total-committed)}
	}
	if len(findings) > 0 {
		body["findings"] = findingsJSON(findings)
	}
	resp, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	o.Response = resp
	err = a.st.Atomic(ctx, func(tx store.Tx) error {
		if updated != nil {
			cur, err := tx.GetAction(ctx, r.caller.Account, updated.Sub)
			if err != nil {
				return err
			}
			if cur.Settlement != "" { // settled concurrently
				return newError(CodeConflict, Correctable, "outcome", "this approval was already settled (%s)", cur.Settlement)
			}
			if err := tx.PutAction(ctx, *updated); err != nil {
				return err
			}
		}
		if err := tx.CreateOutcome(ctx, o); err != nil {
			return err
		}
		if err := appendRecord(ctx, tx, r, "outcome", o.ID, state, map[string]any{"plan_id": p.PlanID, "outcome": outcome,
			"sub": o.Sub, "committed": o.Committed, "findings": len(findings)}); err != nil {
			return err
		}
		return a.remember(ctx, tx, r, hash, body)
	})
	if err != nil {
		if ae, ok := asError(err); ok {
			if ae.Code == CodeConflict {
				return a.orReplay(ctx, r, ae)
			}
			return nil, ae
		}
		if errors.Is(err, store.ErrConflict) {
			return a.idemReplay(ctx, r)
		}
		return nil, fmt.Errorf("governance: record outcome: %w", err)
	}
	return body, nil
}

// idemReplay answers from the idempotency record a concurrent identical
// request stored first.
func (a *Agent) idemReplay(ctx context.Context, r *request) (map[string]any, error) {
	body, _, err := a.idempotent(ctx, r)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, newError(CodeConflict, Transient, "", "a concurrent request changed this state; retry")
	}
	return body, nil
}

// orReplay answers a settlement conflict from the idempotency record of a
// concurrent identical request that settled first, if there is one: a
// retry racing its original is a replay, not a second settlement.
func (a *Agent) orReplay(ctx context.Context, r *request, conflict *Error) (map[string]any, error) {
	if r.str("idempotency_key") != "" {
		if body, _, err := a.idempotent(ctx, r); err != nil || body != nil {
			return body, err
		}
	}
	return nil, conflict
}

// reconcile compares a buyer's delivery observation with the seller's
// statements; they never add spend.
func (a *Agent) reconcile(ctx context.Context, r *request, act *store.GovAction) []Finding {
	d, _ := r.args["delivery"].(map[string]any)
	if d == nil || act == nil {
		return nil
	}
	stmts, err := a.st.ListDeliveryStatements(ctx, r.caller.Account, act.Sub)
	if err != nil || len(stmts) == 0 {
		return []Finding{{CategoryID: CatDelivery, Severity: SevInfo, Explanation: "no seller delivery statement to reconcile the observation with yet"}}
	}
	last := stmts[len(stmts)-1]
	spend, _ := number(d["cumulative_spend"])
	if id := str(d["seller_statement_id"]); id != "" && (id != last.StatementID || !equalDigest(str(d["seller_statement_digest"]), last.Digest)) {
		return []Finding{{CategoryID: CatDelivery, Severity: SevWarning, Explanation: "the observation cites a seller statement that does not match the latest one: disputed"}}
	}
	if math.Abs(spend-last.Spend) > 0.005 {
		return []Finding{{CategoryID: CatDelivery, Severity: SevWarning, Explanation: fmt.Sprintf(
			"buyer measures %s, seller states %s; conservative exposure %s", money(spend, last.Currency), money(last.Spend, last.Currency),
			money(math.Max(spend, last.Spend), last.Currency))}}
	}
	return nil
}

func equalDigest(a, b string) bool { return a != "" && a == b }
