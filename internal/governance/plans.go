package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/store"
)

// caller returns the agent URL the request acts as: the credential's, or
// on a sandbox account with a tenant credential, the URL the request
// claims (the conformance runner plays every role with one credential).
func (r *request) actor(claimed string) (string, error) {
	switch {
	case r.caller.AgentURL != "":
		if claimed != "" && claimed != r.caller.AgentURL {
			return "", permissionDenied("caller %q is not the agent this credential authenticates (%s)", claimed, r.caller.AgentURL)
		}
		return r.caller.AgentURL, nil
	case r.tenant.Sandbox:
		return claimed, nil
	}
	return "", permissionDenied("this credential is not an AdCP agent credential of account %s; ask the account for a buyer or seller credential", r.caller.Account)
}

// owns reports whether actor may act on a plan as its owner. On sandbox
// accounts a tenant credential stands for every agent.
func (r *request) owns(p store.GovPlan, actor string) bool {
	return p.Owner == actor || (r.tenant.Sandbox && r.caller.AgentURL == "")
}

func (a *Agent) syncPlans(ctx context.Context, r *request) (map[string]any, error) {
	owner, err := r.actor("")
	if err != nil {
		return nil, err
	}
	if owner == "" {
		owner = r.caller.principal()
	}
	cached, hash, err := a.idempotent(ctx, r)
	if err != nil || cached != nil {
		return cached, err
	}
	var in struct {
		Plans []json.RawMessage `json:"plans"`
	}
	if err := json.Unmarshal(r.raw, &in); err != nil {
		return nil, invalidRequest("plans", "%v", err)
	}
	type synced struct {
		plan   *Plan
		raw    json.RawMessage
		hash   string
		review string
	}
	var plans []synced
	seen := map[string]bool{}
	for i, raw := range in.Plans {
		field := fmt.Sprintf("plans[%d]", i)
		p, err := parsePlan(raw)
		if err != nil {
			return nil, invalidRequest(field, "%v", err)
		}
		if seen[p.PlanID] {
			return nil, validationError(field+".plan_id", "plan %s appears twice in one sync", p.PlanID)
		}
		seen[p.PlanID] = true
		if err := a.checkPlan(p, field); err != nil {
			return nil, err
		}
		hash, err := govtoken.PlanHash(raw)
		if err != nil {
			return nil, invalidRequest(field, "cannot hash the plan: %v", err)
		}
		s := synced{plan: p, raw: raw, hash: hash}
		if need, why := a.policy.requiresHumanReview(p); need {
			s.review = why
		}
		plans = append(plans, s)
	}
	out := make([]any, 0, len(plans))
	err = a.st.Atomic(ctx, func(tx store.Tx) error {
		out = out[:0]
		for i, s := range plans {
			prev, err := tx.GetPlan(ctx, r.caller.Account, s.plan.PlanID)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			case !r.owns(prev, owner):
				return newError(CodeConflict, Correctable, fmt.Sprintf("plans[%d].plan_id", i),
					"plan_id %s is registered in this account by another agent; choose another plan_id", s.plan.PlanID)
			}
			stored, err := tx.PutPlan(ctx, store.GovPlan{Account: r.caller.Account, PlanID: s.plan.PlanID, Owner: owner,
				Raw: s.raw, Hash: s.hash, SyncedAt: r.now, SyncedBy: r.caller.CredentialID, Members: s.plan.members()})
			if err != nil {
				return err
			}
			if err := appendRecord(ctx, tx, r, "plan.sync", s.plan.PlanID, "ok", map[string]any{
				"plan_id": s.plan.PlanID, "version": stored.Version, "plan_hash": s.hash, "owner": owner}); err != nil {
				return err
			}
			out = append(out, a.planResult(s.plan, stored.Version, s.review))
		}
		body := map[string]any{"plans": out}
		return a.remember(ctx, tx, r, hash, body)
	})
	if err != nil {
		if ae, ok := asError(err); ok {
			return nil, ae
		}
		if errors.Is(err, store.ErrConflict) {
			return a.idemReplay(ctx, r) // a concurrent identical request won; answer as it did
		}
		return nil, fmt.Errorf("governance: sync plans: %w", err)
	}
	return map[string]any{"plans": out}, nil
}

// Code formats of plan fields.
var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	regionRE   = regexp.MustCompile(`^[A-Z]{2}-[A-Z0-9]{1,3}$`)
)

