package governance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
	"github.com/fleetgov/fleetgov/internal/store"
)

// execAuditFixture runs one action through its life on the production
// account, with a denial and a conditional answer on the way: intent
// (approved), purchase, delivery, completed; then an intent above the
// budget (denied) and one above what remains (conditions).
type execAuditFixture struct {
	*execFixture
	approval execApproval
	outcome  string // the completed outcome's ID
}

func execAuditStart(t *testing.T) *execAuditFixture {
	t.Helper()
	f := &execAuditFixture{execFixture: execStart(t)}
	const mb = "mb_streamhaus_0001"
	f.approval = f.approve(t, 40000)
	execApproved(t, "purchase", f.seller.Call("check_governance", f.executionArgs(f.approval.Token, "", f.planned(mb, 40000), nil)))
	execApproved(t, "delivery", f.seller.Call("check_governance", f.executionArgs(f.approval.Token, "", f.planned(mb, 40000), execStatement(t, mb, "st_1", 1, 5000, f.start))))
	f.e.Clock.Advance(time.Minute)
	f.outcome = f.settle(t, f.outcomeArgs("completed", f.approval, execCompleted(mb, 40000))).Body["outcome_id"].(string)
	if r := f.buyer.Call("check_governance", f.intentArgs(120000)); r.IsError || r.Body["verdict"] != "denied" {
		t.Fatalf("intent above the budget = %s, want denied", r.Text)
	}
	if r := f.buyer.Call("check_governance", f.intentArgs(70000)); r.IsError || r.Body["verdict"] != "conditions" {
		t.Fatalf("intent above the remaining budget = %s, want conditions", r.Text)
	}
	return f
}

