package governance_test

import (
	"fmt"
	"testing"

	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// TestVersionShapes: each wire version gets each verdict in its own shape:
// 3.0 puts the verdict in status, 3.1 in verdict beside status completed,
// 3.2 adds check_type (and its conditions carry no token). Every answer is
// also checked against the version's official schema by the session.
func TestVersionShapes(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	buys := []struct {
		verdict string
		country string
	}{
		{"approved", "US"},
		{"conditions", "GB"}, // outside the plan, inside the account's markets
		{"denied", "DE"},     // outside the account's markets
	}
	for _, v := range icVersions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := newICRun(t, e, "shape-"+v[2:], v)
			c.syncPlans(map[string]any{"countries": []any{"US", "DE"}})
			s := c.sessions["buyer"]
			for _, b := range buys {
				args := c.intentArgs("", map[string]any{"payload": map[string]any{"total_budget": 1000,
					"targeting_overlay": map[string]any{"geo_countries": []any{b.country}}}})
				r := s.Call("check_governance", args)
				if got := icVerdict(v, r); got != b.verdict {
					t.Fatalf("a buy in %s: verdict %q, want %q: %s", b.country, got, b.verdict, r.Text)
				}
				icShape(t, v, b.verdict, r)
				if r.Body["adcp_version"] != v {
					t.Errorf("adcp_version = %v, want %s", r.Body["adcp_version"], v)
				}
				if v != "3.0" && r.Body["status"] != "completed" {
					t.Errorf("status = %v, want the task status completed", r.Body["status"])
				}
				if b.verdict != "approved" {
					continue
				}
				// The outcome of the approval, in the same version's shape.
				o := s.Call("report_plan_outcome", map[string]any{"idempotency_key": c.key("outcome"), "plan_id": args["plan_id"],
					"check_id": r.Body["check_id"], "governance_context": r.Body["governance_context"], "outcome": "completed",
					"seller_response": map[string]any{"seller_reference": "mb_shape"}, "adcp_version": v})
				state, other := "outcome_state", "status"
				if v == "3.0" {
					state, other = "status", "outcome_state"
				}
				if o.IsError || o.Body[state] != "accepted" || (v == "3.0" && o.Body[other] != nil) || (v != "3.0" && o.Body[other] != "completed") {
					t.Errorf("report_plan_outcome in %s = %s, want %s accepted", v, o.Text, state)
				}
			}
			// Human review answers submitted in every version.
			c.syncPlans(map[string]any{"plan_id": "$plan:review", "human_review_required": true})
			r := s.Call("check_governance", c.intentArgs("", map[string]any{"plan_id": "$plan:review", "payload": map[string]any{"total_budget": 100}}))
			if r.IsError || r.Body["status"] != "submitted" || icStr(r.Body["task_id"]) == "" {
				t.Errorf("a buy needing human review in %s = %s, want submitted with a task_id", v, r.Text)
			}
		})
	}
}

// TestVersionNegotiation: adcp_version names a release (a pre-release of
// it, or in 3.0, which predates the version envelope, a patch, is that
// release); the answer comes in that release's shape and names it. A later
// release of major 3 is served as the newest fleetgov speaks, 3.2. Another
// major is VERSION_UNSUPPORTED, and a pin that is not at release precision
// where the envelope requires it INVALID_REQUEST, on every task, before
// anything runs.
func TestVersionNegotiation(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	tests := []struct {
		pin  string
		want string // the release served, or the error code
	}{
		{"3.0", "3.0"},
		{"3.0.6", "3.0"},
		{"3.0.26", "3.0"},
		{"3.1", "3.1"},
		{"3.2", "3.2"},
		{"3.2-beta", "3.2"},
		{"3.2-beta.5", "3.2"},
		{"4.0", "VERSION_UNSUPPORTED"},
		{"2.5", "VERSION_UNSUPPORTED"},
		{"3.3", "3.2"}, // a later release of the major downshifts
		{"3.10-beta", "3.2"},
		{"3", "VERSION_UNSUPPORTED"},
		{"latest", "VERSION_UNSUPPORTED"},
		{"3.1.19", "INVALID_REQUEST"},
		{"3.2.0-beta.5", "INVALID_REQUEST"},
		{"v3.1", "INVALID_REQUEST"},
	}
	for i, tc := range tests {
		t.Run(tc.pin, func(t *testing.T) {
			t.Parallel()
			c := newICRun(t, e, fmt.Sprintf("nego%02d", i), "3.1")
			s := c.sessions["buyer"]
			refused := tc.want == "VERSION_UNSUPPORTED" || tc.want == "INVALID_REQUEST"
			if !refused {
				c.version = tc.want // the shape of the plans synced here
			}
			c.syncPlans(map[string]any{"countries": []any{"US"}})
			check := map[string]any{"plan_id": c.subst("$plan"), "caller": c.urls["buyer"], "tool": "create_media_buy",
				"payload": map[string]any{"total_budget": 1000, "targeting_overlay": map[string]any{"geo_countries": []any{"GB"}}}}
			if tc.want != "3.0" {
				check["target_agent"] = govtest.SellerURL
			}
			calls := []struct {
				task string
				args map[string]any
			}{
				{"get_adcp_capabilities", map[string]any{}},
				{"sync_plans", map[string]any{"idempotency_key": c.key("sync"), "plans": []any{c.subst(icOverlay(icPlan(), map[string]any{"plan_id": "$plan:more"}))}}},
				{"check_governance", check},
			}
			for _, call := range calls {
				call.args["adcp_version"] = tc.pin
				r := s.Call(call.task, call.args)
				if refused {
					if code, field := r.Error(); code != tc.want || field != "adcp_version" {
						t.Errorf("%s with adcp_version %q = %s, want %s naming adcp_version", call.task, tc.pin, r.Text, tc.want)
					}
					continue
				}
				if r.IsError {
					t.Fatalf("%s with adcp_version %q: %s", call.task, tc.pin, r.Text)
				}
				if r.Body["adcp_version"] != tc.want {
					t.Errorf("%s with adcp_version %q: adcp_version = %v, want the release served, %s", call.task, tc.pin, r.Body["adcp_version"], tc.want)
				}
				if call.task == "check_governance" {
					if got := icVerdict(tc.want, r); got != "conditions" {
						t.Errorf("check_governance with adcp_version %q: verdict %q in the %s shape, want conditions: %s", tc.pin, got, tc.want, r.Text)
					}
					icShape(t, tc.want, "conditions", r)
				}
			}
			if refused {
				// Nothing ran: the refused sync wrote no plan.
				if r := s.Call("check_governance", icOverlay(check, map[string]any{"plan_id": c.subst("$plan:more"), "adcp_version": "3.1"})); !r.IsError {
					t.Errorf("a plan synced under an unsupported version exists: %s", r.Text)
				}
			}
		})
	}
}

