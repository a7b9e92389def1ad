package governance_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
	"github.com/fleetgov/fleetgov/internal/store"
)

// hrApproved runs an intent check the plan approves and returns its
// check_id and governance_context.
func hrApproved(t *testing.T, e *govtest.Env, s *govtest.Session, planID string, amount float64) (checkID, token string) {
	t.Helper()
	r := s.Call("check_governance", hrIntent(e, planID, govtest.BuyerURL, amount))
	checkID, _ = r.Body["check_id"].(string)
	token, _ = r.Body["governance_context"].(string)
	if r.IsError || r.Body["verdict"] != "approved" || checkID == "" || token == "" {
		t.Fatalf("check_governance = %s, want approved with a governance_context", r.Text)
	}
	return checkID, token
}

// withoutKeys returns a copy of a body without the named fields.
func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// with returns a copy of args with fields set (nil deletes).
func with(args map[string]any, set map[string]any) map[string]any {
	out := make(map[string]any, len(args))
	for k, v := range args {
		out[k] = v
	}
	for k, v := range set {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// idemCase is a keyed task, the state it writes and a request that reuses
// its key for another payload.
type idemCase struct {
	task  string
	args  map[string]any // carries idempotency_key and context
	other map[string]any // the same key, another payload
	state func(t *testing.T) string
}

// idemCases sets up one case of each keyed task on the production account.
func idemCases(t *testing.T, e *govtest.Env, s *govtest.Session) []idemCase {
	t.Helper()
	ctx := context.Background()
	planState := func(planID string) func(t *testing.T) string {
		return func(t *testing.T) string {
			p, err := e.Store.GetPlan(ctx, govtest.Production, planID)
			if err != nil {
				return err.Error()
			}
			return fmt.Sprintf("version %d hash %s", p.Version, p.Hash)
		}
	}
	hrSync(t, s, "idem-setup-outcome-plan", hrPlan(e, "idem-outcome", nil))
	checkID, token := hrApproved(t, e, s, "idem-outcome", 1000)
	outcome := map[string]any{"idempotency_key": "idem-outcome-key-0001", "plan_id": "idem-outcome", "outcome": "completed",
		"check_id": checkID, "governance_context": token, "context": map[string]any{"correlation_id": "first"},
		"seller_response": map[string]any{"seller_reference": "mb-0001", "committed_budget": 1000}}
	// AdCP wants an https agent URL; the test server's is http, so the
	// platform unbinds it and the buyer registers the account's public one.
	if code, body := e.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", "platform", nil, nil); code != http.StatusOK {
		t.Fatalf("unbind = %d %s", code, body)
	}
	const url = "https://governance.northwind.example/adcp/adsales"
	agent := map[string]any{"url": url,
		"authentication": map[string]any{"schemes": []any{"Bearer"}, "credentials": "seller-to-governance-credential-0123456789"}}
	otherAgent := map[string]any{"url": url,
		"authentication": map[string]any{"schemes": []any{"Bearer"}, "credentials": "another-seller-credential-abcdefghijklmnop"}}
	account := map[string]any{"brand": map[string]any{"domain": "acmeoutdoor.example"}, "operator": "northwind.example"}
	hrSync(t, s, "idem-setup-check-plan", hrPlan(e, "idem-check", nil))
	check := with(hrIntent(e, "idem-check", govtest.BuyerURL, 1000), map[string]any{"idempotency_key": "idem-check-key-000001",
		"context": map[string]any{"correlation_id": "first"}})
	return []idemCase{
		{
			task:  "check_governance",
			args:  check,
			other: with(hrIntent(e, "idem-check", govtest.BuyerURL, 2000), map[string]any{"idempotency_key": "idem-check-key-000001"}),
			state: func(t *testing.T) string {
				var s string
				for _, c := range hrChecks(t, e, govtest.Production, "idem-check") {
					s += fmt.Sprintf("check %s %s %s; ", c.ID, c.Verdict, c.JTI)
				}
				acts, err := e.Store.ListActions(ctx, store.ActionFilter{Account: govtest.Production, PlanID: "idem-check"})
				if err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("%s%d actions", s, len(acts))
			},
		},
		{
			task: "sync_plans",
			args: map[string]any{"idempotency_key": "idem-sync-plans-0001", "context": map[string]any{"correlation_id": "first"},
				"plans": []any{hrPlan(e, "idem-plan", nil)}},
			other: map[string]any{"idempotency_key": "idem-sync-plans-0001",
				"plans": []any{hrPlan(e, "idem-plan", map[string]any{"objectives": "another objective"})}},
			state: planState("idem-plan"),
		},
		{
			task:  "report_plan_outcome",
			args:  outcome,
			other: with(outcome, map[string]any{"outcome": "failed", "seller_response": nil, "error": map[string]any{"code": "SELLER_DOWN", "message": "the seller failed"}}),
			state: func(t *testing.T) string {
				acts, err := e.Store.ListActions(ctx, store.ActionFilter{Account: govtest.Production, PlanID: "idem-outcome"})
				if err != nil {
					t.Fatal(err)
				}
				outs, err := e.Store.ListOutcomes(ctx, govtest.Production, "idem-outcome")
				if err != nil {
					t.Fatal(err)
				}
				var s string
				for _, a := range acts {
					s += fmt.Sprintf("action %s %s %v; ", a.Sub, a.Settlement, a.Committed)
				}
				for _, o := range outs {
					s += fmt.Sprintf("outcome %s %s; ", o.ID, o.Outcome)
				}
				return s
			},
		},
		{
			task: "sync_governance",
			args: map[string]any{"idempotency_key": "idem-sync-governance-01", "context": map[string]any{"correlation_id": "first"},
				"accounts": []any{map[string]any{"account": account, "governance_agents": []any{agent}}}},
			other: map[string]any{"idempotency_key": "idem-sync-governance-01",
				"accounts": []any{map[string]any{"account": account, "governance_agents": []any{otherAgent}}}},
			state: func(t *testing.T) string {
				b, err := e.Store.GovernanceBinding(ctx, govtest.Production)
				if err != nil {
					return err.Error()
				}
				return fmt.Sprintf("%s %t %s %s", b.URL, b.Builtin, b.BoundAt, b.BoundBy)
			},
		},
	}
}

// TestIdempotentReplay checks the replay contract on each keyed task: an
// identical request answers the cached response with replayed: true and
// writes nothing; the key with another payload is IDEMPOTENCY_CONFLICT and
// writes nothing either.
func TestIdempotentReplay(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	s := e.Connect(t, govtest.Production, "buyer")
	for _, tc := range idemCases(t, e, s) {
		t.Run(tc.task, func(t *testing.T) {
			first := s.Call(tc.task, tc.args)
			if first.IsError {
				t.Fatalf("%s = %s, want success", tc.task, first.Text)
			}
			if r, ok := first.Body["replayed"]; ok && r != false {
				t.Errorf("first %s: replayed = %v, want absent or false", tc.task, r)
			}
			audit, state := len(hrAudit(t, e, govtest.Production)), tc.state(t)

			tests := []struct {
				name    string
				args    map[string]any
				context any // the context the answer echoes
			}{
				{"identical", tc.args, map[string]any{"correlation_id": "first"}},
				{"another context", with(tc.args, map[string]any{"context": map[string]any{"correlation_id": "retry"}}), map[string]any{"correlation_id": "retry"}},
				{"no context", with(tc.args, map[string]any{"context": nil}), nil},
			}
			for _, rc := range tests {
				r := s.Call(tc.task, rc.args)
				if r.IsError || r.Body["replayed"] != true {
					t.Errorf("%s replay (%s) = %s, want the cached answer with replayed: true", tc.task, rc.name, r.Text)
					continue
				}
				if got, want := withoutKeys(r.Body, "replayed", "context"), withoutKeys(first.Body, "replayed", "context"); !reflect.DeepEqual(got, want) {
					t.Errorf("%s replay (%s) = %v, want the first answer %v", tc.task, rc.name, got, want)
				}
				if got := r.Body["context"]; !reflect.DeepEqual(got, rc.context) {
					t.Errorf("%s replay (%s) echoes context %v, want this request's %v", tc.task, rc.name, got, rc.context)
				}
			}
			r := s.Call(tc.task, tc.other)
			if code, field := r.Error(); !r.IsError || code != "IDEMPOTENCY_CONFLICT" || field != "idempotency_key" {
				t.Errorf("%s with the key of another payload = %s, want IDEMPOTENCY_CONFLICT on idempotency_key", tc.task, r.Text)
			}
			if n := len(hrAudit(t, e, govtest.Production)); n != audit {
				t.Errorf("replays and the conflict wrote %d audit records, want none", n-audit)
			}
			if got := tc.state(t); got != state {
				t.Errorf("state after replays and the conflict = %q, want %q", got, state)
			}
		})
	}
}

// TestIdempotentCheckInReview replays a keyed check that went to human
// review: the retry answers the same task, queues no second review, and
// keeps answering it after the decision (the cached answer is not
// refreshed; get_task_status has the verdict).
func TestIdempotentCheckInReview(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	s := e.Connect(t, govtest.Production, "buyer")
	hrSync(t, s, "idem-review-sync-plan", hrPlan(e, "idem-review", nil))
	args := with(hrIntent(e, "idem-review", govtest.BuyerURL, 200000), map[string]any{"idempotency_key": "idem-review-check-0001"})
	id := hrSubmit(t, s, args)
	for _, when := range []string{"pending", "decided"} {
		r := s.Call("check_governance", args)
		if r.IsError || r.Body["replayed"] != true || r.Body["status"] != "submitted" || r.Body["task_id"] != id {
			t.Errorf("retry while %s = %s, want the submitted task %s replayed", when, r.Text, id)
		}
		if cs := hrChecks(t, e, govtest.Production, "idem-review"); len(cs) != 1 {
			t.Errorf("%d checks stored after a retry while %s, want 1", len(cs), when)
		}
		if when == "pending" {
			if q := hrQueue(t, e, govtest.Production); len(q) != 1 {
				t.Errorf("review queue after a retry = %v, want the one review", q)
			}
			decide := map[string]any{"decision": "approve", "reviewer": "dana.kim@northwind.example", "authority": "media director", "minutes": 2}
			if code, body := e.API(t, "POST", "/v1/tenants/adsales/adcp/reviews/"+id, govtest.Production, decide, nil); code != http.StatusOK {
				t.Fatalf("approve = %d %s", code, body)
			}
		}
	}
	// Without a key every check is a new one.
	plain := hrIntent(e, "idem-review", govtest.BuyerURL, 1000)
	a, b := s.Call("check_governance", plain), s.Call("check_governance", plain)
	if a.Body["check_id"] == nil || a.Body["check_id"] == b.Body["check_id"] || b.Body["replayed"] != nil {
		t.Errorf("two unkeyed checks = %s and %s, want two fresh checks", a.Text, b.Text)
	}
}

// TestIdempotencyScope checks that a key is scoped to (principal, account):
// another principal's or another account's use of it is independent, while
// the same principal reusing it on another task is a conflict.
func TestIdempotencyScope(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	const key = "idem-scope-shared-key-0001"
	buyer := e.Connect(t, govtest.Production, "buyer")
	seller := e.Connect(t, govtest.Production, "seller")
	sandbox := e.Connect(t, govtest.Sandbox, govtest.Sandbox)
	plan := hrPlan(e, "idem-scope", nil)
	first := hrSync(t, buyer, key, plan)

	// The seller sending the buyer's key and payload is not answered from
	// the buyer's cache: its request runs, and the plan is the buyer's.
	r := seller.Call("sync_plans", map[string]any{"idempotency_key": key, "plans": []any{plan}})
	if code, field := r.Error(); !r.IsError || code != "CONFLICT" || field != "plans[0].plan_id" || r.Body["replayed"] != nil {
		t.Errorf("seller sync_plans with the buyer's key and plan = %s, want CONFLICT on plans[0].plan_id (the buyer's plan), not a replay", r.Text)
	}
	// Another payload under the key is no conflict for the seller.
	r = seller.Call("sync_plans", map[string]any{"idempotency_key": key, "plans": []any{hrPlan(e, "idem-scope-seller", nil)}})
	if r.IsError || r.Body["replayed"] != nil {
		t.Errorf("seller sync_plans of its own plan under the buyer's key = %s, want a fresh success", r.Text)
	}
	// Nor in another account.
	r = sandbox.Call("sync_plans", map[string]any{"idempotency_key": key, "plans": []any{plan}})
	if r.IsError || r.Body["replayed"] != nil {
		t.Errorf("sandbox sync_plans under the production buyer's key = %s, want a fresh success", r.Text)
	}
	if p, err := e.Store.GetPlan(context.Background(), govtest.Sandbox, "idem-scope"); err != nil || p.Version != 1 {
		t.Errorf("sandbox plan = %+v, %v; want version 1", p, err)
	}
	// The buyer's own record is intact.
	r = buyer.Call("sync_plans", map[string]any{"idempotency_key": key, "plans": []any{plan}})
	if r.IsError || r.Body["replayed"] != true || !reflect.DeepEqual(withoutKeys(r.Body, "replayed"), withoutKeys(first.Body, "replayed")) {
		t.Errorf("buyer replay = %s, want its first answer replayed", r.Text)
	}
	// Reusing a key on another task is another payload (AdCP security,
	// idempotency: "Reusing a key on another tool ... returns
	// IDEMPOTENCY_CONFLICT").
	checkID, token := hrApproved(t, e, buyer, "idem-scope", 1000)
	audit := len(hrAudit(t, e, govtest.Production))
	r = buyer.Call("report_plan_outcome", map[string]any{"idempotency_key": key, "plan_id": "idem-scope", "outcome": "completed",
		"check_id": checkID, "governance_context": token, "seller_response": map[string]any{"committed_budget": 1000}})
	if code, field := r.Error(); !r.IsError || code != "IDEMPOTENCY_CONFLICT" || field != "idempotency_key" {
		t.Errorf("report_plan_outcome under the key of a sync_plans = %s, want IDEMPOTENCY_CONFLICT", r.Text)
	}
	if n := len(hrAudit(t, e, govtest.Production)); n != audit {
		t.Errorf("the conflict wrote %d audit records, want none", n-audit)
	}
}

// TestIdempotencyExpiry checks the replay window: within the declared TTL
// (and the 60 s of clock skew AdCP asks to allow at its boundary) a retry
// replays; after it, the key is IDEMPOTENCY_EXPIRED rather than a silent
// second run.
func TestIdempotencyExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		after time.Duration
		code  string // "" for a replay
	}{
		{"within the TTL", governance.IdempotencyTTL - time.Minute, ""},
		{"inside the skew allowance", governance.IdempotencyTTL + 30*time.Second, ""},
		{"after the TTL", governance.IdempotencyTTL + 2*time.Minute, "IDEMPOTENCY_EXPIRED"},
		{"a week later", 7 * 24 * time.Hour, "IDEMPOTENCY_EXPIRED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := govtest.Start(t, govtest.Options{})
			s := e.Connect(t, govtest.Production, "buyer")
			args := map[string]any{"idempotency_key": "idem-expiry-key-00001", "plans": []any{hrPlan(e, "idem-expiry", nil)}}
			hrSync(t, s, "idem-expiry-key-00001", hrPlan(e, "idem-expiry", nil))
			e.Clock.Advance(tc.after)
			audit := len(hrAudit(t, e, govtest.Production))
			r := s.Call("sync_plans", args)
			code, field := r.Error()
			switch {
			case tc.code == "" && (r.IsError || r.Body["replayed"] != true):
				t.Errorf("retry %v later = %s, want a replay", tc.after, r.Text)
			case tc.code != "" && (!r.IsError || code != tc.code || field != "idempotency_key"):
				t.Errorf("retry %v later = %s, want %s on idempotency_key", tc.after, r.Text, tc.code)
			}
			if n := len(hrAudit(t, e, govtest.Production)); n != audit {
				t.Errorf("the retry wrote %d audit records, want none", n-audit)
			}
			if p, err := e.Store.GetPlan(context.Background(), govtest.Production, "idem-expiry"); err != nil || p.Version != 1 {
				t.Errorf("plan after the retry = version %d, %v; want version 1", p.Version, err)
			}
		})
	}
}

