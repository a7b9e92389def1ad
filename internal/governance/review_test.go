package governance_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/governance/govtest"
	"github.com/fleetgov/fleetgov/internal/store"
)

// The helpers of the human review, idempotency, identity and binding tests
// carry the prefix hr so as not to collide with the package's other tests.

// hrPlan is a plan the example fleet's accounts approve hrIntent's
// proposals under: its flight spans the clock's now, its budget is inside
// the adsales media buyer's $250,000 cap and it sets no review threshold.
// set replaces top-level fields.
func hrPlan(e *govtest.Env, id string, set map[string]any) map[string]any {
	now := e.Clock.Now()
	p := map[string]any{
		"plan_id": id, "brand": map[string]any{"domain": "acmeoutdoor.example"}, "objectives": "Q4 awareness for the outdoor range",
		"budget":    map[string]any{"total": 240000, "currency": "USD", "reallocation_unlimited": true},
		"flight":    map[string]any{"start": now.AddDate(0, -1, 0).Format(time.RFC3339), "end": now.AddDate(1, 0, 0).Format(time.RFC3339)},
		"countries": []any{"US"},
	}
	for k, v := range set {
		p[k] = v
	}
	return p
}

// hrIntent is an intent check of a create_media_buy of amount USD inside
// hrPlan's flight.
func hrIntent(e *govtest.Env, planID, caller string, amount float64) map[string]any {
	now := e.Clock.Now()
	return map[string]any{"plan_id": planID, "caller": caller, "tool": "create_media_buy",
		"payload": map[string]any{"total_budget": amount, "currency": "USD",
			"start_time": now.AddDate(0, 0, 7).Format(time.RFC3339), "end_time": now.AddDate(0, 1, 0).Format(time.RFC3339)}}
}

// hrSync syncs plans under an idempotency key and fails the test if the
// agent refuses them.
func hrSync(t *testing.T, s *govtest.Session, key string, plans ...map[string]any) govtest.Result {
	t.Helper()
	list := make([]any, len(plans))
	for i, p := range plans {
		list[i] = p
	}
	r := s.Call("sync_plans", map[string]any{"idempotency_key": key, "plans": list})
	if r.IsError {
		t.Fatalf("sync_plans: %s", r.Text)
	}
	return r
}

