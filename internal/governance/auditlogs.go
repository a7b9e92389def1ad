package governance

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// auditLogs answers get_plan_audit_logs. The caller must be authorized for
// every plan it names (or a portfolio expands to); any failure is one
// generic PLAN_NOT_FOUND that names no plan.
func (a *Agent) auditLogs(ctx context.Context, r *request) (map[string]any, error) {
	actor, err := r.actor("")
	if err != nil && !(r.caller.Kind == store.KindTenant) {
		return nil, err
	}
	var ids []string
	ids = append(ids, stringList(r.args["plan_ids"])...)
	for _, pid := range stringList(r.args["portfolio_plan_ids"]) {
		_, p, err := a.loadPlan(ctx, r, pid)
		if err != nil {
			return nil, planNotFound()
		}
		ids = append(ids, pid)
		if p.Portfolio != nil {
			ids = append(ids, p.Portfolio.MemberPlanIDs...)
		}
	}
	var contexts []string
	for _, gc := range stringList(r.args["governance_contexts"]) {
		act, _, p, err := a.resolveAction(ctx, r, gc)
		if err != nil || act == nil {
			return nil, planNotFound()
		}
		contexts = append(contexts, act.Sub)
		if !contains(ids, p.PlanID) {
			ids = append(ids, p.PlanID)
		}
	}
	include, _ := r.args["include_entries"].(bool)
	types := stringList(r.args["purchase_types"])
	var plans []any
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		sp, p, err := a.loadPlan(ctx, r, id)
		if err != nil {
			if _, ok := asError(err); ok {
				return nil, planNotFound()
			}
			return nil, err
		}
		// A tenant credential of the account is its auditor.
		if r.caller.Kind != store.KindTenant && !r.mayAct(sp, p, actor) {
			return nil, planNotFound()
		}
		pl, err := a.planAudit(ctx, r, sp, p, include, types, contexts)
		if err != nil {
			return nil, err
		}
		plans = append(plans, pl)
	}
	if plans == nil {
		plans = []any{}
	}
	return map[string]any{"plans": plans}, nil
}

