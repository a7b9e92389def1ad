package governance_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/governance/govtest"
	"github.com/fleetgov/fleetgov/internal/store"
)

// TestLoopGuard: after MaxRechecks (3) unsuccessful intent checks of one
// action the agent denies the loop, until the action is approved or the
// plan changes; a consultation_context never starts a count of its own.
func TestLoopGuard(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	for _, v := range icVersions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := newICRun(t, e, "loop-"+strings.ReplaceAll(v, ".", ""), v)
			plan := map[string]any{"countries": []any{"US"}}
			c.syncPlans(plan)
			outside := map[string]any{"payload": map[string]any{"total_budget": 5000, "targeting_overlay": map[string]any{"geo_countries": []any{"GB"}}}}
			inside := map[string]any{"payload": map[string]any{"total_budget": 5000, "targeting_overlay": map[string]any{"geo_countries": []any{"US"}}}}
			check := func(over map[string]any) govtest.Result {
				t.Helper()
				// The guard reads checks in time order; the test clock
				// stands still unless moved.
				e.Clock.Advance(time.Second)
				return c.sessions["buyer"].Call("check_governance", c.intentArgs("", over))
			}
			// conditions is one unsuccessful check of the outside buy; it
			// carries on the consultation_context the agent returned.
			var cc string
			conditions := func(i int) {
				t.Helper()
				over := icOverlay(outside, nil)
				if cc != "" && v == "3.2" {
					over["consultation_context"] = cc
				}
				r := check(over)
				if got := icVerdict(v, r); got != "conditions" {
					t.Fatalf("unsuccessful check %d: verdict %q, want conditions: %s", i, got, r.Text)
				}
				cc = icStr(r.Body["consultation_context"])
			}
			denied := func(what string) {
				t.Helper()
				over := icOverlay(outside, nil)
				if v == "3.2" {
					over["consultation_context"] = cc
				}
				r := check(over)
				if got := icVerdict(v, r); got != "denied" {
					t.Fatalf("%s: verdict %q, want denied by the loop guard: %s", what, got, r.Text)
				}
				icShape(t, v, "denied", r)
				icFindings(t, icList(r.Body["findings"]), []icFinding{
					{Category: "geo_compliance", Severity: "warning"},
					{Category: "loop_guard", Severity: "critical", Says: "unsuccessful checks of this action already"},
				})
				if cats := icStrings(r.Body["categories_evaluated"]); !slices.Contains(cats, "loop_guard") {
					t.Errorf("categories_evaluated = %v, want loop_guard, the category of a finding", cats)
				}
			}
			for i := 1; i <= 3; i++ {
				conditions(i)
			}
			denied("the 4th check")
			denied("the 5th check")

			// Another action (another seller) has a count of its own.
			if v != "3.0" {
				other := icOverlay(outside, map[string]any{"target_agent": "$seller2"})
				if r := check(other); icVerdict(v, r) != "conditions" {
					t.Fatalf("the same buy from another seller: %s, want conditions", r.Text)
				}
			}

			// A new plan revision starts the count again.
			c.syncPlans(plan)
			cc = ""
			for i := 1; i <= 2; i++ {
				conditions(i)
			}
			// An approval of the action starts it again too.
			if r := check(inside); icVerdict(v, r) != "approved" {
				t.Fatalf("the buy inside the plan: %s, want approved", r.Text)
			}
			cc = ""
			for i := 1; i <= 3; i++ {
				conditions(i)
			}
			denied("the 4th check since the approval")
		})
	}
}

// TestConsultationContext: a 3.2 re-check names the consultation_context
// its conditions came with; one the agent never returned for that action
// is refused and changes nothing.
func TestConsultationContext(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	c := newICRun(t, e, "consult", "3.2")
	c.syncPlans(map[string]any{"countries": []any{"US"}}, map[string]any{"plan_id": "$plan:other", "countries": []any{"US"}})
	outside := map[string]any{"payload": map[string]any{"total_budget": 5000, "targeting_overlay": map[string]any{"geo_countries": []any{"GB"}}}}
	s := c.sessions["buyer"]
	r := s.Call("check_governance", c.intentArgs("", outside))
	cc := icStr(r.Body["consultation_context"])
	if icVerdict("3.2", r) != "conditions" || cc == "" {
		t.Fatalf("check = %s, want conditions with a consultation_context", r.Text)
	}
	tests := []struct {
		name string
		over map[string]any
		want string // verdict, or an error code
	}{
		{"the handle the conditions came with", map[string]any{"consultation_context": cc}, "conditions"},
		{"a handle the agent never returned", map[string]any{"consultation_context": "cc_made_up_by_the_caller"}, "VALIDATION_ERROR"},
		{"the handle on another plan", map[string]any{"consultation_context": cc, "plan_id": "$plan:other"}, "VALIDATION_ERROR"},
		{"the handle for another seller", map[string]any{"consultation_context": cc, "target_agent": "$seller2"}, "VALIDATION_ERROR"},
		{"the handle for another tool", map[string]any{"consultation_context": cc, "tool": "update_media_buy",
			"proposed_commitment": map[string]any{"amount": 5000, "currency": "USD"}}, "VALIDATION_ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := c.intentArgs("", icOverlay(outside, tc.over))
			before := icCheckCount(t, e, icStr(args["plan_id"]))
			r := s.Call("check_governance", args)
			if strings.ToUpper(tc.want) != tc.want {
				if got := icVerdict("3.2", r); got != tc.want {
					t.Fatalf("check = %s, want verdict %s", r.Text, tc.want)
				}
				if got := icStr(r.Body["consultation_context"]); got != cc {
					t.Errorf("consultation_context = %q, want the same handle %q", got, cc)
				}
				return
			}
			if code, field := r.Error(); code != tc.want || field != "consultation_context" {
				t.Fatalf("check = %s, want %s naming consultation_context", r.Text, tc.want)
			}
			if after := icCheckCount(t, e, icStr(args["plan_id"])); after != before {
				t.Errorf("a refused check was recorded: %d checks, want %d", after, before)
			}
		})
	}
}