// TestAuditLogEntries reads a plan's audit log with its entries in each
// wire version: every check and outcome the agent stored is there with
// the fields AdCP requires (the session validates each answer against the
// version's schema), and the summary and budget add up.
func TestAuditLogEntries(t *testing.T) {
	t.Parallel()
	f := execAuditStart(t)
	ctx := context.Background()
	checks, err := f.e.Store.ListChecks(ctx, store.CheckFilter{Account: f.account, PlanID: f.planID})
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 5 {
		t.Fatalf("%d checks stored, want 5", len(checks))
	}
	planHash, err := govtoken.PlanHash(f.plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		version    string
		verdictKey string
	}{
		{"3.0", "status"},
		{"3.1", "verdict"},
		{"3.2", "verdict"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			r := f.buyer.Call("get_plan_audit_logs", map[string]any{"adcp_version": tc.version, "plan_ids": []any{f.planID}, "include_entries": true})
			if r.IsError {
				t.Fatalf("get_plan_audit_logs: %s", r.Text)
			}
			pl := r.Body["plans"].([]any)[0].(map[string]any)
			if pl["plan_id"] != f.planID || execNum(t, pl["plan_version"]) != 1 || pl["status"] != "active" {
				t.Errorf("plan = %v %v %v, want %s version 1 active", pl["plan_id"], pl["plan_version"], pl["status"], f.planID)
			}
			entries := map[string]map[string]any{}
			for _, x := range pl["entries"].([]any) {
				e := x.(map[string]any)
				entries[e["id"].(string)] = e
				if _, err := time.Parse(time.RFC3339, e["timestamp"].(string)); err != nil {
					t.Errorf("entry %s timestamp %v: %v", e["id"], e["timestamp"], err)
				}
			}
			if len(entries) != len(checks)+1 {
				t.Errorf("%d entries, want %d checks and 1 outcome", len(entries), len(checks))
			}
			verdicts := map[string]int{}
			findings := 0
			for _, c := range checks {
				verdicts[c.Verdict]++
				e, ok := entries[c.ID]
				if !ok {
					t.Errorf("check %s (%s %s) has no entry", c.ID, c.Type, c.Verdict)
					continue
				}
				var resp map[string]any
				dec := json.NewDecoder(bytes.NewReader(c.Response))
				dec.UseNumber()
				if err := dec.Decode(&resp); err != nil {
					t.Fatal(err)
				}
				fs, _ := resp["findings"].([]any)
				findings += len(fs)
				for _, w := range []struct {
					field     string
					got, want any
				}{
					{"type", e["type"], "check"},
					{"plan_id", e["plan_id"], f.planID},
					{"plan_hash", e["plan_hash"], planHash},
					{tc.verdictKey, e[tc.verdictKey], c.Verdict},
					{"check_type", e["check_type"], c.Type},
					{"caller", e["caller"], c.Caller},
					{"tool", e["tool"], "create_media_buy"},
					{"mode", e["mode"], "enforce"},
					{"findings", fmt.Sprint(e["findings"]), fmt.Sprint(resp["findings"])},
					{"categories_evaluated", fmt.Sprint(e["categories_evaluated"]), fmt.Sprint(resp["categories_evaluated"])},
					{"explanation", e["explanation"], resp["explanation"]},
					{"governance_context", e["governance_context"], resp["governance_context"]},
				} {
					if fmt.Sprint(w.got) != fmt.Sprint(w.want) {
						t.Errorf("entry of %s check %s: %s = %v, want %v", c.Type, c.ID, w.field, w.got, w.want)
					}
				}
				if c.Verdict == "denied" && len(fs) == 0 {
					t.Errorf("denied check %s has no findings in its entry", c.ID)
				}
			}
			if verdicts["approved"] != 3 || verdicts["denied"] != 1 || verdicts["conditions"] != 1 {
				t.Fatalf("stored verdicts %v, want 3 approved, 1 denied, 1 conditions", verdicts)
			}
			o, ok := entries[f.outcome]
			if !ok {
				t.Fatalf("outcome %s has no entry", f.outcome)
			}
			if o["type"] != "outcome" || o["outcome"] != "completed" || execNum(t, o["committed_budget"]) != 40000 || o["outcome_status"] != "accepted" || o["caller"] != govtest.BuyerURL {
				t.Errorf("outcome entry = %v, want a completed outcome of 40000, accepted, by the buyer", o)
			}

			sum := pl["summary"].(map[string]any)
			st := sum["statuses"].(map[string]any)
			for _, w := range []struct {
				field     string
				got, want float64
			}{
				{"checks_performed", execNum(t, sum["checks_performed"]), float64(len(checks))},
				{"outcomes_reported", execNum(t, sum["outcomes_reported"]), 1},
				{"statuses.approved", execNum(t, st["approved"]), 3},
				{"statuses.denied", execNum(t, st["denied"]), 1},
				{"statuses.conditions", execNum(t, st["conditions"]), 1},
				{"findings_count", execNum(t, sum["findings_count"]), float64(findings)},
			} {
				if w.got != w.want {
					t.Errorf("summary.%s = %v, want %v", w.field, w.got, w.want)
				}
			}
			budget := pl["budget"].(map[string]any)
			if execNum(t, budget["authorized"]) != 100000 || execNum(t, budget["committed"]) != 40000 || execNum(t, budget["remaining"]) != 60000 {
				t.Errorf("budget = %v, want authorized 100000, committed 40000, remaining 60000", budget)
			}
			acts := pl["governed_actions"].([]any)
			if len(acts) != 1 {
				t.Fatalf("governed_actions = %v, want the one approved action", acts)
			}
			g := acts[0].(map[string]any)
			if g["governance_context"] != f.approval.Token || execNum(t, g["check_count"]) != 3 || g["status"] != "completed" {
				t.Errorf("governed action = %v, want the intent token, 3 checks, completed", g)
			}
		})
	}

	// Without include_entries, no entries.
	if pl := f.auditPlan(t, false); pl["entries"] != nil {
		t.Errorf("entries without include_entries: %v", pl["entries"])
	}
}

// TestAuditLogFilters narrows the audit log to one action by its
// governance_context.
func TestAuditLogFilters(t *testing.T) {
	t.Parallel()
	f := execAuditStart(t)
	other := f.approve(t, 10000)
	for _, tc := range []struct {
		name        string
		filter      map[string]any
		wantEntries int
		wantActions []string // their governance_context
	}{
		// intent, purchase, delivery, outcome
		{"the lifecycle's action", map[string]any{"governance_contexts": []any{f.approval.Token}}, 4, []string{f.approval.Token}},
		{"another action", map[string]any{"governance_contexts": []any{other.Token}}, 1, []string{other.Token}},
		// every check (5 of the fixture, 1 more) and the outcome
		{"media buys", map[string]any{"plan_ids": []any{f.planID}, "purchase_types": []any{"media_buy"}}, 7, []string{f.approval.Token, other.Token}},
		{"signal activations", map[string]any{"plan_ids": []any{f.planID}, "purchase_types": []any{"signal_activation"}}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := map[string]any{"adcp_version": execVersion, "include_entries": true}
			for k, v := range tc.filter {
				args[k] = v
			}
			r := f.buyer.Call("get_plan_audit_logs", args)
			if r.IsError {
				t.Fatalf("get_plan_audit_logs: %s", r.Text)
			}
			pl := r.Body["plans"].([]any)[0].(map[string]any)
			entries := pl["entries"].([]any)
			if len(entries) != tc.wantEntries {
				t.Errorf("%d entries, want %d: %v", len(entries), tc.wantEntries, entries)
			}
			var got []string
			for _, a := range pl["governed_actions"].([]any) {
				got = append(got, a.(map[string]any)["governance_context"].(string))
			}
			if !slices.Equal(got, tc.wantActions) {
				t.Errorf("governed_actions = %v, want %v", got, tc.wantActions)
			}
		})
	}
}

