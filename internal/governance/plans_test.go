package governance_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/governance/govtest"
	"github.com/fleetgov/fleetgov/internal/store"
)

// TestSyncPlans: a synced plan is active at version 1 and each re-sync
// adds a version; the answer lists the categories that will evaluate it
// and the policies it resolves (named, custom and auto-applied).
func TestSyncPlans(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	for _, v := range icVersions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			c := newICRun(t, e, "sync"+v[2:], v)
			s := c.sessions["buyer"]
			plan := c.subst(icOverlay(icPlan(), map[string]any{
				"countries":         []any{"US"},
				"channels":          map[string]any{"allowed": []any{"display", "olv"}},
				"policy_ids":        []any{"us_coppa_data_collection"},
				"policy_categories": []any{"health_wellness"},
				"custom_policies": []any{map[string]any{"policy_id": "ctv_weekly_reporting", "enforcement": "should",
					"policy": "CTV buys require weekly delivery reporting."}},
				"delegations": []any{map[string]any{"agent_url": "$delegate", "authority": "execute_only"}},
			})).(map[string]any)
			member := c.subst(icOverlay(icPlan(), map[string]any{"plan_id": "$plan:member"})).(map[string]any)
			sync := func(plans ...any) govtest.Result {
				t.Helper()
				r := s.Call("sync_plans", map[string]any{"idempotency_key": c.key("sync"), "plans": plans, "adcp_version": v})
				if r.IsError {
					t.Fatalf("sync_plans: %s", r.Text)
				}
				if r.Body["status"] != "completed" {
					t.Errorf("status = %v, want completed", r.Body["status"])
				}
				return r
			}
			r := sync(plan, member)
			res := icList(r.Body["plans"])
			if len(res) != 2 {
				t.Fatalf("plans = %s, want two results", icJSON(res))
			}
			got, _ := res[0].(map[string]any)
			if got["plan_id"] != plan["plan_id"] || got["status"] != "active" || icJSON(got["version"]) != "1" {
				t.Errorf("plans[0] = %s, want %s active at version 1", icJSON(got), plan["plan_id"])
			}
			var cats []string
			for _, x := range icList(got["categories"]) {
				m, _ := x.(map[string]any)
				cats = append(cats, icStr(m["category_id"]))
			}
			wantCats := []string{"budget_authority", "spend_aggregation", "geo_compliance", "channel_compliance", "flight_compliance",
				"seller_compliance", "policy_compliance", "audience_compliance", "delegation_authority"}
			if !icSameSet(cats, wantCats) {
				t.Errorf("categories = %v, want %v", cats, wantCats)
			}
			pols := map[string]string{}
			for _, x := range icList(got["resolved_policies"]) {
				m, _ := x.(map[string]any)
				pols[icStr(m["policy_id"])] = icStr(m["source"]) + "/" + icStr(m["enforcement"])
			}
			wantPols := map[string]string{"us_coppa_data_collection": "explicit/must", "ctv_weekly_reporting": "explicit/should",
				"us_ftc_health_claims": "auto_applied/must"}
			if icJSON(pols) != icJSON(wantPols) {
				t.Errorf("resolved_policies = %v, want %v", pols, wantPols)
			}

			// A re-sync is an upsert: the next version, applied at once.
			plan["countries"] = []any{"CA"}
			r = sync(plan)
			if got, _ := icList(r.Body["plans"])[0].(map[string]any); icJSON(got["version"]) != "2" {
				t.Errorf("re-synced plan = %s, want version 2", icJSON(got))
			}
			chk := s.Call("check_governance", c.intentArgs("", map[string]any{"payload": map[string]any{"total_budget": 1000,
				"targeting_overlay": map[string]any{"geo_countries": []any{"CA"}}}}))
			if icVerdict(v, chk) != "approved" {
				t.Errorf("a buy in the re-synced plan's market: %s, want approved", chk.Text)
			}
		})
	}
}