// icCheckCount counts a production plan's stored checks.
func icCheckCount(t *testing.T, e *govtest.Env, planID string) int {
	t.Helper()
	cs, err := e.Store.ListChecks(t.Context(), store.CheckFilter{Account: govtest.Production, PlanID: planID})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// TestAccountModes: an account in audit or advisory mode approves what
// enforce mode would deny, with the findings, but human review still
// holds: a mode never neuters human_review_required.
func TestAccountModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"audit", "advisory", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := govtest.CopyExampleFleet(t)
			fy := filepath.Join(dir, "fleet.yaml")
			b, err := os.ReadFile(fy)
			if err != nil {
				t.Fatal(err)
			}
			const anchor = "      review_above: 150000\n"
			if !strings.Contains(string(b), anchor) {
				t.Fatalf("fleet.yaml lacks %q", anchor)
			}
			if err := os.WriteFile(fy, []byte(strings.Replace(string(b), anchor, anchor+"      mode: "+mode+"\n", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			e := govtest.Start(t, govtest.Options{FleetDir: dir})
			c := newICRun(t, e, "mode-"+mode, "3.1")
			c.syncPlans(map[string]any{"countries": []any{"US"}},
				map[string]any{"plan_id": "$plan:review", "human_review_required": true})
			s := c.sessions["buyer"]

			// DE is outside the plan and outside the account's markets.
			r := s.Call("check_governance", c.intentArgs("", map[string]any{"payload": map[string]any{"total_budget": 5000,
				"targeting_overlay": map[string]any{"geo_countries": []any{"DE"}}}}))
			want := map[string]string{"audit": "approved", "advisory": "approved", "enforce": "denied"}[mode]
			if got := icVerdict("3.1", r); got != want {
				t.Fatalf("check in %s mode: verdict %q, want %q: %s", mode, got, want, r.Text)
			}
			icShape(t, "3.1", want, r)
			if r.Body["mode"] != mode {
				t.Errorf("mode = %v, want %s", r.Body["mode"], mode)
			}
			icFindings(t, icList(r.Body["findings"]), []icFinding{
				{Category: "geo_compliance", Severity: "warning"},
				{Category: "fleet_constraints", Severity: "critical", Policy: "adsales.markets"},
			})

			r = s.Call("check_governance", c.intentArgs("", map[string]any{"plan_id": "$plan:review", "payload": map[string]any{"total_budget": 100}}))
			if r.IsError || r.Body["status"] != "submitted" {
				t.Errorf("a plan that requires human review in %s mode: %s, want the check sent to review", mode, r.Text)
			}
		})
	}
}

