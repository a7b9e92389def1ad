package governance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// outcomeArgs is the buyer's report_plan_outcome of an approval.
func (f *execFixture) outcomeArgs(outcome string, a execApproval, extra map[string]any) map[string]any {
	args := map[string]any{"adcp_version": execVersion, "idempotency_key": f.key("outcome"), "plan_id": f.planID,
		"outcome": outcome, "check_id": a.CheckID, "governance_context": a.Token}
	for k, v := range extra {
		args[k] = v
	}
	return args
}

func execCompleted(ref string, committed float64) map[string]any {
	return map[string]any{"seller_response": map[string]any{"seller_reference": ref, "committed_budget": committed,
		"packages": []any{map[string]any{"package_id": "pkg_1", "budget": committed}}}}
}

var execFailed = map[string]any{"error": map[string]any{"code": "PRODUCT_UNAVAILABLE", "message": "the seller sold out the inventory"}}

// execNum reads a JSON number of a response body.
func execNum(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// auditPlan returns the buyer's get_plan_audit_logs view of the plan.
func (f *execFixture) auditPlan(t *testing.T, entries bool) map[string]any {
	t.Helper()
	r := f.buyer.Call("get_plan_audit_logs", map[string]any{"adcp_version": execVersion, "plan_ids": []any{f.planID}, "include_entries": entries})
	if r.IsError {
		t.Fatalf("get_plan_audit_logs: %s", r.Text)
	}
	plans, _ := r.Body["plans"].([]any)
	if len(plans) != 1 {
		t.Fatalf("get_plan_audit_logs answered %d plans, want 1: %s", len(plans), r.Text)
	}
	return plans[0].(map[string]any)
}

// TestOutcomeSettlement settles approvals with report_plan_outcome: the
// ledger takes the amount from the agent's own state (the approval, or a
// narrower purchase check), never from what the seller reports, and the
// audit log's budget shows the same.
func TestOutcomeSettlement(t *testing.T) {
	t.Parallel()
	const mb = "mb_streamhaus_0001"
	cases := []struct {
		name      string
		purchase  float64 // planned total of a purchase check; 0 for none
		outcome   string
		extra     map[string]any
		wantState string
		wantLedge float64
	}{
		{"completed as approved", 40000, "completed", execCompleted(mb, 40000), "accepted", 40000},
		{"completed without a purchase check", 0, "completed", execCompleted(mb, 40000), "accepted", 40000},
		{"seller reports less than approved", 40000, "completed", execCompleted(mb, 25000), "findings", 40000},
		{"purchase narrowed the approval", 32000, "completed", execCompleted(mb, 32000), "accepted", 32000},
		{"seller reports less than the narrowed purchase", 32000, "completed", execCompleted(mb, 30000), "findings", 32000},
		{"failed", 40000, "failed", execFailed, "accepted", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := execStart(t)
			a := f.approve(t, 40000)
			if tc.purchase > 0 {
				execApproved(t, "purchase", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, tc.purchase), nil)))
			}
			f.e.Clock.Advance(time.Hour) // settling does not need an unexpired intent token
			r := f.buyer.Call("report_plan_outcome", f.outcomeArgs(tc.outcome, a, tc.extra))
			if r.IsError {
				t.Fatalf("report_plan_outcome = %s", r.Text)
			}
			if r.Body["outcome_state"] != tc.wantState {
				t.Errorf("outcome_state = %v, want %s: %s", r.Body["outcome_state"], tc.wantState, r.Text)
			}
			if r.Body["outcome_id"] == "" {
				t.Errorf("no outcome_id: %s", r.Text)
			}
			if got := execNum(t, r.Body["committed_budget"]); got != tc.wantLedge {
				t.Errorf("committed_budget = %v, want %v", got, tc.wantLedge)
			}
			sum, _ := r.Body["plan_summary"].(map[string]any)
			if got, rem := execNum(t, sum["total_committed"]), execNum(t, sum["budget_remaining"]); got != tc.wantLedge || rem != 100000-tc.wantLedge {
				t.Errorf("plan_summary = %v, want total_committed %v and budget_remaining %v", sum, tc.wantLedge, 100000-tc.wantLedge)
			}
			if tc.wantState == "findings" {
				fs, _ := r.Body["findings"].([]any)
				if len(fs) == 0 || fs[0].(map[string]any)["category_id"] != "budget_authority" {
					t.Errorf("findings = %v, want a budget_authority finding on the lower report", fs)
				}
			}

			act, err := f.e.Store.GetAction(context.Background(), f.account, execClaims(t, a.Token).Claims.Subject)
			if err != nil {
				t.Fatal(err)
			}
			if act.Settlement != tc.outcome || act.Committed != tc.wantLedge {
				t.Errorf("action settlement=%q committed=%v, want %s and %v", act.Settlement, act.Committed, tc.outcome, tc.wantLedge)
			}

			pl := f.auditPlan(t, false)
			budget, _ := pl["budget"].(map[string]any)
			if got, rem := execNum(t, budget["committed"]), execNum(t, budget["remaining"]); got != tc.wantLedge || rem != 100000-tc.wantLedge {
				t.Errorf("audit budget = %v, want committed %v and remaining %v", budget, tc.wantLedge, 100000-tc.wantLedge)
			}
			if got := execNum(t, budget["utilization_pct"]); got != tc.wantLedge/1000 {
				t.Errorf("audit utilization_pct = %v, want %v", got, tc.wantLedge/1000)
			}
			acts, _ := pl["governed_actions"].([]any)
			if len(acts) != 1 {
				t.Fatalf("governed_actions = %v, want the one action", acts)
			}
			g := acts[0].(map[string]any)
			if g["status"] != "completed" || execNum(t, g["committed"]) != tc.wantLedge || g["governance_context"] != a.Token {
				t.Errorf("governed action = %v, want completed, committed %v, keyed by the intent token", g, tc.wantLedge)
			}
			summary, _ := pl["summary"].(map[string]any)
			if got := execNum(t, summary["outcomes_reported"]); got != 1 {
				t.Errorf("summary.outcomes_reported = %v, want 1", got)
			}
		})
	}
}

