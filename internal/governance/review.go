package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// queueReview sends a check to the human review queue: the task answers
// submitted and resolves when a reviewer decides (Review).
func (a *Agent) queueReview(ctx context.Context, r *request, c *store.GovCheck, e *evaluation) (map[string]any, error) {
	c.Status = "submitted"
	c.Review = &store.Review{State: "pending", Reason: e.review}
	body := map[string]any{"status": "submitted", "task_id": c.ID, "check_id": c.ID, "plan_id": c.PlanID,
		"message": "Sent to human review: " + e.review + ". Poll get_task_status with this task_id for the verdict."}
	if r.legacy() {
		body["payload"] = map[string]any{} // the 3.0 envelope requires it; the verdict comes later
	}
	if err := a.storeCheck(ctx, r, c, nil, body, e); err != nil {
		return nil, err
	}
	return body, nil
}

// ReviewDecision is a reviewer's decision on a check in the review queue.
type ReviewDecision struct {
	Approve   bool    `json:"approve"`
	Reviewer  string  `json:"reviewer"`  // who decided
	Authority string  `json:"authority"` // in what capacity
	Minutes   float64 `json:"minutes"`   // time spent, for oversight load
	Note      string  `json:"note"`
}

// Pending lists an account's checks awaiting human review.
func (a *Agent) Pending(ctx context.Context, account string) ([]store.GovCheck, error) {
	cs, err := a.st.ListChecks(ctx, store.CheckFilter{Account: account, Status: "submitted"})
	if err != nil {
		return nil, fmt.Errorf("governance: review queue: %w", err)
	}
	return cs, nil
}

// Decide resolves a check in the review queue. Approval re-runs the
// evaluation on the current plan and ledger with the review satisfied (a
// budget spent meanwhile still yields conditions or a denial); denial
// records the reviewer's reason. Either way the reviewer's identity,
// authority and minutes are kept with the check and in the audit log.
func (a *Agent) Decide(ctx context.Context, account, checkID string, d ReviewDecision) (store.GovCheck, error) {
	if strings.TrimSpace(d.Reviewer) == "" || strings.TrimSpace(d.Authority) == "" {
		return store.GovCheck{}, validationError("reviewer", "a review names the reviewer and their authority")
	}
	if d.Minutes < 0 || d.Minutes > 24*60 {
		return store.GovCheck{}, validationError("minutes", "minutes spent is between 0 and 1440")
	}
	c, err := a.st.GetCheck(ctx, account, checkID)
	if errors.Is(err, store.ErrNotFound) {
		return store.GovCheck{}, newError(CodeReferenceNotFound, Correctable, "check_id", "no check %s awaits review in this account", checkID)
	}
	if err != nil {
		return store.GovCheck{}, fmt.Errorf("governance: review: %w", err)
	}
	if c.Status != "submitted" || c.Review == nil || c.Review.State != "pending" {
		return store.GovCheck{}, newError(CodeConflict, Correctable, "check_id", "check %s is not awaiting review", checkID)
	}
	t, ok := a.Account(account)
	if !ok {
		return store.GovCheck{}, newError(CodeAccountNotFound, Terminal, "", "no governance agent serves account %s", account)
	}
	args, err := decode(c.Request)
	if err != nil {
		return store.GovCheck{}, err
	}
	now := a.now().UTC()
	r := &request{caller: Caller{Account: account, CredentialID: c.Principal, AgentURL: c.Caller}, tenant: t, task: TaskCheck,
		raw: c.Request, args: args, now: now}
	if r.version, err = negotiate(t, args); err != nil {
		return store.GovCheck{}, err
	}
	sp, p, err := a.loadPlan(ctx, r, c.PlanID)
	if err != nil {
		return store.GovCheck{}, err
	}
	pr, err := a.readProposal(ctx, r, p)
	if err != nil {
		return store.GovCheck{}, err
	}
	e, err := a.evaluateIntent(ctx, r, p, pr, c.Caller, sp)
	if err != nil {
		return store.GovCheck{}, err
	}
	review := *c.Review
	review.Reviewer, review.Authority, review.Minutes, review.Decision, review.DecidedAt = d.Reviewer, d.Authority, d.Minutes, d.Note, now
	verdict := "denied"
	if d.Approve {
		review.State = "approved"
		e.note(CatHumanReview, SevInfo, "", "human review (%s) approved by %s (%s)", e.review, d.Reviewer, d.Authority)
		e.review = ""
		verdict = decide(e, t.ADCP.Mode)
	} else {
		review.State = "denied"
		e.note(CatHumanReview, SevCritical, "", "human review (%s) denied by %s (%s): %s", e.review, d.Reviewer, d.Authority, d.Note)
	}
	c.Review = &review
	c.Verdict, c.Status = verdict, "completed"
	body := a.checkBody(r, &c, e, verdict)
	var act *store.GovAction
	if verdict == "approved" || (verdict == "conditions" && r.version < "3.2") {
		c.Sub = newID("act")
		tok, exp, err := a.signIntent(ctx, r, &c, e, pr)
		if err != nil {
			return store.GovCheck{}, err
		}
		body["governance_context"], body["expires_at"] = tok, exp.Format(time.RFC3339)
		act = &store.GovAction{Account: account, Sub: c.Sub, PlanID: c.PlanID, Buyer: c.Caller, Seller: pr.audience, Tool: pr.tool,
			PurchaseType: pr.purchaseType, Currency: c.Currency, Authorized: pr.amount, CreatedAt: now, UpdatedAt: now}
	}
	resp, err := json.Marshal(a.envelope(r, body))
	if err != nil {
		return store.GovCheck{}, err
	}
	c.Response = resp
	err = a.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.UpdateCheck(ctx, c); err != nil {
			return err
		}
		if act != nil {
			if err := tx.PutAction(ctx, *act); err != nil {
				return err
			}
		}
		return appendRecord(ctx, tx, r, "review", c.ID, verdict, map[string]any{"check_id": c.ID, "plan_id": c.PlanID,
			"reviewer": d.Reviewer, "authority": d.Authority, "minutes": d.Minutes, "decision": review.State, "reason": review.Reason})
	})
	if err != nil {
		return store.GovCheck{}, fmt.Errorf("governance: record review: %w", err)
	}
	return c, nil
}