// TestAuditLogPartition asks for plans the caller may not see: another
// account's plan, another agent's plan, an unknown plan, and a token of
// another account. Every answer is the one generic PLAN_NOT_FOUND, body
// for body, naming no plan.
func TestAuditLogPartition(t *testing.T) {
	t.Parallel()
	f := execAuditStart(t)
	lab := f.e.Connect(t, govtest.Sandbox, govtest.Sandbox)
	seller2 := f.e.Connect(t, govtest.Production, "seller2")
	// The sandbox account syncs a plan of its own, under another ID.
	labPlan := execPlanDoc("plan_lab_only", f.start, f.end)
	if r := lab.Call("sync_plans", map[string]any{"adcp_version": execVersion, "idempotency_key": f.key("lab"), "plans": []any{labPlan}}); r.IsError {
		t.Fatalf("sandbox sync_plans: %s", r.Text)
	}
	args := func(key string, v any) map[string]any {
		return map[string]any{"adcp_version": execVersion, key: v, "include_entries": true}
	}
	unknown := lab.Call("get_plan_audit_logs", args("plan_ids", []any{"plan_no_such_plan"}))
	execWantError(t, "unknown plan", unknown, "PLAN_NOT_FOUND")
	for _, tc := range []struct {
		name string
		s    *govtest.Session
		args map[string]any
	}{
		{"another account's plan", lab, args("plan_ids", []any{f.planID})},
		{"another account's plan beside an own one", lab, args("plan_ids", []any{"plan_lab_only", f.planID})},
		{"another account's token", lab, args("governance_contexts", []any{f.approval.Token})},
		{"unknown plan on the production account", f.buyer, args("plan_ids", []any{"plan_no_such_plan"})},
		{"another agent's plan", seller2, args("plan_ids", []any{f.planID})},
		{"the seller reading the buyer's plan", f.seller, args("plan_ids", []any{f.planID})},
		{"a forged token", f.buyer, args("governance_contexts", []any{execTamper(t, f.approval.Token, `"amount":40000`, `"amount":1`)})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.s.Call("get_plan_audit_logs", tc.args)
			execWantError(t, tc.name, r, "PLAN_NOT_FOUND")
			if r.Text != unknown.Text {
				t.Errorf("%s answers\n%s\nbut an unknown plan answers\n%s", tc.name, r.Text, unknown.Text)
			}
			if bytes.Contains([]byte(r.Text), []byte(f.planID)) {
				t.Errorf("%s: the answer names the plan: %s", tc.name, r.Text)
			}
		})
	}

	// Those allowed see it: the owner, and the account's auditor (its
	// tenant credential); the sandbox sees its own plan.
	for _, tc := range []struct {
		name string
		s    *govtest.Session
		plan string
	}{
		{"the buyer", f.buyer, f.planID},
		{"the account's auditor", f.e.Connect(t, govtest.Production, govtest.Production), f.planID},
		{"the sandbox account", lab, "plan_lab_only"},
	} {
		r := tc.s.Call("get_plan_audit_logs", args("plan_ids", []any{tc.plan}))
		if r.IsError || len(r.Body["plans"].([]any)) != 1 {
			t.Errorf("%s reading plan %s = %s, want the plan", tc.name, tc.plan, r.Text)
		}
	}
}

// execChainError returns the first break in an audit partition's hash
// chain: a sequence gap, a record not linked to the one before, or a hash
// that is not the record's seal.
func execChainError(recs []store.AuditRecord) error {
	var prev []byte
	for i, r := range recs {
		switch {
		case r.Seq != int64(i+1):
			return fmt.Errorf("record %d has seq %d", i+1, r.Seq)
		case !bytes.Equal(r.PrevHash, prev):
			return fmt.Errorf("record %d (%s %s) is not linked to the record before it", r.Seq, r.Action, r.Object)
		case !bytes.Equal(r.Hash, r.Seal(r.PrevHash)):
			return fmt.Errorf("record %d (%s %s): hash is not its seal", r.Seq, r.Action, r.Object)
		}
		prev = r.Hash
	}
	return nil
}