// TestCheckShapes: a check is an intent (tool and payload) or an execution
// (planned_delivery or delivery_metrics with a governance_context), never
// both or neither; a refused check is not recorded.
func TestCheckShapes(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	planned := map[string]any{"media_buy_id": "mb_1", "total_budget": 5000, "currency": "USD", "channels": []any{"display"}}
	metrics := map[string]any{"statement_id": "st_1", "statement_digest": "sha256:" + strings.Repeat("0", 64), "sequence": 1,
		"issued_at": "2027-01-02T00:00:00Z", "reporting_period": map[string]any{"start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00Z"},
		"cumulative_spend": 100, "currency": "USD"}
	payload := map[string]any{"total_budget": 5000}
	tests := []struct {
		name     string
		versions []string
		args     map[string]any
		codes    []string // acceptable error codes
		field    string   // the field the error names; "-" for any
	}{
		{"an intent with planned delivery", nil, map[string]any{"tool": "create_media_buy", "payload": payload, "planned_delivery": planned},
			[]string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "-"},
		{"an intent with delivery metrics", nil, map[string]any{"tool": "create_media_buy", "payload": payload, "delivery_metrics": metrics},
			[]string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "-"},
		{"an intent with an execution's context and planned delivery", nil, map[string]any{"tool": "create_media_buy", "payload": payload,
			"planned_delivery": planned, "governance_context": "e30.e30.sig"}, []string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "-"},
		{"an intent carrying a governance_context", nil, map[string]any{"tool": "create_media_buy", "payload": payload,
			"governance_context": "e30.e30.sig"}, []string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "-"},
		{"a tool without a payload", nil, map[string]any{"tool": "create_media_buy"}, []string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "payload"},
		{"a payload without a tool", []string{"3.0", "3.1"}, map[string]any{"payload": payload}, []string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "tool"},
		{"neither an intent nor an execution", nil, map[string]any{}, []string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "-"},
		{"a 3.2 intent without target_agent", []string{"3.2"}, map[string]any{"tool": "create_media_buy", "payload": payload, "target_agent": ""},
			[]string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "target_agent"},
		{"a 3.2 update without proposed_commitment", []string{"3.2"}, map[string]any{"tool": "update_media_buy", "payload": payload},
			[]string{"VALIDATION_ERROR", "INVALID_REQUEST"}, "proposed_commitment"},
	}
	n := 0
	for _, tc := range tests {
		vs := tc.versions
		if vs == nil {
			vs = icVersions
		}
		for _, v := range vs {
			n++
			id := fmt.Sprintf("shape%02d", n)
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				t.Parallel()
				c := newICRun(t, e, id, v)
				c.syncPlans(map[string]any{})
				args := map[string]any{"plan_id": "$plan", "caller": "$buyer", "adcp_version": v}
				if v != "3.0" {
					args["target_agent"] = "$seller"
				}
				args = icOverlay(args, tc.args)
				if args["target_agent"] == "" {
					delete(args, "target_agent")
				}
				args = c.subst(args).(map[string]any)
				r := c.sessions["buyer"].Call("check_governance", args)
				code, field := r.Error()
				if !r.IsError || !slices.Contains(tc.codes, code) {
					t.Fatalf("check_governance(%s) = %s, want one of %v", icJSON(args), r.Text, tc.codes)
				}
				if tc.field != "-" && field != tc.field {
					t.Errorf("error field = %q, want %q: %s", field, tc.field, r.Text)
				}
				if n := icCheckCount(t, e, icStr(args["plan_id"])); n != 0 {
					t.Errorf("%d checks recorded for a refused check, want 0", n)
				}
			})
		}
	}
}

// TestExecutionApprovedSellers: the plan's approved sellers, as they stand
// at the execution check, bind the seller that executes, also when the
// intent named no seller (3.1 without target_agent).
func TestExecutionApprovedSellers(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	c := newICRun(t, e, "exec-sellers", "3.1")
	plan := map[string]any{"approved_sellers": []any{"$seller"}}
	c.syncPlans(plan)
	r := c.sessions["buyer"].Call("check_governance", c.intentArgs("", map[string]any{"target_agent": "", "payload": map[string]any{"total_budget": 1000}}))
	if icVerdict("3.1", r) != "approved" {
		t.Fatalf("the unbound intent: %s, want approved", r.Text)
	}
	token := icStr(r.Body["governance_context"])
	execute := func(who, url string) govtest.Result {
		t.Helper()
		return e.Connect(t, govtest.Production, who).Call("check_governance", map[string]any{"adcp_version": "3.1", "plan_id": c.subst("$plan"),
			"caller": url, "governance_context": token, "phase": "purchase",
			"planned_delivery": map[string]any{"total_budget": 1000, "currency": "USD"}})
	}
	tests := []struct {
		name, who, url string
		amend          bool // re-sync the plan with only the other seller approved first
		want           string
	}{
		{"a seller off the list", "seller2", govtest.Seller2URL, false, "denied"},
		{"the approved seller", "seller", govtest.SellerURL, false, "approved"},
		{"the approved seller after the plan drops it", "seller", govtest.SellerURL, true, "denied"},
	}
	for _, tc := range tests {
		if tc.amend {
			plan["approved_sellers"] = []any{"$seller2"}
			c.syncPlans(plan)
		}
		r := execute(tc.who, tc.url)
		if got := icVerdict("3.1", r); got != tc.want {
			t.Fatalf("%s: execution verdict %q, want %q: %s", tc.name, got, tc.want, r.Text)
		}
		if tc.want == "denied" {
			icFindings(t, icList(r.Body["findings"]), []icFinding{{Category: "seller_compliance", Severity: "critical", Says: tc.url}})
		}
	}
}
