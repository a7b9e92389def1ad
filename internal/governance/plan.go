package governance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Plan is a governance plan as the agent reads it. The plan as supplied is
// kept byte for byte beside it (for plan_hash); this is its parsed view.
type Plan struct {
	PlanID string `json:"plan_id"`
	Brand  struct {
		Domain  string `json:"domain"`
		BrandID string `json:"brand_id"`
	} `json:"brand"`
	Objectives string `json:"objectives"`
	Budget     struct {
		Total                 float64                   `json:"total"`
		Currency              string                    `json:"currency"`
		AccountingMode        string                    `json:"accounting_mode"`
		PerSellerMaxPct       *float64                  `json:"per_seller_max_pct"`
		ReallocationThreshold *float64                  `json:"reallocation_threshold"`
		ReallocationUnlimited bool                      `json:"reallocation_unlimited"`
		Allocations           map[string]PlanAllocation `json:"allocations"`
	} `json:"budget"`
	Flight struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"flight"`
	Channels *struct {
		Required   []string                 `json:"required"`
		Allowed    []string                 `json:"allowed"`
		MixTargets map[string]PlanMixTarget `json:"mix_targets"`
	} `json:"channels"`
	Countries                  []string       `json:"countries"`
	Regions                    []string       `json:"regions"`
	PolicyIDs                  []string       `json:"policy_ids"`
	PolicyCategories           []string       `json:"policy_categories"`
	RestrictedAttributes       []string       `json:"restricted_attributes"`
	RestrictedAttributesCustom []string       `json:"restricted_attributes_custom"`
	MinAudienceSize            *int           `json:"min_audience_size"`
	HumanReviewRequired        bool           `json:"human_review_required"`
	CustomPolicies             []PolicyEntry  `json:"custom_policies"`
	ApprovedSellers            *[]string      `json:"approved_sellers"`
	Delegations                []Delegation   `json:"delegations"`
	Portfolio                  *PlanPortfolio `json:"portfolio"`
	// Mode is not in the schema but in the reference agent's plans.
	Mode string `json:"mode"`
}

// PlanAllocation caps one purchase type.
type PlanAllocation struct {
	Amount *float64 `json:"amount"`
	MaxPct *float64 `json:"max_pct"`
}

// PlanMixTarget bounds one channel's share of spend.
type PlanMixTarget struct {
	MinPct *float64 `json:"min_pct"`
	MaxPct *float64 `json:"max_pct"`
}

// PolicyEntry is a custom or shared policy.
type PolicyEntry struct {
	PolicyID    string `json:"policy_id"`
	Enforcement string `json:"enforcement"` // must, should, may
	Policy      string `json:"policy"`
}

// Delegation lets a non-owner act on a plan.
type Delegation struct {
	AgentURL    string `json:"agent_url"`
	Authority   string `json:"authority"` // full, execute_only, propose_only
	BudgetLimit *struct {
		Amount   float64 `json:"amount"`
		Currency string  `json:"currency"`
	} `json:"budget_limit"`
	Markets   []string   `json:"markets"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// PlanPortfolio makes a plan the parent of member plans.
type PlanPortfolio struct {
	MemberPlanIDs []string `json:"member_plan_ids"`
	TotalBudget   *struct {
		Amount   float64 `json:"amount"`
		Currency string  `json:"currency"`
	} `json:"total_budget_cap"`
	SharedPolicyIDs  []string      `json:"shared_policy_ids"`
	SharedExclusions []PolicyEntry `json:"shared_exclusions"`
}

// members returns a portfolio plan's member plan IDs, none for another plan.
func (p *Plan) members() []string {
	if p == nil || p.Portfolio == nil {
		return nil
	}
	return p.Portfolio.MemberPlanIDs
}

// parsePlan reads a plan element as supplied.
func parsePlan(raw json.RawMessage) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return &p, nil
}

// markets returns the plan's countries and the countries of its regions.
func (p *Plan) markets() []string {
	out := append([]string(nil), p.Countries...)
	for _, r := range p.Regions {
		if len(r) >= 2 {
			cc := r[:2]
			if !contains(out, cc) {
				out = append(out, cc)
			}
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// threshold returns the plan's human-review threshold, if any.
func (p *Plan) threshold() (float64, bool) {
	if p.Budget.ReallocationUnlimited || p.Budget.ReallocationThreshold == nil {
		return 0, false
	}
	return *p.Budget.ReallocationThreshold, true
}