// TestOutcomeLedger settles two actions of one plan and checks that the
// ledger adds what each approval authorized, whatever the seller reported.
func TestOutcomeLedger(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	a, b, c := f.approve(t, 40000), f.approve(t, 25000), f.approve(t, 10000)
	for i, x := range []struct {
		a       execApproval
		outcome string
		extra   map[string]any
		total   float64
	}{
		{a, "completed", execCompleted("mb_a", 39000), 40000},
		{b, "completed", execCompleted("mb_b", 25000), 65000},
		{c, "failed", execFailed, 65000},
	} {
		r := f.buyer.Call("report_plan_outcome", f.outcomeArgs(x.outcome, x.a, x.extra))
		if r.IsError {
			t.Fatalf("outcome %d: %s", i, r.Text)
		}
		sum, _ := r.Body["plan_summary"].(map[string]any)
		if got := execNum(t, sum["total_committed"]); got != x.total {
			t.Errorf("outcome %d: total_committed = %v, want %v", i, got, x.total)
		}
	}
	budget := f.auditPlan(t, false)["budget"].(map[string]any)
	if got, rem := execNum(t, budget["committed"]), execNum(t, budget["remaining"]); got != 65000 || rem != 35000 {
		t.Errorf("audit budget = %v, want committed 65000, remaining 35000", budget)
	}
}