// hrAudit returns an account's partition of the audit log.
func hrAudit(t *testing.T, e *govtest.Env, account string) []store.AuditRecord {
	t.Helper()
	recs, err := e.Store.ListAudit(context.Background(), store.AuditFilter{Partition: account})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// hrRecords returns the records of one action (and object, if not empty).
func hrRecords(recs []store.AuditRecord, action, object string) []store.AuditRecord {
	var out []store.AuditRecord
	for _, r := range recs {
		if r.Action == action && (object == "" || r.Object == object) {
			out = append(out, r)
		}
	}
	return out
}

// hrChecks returns the checks of an account's plan.
func hrChecks(t *testing.T, e *govtest.Env, account, planID string) []store.GovCheck {
	t.Helper()
	cs, err := e.Store.ListChecks(context.Background(), store.CheckFilter{Account: account, PlanID: planID})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// hrClaims decodes the claims of a compact JWS without verifying it.
func hrClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("governance_context %q is not a compact JWS", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("governance_context payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("governance_context claims: %v", err)
	}
	return claims
}

// hrReview is a review in the API's queue.
type hrReview struct {
	CheckID   string   `json:"check_id"`
	PlanID    string   `json:"plan_id"`
	Caller    string   `json:"caller"`
	Tool      string   `json:"tool"`
	Amount    *float64 `json:"amount"`
	Reason    string   `json:"reason"`
	State     string   `json:"state"`
	Verdict   string   `json:"verdict"`
	Reviewer  string   `json:"reviewer"`
	Authority string   `json:"authority"`
	Minutes   float64  `json:"minutes"`
}

// hrQueue returns the account's review queue.
func hrQueue(t *testing.T, e *govtest.Env, account string) map[string]hrReview {
	t.Helper()
	var out struct {
		Reviews []hrReview `json:"reviews"`
	}
	if code, body := e.API(t, "GET", "/v1/tenants/"+account+"/adcp/reviews", account, nil, &out); code != http.StatusOK {
		t.Fatalf("GET reviews = %d %s, want 200", code, body)
	}
	m := map[string]hrReview{}
	for _, r := range out.Reviews {
		m[r.CheckID] = r
	}
	return m
}

// hrSubmit runs an intent check that must go to human review and returns
// its task ID.
func hrSubmit(t *testing.T, s *govtest.Session, args map[string]any) string {
	t.Helper()
	r := s.Call("check_governance", args)
	if r.IsError || r.Body["status"] != "submitted" {
		t.Fatalf("check_governance = %s, want status submitted", r.Text)
	}
	id, _ := r.Body["task_id"].(string)
	if id == "" || r.Body["check_id"] != id {
		t.Fatalf("check_governance = %s, want a task_id equal to the check_id", r.Text)
	}
	for _, k := range []string{"verdict", "governance_context", "expires_at"} {
		if _, ok := r.Body[k]; ok {
			t.Errorf("submitted check_governance carries %s: %s", k, r.Text)
		}
	}
	return id
}

// TestHumanReview sends checks on the production account to the review
// queue, by the account's review_above threshold and by the plan's flags,
// and has a reviewer decide them through the API.
func TestHumanReview(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	tests := []struct {
		name   string
		plan   map[string]any // fields replacing hrPlan's
		amount float64
		reason string // in the review's reason
	}{
		{name: "above the account's review_above", amount: 200000, reason: "above the account's review threshold 150000"},
		{name: "plan requires human review", plan: map[string]any{"human_review_required": true}, amount: 1000,
			reason: "the plan requires human review of every action"},
		{name: "registry policy category requires human review", amount: 1000,
			plan:   map[string]any{"policy_categories": []any{"fair_housing"}, "human_review_required": true},
			reason: "policy category fair_housing requires human review"},
		{name: "above the plan's reallocation threshold", amount: 30000,
			plan:   map[string]any{"budget": map[string]any{"total": 240000, "currency": "USD", "reallocation_threshold": 20000}},
			reason: "above the plan's human-review threshold"},
	}
	decisions := []struct {
		decision, verdict string
	}{{"approve", "approved"}, {"deny", "denied"}}
	for i, tc := range tests {
		for j, d := range decisions {
			t.Run(tc.name+"/"+d.decision, func(t *testing.T) {
				t.Parallel()
				planID := fmt.Sprintf("hr-review-%d-%d", i, j)
				s := e.Connect(t, govtest.Production, "buyer")
				hrSync(t, s, fmt.Sprintf("hr-review-sync-%d-%d-key", i, j), hrPlan(e, planID, tc.plan))
				id := hrSubmit(t, s, hrIntent(e, planID, govtest.BuyerURL, tc.amount))

				st := s.Call("get_task_status", map[string]any{"task_id": id})
				if st.IsError || st.Body["status"] != "submitted" || st.Body["task_id"] != id {
					t.Fatalf("get_task_status(%s) = %s, want the task submitted", id, st.Text)
				}
				if _, ok := st.Body["result"]; ok {
					t.Errorf("get_task_status(%s) of a pending review carries a result: %s", id, st.Text)
				}
				q := hrQueue(t, e, govtest.Production)
				rv, ok := q[id]
				switch {
				case !ok:
					t.Fatalf("review queue = %v, want check %s in it", q, id)
				case rv.State != "pending" || rv.PlanID != planID || rv.Caller != govtest.BuyerURL || rv.Tool != "create_media_buy":
					t.Errorf("queued review = %+v, want pending, plan %s, caller %s, tool create_media_buy", rv, planID, govtest.BuyerURL)
				case rv.Amount == nil || *rv.Amount != tc.amount:
					t.Errorf("queued review amount = %v, want %v", rv.Amount, tc.amount)
				case !strings.Contains(rv.Reason, tc.reason):
					t.Errorf("queued review reason = %q, want it to say %q", rv.Reason, tc.reason)
				}
				if acts, err := e.Store.ListActions(context.Background(), store.ActionFilter{Account: govtest.Production, PlanID: planID}); err != nil || len(acts) != 0 {
					t.Errorf("actions while in review = %v, %v; want none", acts, err)
				}

				decide := map[string]any{"decision": d.decision, "reviewer": "dana.kim@northwind.example",
					"authority": "media director", "minutes": 12.5, "note": "checked against the Q4 brief"}
				var got hrReview
				path := "/v1/tenants/adsales/adcp/reviews/" + id
				if code, body := e.API(t, "POST", path, govtest.Production, decide, &got); code != http.StatusOK {
					t.Fatalf("POST %s = %d %s, want 200", path, code, body)
				}
				if got.State != d.verdict || got.Verdict != d.verdict || got.Reviewer != "dana.kim@northwind.example" ||
					got.Authority != "media director" || got.Minutes != 12.5 {
					t.Errorf("decided review = %+v, want state and verdict %s by dana.kim@northwind.example, media director, 12.5 minutes", got, d.verdict)
				}

				st = s.Call("get_task_status", map[string]any{"task_id": id})
				res, _ := st.Body["result"].(map[string]any)
				if st.IsError || st.Body["status"] != "completed" || res == nil {
					t.Fatalf("get_task_status(%s) after the decision = %s, want completed with a result", id, st.Text)
				}
				if res["verdict"] != d.verdict || res["check_id"] != id || res["plan_id"] != planID {
					t.Errorf("result = %v, want verdict %s of check %s on plan %s", res, d.verdict, id, planID)
				}
				gc, _ := res["governance_context"].(string)
				if d.verdict == "approved" {
					claims := hrClaims(t, gc)
					if claims["check_id"] != id || claims["phase"] != "intent" || claims["caller"] != govtest.BuyerURL {
						t.Errorf("approval token claims = %v, want check_id %s, phase intent, caller %s", claims, id, govtest.BuyerURL)
					}
					if _, ok := res["expires_at"]; !ok {
						t.Errorf("approved result has no expires_at: %v", res)
					}
				} else {
					if gc != "" {
						t.Errorf("denied result carries governance_context %q", gc)
					}
					if !hasFinding(res, "human_review", "critical", "denied by dana.kim@northwind.example") {
						t.Errorf("denied result findings = %v, want a critical human_review finding naming the reviewer", res["findings"])
					}
				}
				acts, err := e.Store.ListActions(context.Background(), store.ActionFilter{Account: govtest.Production, PlanID: planID})
				if err != nil {
					t.Fatal(err)
				}
				if wantActs := map[string]int{"approved": 1, "denied": 0}[d.verdict]; len(acts) != wantActs {
					t.Errorf("%d governed actions after a %s review, want %d", len(acts), d.verdict, wantActs)
				}
				if _, ok := hrQueue(t, e, govtest.Production)[id]; ok {
					t.Errorf("check %s is still in the review queue after the decision", id)
				}

				// The reviewer's identity, authority and minutes are in the
				// account's partition of the audit log.
				recs := hrRecords(hrAudit(t, e, govtest.Production), "adcp.review", id)
				if len(recs) != 1 {
					t.Fatalf("%d adcp.review audit records of %s, want 1", len(recs), id)
				}
				var detail map[string]any
				if err := json.Unmarshal(recs[0].Detail, &detail); err != nil {
					t.Fatal(err)
				}
				if detail["reviewer"] != "dana.kim@northwind.example" || detail["authority"] != "media director" ||
					detail["minutes"] != 12.5 || detail["decision"] != d.verdict || recs[0].Outcome != d.verdict {
					t.Errorf("review audit record = %s (outcome %s), want reviewer, authority, 12.5 minutes and decision %s", recs[0].Detail, recs[0].Outcome, d.verdict)
				}

				// get_plan_audit_logs shows the escalation and its resolution,
				// and at 3.2 the entry's reviewed_by.
				for _, v := range []string{"3.1", "3.2"} {
					a := s.Call("get_plan_audit_logs", map[string]any{"plan_ids": []any{planID}, "include_entries": true, "adcp_version": v})
					plans, _ := a.Body["plans"].([]any)
					if a.IsError || len(plans) != 1 {
						t.Fatalf("get_plan_audit_logs (%s) = %s, want the plan", v, a.Text)
					}
					pl := plans[0].(map[string]any)
					sum, _ := pl["summary"].(map[string]any)
					esc, _ := sum["escalations"].([]any)
					if len(esc) != 1 {
						t.Fatalf("escalations (%s) = %v, want the one review", v, sum["escalations"])
					}
					em := esc[0].(map[string]any)
					wantRes := d.verdict + " by dana.kim@northwind.example (media director)"
					if em["check_id"] != id || em["resolution"] != wantRes || em["resolved_at"] == nil {
						t.Errorf("escalation (%s) = %v, want check %s resolved %q", v, em, id, wantRes)
					}
					if n := sum["statuses"].(map[string]any)["human_reviewed"]; n != json.Number("1") {
						t.Errorf("statuses.human_reviewed (%s) = %v, want 1", v, n)
					}
					entries, _ := pl["entries"].([]any)
					if len(entries) != 1 {
						t.Fatalf("entries (%s) = %v, want the one check", v, pl["entries"])
					}
					en := entries[0].(map[string]any)
					if en["verdict"] != d.verdict {
						t.Errorf("entry verdict (%s) = %v, want %s", v, en["verdict"], d.verdict)
					}
					if want := map[string]any{"3.1": nil, "3.2": "mailto:dana.kim@northwind.example"}[v]; en["reviewed_by"] != want {
						t.Errorf("entry reviewed_by (%s) = %v, want %v", v, en["reviewed_by"], want)
					}
				}

				// A second decision is refused and changes nothing.
				again := map[string]any{"decision": map[string]string{"approve": "deny", "deny": "approve"}[d.decision],
					"reviewer": "ben.osei@northwind.example", "authority": "CFO", "minutes": 1}
				if code, body := e.API(t, "POST", path, govtest.Production, again, nil); code != http.StatusConflict || !strings.Contains(body, "not awaiting review") {
					t.Errorf("second decision = %d %s, want 409 not awaiting review", code, body)
				}
				st2 := s.Call("get_task_status", map[string]any{"task_id": id})
				if res2, _ := st2.Body["result"].(map[string]any); res2 == nil || res2["verdict"] != d.verdict {
					t.Errorf("get_task_status after a second decision = %s, want verdict %s still", st2.Text, d.verdict)
				}
				if n := len(hrRecords(hrAudit(t, e, govtest.Production), "adcp.review", id)); n != 1 {
					t.Errorf("%d adcp.review records after a refused second decision, want 1", n)
				}
			})
		}
	}
}

// hasFinding reports whether a check result has a finding of the category
// and severity whose explanation contains text.
func hasFinding(res map[string]any, category, severity, text string) bool {
	fs, _ := res["findings"].([]any)
	for _, f := range fs {
		m, _ := f.(map[string]any)
		if m["category_id"] == category && m["severity"] == severity && strings.Contains(fmt.Sprint(m["explanation"]), text) {
			return true
		}
	}
	return false
}

// TestHumanReviewReevaluates checks that an approval re-runs the evaluation
// on the plan in force: a reviewer's approval does not authorize what the
// plan no longer allows.
func TestHumanReviewReevaluates(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	s := e.Connect(t, govtest.Production, "buyer")
	hrSync(t, s, "hr-reeval-sync-0001", hrPlan(e, "hr-reeval", nil))
	id := hrSubmit(t, s, hrIntent(e, "hr-reeval", govtest.BuyerURL, 200000))
	// Meanwhile the plan's budget is cut below the amount under review.
	hrSync(t, s, "hr-reeval-sync-0002", hrPlan(e, "hr-reeval", map[string]any{"budget": map[string]any{"total": 100000, "currency": "USD", "reallocation_unlimited": true}}))
	decide := map[string]any{"decision": "approve", "reviewer": "dana.kim@northwind.example", "authority": "media director", "minutes": 3}
	var got hrReview
	if code, body := e.API(t, "POST", "/v1/tenants/adsales/adcp/reviews/"+id, govtest.Production, decide, &got); code != http.StatusOK {
		t.Fatalf("approve = %d %s, want 200", code, body)
	}
	if got.State != "approved" || got.Verdict != "denied" {
		t.Errorf("approved review of a buy above the new budget = state %s verdict %s, want state approved, verdict denied", got.State, got.Verdict)
	}
	st := s.Call("get_task_status", map[string]any{"task_id": id})
	res, _ := st.Body["result"].(map[string]any)
	if res == nil || res["verdict"] != "denied" || res["governance_context"] != nil || !hasFinding(res, "budget_authority", "critical", "exceeds the plan's total budget") {
		t.Errorf("get_task_status = %s, want denied for budget authority, with no token", st.Text)
	}
}

// TestHumanReviewBadDecisions sends decisions the API must refuse; none of
// them changes the pending review.
func TestHumanReviewBadDecisions(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	s := e.Connect(t, govtest.Production, "buyer")
	hrSync(t, s, "hr-bad-decision-sync", hrPlan(e, "hr-bad", nil))
	id := hrSubmit(t, s, hrIntent(e, "hr-bad", govtest.BuyerURL, 200000))
	good := func(set map[string]any) map[string]any {
		d := map[string]any{"decision": "approve", "reviewer": "dana.kim@northwind.example", "authority": "media director", "minutes": 5}
		for k, v := range set {
			if v == nil {
				delete(d, k)
			} else {
				d[k] = v
			}
		}
		return d
	}
	tests := []struct {
		name   string
		path   string
		token  string
		body   map[string]any
		status int
		field  string // in the answer
	}{
		{"missing reviewer", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Production, good(map[string]any{"reviewer": nil}), http.StatusBadRequest, `"field": "reviewer"`},
		{"blank reviewer", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Production, good(map[string]any{"reviewer": "  "}), http.StatusBadRequest, `"field": "reviewer"`},
		{"missing authority", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Production, good(map[string]any{"authority": nil}), http.StatusBadRequest, `"field": "reviewer"`},
		{"decision maybe", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Production, good(map[string]any{"decision": "maybe"}), http.StatusBadRequest, `"field": "decision"`},
		{"missing decision", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Production, good(map[string]any{"decision": nil}), http.StatusBadRequest, `"field": "decision"`},
		{"negative minutes", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Production, good(map[string]any{"minutes": -1}), http.StatusBadRequest, `"field": "minutes"`},
		{"minutes above a day", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Production, good(map[string]any{"minutes": 1441}), http.StatusBadRequest, `"field": "minutes"`},
		{"unknown check", "/v1/tenants/adsales/adcp/reviews/chk_nosuchcheck", govtest.Production, good(nil), http.StatusNotFound, `"code": "not_found"`},
		{"check of another account", "/v1/tenants/adlab/adcp/reviews/" + id, "platform", good(nil), http.StatusNotFound, `"code": "not_found"`},
		{"the buyer decides its own review", "/v1/tenants/adsales/adcp/reviews/" + id, "buyer", good(nil), http.StatusForbidden, `"code": "forbidden"`},
		{"another tenant's token", "/v1/tenants/adsales/adcp/reviews/" + id, govtest.Sandbox, good(nil), http.StatusNotFound, `"code": "not_found"`},
		{"no credential", "/v1/tenants/adsales/adcp/reviews/" + id, "not-a-token", good(nil), http.StatusUnauthorized, `"code": "unauthenticated"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.API(t, "POST", tc.path, tc.token, tc.body, nil)
			if code != tc.status || !strings.Contains(body, tc.field) {
				t.Errorf("POST %s %v = %d %s, want %d with %s", tc.path, tc.body, code, body, tc.status, tc.field)
			}
		})
	}
	rv, ok := hrQueue(t, e, govtest.Production)[id]
	if !ok || rv.State != "pending" || rv.Reviewer != "" {
		t.Errorf("review after refused decisions = %+v (queued %t), want pending and undecided", rv, ok)
	}
	if st := s.Call("get_task_status", map[string]any{"task_id": id}); st.Body["status"] != "submitted" {
		t.Errorf("get_task_status after refused decisions = %s, want submitted", st.Text)
	}
	if n := len(hrRecords(hrAudit(t, e, govtest.Production), "adcp.review", "")); n != 0 {
		t.Errorf("%d adcp.review audit records after refused decisions, want 0", n)
	}
	// The queue is still decidable.
	if code, body := e.API(t, "POST", "/v1/tenants/adsales/adcp/reviews/"+id, govtest.Production, good(nil), nil); code != http.StatusOK {
		t.Errorf("a valid decision after the refused ones = %d %s, want 200", code, body)
	}
}

// TestTaskStatusScope checks that a review task is visible to the agent
// that asked for it only.
func TestTaskStatusScope(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	buyer := e.Connect(t, govtest.Production, "buyer")
	hrSync(t, buyer, "hr-task-scope-sync", hrPlan(e, "hr-scope", nil))
	id := hrSubmit(t, buyer, hrIntent(e, "hr-scope", govtest.BuyerURL, 200000))
	seller := e.Connect(t, govtest.Production, "seller")
	for _, task := range []string{id, "chk_nosuchtask"} {
		r := seller.Call("get_task_status", map[string]any{"task_id": task})
		if code, field := r.Error(); !r.IsError || code != "REFERENCE_NOT_FOUND" || field != "task_id" {
			t.Errorf("seller get_task_status(%s) = %s, want REFERENCE_NOT_FOUND on task_id", task, r.Text)
		}
	}
}

// TestLegacyReviewFlows checks the re-check flows the conformance
// storyboards use in place of the review queue: a literal (non-JWS)
// governance_context and ext.human_approval. The sandbox accepts them; the
// production account never takes a caller's word for a human approval.
func TestLegacyReviewFlows(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	approval := map[string]any{"human_approval": map[string]any{"approved_by": "ops@pinnacle-agency.example",
		"approved_at": e.Clock.Now().Format(time.RFC3339), "approval_reference": "APR-7"}}
	tests := []struct {
		name    string
		recheck map[string]any // fields added to the re-check
	}{
		{"literal governance_context", map[string]any{"governance_context": "gov_ctx_acme_q2_escalated"}},
		{"ext.human_approval", map[string]any{"ext": approval}},
	}
	// The sandbox speaks AdCP 3.0: the verdict is in status. It denies a
	// check that needs a human with a human_review finding; the re-check
	// that carries the approval proceeds.
	t.Run("sandbox", func(t *testing.T) {
		t.Parallel()
		s := e.Connect(t, govtest.Sandbox, govtest.Sandbox)
		budget := map[string]any{"total": 50000, "currency": "USD", "reallocation_threshold": 20000}
		hrSync(t, s, "hr-legacy-sandbox-sync", hrPlan(e, "hr-legacy", map[string]any{"budget": budget}))
		first := s.Call("check_governance", hrIntent(e, "hr-legacy", "https://pinnacle-agency.example", 30000))
		if first.IsError || first.Body["status"] != "denied" || !hasFinding(first.Body, "human_review", "critical", "human review required") {
			t.Fatalf("sandbox check above the threshold = %s, want denied with a human_review finding", first.Text)
		}
		for _, tc := range tests {
			args := hrIntent(e, "hr-legacy", "https://pinnacle-agency.example", 30000)
			for k, v := range tc.recheck {
				args[k] = v
			}
			r := s.Call("check_governance", args)
			if r.IsError || r.Body["status"] != "approved" || !hasFinding(r.Body, "human_review", "info", "was given") {
				t.Errorf("%s: sandbox re-check = %s, want approved with the approval noted", tc.name, r.Text)
			}
			if gc, _ := r.Body["governance_context"].(string); strings.Count(gc, ".") != 2 {
				t.Errorf("%s: sandbox re-check governance_context = %q, want a signed token", tc.name, gc)
			}
		}
	})
	t.Run("production", func(t *testing.T) {
		t.Parallel()
		s := e.Connect(t, govtest.Production, "buyer")
		hrSync(t, s, "hr-legacy-prod-sync-1", hrPlan(e, "hr-legacy-prod", nil))
		before := len(hrAudit(t, e, govtest.Production))
		// A literal context on an intent check is refused outright.
		args := hrIntent(e, "hr-legacy-prod", govtest.BuyerURL, 200000)
		args["governance_context"] = "gov_ctx_acme_q2_escalated"
		r := s.Call("check_governance", args)
		if code, field := r.Error(); !r.IsError || code != "VALIDATION_ERROR" || field != "governance_context" {
			t.Errorf("production re-check with a literal governance_context = %s, want VALIDATION_ERROR on governance_context", r.Text)
		}
		if n := len(hrAudit(t, e, govtest.Production)); n != before {
			t.Errorf("the refused re-check wrote %d audit records, want none", n-before)
		}
		if cs := hrChecks(t, e, govtest.Production, "hr-legacy-prod"); len(cs) != 0 {
			t.Errorf("the refused re-check stored %d checks, want none", len(cs))
		}
		// A self-asserted human approval is not one: the check still goes to
		// the review queue.
		for _, approvalAt := range []string{"ext", "top level"} {
			args := hrIntent(e, "hr-legacy-prod", govtest.BuyerURL, 200000)
			if approvalAt == "ext" {
				args["ext"] = approval
			} else {
				args["human_approval"] = approval["human_approval"]
			}
			id := hrSubmit(t, s, args)
			if rv, ok := hrQueue(t, e, govtest.Production)[id]; !ok || rv.State != "pending" {
				t.Errorf("human_approval at %s: check %s not pending in the review queue (%+v)", approvalAt, id, rv)
			}
		}
	})
}