// TestIdempotencyDurable restarts fleetgov on the same database: the
// cached answers survive.
func TestIdempotencyDurable(t *testing.T) {
	t.Parallel()
	opt := govtest.Options{FleetDir: govtest.CopyExampleFleet(t), DBPath: filepath.Join(t.TempDir(), "fleetgov.db")}
	e1 := govtest.Start(t, opt)
	s1 := e1.Connect(t, govtest.Production, "buyer")
	args := map[string]any{"idempotency_key": "idem-durable-key-0001", "plans": []any{hrPlan(e1, "idem-durable", nil)}}
	first := hrSync(t, s1, "idem-durable-key-0001", hrPlan(e1, "idem-durable", nil))
	// The restarted server listens elsewhere, so its agent has another
	// URL: the platform unbinds the first one (a real restart keeps its
	// public URL and its binding).
	if code, body := e1.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", "platform", nil, nil); code != http.StatusOK {
		t.Fatalf("unbind = %d %s", code, body)
	}
	e1.Server.Close()

	e2 := govtest.Start(t, opt)
	s2 := e2.Connect(t, govtest.Production, "buyer")
	audit := len(hrAudit(t, e2, govtest.Production))
	r := s2.Call("sync_plans", args)
	if r.IsError || r.Body["replayed"] != true || !reflect.DeepEqual(withoutKeys(r.Body, "replayed"), withoutKeys(first.Body, "replayed")) {
		t.Errorf("replay after a restart = %s, want the first answer %s replayed", r.Text, first.Text)
	}
	r = s2.Call("sync_plans", with(args, map[string]any{"plans": []any{hrPlan(e2, "idem-durable", map[string]any{"objectives": "changed"})}}))
	if code, _ := r.Error(); code != "IDEMPOTENCY_CONFLICT" {
		t.Errorf("another payload under the key after a restart = %s, want IDEMPOTENCY_CONFLICT", r.Text)
	}
	if n := len(hrAudit(t, e2, govtest.Production)); n != audit {
		t.Errorf("after the restart the replay and the conflict wrote %d audit records, want none", n-audit)
	}
}

