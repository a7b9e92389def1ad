package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/store"
)

// executionCheck answers a seller's check before it commits (purchase),
// changes (modification) or keeps delivering (delivery). Execution checks
// are binary: approved with a fresh token, or denied.
func (a *Agent) executionCheck(ctx context.Context, r *request, actor string) (map[string]any, error) {
	phase := orDefault(r.str("phase"), orDefault(r.str("governance_phase"), "purchase"))
	if _, ok := r.args["delivery_metrics"]; ok && r.str("phase") == "" {
		phase = "delivery"
	}
	gc := r.str("governance_context")
	if gc == "" {
		return nil, validationError("governance_context", "an execution check carries the governance_context of the approval it executes")
	}
	act, sp, p, err := a.resolveAction(ctx, r, gc)
	if err != nil {
		return nil, err
	}
	if sp.Status == store.PlanSuspended {
		return nil, newError(CodeCampaignSuspended, Transient, "plan_id", "the plan is suspended pending human review")
	}
	if act != nil && act.Seller != "" && actor != "" && actor != act.Seller && !r.tenant.Sandbox {
		return nil, permissionDenied("the approval was issued for seller %s; %s may not execute it", act.Seller, actor)
	}
	e := &evaluation{}
	// The plan's approved sellers, as they stand now, bind the seller that
	// executes, also when the intent named none (3.0 and 3.1).
	a.checkSellers(e, p, actor)
	if act != nil && act.Settlement == "failed" {
		// The buyer reported the purchase failed: the approval is spent.
		e.category(CatBudget)
		e.deny(CatBudget, "", "the action this governance_context approved was settled as failed; a new purchase needs a new intent check")
	}
	var amount *float64
	pd, _ := r.args["planned_delivery"].(map[string]any)
	if phase == "modification" && str(pd["media_buy_id"]) == "" && (act == nil || act.MediaBuyID == "") {
		// Its token must bind the media buy (AdCP 3.2's schema requires it
		// of the request; earlier versions' schemas do not).
		return nil, validationError("planned_delivery.media_buy_id", "a modification check names the media buy it modifies (planned_delivery.media_buy_id)")
	}
	if pd != nil {
		amount = a.checkPlanned(e, r, p, act, pd)
	}
	var stmt *store.DeliveryStatement
	if dm, ok := r.args["delivery_metrics"].(map[string]any); ok {
		if stmt, err = a.checkDelivery(ctx, e, r, p, act, dm); err != nil {
			return nil, err
		}
	}
	c := &store.GovCheck{ID: newID("chk"), Account: r.caller.Account, PlanID: p.PlanID, PlanVersion: sp.Version, PlanHash: sp.Hash,
		Type: "execution", Phase: phase, Caller: actor, Principal: r.caller.CredentialID, Audience: actor,
		Currency: p.Budget.Currency, Amount: amount, Request: r.raw, CreatedAt: r.now, Status: "completed"}
	if act != nil {
		c.Sub, c.Tool, c.PurchaseType = act.Sub, act.Tool, act.PurchaseType
	}
	verdict := "approved"
	if e.denied || len(e.conditions) > 0 {
		verdict = "denied" // execution checks are binary
	}
	if r.tenant.ADCP.Mode != "enforce" {
		verdict = "approved"
	}
	c.Verdict = verdict
	body := a.checkBody(r, c, e, verdict)
	var updated *store.GovAction
	if verdict == "approved" {
		tok, exp, err := a.signExecution(ctx, r, c, act, phase, pd, amount)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			body["governance_context"], body["expires_at"] = tok, exp.Format(time.RFC3339)
		}
		if phase == "purchase" {
			body["next_check"] = r.now.Add(7 * 24 * time.Hour).Format(time.RFC3339)
		}
		if act != nil {
			u := *act
			if u.Seller == "" {
				u.Seller = actor
			}
			if id, _ := pd["media_buy_id"].(string); id != "" {
				u.MediaBuyID = id
			}
			if amount != nil && phase == "purchase" && *amount < u.Authorized {
				u.Authorized = *amount // a purchase may narrow the ceiling, never widen it
			}
			u.UpdatedAt = r.now
			updated = &u
		}
	}
	if stmt != nil {
		body["delivery_statement"] = deliveryStatementJSON(stmt, r, act)
	}
	resp, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	c.Response = resp
	err = a.st.Atomic(ctx, func(tx store.Tx) error {
		if stmt != nil {
			if err := tx.PutDeliveryStatement(ctx, *stmt); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return newError(CodeConflict, Correctable, "delivery_metrics.statement_id", "statement %s was already reported with other content", stmt.StatementID)
				}
				return err
			}
		}
		if err := tx.CreateCheck(ctx, *c); err != nil {
			return err
		}
		if updated != nil {
			if err := tx.PutAction(ctx, *updated); err != nil {
				return err
			}
		}
		if err := appendRecord(ctx, tx, r, "check", c.ID, verdict, checkAudit(c, e)); err != nil {
			return err
		}
		return a.remember(ctx, tx, r, r.idemHash, body)
	})
	if err != nil {
		if ae, ok := asError(err); ok {
			return nil, ae
		}
		return nil, fmt.Errorf("governance: store execution check: %w", err)
	}
	return body, nil
}