// TestOutcomeRefused sends outcomes the agent must refuse: a second
// terminal settlement of one action, a seller's report above the approval,
// references that are not the reporter's. Each gets the protocol's error
// and nothing is written.
func TestOutcomeRefused(t *testing.T) {
	t.Parallel()
	const mb = "mb_streamhaus_0001"
	cases := []struct {
		name  string
		setup func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any)
		code  string
		field string
	}{
		{"completed twice", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			f.settle(t, f.outcomeArgs("completed", a, execCompleted(mb, 40000)))
			return f.buyer, f.outcomeArgs("completed", a, execCompleted(mb, 40000))
		}, "CONFLICT", "outcome"},
		{"failed after completed", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			f.settle(t, f.outcomeArgs("completed", a, execCompleted(mb, 40000)))
			return f.buyer, f.outcomeArgs("failed", a, execFailed)
		}, "CONFLICT", "outcome"},
		{"completed after failed", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			f.settle(t, f.outcomeArgs("failed", a, execFailed))
			return f.buyer, f.outcomeArgs("completed", a, execCompleted(mb, 40000))
		}, "CONFLICT", "outcome"},
		{"completed twice, citing the purchase check", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			p := execApproved(t, "purchase", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), nil)))
			f.settle(t, f.outcomeArgs("completed", a, execCompleted(mb, 40000)))
			return f.buyer, f.outcomeArgs("completed", execApproval{CheckID: p.CheckID, Token: a.Token}, execCompleted(mb, 40000))
		}, "CONFLICT", "outcome"},
		{"seller reports more than approved", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			return f.buyer, f.outcomeArgs("completed", a, execCompleted(mb, 40000.5))
		}, "VALIDATION_ERROR", "seller_response.committed_budget"},
		{"seller reports more than the narrowed purchase", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			execApproved(t, "purchase", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 30000), nil)))
			return f.buyer, f.outcomeArgs("completed", a, execCompleted(mb, 35000))
		}, "VALIDATION_ERROR", "seller_response.committed_budget"},
		{"check_id of another action", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a, b := f.approve(t, 40000), f.approve(t, 20000)
			return f.buyer, f.outcomeArgs("completed", execApproval{CheckID: b.CheckID, Token: a.Token}, execCompleted(mb, 40000))
		}, "REFERENCE_NOT_FOUND", "check_id"},
		{"tampered governance_context", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			a.Token = execTamper(t, a.Token, `"amount":40000`, `"amount":90000`)
			return f.buyer, f.outcomeArgs("completed", a, execCompleted(mb, 90000))
		}, "REFERENCE_NOT_FOUND", "governance_context"},
		{"governance_context of another plan", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			other := execPlanDoc("plan_northwind_q1", f.start, f.end)
			f.settleSync(t, other)
			args := f.outcomeArgs("completed", a, execCompleted(mb, 40000))
			args["plan_id"] = "plan_northwind_q1"
			return f.buyer, args
		}, "REFERENCE_NOT_FOUND", "plan_id"},
		{"unknown plan", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			args := f.outcomeArgs("completed", a, execCompleted(mb, 40000))
			args["plan_id"] = "plan_no_such_plan"
			return f.buyer, args
		}, "REFERENCE_NOT_FOUND", "plan_id"},
		{"reported by the seller", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			return f.seller, f.outcomeArgs("completed", a, execCompleted(mb, 40000))
		}, "REFERENCE_NOT_FOUND", ""},
		{"reported by another seller", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			return f.e.Connect(t, govtest.Production, "seller2"), f.outcomeArgs("failed", a, execFailed)
		}, "REFERENCE_NOT_FOUND", ""},
		{"purchase type other than the approval's", func(t *testing.T, f *execFixture) (*govtest.Session, map[string]any) {
			a := f.approve(t, 40000)
			args := f.outcomeArgs("completed", a, execCompleted(mb, 40000))
			args["purchase_type"] = "signal_activation"
			return f.buyer, args
		}, "VALIDATION_ERROR", "purchase_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := execStart(t)
			s, args := tc.setup(t, f)
			before := execStateOf(t, f.e, f.account)
			budget := f.auditPlan(t, false)["budget"]
			r := s.Call("report_plan_outcome", args)
			execWantError(t, tc.name, r, tc.code)
			if _, field := r.Error(); tc.field != "" && field != tc.field {
				t.Errorf("error names field %q, want %q: %s", field, tc.field, r.Text)
			}
			if got := execStateOf(t, f.e, f.account); got != before {
				t.Errorf("refused outcome wrote: %+v, before %+v", got, before)
			}
			if got := f.auditPlan(t, false)["budget"]; fmt.Sprint(got) != fmt.Sprint(budget) {
				t.Errorf("refused outcome changed the budget: %v, before %v", got, budget)
			}
		})
	}
}