func (a *Agent) planAudit(ctx context.Context, r *request, sp store.GovPlan, p *Plan, include bool, types, subs []string) (map[string]any, error) {
	checks, err := a.st.ListChecks(ctx, store.CheckFilter{Account: r.caller.Account, PlanID: p.PlanID})
	if err != nil {
		return nil, fmt.Errorf("governance: audit checks: %w", err)
	}
	acts, err := a.st.ListActions(ctx, store.ActionFilter{Account: r.caller.Account, PlanID: p.PlanID})
	if err != nil {
		return nil, fmt.Errorf("governance: audit actions: %w", err)
	}
	outs, err := a.st.ListOutcomes(ctx, r.caller.Account, p.PlanID)
	if err != nil {
		return nil, fmt.Errorf("governance: audit outcomes: %w", err)
	}
	keep := func(sub, purchaseType string) bool {
		return (len(subs) == 0 || contains(subs, sub)) && (len(types) == 0 || contains(types, purchaseType))
	}
	intentToken := map[string]string{}
	checkCount := map[string]int{}
	statuses := map[string]int{"approved": 0, "denied": 0, "conditions": 0, "human_reviewed": 0}
	findings := 0
	escalations := []any{}
	entries := []any{}
	for _, c := range checks {
		if c.Sub != "" {
			checkCount[c.Sub]++
		}
		var resp map[string]any
		_ = json.Unmarshal(c.Response, &resp)
		if c.Type == "intent" {
			if gc, ok := resp["governance_context"].(string); ok && c.Sub != "" {
				intentToken[c.Sub] = gc
			}
		}
		if c.Verdict != "" {
			statuses[c.Verdict]++
		}
		if c.Review != nil {
			if c.Review.State == "approved" || c.Review.State == "denied" {
				statuses["human_reviewed"]++
			}
			esc := map[string]any{"check_id": c.ID, "reason": c.Review.Reason}
			if !c.Review.DecidedAt.IsZero() {
				esc["resolution"] = fmt.Sprintf("%s by %s (%s)", c.Review.State, c.Review.Reviewer, c.Review.Authority)
				esc["resolved_at"] = c.Review.DecidedAt.Format(time.RFC3339)
			}
			escalations = append(escalations, esc)
		}
		fs, _ := resp["findings"].([]any)
		findings += len(fs)
		if include && keep(c.Sub, c.PurchaseType) {
			e := map[string]any{"id": c.ID, "type": "check", "timestamp": c.CreatedAt.Format(time.RFC3339), "plan_id": c.PlanID,
				"caller": c.Caller, "check_type": c.Type, "plan_hash": c.PlanHash, "mode": r.tenant.ADCP.Mode}
			if c.Tool != "" {
				e["tool"] = c.Tool
			}
			if c.PurchaseType != "" {
				e["purchase_type"] = c.PurchaseType
			}
			if c.Verdict != "" {
				if r.legacy() {
					e["status"] = c.Verdict
				} else {
					e["verdict"] = c.Verdict
				}
			}
			for _, k := range []string{"explanation", "categories_evaluated", "policies_evaluated", "findings", "governance_context"} {
				if v, ok := resp[k]; ok {
					e[k] = v
				}
			}
			if r.version >= "3.2" && c.Review != nil && !c.Review.DecidedAt.IsZero() {
				e["reviewed_by"], e["reviewed_at"], e["review_reason"] = reviewerURI(c.Review.Reviewer), c.Review.DecidedAt.Format(time.RFC3339), c.Review.Reason
			}
			entries = append(entries, e)
		}
	}
	committed := 0.0
	governed := []any{}
	for _, act := range acts {
		if act.Settlement == "completed" {
			committed += act.Committed
		}
		if !keep(act.Sub, act.PurchaseType) {
			continue
		}
		// An action is active until its one terminal settlement, completed
		// or failed, ends it; it is suspended with its plan.
		status := "active"
		switch {
		case act.Settlement != "":
			status = "completed"
		case sp.Status == store.PlanSuspended:
			status = "suspended"
		}
		g := map[string]any{"governance_context": orDefault(intentToken[act.Sub], act.Sub), "purchase_type": orDefault(act.PurchaseType, "media_buy"),
			"status": status, "committed": act.Committed, "check_count": checkCount[act.Sub]}
		if act.MediaBuyID != "" {
			g["seller_reference"] = act.MediaBuyID
		}
		governed = append(governed, g)
	}
	// An outcome has the purchase type of the action it settles or observes.
	purchaseType := map[string]string{}
	for _, act := range acts {
		purchaseType[act.Sub] = orDefault(act.PurchaseType, "media_buy")
	}
	for _, o := range outs {
		if !include || !keep(o.Sub, purchaseType[o.Sub]) {
			continue
		}
		e := map[string]any{"id": o.ID, "type": "outcome", "timestamp": o.CreatedAt.Format(time.RFC3339), "plan_id": o.PlanID,
			"outcome": o.Outcome, "committed_budget": o.Committed}
		var resp map[string]any
		if json.Unmarshal(o.Response, &resp) == nil {
			state, _ := resp["outcome_state"].(string)
			if state == "" {
				state, _ = resp["status"].(string)
			}
			e["outcome_status"] = state
		}
		if o.Reporter != "" {
			e["caller"] = o.Reporter
		}
		entries = append(entries, e)
	}
	total := p.Budget.Total
	util := 0.0
	if total > 0 {
		util = math.Round(10000*committed/total) / 100
	}
	status := sp.Status
	if status == "" {
		status = store.PlanActive
	}
	pl := map[string]any{"plan_id": p.PlanID, "plan_version": sp.Version, "status": status,
		"budget":           map[string]any{"authorized": total, "committed": committed, "remaining": math.Max(0, total-committed), "utilization_pct": util},
		"governed_actions": governed,
		"summary": map[string]any{"checks_performed": len(checks), "outcomes_reported": len(outs), "statuses": statuses,
			"findings_count": findings, "escalations": escalations}}
	if include {
		// In time order; a check stays before the outcomes of its second.
		sort.SliceStable(entries, func(i, j int) bool {
			ti, _ := entries[i].(map[string]any)["timestamp"].(string)
			tj, _ := entries[j].(map[string]any)["timestamp"].(string)
			return ti < tj
		})
		pl["entries"] = entries
	}
	return pl, nil
}

// reviewerURI is a reviewer's identity as the URI reviewed_by requires: an
// absolute URI as given, an e-mail address as a mailto URI, any other name
// as a fleetgov URN.
func reviewerURI(reviewer string) string {
	plain := strings.IndexFunc(reviewer, func(r rune) bool { return r <= ' ' || r > '~' }) < 0
	if u, err := url.Parse(reviewer); err == nil && plain && u.Scheme != "" && (u.Host != "" || u.Opaque != "") {
		return reviewer
	}
	if strings.Contains(reviewer, "@") {
		return (&url.URL{Scheme: "mailto", Opaque: url.PathEscape(reviewer)}).String()
	}
	return (&url.URL{Scheme: "urn", Opaque: "fleetgov:reviewer:" + url.PathEscape(reviewer)}).String()
}