// TestSyncPlansBadInput: a plan that breaks the schema or a rule the
// schema cannot state is refused with VALIDATION_ERROR or INVALID_REQUEST
// naming the field, and changes nothing: a new plan stays unknown, an
// existing one keeps its revision, and no plan of a refused sync is
// written.
func TestSyncPlansBadInput(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	set := func(path string, v any) func(map[string]any) {
		return func(p map[string]any) { icSetPath(p, path, v) }
	}
	tests := []struct {
		name  string
		edit  func(map[string]any) // applied to a valid plan
		code  string
		field string
	}{
		{"no brand", func(p map[string]any) { delete(p, "brand") }, "INVALID_REQUEST", "plans[0].brand"},
		{"no flight", func(p map[string]any) { delete(p, "flight") }, "INVALID_REQUEST", "plans[0].flight"},
		{"a field plans do not have", set("mode", "enforce"), "INVALID_REQUEST", "plans[0].mode"},
		{"an unknown channel", set("channels", map[string]any{"allowed": []any{"display", "audio"}}), "INVALID_REQUEST", "plans[0].channels.allowed[1]"},
		{"a flight start that is no date", set("flight.start", "next monday"), "INVALID_REQUEST", "plans[0].flight.start"},
		{"both a reallocation threshold and unlimited reallocation", set("budget.reallocation_threshold", 5000), "INVALID_REQUEST", "plans[0].budget"},
		{"a negative allocation", set("budget.allocations", map[string]any{"media_buy": map[string]any{"amount": -1}}),
			"INVALID_REQUEST", "plans[0].budget.allocations.media_buy.amount"},
		{"an AI-act policy without human review", func(p map[string]any) {
			p["policy_ids"] = []any{"eu_ai_act_annex_iii"}
			p["human_review_required"] = false
		}, "INVALID_REQUEST", "plans[0].human_review_required"},
		{"a flight ending before it starts", set("flight.end", "2019-12-31T00:00:00Z"), "VALIDATION_ERROR", "plans[0].flight.end"},
		{"a flight ending as it starts", set("flight.end", "2020-01-01T00:00:00Z"), "VALIDATION_ERROR", "plans[0].flight.end"},
		{"a negative budget", set("budget.total", -100), "VALIDATION_ERROR", "plans[0].budget.total"},
		{"a currency that is not ISO 4217", set("budget.currency", "usd"), "VALIDATION_ERROR", "plans[0].budget.currency"},
		{"a seller share above 100 percent", set("budget.per_seller_max_pct", 150), "VALIDATION_ERROR", "plans[0].budget.per_seller_max_pct"},
		{"an allocation above the total", set("budget.allocations", map[string]any{"media_buy": map[string]any{"amount": 150000}}),
			"VALIDATION_ERROR", "plans[0].budget.allocations.media_buy.amount"},
		{"a country that is not ISO 3166-1 alpha-2", set("countries", []any{"US", "USA"}), "VALIDATION_ERROR", "plans[0].countries[1]"},
		{"a region that is not ISO 3166-2", set("regions", []any{"Massachusetts"}), "VALIDATION_ERROR", "plans[0].regions[0]"},
		{"an unknown registry policy", set("policy_ids", []any{"us_coppa_data_collection", "alcohol_advertising"}),
			"VALIDATION_ERROR", "plans[0].policy_ids[1]"},
		{"an unknown shared portfolio policy", set("portfolio", map[string]any{"member_plan_ids": []any{"other"},
			"shared_policy_ids": []any{"not_a_registry_policy"}}), "VALIDATION_ERROR", "plans[0].portfolio.shared_policy_ids[0]"},
		{"a delegation budget in another currency", set("delegations", []any{map[string]any{"agent_url": "https://agency.example",
			"authority": "full", "budget_limit": map[string]any{"amount": 100, "currency": "EUR"}}}),
			"VALIDATION_ERROR", "plans[0].delegations[0].budget_limit.currency"},
	}
	for i, tc := range tests {
		for _, v := range icVersions {
			t.Run(tc.name+"/"+v, func(t *testing.T) {
				t.Parallel()
				c := newICRun(t, e, fmt.Sprintf("bad%02d-%s", i, v[2:]), v)
				s := c.sessions["buyer"]
				// An existing plan, and a new one, each get the bad edit.
				existing := c.subst(icOverlay(icPlan(), map[string]any{"countries": []any{"US"}})).(map[string]any)
				c.syncPlans(map[string]any{"countries": []any{"US"}})
				for _, p := range []map[string]any{icOverlay(existing, nil), icOverlay(existing, map[string]any{"plan_id": c.subst("$plan:new")})} {
					bad := icDeepCopy(p).(map[string]any)
					tc.edit(bad)
					r := s.Call("sync_plans", map[string]any{"idempotency_key": c.key("bad"), "plans": []any{bad}, "adcp_version": v})
					if code, field := r.Error(); !r.IsError || code != tc.code || field != tc.field {
						t.Errorf("sync_plans(%s) = %s, want %s naming %s", icJSON(bad), r.Text, tc.code, tc.field)
					}
				}
				// Nothing changed: the existing plan is at version 1 and
				// still decides as before; the new plan does not exist.
				sp, err := e.Store.GetPlan(t.Context(), govtest.Production, icStr(existing["plan_id"]))
				if err != nil || sp.Version != 1 {
					t.Errorf("existing plan after refused syncs: version %d (%v), want 1", sp.Version, err)
				}
				r := s.Call("check_governance", c.intentArgs("", map[string]any{"payload": map[string]any{"total_budget": 1000,
					"targeting_overlay": map[string]any{"geo_countries": []any{"GB"}}}}))
				if icVerdict(v, r) != "conditions" {
					t.Errorf("a check on the existing plan = %s, want conditions from the old plan (countries US)", r.Text)
				}
				r = s.Call("check_governance", c.intentArgs("", map[string]any{"plan_id": "$plan:new", "payload": map[string]any{"total_budget": 1000}}))
				if code, _ := r.Error(); code != "PLAN_NOT_FOUND" {
					t.Errorf("a check on the refused new plan = %s, want PLAN_NOT_FOUND", r.Text)
				}
			})
		}
	}
}