// TestIdempotencyConcurrent sends the same keyed request from several
// connections at once: it runs once, and every answer is that run's.
func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	buyer := e.Connect(t, govtest.Production, "buyer")
	hrSync(t, buyer, "idem-concurrent-setup", hrPlan(e, "idem-concurrent-outcome", nil))
	checkID, token := hrApproved(t, e, buyer, "idem-concurrent-outcome", 1000)
	tests := []struct {
		task   string
		args   map[string]any
		action string // the audit action a run writes
	}{
		{"sync_plans", map[string]any{"idempotency_key": "idem-concurrent-sync-01", "plans": []any{hrPlan(e, "idem-concurrent", nil)}}, "adcp.plan.sync"},
		{"check_governance", with(hrIntent(e, "idem-concurrent-outcome", govtest.BuyerURL, 500), map[string]any{"idempotency_key": "idem-concurrent-check-1"}), "adcp.check"},
		{"report_plan_outcome", map[string]any{"idempotency_key": "idem-concurrent-outcome1", "plan_id": "idem-concurrent-outcome", "outcome": "completed",
			"check_id": checkID, "governance_context": token, "seller_response": map[string]any{"committed_budget": 1000}}, "adcp.outcome"},
	}
	const n = 6
	sessions := make([]*govtest.Session, n)
	for i := range sessions {
		sessions[i] = e.Connect(t, govtest.Production, "buyer")
	}
	for _, tc := range tests {
		t.Run(tc.task, func(t *testing.T) {
			before := len(hrRecords(hrAudit(t, e, govtest.Production), tc.action, ""))
			results := make([]govtest.Result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = sessions[i].Call(tc.task, tc.args)
				}()
			}
			wg.Wait()
			fresh := 0
			for i, r := range results {
				if r.IsError {
					t.Errorf("concurrent %s #%d = %s, want success", tc.task, i, r.Text)
					continue
				}
				if r.Body["replayed"] != true {
					fresh++
				}
				if !reflect.DeepEqual(withoutKeys(r.Body, "replayed"), withoutKeys(results[0].Body, "replayed")) {
					t.Errorf("concurrent %s answers differ:\n%s\n%s", tc.task, r.Text, results[0].Text)
				}
			}
			if fresh != 1 {
				t.Errorf("%d of %d concurrent %s answers were fresh runs, want 1", fresh, n, tc.task)
			}
			if got := len(hrRecords(hrAudit(t, e, govtest.Production), tc.action, "")) - before; got != 1 {
				t.Errorf("%d %s audit records, want 1", got, tc.action)
			}
		})
	}
}