// TestAuditRecords checks the account's partition of fleetgov's audit log:
// a record for every check and every outcome, with what AdCP requires of
// an audit entry, none in another partition, and a hash chain that
// verifies (and would not, were a record changed, dropped or reordered).
func TestAuditRecords(t *testing.T) {
	t.Parallel()
	f := execAuditStart(t)
	ctx := context.Background()
	recs, err := f.e.Store.ListAudit(ctx, store.AuditFilter{Partition: f.account})
	if err != nil {
		t.Fatal(err)
	}
	if err := execChainError(recs); err != nil {
		t.Fatalf("the audit chain of %s does not verify: %v", f.account, err)
	}
	byObject := map[string]store.AuditRecord{}
	for _, r := range recs {
		if r.Partition != f.account {
			t.Errorf("record %d of partition %s says partition %s", r.Seq, f.account, r.Partition)
		}
		byObject[r.Action+" "+r.Object] = r
	}
	planHash, err := govtoken.PlanHash(f.plan)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := f.e.Store.ListChecks(ctx, store.CheckFilter{Account: f.account})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		r, ok := byObject["adcp.check "+c.ID]
		if !ok {
			t.Errorf("check %s (%s %s) has no audit record", c.ID, c.Type, c.Verdict)
			continue
		}
		var d struct {
			CheckID   string `json:"check_id"`
			PlanID    string `json:"plan_id"`
			PlanHash  string `json:"plan_hash"`
			Verdict   string `json:"verdict"`
			CheckType string `json:"check_type"`
			Phase     string `json:"phase"`
			Caller    string `json:"caller"`
			Findings  []any  `json:"findings"`
			JTI       string `json:"jti"`
			Amount    *float64
		}
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatalf("record %d detail: %v", r.Seq, err)
		}
		if r.Outcome != c.Verdict || d.CheckID != c.ID || d.PlanID != f.planID || d.PlanHash != planHash || d.Verdict != c.Verdict ||
			d.CheckType != c.Type || d.Phase != c.Phase || d.Caller != c.Caller || d.JTI != c.JTI {
			t.Errorf("record of check %s: outcome %s, detail %+v; want verdict %s, plan hash %s, type %s, phase %s, caller %s, jti %s",
				c.ID, r.Outcome, d, c.Verdict, planHash, c.Type, c.Phase, c.Caller, c.JTI)
		}
		if c.Verdict == "denied" && len(d.Findings) == 0 {
			t.Errorf("record of denied check %s has no findings", c.ID)
		}
		if !r.Time.Equal(c.CreatedAt) {
			t.Errorf("record of check %s at %v, the check at %v", c.ID, r.Time, c.CreatedAt)
		}
	}
	outs, err := f.e.Store.ListOutcomes(ctx, f.account, f.planID)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 {
		t.Fatalf("%d outcomes stored, want 1", len(outs))
	}
	for _, o := range outs {
		r, ok := byObject["adcp.outcome "+o.ID]
		if !ok {
			t.Errorf("outcome %s has no audit record", o.ID)
			continue
		}
		var d struct {
			Outcome   string  `json:"outcome"`
			Committed float64 `json:"committed"`
			PlanID    string  `json:"plan_id"`
		}
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if d.Outcome != "completed" || d.Committed != 40000 || d.PlanID != f.planID || r.Outcome != "accepted" {
			t.Errorf("record of outcome %s: %s %+v, want accepted, completed, 40000", o.ID, r.Outcome, d)
		}
	}

	// Nothing of the account's in another partition.
	parts, err := f.e.Store.AuditPartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if p == f.account {
			continue
		}
		other, err := f.e.Store.ListAudit(ctx, store.AuditFilter{Partition: p})
		if err != nil {
			t.Fatal(err)
		}
		if err := execChainError(other); err != nil {
			t.Errorf("the audit chain of %s does not verify: %v", p, err)
		}
		for _, r := range other {
			if _, ok := byObject[r.Action+" "+r.Object]; ok && (r.Action == "adcp.check" || r.Action == "adcp.outcome") {
				t.Errorf("partition %s holds %s %s of %s", p, r.Action, r.Object, f.account)
			}
		}
	}

	// The verification is not vacuous: it catches a changed, dropped or
	// reordered record.
	last := len(recs) - 1
	changed := append([]store.AuditRecord(nil), recs...)
	changed[last].Detail = bytes.Replace(changed[last].Detail, []byte("70000"), []byte("7000"), 1)
	if bytes.Equal(changed[last].Detail, recs[last].Detail) {
		changed[last].Outcome = "approved"
	}
	dropped := append(append([]store.AuditRecord(nil), recs[:2]...), recs[3:]...)
	for i := range dropped {
		dropped[i].Seq = int64(i + 1)
	}
	swapped := append([]store.AuditRecord(nil), recs...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	swapped[1].Seq, swapped[2].Seq = 2, 3
	for name, bad := range map[string][]store.AuditRecord{"changed": changed, "dropped": dropped, "reordered": swapped} {
		if err := execChainError(bad); err == nil {
			t.Errorf("a %s record passes the chain verification", name)
		}
	}
}