// settle reports an outcome that must be accepted.
func (f *execFixture) settle(t *testing.T, args map[string]any) govtest.Result {
	t.Helper()
	r := f.buyer.Call("report_plan_outcome", args)
	if r.IsError {
		t.Fatalf("report_plan_outcome: %s", r.Text)
	}
	return r
}

// settleSync syncs another plan as the buyer.
func (f *execFixture) settleSync(t *testing.T, plan map[string]any) {
	t.Helper()
	if r := f.buyer.Call("sync_plans", map[string]any{"adcp_version": execVersion, "idempotency_key": f.key("sync"), "plans": []any{plan}}); r.IsError {
		t.Fatalf("sync_plans: %s", r.Text)
	}
}

// TestOutcomeReplay checks that resending the same terminal outcome with
// its idempotency key is answered from the first, and settles nothing
// more.
func TestOutcomeReplay(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	a := f.approve(t, 40000)
	args := f.outcomeArgs("completed", a, execCompleted("mb_1", 40000))
	first := f.settle(t, args)
	before := execStateOf(t, f.e, f.account)
	again := f.settle(t, args)
	if again.Body["replayed"] != true || again.Body["outcome_id"] != first.Body["outcome_id"] {
		t.Errorf("resent outcome = %s, want the first answer (outcome %v) replayed", again.Text, first.Body["outcome_id"])
	}
	if got := execStateOf(t, f.e, f.account); got != before {
		t.Errorf("replay wrote: %+v, before %+v", got, before)
	}
}

// TestOutcomeDelivery reports the buyer's delivery observations: they are
// reconciled with the seller's statement and never move the ledger, and
// they do not settle the action.
func TestOutcomeDelivery(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	const mb = "mb_streamhaus_0001"
	a := f.approve(t, 40000)
	stmt := execStatement(t, mb, "st_1", 1, 5000, f.start)
	execApproved(t, "delivery check", f.seller.Call("check_governance", f.executionArgs(a.Token, "", f.planned(mb, 40000), stmt)))
	f.settle(t, f.outcomeArgs("completed", a, execCompleted(mb, 40000)))

	observation := func(source string, spend float64, statementID, digest string) map[string]any {
		d := map[string]any{"observation_id": fmt.Sprintf("obs_%s_%v", source, spend), "source": source,
			"observed_at": f.start.Add(8 * 24 * time.Hour).Format(time.RFC3339), "reporting_period": stmt["reporting_period"],
			"cumulative_spend": spend, "currency": "USD"}
		if statementID != "" {
			d["seller_statement_id"], d["seller_statement_digest"] = statementID, digest
		}
		return map[string]any{"delivery": d}
	}
	digest := stmt["statement_digest"].(string)
	otherDigest := execStatement(t, mb, "st_1", 1, 4000, f.start)["statement_digest"].(string)
	for _, tc := range []struct {
		name      string
		extra     map[string]any
		wantState string
	}{
		{"copy of the seller's statement", observation("seller_statement_copy", 5000, "st_1", digest), "accepted"},
		{"buyer measurement agreeing", observation("buyer_measurement", 5000, "", ""), "accepted"},
		{"buyer measurement differing", observation("buyer_measurement", 5600, "", ""), "findings"},
		{"copy citing another digest", observation("seller_statement_copy", 5000, "st_1", otherDigest), "findings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.settle(t, f.outcomeArgs("delivery", a, tc.extra))
			if r.Body["outcome_state"] != tc.wantState {
				t.Errorf("outcome_state = %v, want %s: %s", r.Body["outcome_state"], tc.wantState, r.Text)
			}
			if _, ok := r.Body["plan_summary"]; ok {
				t.Errorf("a delivery observation answered a plan_summary: %s", r.Text)
			}
			budget := f.auditPlan(t, false)["budget"].(map[string]any)
			if got := execNum(t, budget["committed"]); got != 40000 {
				t.Errorf("after a delivery observation the ledger holds %v, want 40000", got)
			}
		})
	}
	act, err := f.e.Store.GetAction(context.Background(), f.account, execClaims(t, a.Token).Claims.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if act.Committed != 40000 || act.Settlement != "completed" {
		t.Errorf("action committed=%v settlement=%s, want 40000 completed", act.Committed, act.Settlement)
	}

	// A delivery observation before settlement does not settle: the one
	// terminal outcome still follows.
	b := f.approve(t, 20000)
	f.settle(t, f.outcomeArgs("delivery", b, observation("buyer_measurement", 0, "", "")))
	r := f.settle(t, f.outcomeArgs("completed", b, execCompleted("mb_2", 20000)))
	if got := execNum(t, r.Body["plan_summary"].(map[string]any)["total_committed"]); got != 60000 {
		t.Errorf("total_committed after the second settlement = %v, want 60000", got)
	}
}