// resolveAction finds the governed action a governance_context belongs to.
// The agent decodes its own tokens; on sandbox accounts an opaque legacy
// context (AdCP 3.0 storyboards) resolves by plan_id to the plan's latest
// approval, or to the plan alone when there is none.
func (a *Agent) resolveAction(ctx context.Context, r *request, gc string) (*store.GovAction, store.GovPlan, *Plan, error) {
	if strings.Count(gc, ".") != 2 {
		if !r.tenant.Sandbox {
			return nil, store.GovPlan{}, nil, permissionDenied("governance_context is not a governance token this agent issued")
		}
		sp, p, err := a.loadPlan(ctx, r, r.str("plan_id"))
		if err != nil {
			return nil, store.GovPlan{}, nil, err
		}
		acts, err := a.st.ListActions(ctx, store.ActionFilter{Account: r.caller.Account, PlanID: p.PlanID})
		if err != nil {
			return nil, store.GovPlan{}, nil, fmt.Errorf("governance: actions: %w", err)
		}
		for i := len(acts) - 1; i >= 0; i-- {
			if acts[i].Settlement != "failed" {
				return &acts[i], sp, p, nil
			}
		}
		return nil, sp, p, nil
	}
	claims, err := a.openToken(ctx, r.caller.Account, gc, r.now, r.task == TaskCheck)
	if err != nil {
		return nil, store.GovPlan{}, nil, permissionDenied("governance_context does not verify: %v", err)
	}
	act, err := a.st.GetAction(ctx, r.caller.Account, claims.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.GovPlan{}, nil, permissionDenied("governance_context names no action of this account")
	}
	if err != nil {
		return nil, store.GovPlan{}, nil, fmt.Errorf("governance: action: %w", err)
	}
	if pid := r.str("plan_id"); pid != "" && pid != act.PlanID {
		return nil, store.GovPlan{}, nil, validationError("plan_id", "plan_id does not match the plan the governance_context approved")
	}
	sp, p, err := a.loadPlan(ctx, r, act.PlanID)
	if err != nil {
		return nil, store.GovPlan{}, nil, err
	}
	return &act, sp, p, nil
}