// checkPlan applies the business rules the schema does not express.
func (a *Agent) checkPlan(p *Plan, field string) error {
	if !p.Flight.End.After(p.Flight.Start) {
		return validationError(field+".flight.end", "the flight ends (%s) before it starts (%s)", p.Flight.End.Format("2006-01-02T15:04:05Z07:00"), p.Flight.Start.Format("2006-01-02T15:04:05Z07:00"))
	}
	if p.Budget.Total < 0 {
		return validationError(field+".budget.total", "the budget must not be negative")
	}
	// Codes the schema leaves as free strings would silently never match.
	if !currencyRE.MatchString(p.Budget.Currency) {
		return validationError(field+".budget.currency", "%q is not an ISO 4217 currency code such as USD", p.Budget.Currency)
	}
	if pct := p.Budget.PerSellerMaxPct; pct != nil && (*pct <= 0 || *pct > 100) {
		return validationError(field+".budget.per_seller_max_pct", "a seller's share is a percentage above 0 and at most 100, not %v", *pct)
	}
	for i, c := range p.Countries {
		if !countryRE.MatchString(c) {
			return validationError(fmt.Sprintf("%s.countries[%d]", field, i), "%q is not an ISO 3166-1 alpha-2 country code such as US", c)
		}
	}
	for i, reg := range p.Regions {
		if !regionRE.MatchString(reg) {
			return validationError(fmt.Sprintf("%s.regions[%d]", field, i), "%q is not an ISO 3166-2 region code such as US-MA", reg)
		}
	}
	sum := 0.0
	for t, al := range p.Budget.Allocations {
		if al.Amount != nil {
			sum += *al.Amount
			if *al.Amount > p.Budget.Total {
				return validationError(field+".budget.allocations."+t+".amount", "allocation %v is above the total budget %v", *al.Amount, p.Budget.Total)
			}
		}
	}
	// A policy this agent cannot resolve cannot be enforced: refuse the plan
	// rather than approve its buys unchecked.
	for i, id := range p.PolicyIDs {
		if _, ok := a.policy.Policies[id]; !ok {
			return validationError(fmt.Sprintf("%s.policy_ids[%d]", field, i), "policy %s is not in the AdCP policy registry this agent holds", id)
		}
	}
	if p.Portfolio != nil {
		for i, id := range p.Portfolio.SharedPolicyIDs {
			if _, ok := a.policy.Policies[id]; !ok {
				return validationError(fmt.Sprintf("%s.portfolio.shared_policy_ids[%d]", field, i), "policy %s is not in the AdCP policy registry this agent holds", id)
			}
		}
	}
	for i, d := range p.Delegations {
		if d.BudgetLimit != nil && !strings.EqualFold(d.BudgetLimit.Currency, p.Budget.Currency) {
			return validationError(fmt.Sprintf("%s.delegations[%d].budget_limit.currency", field, i),
				"delegation budget in %s, plan budget in %s", d.BudgetLimit.Currency, p.Budget.Currency)
		}
	}
	return nil
}

// planResult is a plans[] element of the sync_plans response.
func (a *Agent) planResult(p *Plan, version int, review string) map[string]any {
	cats := []any{}
	for _, c := range a.categories(p) {
		cats = append(cats, map[string]any{"category_id": c, "status": "active"})
	}
	pols := []any{}
	for _, id := range p.PolicyIDs {
		enf := "must"
		if rp, ok := a.policy.Policies[id]; ok && rp.Enforcement != "" {
			enf = rp.Enforcement
		}
		pols = append(pols, map[string]any{"policy_id": id, "source": "explicit", "enforcement": enf})
	}
	for _, cp := range p.CustomPolicies {
		pols = append(pols, map[string]any{"policy_id": cp.PolicyID, "source": "explicit", "enforcement": cp.Enforcement})
	}
	for _, rp := range a.autoPolicies(p) {
		pols = append(pols, map[string]any{"policy_id": rp.PolicyID, "source": "auto_applied", "enforcement": rp.Enforcement,
			"reason": "applies to the plan's policy categories in its markets"})
	}
	res := map[string]any{"plan_id": p.PlanID, "status": "active", "version": version, "categories": cats, "resolved_policies": pols}
	_ = review // human review is derived again on every check
	return res
}

// autoPolicies are registry policies that apply through the plan's policy
// categories in its markets, beyond those it names.
func (a *Agent) autoPolicies(p *Plan) []RegistryPolicy {
	var out []RegistryPolicy
	for _, rp := range a.policy.Policies {
		if contains(p.PolicyIDs, rp.PolicyID) || !contains(rp.GovernanceDomains, "campaign") {
			continue
		}
		for _, c := range p.PolicyCategories {
			if contains(rp.PolicyCategories, c) && rp.appliesTo(p.markets()) {
				out = append(out, rp)
				break
			}
		}
	}
	return out
}
