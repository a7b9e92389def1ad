package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Specialist categories. They are opaque labels on the wire.
const (
	CatBudget      = "budget_authority"
	CatAggregation = "spend_aggregation"
	CatGeo         = "geo_compliance"
	CatChannel     = "channel_compliance"
	CatFlight      = "flight_compliance"
	CatSeller      = "seller_compliance"
	CatPolicy      = "policy_compliance"
	CatAudience    = "audience_compliance"
	CatDelegation  = "delegation_authority"
	CatPortfolio   = "portfolio_budget"
	CatDelivery    = "delivery_pacing"
	CatConstraints = "fleet_constraints"
	CatHumanReview = "human_review"
	CatLoopGuard   = "loop_guard"
)

// Finding severities.
const (
	SevInfo     = "info"
	SevWarning  = "warning"
	SevCritical = "critical"
)

// Finding is a check finding.
type Finding struct {
	CategoryID  string         `json:"category_id"`
	Severity    string         `json:"severity"`
	Explanation string         `json:"explanation"`
	PolicyID    string         `json:"policy_id,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
}

// Condition is a fix the caller can make and re-check.
type Condition struct {
	Field         string `json:"field"`
	RequiredValue any    `json:"required_value,omitempty"`
	Reason        string `json:"reason"`
}

// evaluation is the outcome of the specialists over one action.
type evaluation struct {
	categories []string
	policies   []string
	findings   []Finding
	conditions []Condition
	denied     bool   // a failure the caller cannot fix
	review     string // why human review is required, if it is
}

func (e *evaluation) category(c string) {
	if !contains(e.categories, c) {
		e.categories = append(e.categories, c)
	}
}

func (e *evaluation) policy(id string) {
	if id != "" && !contains(e.policies, id) {
		e.policies = append(e.policies, id)
	}
}

// deny records a failure the caller cannot fix.
func (e *evaluation) deny(cat, policyID, format string, args ...any) {
	e.category(cat)
	e.denied = true
	e.findings = append(e.findings, Finding{CategoryID: cat, Severity: SevCritical, PolicyID: policyID, Explanation: fmt.Sprintf(format, args...)})
}

// fix records a failure the caller can fix by meeting a condition.
func (e *evaluation) fix(cat, policyID string, c Condition) {
	e.category(cat)
	e.conditions = append(e.conditions, c)
	e.findings = append(e.findings, Finding{CategoryID: cat, Severity: SevWarning, PolicyID: policyID, Explanation: c.Reason})
}

func (e *evaluation) note(cat, sev, policyID, format string, args ...any) {
	e.category(cat)
	e.findings = append(e.findings, Finding{CategoryID: cat, Severity: sev, PolicyID: policyID, Explanation: fmt.Sprintf(format, args...)})
}

func (e *evaluation) needReview(reason string) {
	switch {
	case e.review == "":
		e.review = reason
	case !strings.Contains(e.review, reason):
		e.review += "; " + reason
	}
}

// proposal is the action an intent check proposes, read from its payload.
type proposal struct {
	tool         string
	purchaseType string
	amount       float64
	hasAmount    bool
	amountField  string // where the amount came from, for conditions
	currency     string
	// currencyField is where the currency came from, when not from
	// payload.currency or proposed_commitment.currency.
	currencyField string
	start, end    time.Time
	countries     []string
	regions       []string
	channels      []string
	products      []string
	packages      []pkg
	audience      string // target_agent: the seller
	attributes    []string
	raw           map[string]any
}

type pkg struct {
	product  string
	budget   float64
	channels []string
}

// categories lists the specialists that evaluate a plan.
func (a *Agent) categories(p *Plan) []string {
	c := []string{CatBudget, CatAggregation, CatGeo, CatFlight, CatSeller, CatPolicy}
	if p.Channels != nil {
		c = append(c, CatChannel)
	}
	if hasAudienceRules(p) {
		c = append(c, CatAudience)
	}
	if len(p.Delegations) > 0 {
		c = append(c, CatDelegation)
	}
	if p.Portfolio != nil {
		c = append(c, CatPortfolio)
	}
	return c
}

// ledger is what the plan has committed so far.
type ledger struct {
	committed      float64
	byType         map[string]float64
	bySeller       map[string]float64
	aggregate      float64 // same buyer and seller within the aggregation window
	actorCommitted float64 // what the acting delegate has committed on the plan
}

// loadLedger sums the plan's settled commitments. Commitments are sticky
// in the aggregation window: a later cancellation never lowers it.
func (a *Agent) loadLedger(ctx context.Context, r *request, planID, buyer, seller string) (*ledger, error) {
	sums, err := a.st.SumActions(ctx, store.ActionFilter{Account: r.caller.Account, PlanID: planID, Settlement: "completed"})
	if err != nil {
		return nil, fmt.Errorf("governance: ledger: %w", err)
	}
	l := &ledger{byType: map[string]float64{}, bySeller: map[string]float64{}}
	for _, s := range sums {
		l.committed += s.Committed
		l.byType[s.PurchaseType] += s.Committed
		l.bySeller[s.Seller] += s.Committed
	}
	// The fragmentation defense counts every commitment between this buyer
	// and this seller in the window, across the account's plans.
	if l.aggregate, err = a.windowCommitted(ctx, r, buyer, seller); err != nil {
		return nil, err
	}
	return l, nil
}

// windowCommitted sums what a buyer has committed to a seller in the
// trailing aggregation window, across the account's plans.
func (a *Agent) windowCommitted(ctx context.Context, r *request, buyer, seller string) (float64, error) {
	since := r.now.AddDate(0, 0, -r.tenant.ADCP.AggregationWindowDays)
	agg, err := a.st.SumActions(ctx, store.ActionFilter{Account: r.caller.Account, Buyer: buyer,
		Settlement: "completed", Since: since})
	if err != nil {
		return 0, fmt.Errorf("governance: ledger: %w", err)
	}
	total := 0.0
	for _, s := range agg {
		if s.Seller == seller { // also an unnamed seller: the filter's "" would match all
			total += s.Committed
		}
	}
	return total, nil
}

// delegates returns the agents a plan delegates to.
func delegates(p *Plan) []string {
	out := make([]string, 0, len(p.Delegations))
	for _, d := range p.Delegations {
		out = append(out, d.AgentURL)
	}
	return out
}

// evaluateIntent runs every specialist over an intent.
func (a *Agent) evaluateIntent(ctx context.Context, r *request, p *Plan, pr *proposal, actor string, sp store.GovPlan) (*evaluation, error) {
	e := &evaluation{}
	led, err := a.loadLedger(ctx, r, p.PlanID, actor, pr.audience)
	if err != nil {
		return nil, err
	}
	// Delegates share the delegating buyer's aggregation key: the owner's
	// and every delegate's commitments to this seller count together.
	for _, b := range append([]string{sp.Owner}, delegates(p)...) {
		if b == actor || b == "" {
			continue // loadLedger counted the actor's
		}
		agg, err := a.windowCommitted(ctx, r, b, pr.audience)
		if err != nil {
			return nil, err
		}
		led.aggregate += agg
	}
	if !r.owns(sp, actor) {
		sums, err := a.st.SumActions(ctx, store.ActionFilter{Account: r.caller.Account, PlanID: p.PlanID, Buyer: actor, Settlement: "completed"})
		if err != nil {
			return nil, fmt.Errorf("governance: delegate ledger: %w", err)
		}
		for _, s := range sums {
			led.actorCommitted += s.Committed
		}
	}
	a.checkDelegation(e, r, p, pr, actor, sp, led)
	a.checkBudget(e, r, p, pr, led)
	a.checkGeo(e, p, pr)
	a.checkChannels(e, p, pr)
	a.checkFlight(e, p, pr)
	a.checkSellers(e, p, pr.audience)
	a.checkPolicies(e, r, p, pr)
	a.checkAudience(e, p, pr)
	if err := a.checkPortfolio(ctx, e, r, p, pr); err != nil {
		return nil, err
	}
	if err := a.checkConstraints(ctx, e, r, p, pr, led); err != nil {
		return nil, err
	}
	if need, why := a.policy.requiresHumanReview(p); need {
		e.needReview(why)
	}
	if p.HumanReviewRequired {
		e.needReview("the plan requires human review of every action")
	}
	if above := r.tenant.ADCP.ReviewAbove; above > 0 && pr.hasAmount && pr.amount > above {
		e.needReview(fmt.Sprintf("%s above the account's review threshold %s", money(pr.amount, pr.currency), money(above, pr.currency)))
	}
	return e, nil
}

func money(v float64, cur string) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if cur == "" {
		return s
	}
	return s + " " + cur
}

func (a *Agent) checkBudget(e *evaluation, r *request, p *Plan, pr *proposal, l *ledger) {
	e.category(CatBudget)
	e.category(CatAggregation)
	if !pr.hasAmount {
		e.note(CatBudget, SevWarning, "", "the payload states no amount (total_budget, packages[].budget or proposed_commitment); budget authority cannot be checked")
		return
	}
	cur := p.Budget.Currency
	if pr.currency != "" && !strings.EqualFold(pr.currency, cur) {
		e.fix(CatBudget, "", Condition{Field: currencyField(pr), RequiredValue: cur,
			Reason: fmt.Sprintf("the plan's budget is in %s; the action is in %s", cur, pr.currency)})
		return
	}
	total := p.Budget.Total
	remaining := math.Max(0, total-l.committed)
	switch {
	case pr.amount > total:
		e.deny(CatBudget, "", "the action's %s exceeds the plan's total budget of %s by %s", money(pr.amount, cur), money(total, cur), money(pr.amount-total, cur))
	case pr.amount > remaining:
		e.fix(CatBudget, "", Condition{Field: pr.amountField, RequiredValue: remaining,
			Reason: fmt.Sprintf("%s is committed of %s; at most %s remains", money(l.committed, cur), money(total, cur), money(remaining, cur))})
	}
	if al, ok := p.Budget.Allocations[pr.purchaseType]; ok {
		used := l.byType[pr.purchaseType]
		capAmt := math.Inf(1)
		if al.Amount != nil {
			capAmt = *al.Amount
		}
		if al.MaxPct != nil {
			capAmt = math.Min(capAmt, total**al.MaxPct/100)
		}
		if used+pr.amount > capAmt {
			e.fix(CatBudget, "", Condition{Field: pr.amountField, RequiredValue: math.Max(0, capAmt-used),
				Reason: fmt.Sprintf("the %s allocation is %s and %s of it is committed", pr.purchaseType, money(capAmt, cur), money(used, cur))})
		}
	}
	if pct := p.Budget.PerSellerMaxPct; pct != nil && pr.audience != "" {
		capAmt := total * *pct / 100
		if used := l.bySeller[pr.audience]; used+pr.amount > capAmt {
			e.fix(CatBudget, "", Condition{Field: pr.amountField, RequiredValue: math.Max(0, capAmt-used),
				Reason: fmt.Sprintf("one seller may take at most %v%% of the budget (%s); %s is committed to %s", *pct, money(capAmt, cur), money(used, cur), pr.audience)})
		}
	}
	if th, ok := p.threshold(); ok {
		agg := l.aggregate + pr.amount
		if agg > th {
			why := fmt.Sprintf("%s is above the plan's human-review threshold of %s", money(pr.amount, cur), money(th, cur))
			if l.aggregate > 0 {
				why = fmt.Sprintf("%s with %s already committed to this seller in the last %d days makes %s, above the plan's human-review threshold of %s",
					money(pr.amount, cur), money(l.aggregate, cur), r.tenant.ADCP.AggregationWindowDays, money(agg, cur), money(th, cur))
			}
			e.needReview(why)
		}
	}
}

func currencyField(pr *proposal) string {
	if pr.currencyField != "" {
		return pr.currencyField
	}
	if strings.HasPrefix(pr.amountField, "proposed_commitment") {
		return "proposed_commitment.currency"
	}
	return "payload.currency"
}

func (a *Agent) checkGeo(e *evaluation, p *Plan, pr *proposal) {
	e.category(CatGeo)
	if len(p.Countries) == 0 && len(p.Regions) == 0 {
		return
	}
	markets := p.markets()
	var outside []string
	for _, c := range pr.countries {
		if !contains(markets, c) {
			outside = append(outside, c)
		}
	}
	if len(outside) > 0 {
		e.fix(CatGeo, "", Condition{Field: "payload.targeting_overlay.geo_countries", RequiredValue: markets,
			Reason: fmt.Sprintf("the action targets %s, outside the plan's markets %s", strings.Join(outside, ", "), strings.Join(markets, ", "))})
	}
	// A region lies in its country; the plan's regions narrow theirs (US-MA
	// admits nothing else of the US), while a country it lists without
	// regions stays whole.
	for _, reg := range pr.regions {
		switch cc := regionCountry(reg); {
		case !contains(markets, cc):
			e.fix(CatGeo, "", Condition{Field: "payload.targeting_overlay.geo_regions",
				Reason: fmt.Sprintf("the action targets region %s, in %s, outside the plan's markets %s", reg, cc, strings.Join(markets, ", "))})
		case len(p.regionsOf(cc)) > 0 && !contains(p.Regions, reg):
			e.fix(CatGeo, "", Condition{Field: "payload.targeting_overlay.geo_regions", RequiredValue: p.regionsOf(cc),
				Reason: fmt.Sprintf("the action targets region %s; the plan allows only %s there", reg, strings.Join(p.regionsOf(cc), ", "))})
		}
	}
	for _, c := range pr.countries {
		if allowed := p.regionsOf(c); len(allowed) > 0 && !slices.ContainsFunc(pr.regions, func(reg string) bool { return regionCountry(reg) == c }) {
			e.fix(CatGeo, "", Condition{Field: "payload.targeting_overlay.geo_regions", RequiredValue: allowed,
				Reason: fmt.Sprintf("the action targets all of %s; the plan allows only %s there", c, strings.Join(allowed, ", "))})
		}
	}
}

// regionCountry is the country of an ISO 3166-2 region (US-MA: US).
func regionCountry(reg string) string {
	cc, _, _ := strings.Cut(reg, "-")
	return cc
}

// regionsOf returns the plan's regions in a country: those it narrows the
// country to.
func (p *Plan) regionsOf(country string) []string {
	var out []string
	for _, reg := range p.Regions {
		if regionCountry(reg) == country {
			out = append(out, reg)
		}
	}
	return out
}

// targetCountries returns the countries the action targets, those of its
// regions included.
func (pr *proposal) targetCountries() []string {
	out := slices.Clone(pr.countries)
	for _, reg := range pr.regions {
		if cc := regionCountry(reg); !contains(out, cc) {
			out = append(out, cc)
		}
	}
	return out
}

func (a *Agent) checkChannels(e *evaluation, p *Plan, pr *proposal) {
	if p.Channels == nil {
		return
	}
	e.category(CatChannel)
	if len(p.Channels.Allowed) > 0 {
		for _, ch := range pr.channels {
			if !contains(p.Channels.Allowed, ch) {
				e.fix(CatChannel, "", Condition{Field: "payload.packages", RequiredValue: p.Channels.Allowed,
					Reason: fmt.Sprintf("channel %s is not among the plan's allowed channels %s", ch, strings.Join(p.Channels.Allowed, ", "))})
			}
		}
	}
	if len(p.Channels.MixTargets) > 0 && pr.amount > 0 {
		share := channelShares(pr)
		for ch, t := range p.Channels.MixTargets {
			pct := share[ch]
			if t.MaxPct != nil && pct > *t.MaxPct {
				e.fix(CatChannel, "", Condition{Field: "payload.packages", Reason: fmt.Sprintf("%s takes %.0f%% of the buy; the plan caps it at %v%%", ch, pct, *t.MaxPct)})
			}
		}
	}
}

// channelShares returns each channel's percentage of the proposal's budget.
func channelShares(pr *proposal) map[string]float64 {
	out := map[string]float64{}
	total := 0.0
	for _, pk := range pr.packages {
		total += pk.budget
	}
	if total == 0 {
		return out
	}
	for _, pk := range pr.packages {
		if len(pk.channels) == 0 {
			continue
		}
		each := pk.budget / float64(len(pk.channels))
		for _, ch := range pk.channels {
			out[ch] += 100 * each / total
		}
	}
	return out
}

func (a *Agent) checkFlight(e *evaluation, p *Plan, pr *proposal) {
	e.category(CatFlight)
	start, end := p.Flight.Start.Format(time.RFC3339), p.Flight.End.Format(time.RFC3339)
	switch {
	case pr.start.IsZero():
	case pr.start.Before(p.Flight.Start):
		e.fix(CatFlight, "", Condition{Field: "payload.start_time", RequiredValue: start,
			Reason: fmt.Sprintf("the action starts %s, before the plan's flight starts %s", pr.start.Format(time.RFC3339), start)})
	case pr.start.After(p.Flight.End):
		e.fix(CatFlight, "", Condition{Field: "payload.start_time", RequiredValue: start,
			Reason: fmt.Sprintf("the action starts %s, after the plan's flight ends %s", pr.start.Format(time.RFC3339), end)})
	}
	switch {
	case pr.end.IsZero():
	case pr.end.After(p.Flight.End):
		e.fix(CatFlight, "", Condition{Field: "payload.end_time", RequiredValue: end,
			Reason: fmt.Sprintf("the action ends %s, after the plan's flight ends %s", pr.end.Format(time.RFC3339), end)})
	case pr.end.Before(p.Flight.Start):
		e.fix(CatFlight, "", Condition{Field: "payload.end_time", RequiredValue: end,
			Reason: fmt.Sprintf("the action ends %s, before the plan's flight starts %s", pr.end.Format(time.RFC3339), start)})
	}
	if !pr.start.IsZero() && !pr.end.IsZero() && (pr.end.Before(p.Flight.Start) || pr.start.After(p.Flight.End)) {
		e.note(CatFlight, SevWarning, "", "the action's dates lie wholly outside the plan's flight")
	}
}

func (a *Agent) checkSellers(e *evaluation, p *Plan, seller string) {
	e.category(CatSeller)
	if p.ApprovedSellers == nil || seller == "" {
		return
	}
	if !contains(*p.ApprovedSellers, seller) {
		e.deny(CatSeller, "", "seller %s is not among the plan's approved sellers", seller)
	}
}

func (a *Agent) checkDelegation(e *evaluation, r *request, p *Plan, pr *proposal, actor string, sp store.GovPlan, l *ledger) {
	if len(p.Delegations) > 0 {
		e.category(CatDelegation) // the owner passes it with full authority
	}
	if r.owns(sp, actor) {
		return
	}
	e.category(CatDelegation)
	for _, d := range p.Delegations {
		if d.AgentURL != actor {
			continue
		}
		switch {
		case d.ExpiresAt != nil && r.now.After(*d.ExpiresAt):
			e.deny(CatDelegation, "", "the delegation to %s expired at %s", actor, d.ExpiresAt.Format(time.RFC3339))
		case d.Authority == "propose_only":
			e.needReview(fmt.Sprintf("%s may only propose actions on this plan (delegation authority propose_only)", actor))
		}
		// The limit partitions the budget: it bounds everything the
		// delegate commits on the plan, not each buy.
		if d.BudgetLimit != nil && l.actorCommitted+pr.amount > d.BudgetLimit.Amount {
			e.fix(CatDelegation, "", Condition{Field: pr.amountField, RequiredValue: math.Max(0, d.BudgetLimit.Amount-l.actorCommitted),
				Reason: fmt.Sprintf("the delegation to %s is limited to %s and %s of it is committed", actor,
					money(d.BudgetLimit.Amount, d.BudgetLimit.Currency), money(l.actorCommitted, d.BudgetLimit.Currency))})
		}
		for _, c := range pr.targetCountries() {
			if len(d.Markets) > 0 && !contains(d.Markets, c) {
				e.deny(CatDelegation, "", "the delegation to %s does not cover market %s", actor, c)
			}
		}
		return
	}
	e.deny(CatDelegation, "", "%s neither owns the plan nor holds a delegation on it", actor)
}

// checkPortfolio holds a commitment to the cap of every portfolio that
// binds the plan: its own, if it is a portfolio plan, and that of each
// portfolio plan of the account that names it as a member.
func (a *Agent) checkPortfolio(ctx context.Context, e *evaluation, r *request, p *Plan, pr *proposal) error {
	if p.Portfolio != nil {
		e.category(CatPortfolio)
		if err := a.portfolioCap(ctx, e, r, p, pr, "the portfolio cap"); err != nil {
			return err
		}
	}
	parents, err := a.st.PortfolioParents(ctx, r.caller.Account, p.PlanID)
	if err != nil {
		return fmt.Errorf("governance: portfolio: %w", err)
	}
	for _, id := range parents {
		sp, err := a.st.GetPlan(ctx, r.caller.Account, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("governance: portfolio %s: %w", id, err)
		}
		parent, err := parsePlan(sp.Raw)
		if err != nil {
			return fmt.Errorf("governance: stored plan %s: %w", id, err)
		}
		if parent.Portfolio == nil || sp.Status != store.PlanActive {
			continue
		}
		e.category(CatPortfolio)
		if err := a.portfolioCap(ctx, e, r, parent, pr, fmt.Sprintf("the cap of portfolio plan %s", id)); err != nil {
			return err
		}
	}
	return nil
}

// portfolioCap adds a condition when pr would take what the portfolio plan
// pf and its members have committed beyond pf's total budget cap.
func (a *Agent) portfolioCap(ctx context.Context, e *evaluation, r *request, pf *Plan, pr *proposal, what string) error {
	budget := pf.Portfolio.TotalBudget
	if budget == nil {
		return nil // its shared exclusions are policies
	}
	spent := 0.0
	for _, m := range append([]string{pf.PlanID}, pf.Portfolio.MemberPlanIDs...) {
		sums, err := a.st.SumActions(ctx, store.ActionFilter{Account: r.caller.Account, PlanID: m, Settlement: "completed"})
		if err != nil {
			return fmt.Errorf("governance: portfolio: %w", err)
		}
		for _, s := range sums {
			spent += s.Committed
		}
	}
	if spent+pr.amount > budget.Amount {
		e.fix(CatPortfolio, "", Condition{Field: pr.amountField, RequiredValue: math.Max(0, budget.Amount-spent),
			Reason: fmt.Sprintf("%s is %s and %s is committed across its plans", what, money(budget.Amount, budget.Currency), money(spent, budget.Currency))})
	}
	return nil
}

// hasAudienceRules reports whether a plan constrains audiences.
func hasAudienceRules(p *Plan) bool {
	return len(p.RestrictedAttributes) > 0 || len(p.RestrictedAttributesCustom) > 0 || len(p.PolicyCategories) > 0 || p.MinAudienceSize != nil
}

func (a *Agent) checkAudience(e *evaluation, p *Plan, pr *proposal) {
	if !hasAudienceRules(p) {
		return
	}
	e.category(CatAudience)
	restricted := a.policy.restrictedAttributes(p)
	for _, at := range pr.attributes {
		if contains(restricted, at) {
			e.deny(CatAudience, "", "the action targets restricted attribute %s (include or exclude, it is not allowed by this plan)", at)
		}
	}
	// What cannot be checked structurally is said, never passed silently.
	for _, at := range p.RestrictedAttributesCustom {
		e.note(CatAudience, SevInfo, "", "restricted attribute %q was not machine-evaluated; it needs a human reading of the targeting", at)
	}
	if p.MinAudienceSize != nil {
		e.note(CatAudience, SevWarning, "", "the action states no audience size, so the plan's minimum audience size of %d could not be verified", *p.MinAudienceSize)
	}
}

// checkPolicies applies registry policies and the plan's custom policies.
func (a *Agent) checkPolicies(e *evaluation, r *request, p *Plan, pr *proposal) {
	e.category(CatPolicy)
	ids := slices.Clone(p.PolicyIDs)
	if p.Portfolio != nil {
		ids = append(ids, p.Portfolio.SharedPolicyIDs...) // a portfolio's policies bind it too
	}
	for _, id := range ids {
		e.policy(id)
		rp, ok := a.policy.Policies[id]
		switch {
		case !ok:
			e.note(CatPolicy, SevWarning, id, "policy %s is not in the policy registry this agent holds; it could not be enforced", id)
		case !rp.inForce(r.now):
			e.note(CatPolicy, SevInfo, id, "registry policy %s is not in force on %s", id, r.now.Format(time.DateOnly))
		case !rp.appliesTo(pr.targetCountries()):
			e.note(CatPolicy, SevInfo, id, "registry policy %s does not apply in the action's markets", id)
		}
	}
	for _, rp := range a.autoPolicies(p) {
		e.policy(rp.PolicyID)
	}
	entries := append([]PolicyEntry(nil), p.CustomPolicies...)
	if p.Portfolio != nil {
		entries = append(entries, p.Portfolio.SharedExclusions...)
	}
	for _, cp := range entries {
		e.policy(cp.PolicyID)
		applyCustom(e, cp, pr)
	}
}

var (
	amountRE  = regexp.MustCompile(`(?i)(?:over|above|exceed(?:s|ing)?|more than|greater than|>)\s*\$?\s*([\d,.]+)\s*([km])?\b`)
	percentRE = regexp.MustCompile(`(?i)(?:above|over|more than|exceed(?:s|ing)?|>)\s*([\d.]+)\s*%`)
	cadenceRE = regexp.MustCompile(`(?i)\b(daily|weekly|monthly)\b`)
)

// channelWords maps words in policy text to AdCP channels.
var channelWords = map[string]string{"ctv": "ctv", "connected tv": "ctv", "olv": "olv", "online video": "olv",
	"video": "olv", "display": "display", "audio": "streaming_audio", "podcast": "podcast", "dooh": "dooh",
	"out-of-home": "dooh", "social": "social", "search": "search", "retail media": "retail_media", "ugc": "ugc"}

// applyCustom interprets a custom policy deterministically: the channels
// it names, an amount or share threshold, and a cadence. A policy whose
// trigger it cannot read is recorded, never silently passed.
func applyCustom(e *evaluation, cp PolicyEntry, pr *proposal) {
	text := strings.ToLower(cp.Policy)
	triggered, understood := true, false
	var names []string
	for word, ch := range channelWords {
		if strings.Contains(text, word) {
			understood = true
			names = append(names, ch)
		}
	}
	if len(names) > 0 {
		hit := false
		for _, ch := range names {
			if contains(pr.channels, ch) || productMentions(pr, ch) {
				hit = true
			}
		}
		triggered = triggered && hit
	}
	// An amount is a number not followed by %: "more than 60%" is a share.
	if loc := amountRE.FindStringSubmatchIndex(cp.Policy); loc != nil && !strings.HasPrefix(strings.TrimSpace(cp.Policy[loc[1]:]), "%") {
		m := submatches(cp.Policy, loc)
		if v, err := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64); err == nil {
			switch strings.ToLower(m[2]) {
			case "k":
				v *= 1e3
			case "m":
				v *= 1e6
			}
			understood = true
			triggered = triggered && pr.hasAmount && pr.amount > v
		}
	}
	if m := percentRE.FindStringSubmatch(cp.Policy); m != nil && strings.Contains(text, "seller") {
		if pct, err := strconv.ParseFloat(m[1], 64); err == nil {
			understood = true
			triggered = triggered && sellerShare(pr) > pct
		}
	}
	if strings.Contains(text, "drift") {
		// Drift is a delivery-phase matter: evaluated on delivery checks.
		e.note(CatPolicy, SevInfo, cp.PolicyID, "policy %s is evaluated on delivery checks: %s", cp.PolicyID, cp.Policy)
		return
	}
	if !understood {
		e.note(CatPolicy, SevInfo, cp.PolicyID, "policy %s was not machine-evaluated (no channel, amount or share trigger recognised); it needs a human reading: %s", cp.PolicyID, cp.Policy)
		return
	}
	if !triggered {
		return
	}
	cond := Condition{Field: "payload", Reason: fmt.Sprintf("policy %s applies: %s", cp.PolicyID, cp.Policy)}
	if m := cadenceRE.FindStringSubmatch(cp.Policy); m != nil {
		cond.Field = "payload.reporting_webhook.reporting_frequency"
		cond.RequiredValue = strings.ToLower(m[1])
	}
	switch cp.Enforcement {
	case "must":
		e.fix(CatPolicy, cp.PolicyID, cond)
	case "should":
		e.note(CatPolicy, SevWarning, cp.PolicyID, "%s", cond.Reason)
	default:
		e.note(CatPolicy, SevInfo, cp.PolicyID, "%s", cond.Reason)
	}
}

// submatches turns the indexes of a regexp match into its submatches.
func submatches(s string, loc []int) []string {
	out := make([]string, len(loc)/2)
	for i := range out {
		if loc[2*i] >= 0 {
			out[i] = s[loc[2*i]:loc[2*i+1]]
		}
	}
	return out
}

func productMentions(pr *proposal, word string) bool {
	for _, p := range pr.products {
		if strings.Contains(strings.ToLower(p), word) {
			return true
		}
	}
	return false
}

// sellerShare is the largest share of the proposal one package takes, in
// percent: a buy's concentration on one seller's inventory.
func sellerShare(pr *proposal) float64 {
	total, top := 0.0, 0.0
	for _, pk := range pr.packages {
		total += pk.budget
		top = math.Max(top, pk.budget)
	}
	if total == 0 {
		return 0
	}
	return 100 * top / total
}

// checkConstraints evaluates the account's effective constraint clauses:
// the action as a plan action of the account's governed agent.
func (a *Agent) checkConstraints(ctx context.Context, e *evaluation, r *request, p *Plan, pr *proposal, l *ledger) error {
	agentID := r.tenant.ADCP.Agent
	if agentID == "" {
		return nil
	}
	e.category(CatConstraints)
	// The clauses see the buy as the governed agent's tool call: the AdCP
	// task on the server "adcp" (as its tool manifest names it), the payload
	// as arguments, and the plan it executes, which the intent check binds.
	args, _ := plainJSON(pr.raw).(map[string]any)
	if args == nil {
		args = map[string]any{}
	}
	if tb, ok := args["total_budget"].(map[string]any); ok {
		args["total_budget"] = tb["amount"]
		if _, ok := args["currency"]; !ok && tb["currency"] != nil {
			args["currency"] = tb["currency"]
		}
	}
	if _, ok := args["plan_id"]; !ok {
		args["plan_id"] = p.PlanID
	}
	act := &constraint.Action{Kind: "tool_call", Tool: "adcp." + pr.tool, Server: "adcp", Effect: "write", Arguments: args,
		Resource:   pr.audience,
		Attributes: map[string]any{"countries": toAny(pr.targetCountries()), "channels": toAny(pr.channels), "purchase_type": pr.purchaseType},
		Measures:   map[string]float64{}}
	if pr.hasAmount {
		// The plan's budget in use is what it has committed with this buy:
		// a cap on it bounds the plan, not each buy.
		act.Measures["plan.budget_usd"] = l.committed + pr.amount
		act.Measures["buy.amount"] = pr.amount
	}
	d, err := a.fleet.Decide(ctx, agentID, act)
	if err != nil {
		return fmt.Errorf("governance: effective constraints of %s: %w", agentID, err)
	}
	for _, f := range d.Fired {
		e.policy(f.Clause)
		switch f.Effect {
		case constraint.Deny:
			e.deny(CatConstraints, f.Clause, "%s clause %s: %s (%s)", f.Tier, f.Clause, f.Text, f.Reason)
		case constraint.Escalate:
			e.needReview(fmt.Sprintf("%s clause %s escalates: %s", f.Tier, f.Clause, f.Text))
			e.note(CatConstraints, SevWarning, f.Clause, "%s clause %s escalates to a human: %s", f.Tier, f.Clause, f.Text)
		default:
			e.note(CatConstraints, SevWarning, f.Clause, "%s clause %s: %s", f.Tier, f.Clause, f.Text)
		}
	}
	return nil
}

// plainJSON turns the json.Numbers of a decoded JSON value into float64s,
// as rules see numbers.
func plainJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plainJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainJSON(e)
		}
		return out
	}
	return v
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