// TestSyncPlansAtomic: a sync whose later plan is bad writes none of its
// plans; a plan_id named twice, another agent's plan_id or a missing
// idempotency_key are refused as well.
func TestSyncPlansAtomic(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	c := newICRun(t, e, "atomic", "3.1")
	s := c.sessions["buyer"]
	good := func(id string) map[string]any {
		return c.subst(icOverlay(icPlan(), map[string]any{"plan_id": id})).(map[string]any)
	}
	bad := good("$plan:bad")
	icSetPath(bad, "flight.end", "2019-01-01T00:00:00Z")

	// Another agent owns $plan:theirs.
	theirs := e.Connect(t, govtest.Production, "seller")
	if r := theirs.Call("sync_plans", map[string]any{"idempotency_key": c.key("theirs"), "plans": []any{good("$plan:theirs")}}); r.IsError {
		t.Fatalf("sync_plans as the seller: %s", r.Text)
	}

	tests := []struct {
		name  string
		req   map[string]any
		code  string
		field string
	}{
		{"a good plan then a bad one", map[string]any{"plans": []any{good("$plan:first"), bad}}, "VALIDATION_ERROR", "plans[1].flight.end"},
		{"one plan_id twice", map[string]any{"plans": []any{good("$plan:twice"), good("$plan:twice")}}, "VALIDATION_ERROR", "plans[1].plan_id"},
		{"another agent's plan_id", map[string]any{"plans": []any{good("$plan:mine"), good("$plan:theirs")}}, "CONFLICT", "plans[1].plan_id"},
		{"no idempotency_key", map[string]any{"plans": []any{good("$plan:nokey")}, "idempotency_key": nil}, "INVALID_REQUEST", "idempotency_key"},
		{"a malformed idempotency_key", map[string]any{"plans": []any{good("$plan:shortkey")}, "idempotency_key": "short"}, "INVALID_REQUEST", "idempotency_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := icOverlay(map[string]any{"idempotency_key": c.key("atomic")}, tc.req)
			if v, ok := req["idempotency_key"]; ok && v == nil {
				delete(req, "idempotency_key")
			}
			r := s.Call("sync_plans", req)
			if code, field := r.Error(); !r.IsError || code != tc.code || field != tc.field {
				t.Fatalf("sync_plans = %s, want %s naming %s", r.Text, tc.code, tc.field)
			}
			for _, p := range icList(req["plans"]) {
				id := icStr(p.(map[string]any)["plan_id"])
				sp, err := e.Store.GetPlan(t.Context(), govtest.Production, id)
				switch {
				case id == c.subst("$plan:theirs"):
					if err != nil || sp.Owner != govtest.SellerURL || sp.Version != 1 {
						t.Errorf("the seller's plan after the refused sync: owner %q version %d (%v), want the seller's version 1", sp.Owner, sp.Version, err)
					}
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("plan %s was written by a refused sync (%v)", id, err)
				}
			}
		})
	}
}

// icSetPath sets a dotted path in a plan, creating maps on the way.
func icSetPath(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// icDeepCopy copies nested maps and lists, so that edits leave the
// original alone.
func icDeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = icDeepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = icDeepCopy(e)
		}
		return out
	}
	return v
}