// openToken verifies a token this account's agent issued: its signature
// against the account's published keys, its issuer, and the account's
// revocations. fresh also requires it unexpired (execution checks do;
// settling an outcome of an approval does not).
func (a *Agent) openToken(ctx context.Context, account, token string, now time.Time, fresh bool) (*govtoken.Claims, error) {
	t, err := govtoken.Parse(token)
	if err != nil {
		return nil, err
	}
	// Settling an old approval checks it against the keys published when it
	// was issued: its key may have retired since (never a revoked key).
	keysAt := now
	if !fresh {
		keysAt = t.Claims.IssuedAt
	}
	keys, revokedKIDs, err := a.keys.Published(ctx, account, keysAt)
	if err != nil {
		return nil, err
	}
	set := &govtoken.JWKS{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	revoked, err := a.st.ListRevokedTokens(ctx, account)
	if err != nil {
		return nil, err
	}
	list := &govtoken.RevocationList{Version: 1, Issuer: a.Issuer(account), Updated: now, NextUpdate: now.Add(RevocationListTTL), RevokedKIDs: revokedKIDs}
	for _, rt := range revoked {
		list.RevokedJTIs = append(list.RevokedJTIs, rt.JTI)
	}
	at := now
	if !fresh {
		at = t.Claims.IssuedAt
		list.Updated, list.NextUpdate = at, at.Add(RevocationListTTL)
	}
	claims, err := govtoken.Verify(ctx, token, govtoken.VerifyOptions{Now: at, Keys: set, Issuers: []string{a.Issuer(account)},
		Audience: t.Claims.Audience, Revocations: list})
	if err != nil {
		return nil, err
	}
	return &claims, nil
}

// checkPlanned checks a seller's planned delivery against the plan and the
// approval; it returns the planned total, if stated.
func (a *Agent) checkPlanned(e *evaluation, r *request, p *Plan, act *store.GovAction, pd map[string]any) *float64 {
	e.category(CatBudget)
	e.category(CatGeo)
	e.category(CatChannel)
	e.category(CatFlight)
	var total *float64
	if v, ok := number(pd["total_budget"]); ok {
		total = &v
		cur, _ := pd["currency"].(string)
		if act != nil {
			if cur != "" && act.Currency != "" && !strings.EqualFold(cur, act.Currency) {
				e.deny(CatBudget, "", "planned delivery is in %s; the approval was in %s", cur, act.Currency)
			}
			if v > act.Authorized+1e-9 {
				e.deny(CatBudget, "", "planned total %s exceeds the approved %s", money(v, act.Currency), money(act.Authorized, act.Currency))
			}
		} else if v > p.Budget.Total {
			e.deny(CatBudget, "", "planned total %s exceeds the plan's budget %s", money(v, p.Budget.Currency), money(p.Budget.Total, p.Budget.Currency))
		}
	}
	if geo, ok := pd["geo"].(map[string]any); ok {
		for _, c := range stringList(geo["countries"]) {
			if len(p.Countries) > 0 && !contains(p.markets(), c) {
				e.deny(CatGeo, "", "planned delivery targets %s, outside the plan's markets", c)
			}
		}
	}
	if p.Channels != nil && len(p.Channels.Allowed) > 0 {
		for _, ch := range stringList(pd["channels"]) {
			if !contains(p.Channels.Allowed, ch) {
				e.deny(CatChannel, "", "planned delivery uses channel %s, not allowed by the plan", ch)
			}
		}
	}
	if s := timeField(pd["start_time"]); !s.IsZero() && s.Before(p.Flight.Start) {
		e.deny(CatFlight, "", "planned delivery starts before the plan's flight")
	}
	if t := timeField(pd["end_time"]); !t.IsZero() && t.After(p.Flight.End) {
		e.deny(CatFlight, "", "planned delivery ends after the plan's flight")
	}
	return total
}

// checkDelivery checks a delivery report: statement integrity, monotonic
// sequence, spend against the approval, pacing and drift.
func (a *Agent) checkDelivery(ctx context.Context, e *evaluation, r *request, p *Plan, act *store.GovAction, dm map[string]any) (*store.DeliveryStatement, error) {
	e.category(CatDelivery)
	e.category(CatBudget)
	cum, hasCum := number(dm["cumulative_spend"])
	cur := orDefault(str(dm["currency"]), p.Budget.Currency)
	var stmt *store.DeliveryStatement
	if id := str(dm["statement_id"]); id != "" && act != nil {
		pd, _ := r.args["planned_delivery"].(map[string]any)
		ref := orDefault(str(pd["media_buy_id"]), act.MediaBuyID)
		want := str(dm["statement_digest"])
		b, err := json.Marshal(dm)
		if err != nil {
			return nil, err
		}
		got, err := govtoken.StatementDigest(ref, b)
		if err != nil {
			return nil, validationError("delivery_metrics", "cannot canonicalize the delivery metrics: %v", err)
		}
		// A statement digest is "sha256:" and lower-case hex, not a
		// base64url hash: compare the strings.
		if want != "" && want != got {
			return nil, validationError("delivery_metrics.statement_digest", "the statement digest does not match its content (expected %s)", got)
		}
		seq, _ := number(dm["sequence"])
		prev, err := a.st.ListDeliveryStatements(ctx, r.caller.Account, act.Sub)
		if err != nil {
			return nil, fmt.Errorf("governance: statements: %w", err)
		}
		for _, s := range prev {
			if s.StatementID != id && float64(s.Sequence) >= seq {
				return nil, newError(CodeConflict, Correctable, "delivery_metrics.sequence", "sequence %v does not follow %d", seq, s.Sequence)
			}
		}
		period, _ := dm["reporting_period"].(map[string]any)
		stmt = &store.DeliveryStatement{Account: r.caller.Account, Sub: act.Sub, StatementID: id, Digest: got, Sequence: int(seq),
			PeriodStart: timeField(period["start"]), PeriodEnd: timeField(period["end"]), Spend: cum, Currency: cur, CreatedAt: r.now}
	}
	ceiling := p.Budget.Total
	if act != nil {
		ceiling = act.Authorized
	}
	if hasCum && cum > ceiling+1e-9 {
		e.deny(CatBudget, "", "cumulative spend %s exceeds the approved %s", money(cum, cur), money(ceiling, cur))
	}
	switch str(dm["pacing"]) {
	case "ahead":
		e.note(CatDelivery, SevWarning, "", "delivery is pacing ahead of plan")
	case "behind":
		e.note(CatDelivery, SevWarning, "", "delivery is pacing behind plan")
	}
	if hasCum && !p.Flight.End.After(p.Flight.Start) {
		return stmt, nil
	}
	if hasCum {
		elapsed := r.now.Sub(p.Flight.Start).Hours() / p.Flight.End.Sub(p.Flight.Start).Hours()
		if elapsed > 0 && elapsed < 1 && cum > 0 {
			expected := ceiling * elapsed
			if ratio := cum / expected; ratio > 1.5 {
				e.note(CatDelivery, SevWarning, "", "spend %s is %.0f%% of the straight-line %s for this point in the flight", money(cum, cur), 100*ratio, money(expected, cur))
			}
		}
	}
	a.checkDrift(e, p, act, dm)
	return stmt, nil
}

// checkDrift compares delivered channel shares with the plan's mix targets
// and with the custom policies that speak of drift.
func (a *Agent) checkDrift(e *evaluation, p *Plan, act *store.GovAction, dm map[string]any) {
	dist, _ := dm["channel_distribution"].(map[string]any)
	if len(dist) == 0 {
		return
	}
	if p.Channels != nil {
		for ch, t := range p.Channels.MixTargets {
			pct, _ := number(dist[ch])
			if t.MaxPct != nil && pct > *t.MaxPct {
				e.note(CatDelivery, SevWarning, "", "%s delivered %.0f%% of spend; the plan caps it at %v%%", ch, pct, *t.MaxPct)
			}
			if t.MinPct != nil && pct < *t.MinPct {
				e.note(CatDelivery, SevWarning, "", "%s delivered %.0f%% of spend; the plan wants at least %v%%", ch, pct, *t.MinPct)
			}
		}
	}
	for _, cp := range p.CustomPolicies {
		if !strings.Contains(strings.ToLower(cp.Policy), "drift") {
			continue
		}
		e.policy(cp.PolicyID)
		limit := 20.0
		if m := percentRE.FindStringSubmatch(cp.Policy); m != nil {
			fmt.Sscan(m[1], &limit)
		}
		even := 100 / float64(len(dist))
		for _, ch := range sortedKeys(dist) {
			pct, _ := number(dist[ch])
			if drift := math.Abs(pct-even) / even * 100; drift > limit {
				e.note(CatDelivery, SevWarning, cp.PolicyID, "%s delivered %.0f%% of spend, %.0f%% away from an even split: policy %s asks to re-evaluate: %s",
					ch, pct, drift, cp.PolicyID, cp.Policy)
			}
		}
	}
}

// deliveryStatementJSON is the canonical statement the agent retained, as
// AdCP 3.2 answers it: its identity, what it states, and the exact
// digest-bearing payload (seller reference and metrics as sent).
func deliveryStatementJSON(stmt *store.DeliveryStatement, r *request, act *store.GovAction) map[string]any {
	dm, _ := r.args["delivery_metrics"].(map[string]any)
	pd, _ := r.args["planned_delivery"].(map[string]any)
	ref := str(pd["media_buy_id"])
	if ref == "" && act != nil {
		ref = act.MediaBuyID
	}
	out := map[string]any{"statement_id": stmt.StatementID, "statement_digest": stmt.Digest, "sequence": stmt.Sequence,
		"seller_reference": ref, "cumulative_spend": stmt.Spend, "currency": stmt.Currency,
		"canonical_payload": map[string]any{"seller_reference": ref, "delivery_metrics": dm}}
	if v, ok := dm["issued_at"]; ok {
		out["issued_at"] = v
	}
	if p, ok := dm["reporting_period"].(map[string]any); ok {
		out["reporting_period"] = map[string]any{"start": p["start"], "end": p["end"]}
	}
	if v, ok := dm["cumulative_spend"]; ok {
		out["cumulative_spend"] = v
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// soleSeededMediaBuy returns the media buy a sandbox account seeded, when it
// seeded exactly one.
func (a *Agent) soleSeededMediaBuy(ctx context.Context, r *request) (string, error) {
	if !r.tenant.Sandbox {
		return "", nil
	}
	fx, err := a.st.ListFixtures(ctx, r.caller.Account, "media_buy")
	if err != nil {
		return "", fmt.Errorf("governance: media buy fixtures: %w", err)
	}
	if len(fx) != 1 {
		return "", nil
	}
	return fx[0].ID, nil
}

// signExecution signs an execution-phase governance_context for the seller.
func (a *Agent) signExecution(ctx context.Context, r *request, c *store.GovCheck, act *store.GovAction, phase string, pd map[string]any, amount *float64) (string, time.Time, error) {
	key, err := a.keys.Signer(ctx, r.caller.Account, r.now)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := r.now.Add(ExecutionTokenTTL)
	sub := c.Sub
	if sub == "" {
		sub = newID("act")
	}
	claims := govtoken.Claims{Issuer: a.Issuer(r.caller.Account), Subject: sub, Audience: c.Caller, IssuedAt: r.now,
		ExpiresAt: exp, JTI: newID("gov"), Phase: govtoken.Phase(phase), Caller: c.Caller, CheckID: c.ID, PlanHash: c.PlanHash,
		PolicyDecisionHash: policyDecisionHash(&evaluation{})}
	if id := str(pd["media_buy_id"]); id != "" {
		claims.MediaBuyID = id
	} else if act != nil && act.MediaBuyID != "" && phase != "purchase" {
		claims.MediaBuyID = act.MediaBuyID
	} else if phase == "delivery" {
		// A delivery token binds its media buy; without one known (the
		// sandbox may have seeded exactly one) the approval goes unsigned.
		id, err := a.soleSeededMediaBuy(ctx, r)
		if err != nil || id == "" {
			return "", time.Time{}, err
		}
		claims.MediaBuyID = id
	}
	if amount != nil {
		claims.AuthorizedCommitment = &govtoken.Commitment{Amount: *amount, Currency: c.Currency}
	} else if act != nil {
		claims.AuthorizedCommitment = &govtoken.Commitment{Amount: act.Authorized, Currency: act.Currency}
	}
	tok, err := govtoken.Sign(key, claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("governance: sign: %w", err)
	}
	c.JTI, c.ExpiresAt = claims.JTI, exp
	return tok, exp, nil
}
