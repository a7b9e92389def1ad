package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// readProposal reads what an intent proposes from its payload.
func (a *Agent) readProposal(ctx context.Context, r *request, p *Plan) (*proposal, error) {
	pr := &proposal{tool: r.str("tool"), purchaseType: orDefault(r.str("purchase_type"), "media_buy"), audience: r.str("target_agent")}
	payload, _ := r.args["payload"].(map[string]any)
	pr.raw = payload
	if pc, ok := r.args["proposed_commitment"].(map[string]any); ok {
		pr.amount, pr.hasAmount = number(pc["amount"])
		pr.amountField = "proposed_commitment.amount"
		pr.currency, _ = pc["currency"].(string)
	} else if r.version >= "3.2" && contains(deltaTools, pr.tool) {
		return nil, validationError("proposed_commitment", "tool %s commits a delta: name it as proposed_commitment {amount, currency}", pr.tool)
	}
	if !pr.hasAmount {
		switch tb := payload["total_budget"].(type) {
		case map[string]any:
			pr.amount, pr.hasAmount = number(tb["amount"])
			if pr.currency, _ = tb["currency"].(string); pr.currency != "" {
				pr.currencyField = "payload.total_budget.currency"
			}
		default:
			pr.amount, pr.hasAmount = number(tb)
		}
		pr.amountField = "payload.total_budget"
	}
	if cur, ok := payload["currency"].(string); ok && pr.currency == "" {
		pr.currency = cur
	}
	sum, budgeted := 0.0, false
	pkgs, _ := payload["packages"].([]any)
	for _, x := range pkgs {
		m, _ := x.(map[string]any)
		var pk pkg
		pk.product, _ = m["product_id"].(string)
		if v, ok := m["budget"].(map[string]any); ok {
			pk.budget, _ = number(v["amount"])
		} else if v, ok := number(m["budget"]); ok {
			pk.budget = v
		}
		sum += pk.budget
		budgeted = budgeted || pk.budget > 0
		if pk.product != "" {
			pr.products = append(pr.products, pk.product)
			chs, err := a.productChannels(ctx, r, pk.product)
			if err != nil {
				return nil, err
			}
			pk.channels = chs
		}
		for _, ch := range stringList(m["channels"]) {
			if !contains(pk.channels, ch) {
				pk.channels = append(pk.channels, ch)
			}
		}
		for _, ch := range pk.channels {
			if !contains(pr.channels, ch) {
				pr.channels = append(pr.channels, ch)
			}
		}
		readTargeting(pr, m["targeting_overlay"])
		pr.packages = append(pr.packages, pk)
	}
	if !pr.hasAmount && budgeted {
		pr.amount, pr.hasAmount, pr.amountField = sum, true, "payload.packages"
	}
	readTargeting(pr, payload["targeting_overlay"])
	pr.start = timeField(payload["start_time"])
	pr.end = timeField(payload["end_time"])
	if pr.amount < 0 {
		return nil, validationError(pr.amountField, "amounts must not be negative")
	}
	return pr, nil
}

// productChannels returns the channels of a product the sandbox seeded.
func (a *Agent) productChannels(ctx context.Context, r *request, productID string) ([]string, error) {
	f, err := a.st.GetFixture(ctx, r.caller.Account, "product", productID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("governance: product %s: %w", productID, err)
	}
	var prod struct {
		Channels []string `json:"channels"`
	}
	if err := json.Unmarshal(f.Raw, &prod); err != nil {
		return nil, nil //nolint:nilerr // a fixture without channels has none
	}
	return prod.Channels, nil
}

// readTargeting collects markets and restricted attributes from a
// targeting overlay.
func readTargeting(pr *proposal, v any) {
	t, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, c := range stringList(t["geo_countries"]) {
		if !contains(pr.countries, c) {
			pr.countries = append(pr.countries, c)
		}
	}
	pr.regions = append(pr.regions, stringList(t["geo_regions"])...)
	if d, ok := t["demographics"].(map[string]any); ok {
		if _, ok := d["age"]; ok {
			pr.attributes = append(pr.attributes, "age")
		}
		if _, ok := d["age_ranges"]; ok {
			pr.attributes = append(pr.attributes, "age")
		}
	}
	for _, attr := range []string{"racial_ethnic_origin", "political_opinions", "religious_beliefs", "trade_union_membership",
		"health_data", "sex_life_sexual_orientation", "genetic_data", "biometric_data", "familial_status"} {
		if _, ok := t[attr]; ok {
			pr.attributes = append(pr.attributes, attr)
		}
	}
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// number reads a JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(n.String(), 64)
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}

func timeField(v any) time.Time {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