// TestFailedActionIsClosed checks that once the buyer reports an approved
// purchase failed, the seller can no longer execute that approval: its
// execution checks are denied, and it settles no second time.
func TestFailedActionIsClosed(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	a := f.approve(t, 30000)
	f.settle(t, f.outcomeArgs("failed", a, execFailed))
	r := f.seller.Call("check_governance", f.executionArgs(a.Token, "purchase", f.planned("mb_after_failure", 30000), nil))
	if r.IsError || r.Body["verdict"] != "denied" || r.Body["governance_context"] != nil {
		t.Fatalf("purchase check of a failed action = %s, want denied without a token", r.Text)
	}
	if !strings.Contains(r.Text, "settled as failed") {
		t.Errorf("the denial does not say the action was settled as failed: %s", r.Text)
	}
	r = f.buyer.Call("report_plan_outcome", f.outcomeArgs("completed", a, execCompleted("mb_after_failure", 30000)))
	if code, _ := r.Error(); code != "CONFLICT" {
		t.Errorf("completing a failed action = %s, want CONFLICT", r.Text)
	}
}

// TestSettleAfterKeyRetired settles an approval whose signing key has
// retired (rotated out and past the longest token lifetime since): the
// agent checks the approval against the keys published when it was issued.
func TestSettleAfterKeyRetired(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	a := f.approve(t, 20000)
	if code, body := f.e.API(t, "POST", "/v1/tenants/adsales/adcp/keys/rotate", "platform", nil, nil); code != 200 {
		t.Fatalf("rotate = %d %s", code, body)
	}
	f.e.Clock.Advance(governance.MaxTokenLifetime + 24*time.Hour)
	jwks := execJWKS(t, f.e, f.account)
	old := execClaims(t, a.Token).Header.KID
	for _, k := range jwks.Keys {
		if k.KID == old {
			t.Fatalf("the retired key %s is still published", old)
		}
	}
	r := f.settle(t, f.outcomeArgs("completed", a, execCompleted("mb_late_0001", 20000)))
	if r.Body["outcome_state"] != "accepted" && r.Body["outcome_state"] != "findings" {
		t.Errorf("late settlement = %s, want accepted", r.Text)
	}
}

// TestAuditEntriesInTimeOrder checks that get_plan_audit_logs lists the
// entries of checks and outcomes interleaved in time order.
func TestAuditEntriesInTimeOrder(t *testing.T) {
	t.Parallel()
	f := execStart(t)
	a := f.approve(t, 10000)
	f.e.Clock.Advance(time.Minute)
	f.settle(t, f.outcomeArgs("completed", a, execCompleted("mb_order_0001", 10000)))
	f.e.Clock.Advance(time.Minute)
	f.approve(t, 5000)
	entries, _ := f.auditPlan(t, true)["entries"].([]any)
	var kinds, times []string
	for _, x := range entries {
		e := x.(map[string]any)
		kinds = append(kinds, fmt.Sprint(e["type"]))
		times = append(times, fmt.Sprint(e["timestamp"]))
	}
	if want := []string{"check", "outcome", "check"}; !slices.Equal(kinds, want) {
		t.Errorf("entry types = %v (at %v), want %v", kinds, times, want)
	}
	if !slices.IsSorted(times) {
		t.Errorf("entry times %v are not in order", times)
	}
}