// TestVersionDefaults: without adcp_version an account answers in its
// configured version (adsales 3.1, the adlab sandbox 3.0); the deprecated
// adcp_major_version 3 changes nothing and any other major is refused.
func TestVersionDefaults(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	plan := func(id string) map[string]any {
		return icOverlay(icPlan(), map[string]any{"plan_id": id, "countries": []any{"US"}})
	}
	intent := func(id, caller string) map[string]any {
		return map[string]any{"plan_id": id, "caller": caller, "tool": "create_media_buy",
			"payload": map[string]any{"total_budget": 1000, "targeting_overlay": map[string]any{"geo_countries": []any{"US"}}}}
	}
	tests := []struct {
		name    string
		account string
		token   string
		caller  string
		major   any // adcp_major_version, if not nil
		want    string
	}{
		{"a production account speaks 3.1", govtest.Production, "buyer", govtest.BuyerURL, nil, "3.1"},
		{"the sandbox speaks 3.0", govtest.Sandbox, govtest.Sandbox, "https://pinnacle-agency.example", nil, "3.0"},
		{"major version 3 keeps the account's", govtest.Production, "buyer", govtest.BuyerURL, 3, "3.1"},
		{"major version 3 keeps the sandbox's", govtest.Sandbox, govtest.Sandbox, "https://pinnacle-agency.example", 3, "3.0"},
		{"major version 4 is refused", govtest.Production, "buyer", govtest.BuyerURL, 4, ""},
		{"major version 2 is refused", govtest.Sandbox, govtest.Sandbox, "https://pinnacle-agency.example", 2, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := e.Connect(t, tc.account, tc.token)
			id := fmt.Sprintf("defaults-%02d", i)
			sync := map[string]any{"idempotency_key": fmt.Sprintf("version-defaults-sync-%02d", i), "plans": []any{plan(id)}}
			check := intent(id, tc.caller)
			if tc.major != nil {
				sync["adcp_major_version"], check["adcp_major_version"] = tc.major, tc.major
			}
			sr := s.Call("sync_plans", sync)
			r := s.Call("check_governance", check)
			if tc.want == "" {
				for _, res := range []govtest.Result{sr, r} {
					if code, field := res.Error(); code != "VERSION_UNSUPPORTED" || field != "adcp_major_version" {
						t.Errorf("answer = %s, want VERSION_UNSUPPORTED naming adcp_major_version", res.Text)
					}
				}
				return
			}
			if sr.IsError {
				t.Fatalf("sync_plans: %s", sr.Text)
			}
			if got := icVerdict(tc.want, r); got != "approved" {
				t.Fatalf("check_governance = %s, want approved in the %s shape", r.Text, tc.want)
			}
			icShape(t, tc.want, "approved", r)
			if _, ok := r.Body["adcp_version"]; ok {
				t.Errorf("adcp_version = %v in the answer to a request that named none", r.Body["adcp_version"])
			}
		})
	}
}
