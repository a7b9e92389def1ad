package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// oddJSON is a JSON payload a store must keep byte for byte: odd spacing,
// keys out of order and repeated, escapes and numbers that JCS would rewrite.
var oddJSON = json.RawMessage("{ \"z\":1,\n  \"a\" : [1.50, \"\\u00e9\"],\t\"z\":2 ,\"budget\":{\"total\":1e3}}")

// normRaw is a JSON payload as a store returns it: empty reads back as nil.
func normRaw(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	return m
}

func binding(account, url string, bound time.Time) store.GovernanceBinding {
	return store.GovernanceBinding{Account: account, URL: url, Builtin: true, BoundAt: bound, BoundBy: "startup"}
}

func normBinding(b store.GovernanceBinding) store.GovernanceBinding {
	b.BoundAt = norm(b.BoundAt)
	return b
}

func plan(account, id string, i int) store.GovPlan {
	return store.GovPlan{
		Account: account, PlanID: id, Owner: "https://buyer.example.com/" + account,
		Raw:      json.RawMessage(fmt.Sprintf(`{"plan_id": %q,  "budget" : {"total": %d.50}, "rev":%d}`, id, 1000+i, i)),
		Hash:     fmt.Sprintf("sha256:%064x", i),
		SyncedAt: at(time.Duration(i) * time.Second), SyncedBy: "cred-buyer",
	}
}

// storedPlan is p as PutPlan returns it at version with status.
func storedPlan(p store.GovPlan, version int, status string) store.GovPlan {
	p.Version, p.Status, p.Raw, p.SyncedAt = version, status, normRaw(p.Raw), norm(p.SyncedAt)
	return p
}

func putPlan(t *testing.T, s store.Tx, p store.GovPlan) store.GovPlan {
	t.Helper()
	got, err := s.PutPlan(t.Context(), p)
	if err != nil {
		t.Fatalf("PutPlan(%s/%s) = %v", p.Account, p.PlanID, err)
	}
	return got
}

func govCheck(id, account, planID, sub string, created time.Time) store.GovCheck {
	return store.GovCheck{
		ID: id, Account: account, PlanID: planID, PlanVersion: 2, PlanHash: "sha256:" + planID,
		Sub: sub, Type: "intent", Phase: "intent", Caller: "https://buyer.example.com",
		Principal: "cred-buyer", Tool: "create_media_buy", Audience: "https://seller.example.com",
		PurchaseType: "media_buy", Amount: ptr(2500.25), Currency: "USD", Status: "completed",
		Verdict: "approved", JTI: "jti-" + id, ExpiresAt: created.Add(15 * time.Minute),
		Request:   json.RawMessage(`{"plan_id":"` + planID + `", "caller" :"https://buyer.example.com"}`),
		Response:  json.RawMessage(`{"check_id":"` + id + `","verdict":"approved"}`),
		CreatedAt: created,
	}
}

func normCheck(c store.GovCheck) store.GovCheck {
	c.ExpiresAt, c.CreatedAt = norm(c.ExpiresAt), norm(c.CreatedAt)
	c.Request, c.Response = normRaw(c.Request), normRaw(c.Response)
	if c.Review != nil {
		r := *c.Review
		r.DecidedAt = norm(r.DecidedAt)
		c.Review = &r
	}
	return c
}

func createCheck(t *testing.T, s store.Tx, c store.GovCheck) {
	t.Helper()
	if err := s.CreateCheck(t.Context(), c); err != nil {
		t.Fatalf("CreateCheck(%q) = %v", c.ID, err)
	}
}

func getCheck(t *testing.T, s store.Tx, account, id string) store.GovCheck {
	t.Helper()
	c, err := s.GetCheck(t.Context(), account, id)
	if err != nil {
		t.Fatalf("GetCheck(%s, %s) = %v", account, id, err)
	}
	return c
}

func govAction(account, sub, planID, buyer, seller string, created time.Time) store.GovAction {
	return store.GovAction{
		Account: account, Sub: sub, PlanID: planID, Buyer: buyer, Seller: seller, Tool: "create_media_buy",
		PurchaseType: "media_buy", Currency: "EUR", Authorized: 5000.5, Committed: 0, Rechecks: 1,
		CreatedAt: created, UpdatedAt: created,
	}
}

func normAction(a store.GovAction) store.GovAction {
	a.SettledAt, a.CreatedAt, a.UpdatedAt = norm(a.SettledAt), norm(a.CreatedAt), norm(a.UpdatedAt)
	return a
}

func putAction(t *testing.T, s store.Tx, a store.GovAction) {
	t.Helper()
	if err := s.PutAction(t.Context(), a); err != nil {
		t.Fatalf("PutAction(%s/%s) = %v", a.Account, a.Sub, err)
	}
}

func outcome(id, account, planID string, created time.Time) store.GovOutcome {
	return store.GovOutcome{
		ID: id, Account: account, PlanID: planID, CheckID: "chk-" + id, Sub: "sub-" + id, Outcome: "completed",
		Committed: 1234.5, Reporter: "https://buyer.example.com",
		Request:  json.RawMessage(`{"outcome":"completed" , "plan_id":"` + planID + `"}`),
		Response: json.RawMessage(`{"outcome_id":"` + id + `"}`), CreatedAt: created,
	}
}

func normOutcome(o store.GovOutcome) store.GovOutcome {
	o.Request, o.Response, o.CreatedAt = normRaw(o.Request), normRaw(o.Response), norm(o.CreatedAt)
	return o
}

func statement(account, sub, id string, seq int) store.DeliveryStatement {
	start := at(time.Duration(seq) * 24 * time.Hour)
	return store.DeliveryStatement{
		Account: account, Sub: sub, StatementID: id, Digest: "sha256:" + id, Sequence: seq,
		PeriodStart: start, PeriodEnd: start.Add(24 * time.Hour), Spend: 100.25 * float64(seq), Currency: "USD",
		CreatedAt: start.Add(25 * time.Hour),
	}
}

func normStatement(s store.DeliveryStatement) store.DeliveryStatement {
	s.PeriodStart, s.PeriodEnd, s.CreatedAt = norm(s.PeriodStart), norm(s.PeriodEnd), norm(s.CreatedAt)
	return s
}

func testGovernanceBinding(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GovernanceBinding(ctx, "acme")
	wantErr(t, "GovernanceBinding(unbound)", err, store.ErrNotFound)
	err = s.UnbindGovernanceAgent(ctx, "acme")
	wantErr(t, "UnbindGovernanceAgent(unbound)", err, store.ErrNotFound)

	first := binding("acme", "https://gov.example.com/adcp/acme", base)
	got, err := s.BindGovernanceAgent(ctx, first)
	wantErr(t, "BindGovernanceAgent(first)", err, nil)
	check(t, "BindGovernanceAgent(first)", got, normBinding(first))

	// The same URL again is a no-op returning the existing binding.
	again := binding("acme", first.URL, at(time.Hour))
	again.Builtin, again.BoundBy = false, "cred-admin"
	got, err = s.BindGovernanceAgent(ctx, again)
	wantErr(t, "BindGovernanceAgent(same URL)", err, nil)
	check(t, "BindGovernanceAgent(same URL)", got, normBinding(first))

	// Another URL is a conflict that names the existing binding.
	other := binding("acme", "https://other.example.com/governance", at(time.Hour))
	got, err = s.BindGovernanceAgent(ctx, other)
	wantErr(t, "BindGovernanceAgent(other URL)", err, store.ErrConflict)
	check(t, "BindGovernanceAgent(other URL) binding", got, normBinding(first))
	got, err = s.GovernanceBinding(ctx, "acme")
	wantErr(t, "GovernanceBinding", err, nil)
	check(t, "GovernanceBinding after a conflict", got, normBinding(first))

	// A zero time round-trips; accounts are independent.
	beta := binding("beta", other.URL, time.Time{})
	beta.Builtin = false
	if _, err := s.BindGovernanceAgent(ctx, beta); err != nil {
		t.Fatalf("BindGovernanceAgent(beta) = %v", err)
	}
	got, err = s.GovernanceBinding(ctx, "beta")
	wantErr(t, "GovernanceBinding(beta)", err, nil)
	check(t, "GovernanceBinding(beta)", got, beta)

	// After unbinding, another agent may be bound.
	if err := s.UnbindGovernanceAgent(ctx, "acme"); err != nil {
		t.Fatalf("UnbindGovernanceAgent = %v", err)
	}
	_, err = s.GovernanceBinding(ctx, "acme")
	wantErr(t, "GovernanceBinding(after unbind)", err, store.ErrNotFound)
	err = s.UnbindGovernanceAgent(ctx, "acme")
	wantErr(t, "UnbindGovernanceAgent(twice)", err, store.ErrNotFound)
	got, err = s.BindGovernanceAgent(ctx, other)
	wantErr(t, "BindGovernanceAgent(after unbind)", err, nil)
	check(t, "BindGovernanceAgent(after unbind)", got, normBinding(other))
	got, err = s.GovernanceBinding(ctx, "beta")
	wantErr(t, "GovernanceBinding(beta)", err, nil)
	check(t, "GovernanceBinding(beta) after unbinding acme", got, beta)
}

func testPutPlanVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	p1 := plan("acme", "p1", 1)
	p1.Version = 42 // ignored
	p2 := plan("acme", "p1", 2)
	p2.Raw = oddJSON
	p3 := plan("acme", "p1", 3)
	p3.Status = store.PlanSuspended
	p4 := plan("acme", "p1", 4)
	p4.Raw, p4.SyncedAt = nil, time.Time{}
	p5 := plan("acme", "p1", 5)
	p5.Raw, p5.Status = json.RawMessage{}, store.PlanActive
	want := []store.GovPlan{
		storedPlan(p1, 1, store.PlanActive),    // a new plan is active unless set
		storedPlan(p2, 2, store.PlanActive),    // kept
		storedPlan(p3, 3, store.PlanSuspended), // set
		storedPlan(p4, 4, store.PlanSuspended), // kept
		storedPlan(p5, 5, store.PlanActive),    // set
	}
	for i, p := range []store.GovPlan{p1, p2, p3, p4, p5} {
		got := putPlan(t, s, p)
		check(t, fmt.Sprintf("PutPlan(rev %d)", i+1), got, want[i])
		cur, err := s.GetPlan(ctx, "acme", "p1")
		wantErr(t, "GetPlan", err, nil)
		check(t, fmt.Sprintf("GetPlan after rev %d", i+1), cur, want[i])
	}
	if got := want[1].Raw; string(got) != string(oddJSON) {
		t.Fatalf("stored Raw = %q, want %q", got, oddJSON)
	}
	revs, err := s.ListPlanRevisions(ctx, "acme", "p1")
	wantErr(t, "ListPlanRevisions", err, nil)
	check(t, "ListPlanRevisions", revs, want)
	for _, w := range want {
		got, err := s.GetPlanRevision(ctx, "acme", "p1", w.Version)
		wantErr(t, fmt.Sprintf("GetPlanRevision(%d)", w.Version), err, nil)
		check(t, fmt.Sprintf("GetPlanRevision(%d)", w.Version), got, w)
	}
	for _, v := range []int{0, -1, 6} {
		_, err := s.GetPlanRevision(ctx, "acme", "p1", v)
		wantErr(t, fmt.Sprintf("GetPlanRevision(%d)", v), err, store.ErrNotFound)
	}

	// Another plan, and a plan created with a status, version on their own.
	q := plan("acme", "p2", 7)
	q.Status = store.PlanCompleted
	check(t, "PutPlan(p2)", putPlan(t, s, q), storedPlan(q, 1, store.PlanCompleted))
	q2 := plan("acme", "p2", 8)
	check(t, "PutPlan(p2 rev 2)", putPlan(t, s, q2), storedPlan(q2, 2, store.PlanCompleted))
	cur, err := s.GetPlan(ctx, "acme", "p1")
	wantErr(t, "GetPlan(p1)", err, nil)
	check(t, "GetPlan(p1) after p2", cur, want[4])

	_, err = s.GetPlan(ctx, "acme", "nope")
	wantErr(t, "GetPlan(unknown)", err, store.ErrNotFound)
	revs, err = s.ListPlanRevisions(ctx, "acme", "nope")
	if err != nil || !empty(revs) {
		t.Errorf("ListPlanRevisions(unknown) = %s, %v, want none", show(revs), err)
	}
}

func testSetPlanStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.SetPlanStatus(ctx, "acme", "p1", store.PlanSuspended)
	wantErr(t, "SetPlanStatus(unknown)", err, store.ErrNotFound)
	r1 := putPlan(t, s, plan("acme", "p1", 1))
	r2 := putPlan(t, s, plan("acme", "p1", 2))
	if err := s.SetPlanStatus(ctx, "acme", "p1", store.PlanSuspended); err != nil {
		t.Fatalf("SetPlanStatus = %v", err)
	}
	r2.Status = store.PlanSuspended
	cur, err := s.GetPlan(ctx, "acme", "p1")
	wantErr(t, "GetPlan", err, nil)
	check(t, "GetPlan after SetPlanStatus", cur, r2)
	revs, err := s.ListPlanRevisions(ctx, "acme", "p1")
	wantErr(t, "ListPlanRevisions", err, nil)
	// No new revision; the older one keeps its status.
	check(t, "ListPlanRevisions after SetPlanStatus", revs, []store.GovPlan{r1, r2})
	// The next revision keeps the status set.
	p3 := plan("acme", "p1", 3)
	check(t, "PutPlan after SetPlanStatus", putPlan(t, s, p3), storedPlan(p3, 3, store.PlanSuspended))
	if err := s.SetPlanStatus(ctx, "acme", "p1", store.PlanCompleted); err != nil {
		t.Fatalf("SetPlanStatus = %v", err)
	}
	got, err := s.GetPlanRevision(ctx, "acme", "p1", 3)
	wantErr(t, "GetPlanRevision(3)", err, nil)
	check(t, "GetPlanRevision(current) after SetPlanStatus", got, storedPlan(p3, 3, store.PlanCompleted))
}

func testCheckRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	with := func(id string, f func(c *store.GovCheck)) store.GovCheck {
		c := govCheck(id, "acme", "p1", "sub-1", base)
		f(&c)
		return c
	}
	tests := []struct {
		name string
		c    store.GovCheck
	}{
		{"all fields", with("full", func(c *store.GovCheck) {
			c.Review = &store.Review{
				State: "approved", Reason: "above the review threshold", Reviewer: "ann@example.com",
				Authority: "media director", Minutes: 12.75, Decision: "fine, ✓", DecidedAt: at(time.Hour),
			}
		})},
		{"pending review", with("pending", func(c *store.GovCheck) {
			c.Status, c.Verdict, c.JTI, c.ExpiresAt, c.Response = "submitted", "", "", time.Time{}, nil
			c.Review = &store.Review{State: "pending", Reason: "plan flag"}
		})},
		{"empty review", with("empty-review", func(c *store.GovCheck) { c.Review = &store.Review{} })},
		{"nil amount", with("nil-amount", func(c *store.GovCheck) { c.Amount = nil })},
		{"zero amount", with("zero-amount", func(c *store.GovCheck) { c.Amount = ptr(0.0) })},
		{"odd JSON", with("odd-json", func(c *store.GovCheck) { c.Request, c.Response = oddJSON, oddJSON[1:] })},
		{"empty JSON", with("empty-json", func(c *store.GovCheck) {
			c.Request, c.Response = json.RawMessage{}, json.RawMessage(nil)
		})},
		{"zero times", with("zero-times", func(c *store.GovCheck) { c.ExpiresAt, c.CreatedAt = time.Time{}, time.Time{} })},
		{"execution", with("exec", func(c *store.GovCheck) {
			c.Type, c.Phase, c.Caller, c.Audience = "execution", "delivery", "https://seller.example.com", ""
		})},
		{"zero value", store.GovCheck{ID: "zero", Account: "acme"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			createCheck(t, s, tc.c)
			check(t, "GetCheck("+tc.c.ID+")", getCheck(t, s, "acme", tc.c.ID), normCheck(tc.c))
		})
	}
	if got := getCheck(t, s, "acme", "odd-json"); string(got.Request) != string(oddJSON) {
		t.Errorf("GetCheck(odd-json).Request = %q, want %q", got.Request, oddJSON)
	}
	_, err := s.GetCheck(ctx, "acme", "nope")
	wantErr(t, "GetCheck(unknown)", err, store.ErrNotFound)

	// Check IDs are unique across accounts.
	full := getCheck(t, s, "acme", "full")
	for _, account := range []string{"acme", "beta"} {
		c := govCheck("full", account, "other", "other", at(time.Hour))
		err := s.CreateCheck(ctx, c)
		wantErr(t, "CreateCheck(existing ID in "+account+")", err, store.ErrConflict)
	}
	check(t, "GetCheck after conflicts", getCheck(t, s, "acme", "full"), full)
	_, err = s.GetCheck(ctx, "beta", "full")
	wantErr(t, "GetCheck(beta, acme's ID)", err, store.ErrNotFound)
}

func testUpdateCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := govCheck("c1", "acme", "p1", "sub-1", base)
	orig.Status, orig.Verdict, orig.JTI, orig.ExpiresAt, orig.Response = "submitted", "", "", time.Time{}, nil
	orig.Review = &store.Review{State: "pending", Reason: "threshold"}
	createCheck(t, s, orig)

	// Only the mutable fields change.
	upd := govCheck("c1", "acme", "other-plan", "other-sub", at(time.Hour))
	upd.Amount, upd.Request, upd.Caller, upd.PlanVersion = ptr(1.0), oddJSON, "https://x.example.com", 9
	upd.Status, upd.Verdict, upd.JTI, upd.ExpiresAt = "completed", "denied", "jti-9", at(2*time.Hour)
	upd.Response = json.RawMessage(" {\"verdict\" :\"denied\"} ")
	upd.Review = &store.Review{
		State: "denied", Reason: "threshold", Reviewer: "bob", Authority: "cfo", Minutes: 3, Decision: "no",
		DecidedAt: at(90 * time.Minute),
	}
	if err := s.UpdateCheck(ctx, upd); err != nil {
		t.Fatalf("UpdateCheck = %v", err)
	}
	want := orig
	want.Status, want.Verdict, want.JTI, want.ExpiresAt = upd.Status, upd.Verdict, upd.JTI, upd.ExpiresAt
	want.Response, want.Review = upd.Response, upd.Review
	check(t, "GetCheck after UpdateCheck", getCheck(t, s, "acme", "c1"), normCheck(want))

	// Clearing: nil review, nil response, zero expiry.
	clr := want
	clr.Review, clr.Response, clr.ExpiresAt, clr.JTI = nil, nil, time.Time{}, ""
	if err := s.UpdateCheck(ctx, clr); err != nil {
		t.Fatalf("UpdateCheck(clear) = %v", err)
	}
	check(t, "GetCheck after clearing", getCheck(t, s, "acme", "c1"), normCheck(clr))

	for _, tc := range []struct{ name, account, id string }{
		{"unknown", "acme", "nope"}, {"other account", "beta", "c1"},
	} {
		c := upd
		c.Account, c.ID = tc.account, tc.id
		err := s.UpdateCheck(ctx, c)
		wantErr(t, "UpdateCheck("+tc.name+")", err, store.ErrNotFound)
	}
	check(t, "GetCheck after refused updates", getCheck(t, s, "acme", "c1"), normCheck(clr))
}

func testListChecks(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(id, account, planID, sub, status string, created time.Time) store.GovCheck {
		c := govCheck(id, account, planID, sub, created)
		c.Status = status
		return c
	}
	c1 := mk("c1", "acme", "p1", "s1", "completed", at(2*time.Second))
	c2 := mk("c2", "acme", "p1", "s2", "submitted", at(time.Second))
	c0 := mk("c0", "acme", "p2", "s1", "completed", at(time.Second))
	c3 := mk("c3", "acme", "p2", "s3", "submitted", time.Time{})
	b1 := mk("b1", "beta", "p1", "s1", "completed", base)
	for _, c := range []store.GovCheck{c1, b1, c3, c0, c2} {
		createCheck(t, s, c)
	}
	tests := []struct {
		name string
		f    store.CheckFilter
		want []store.GovCheck
	}{
		{"account", store.CheckFilter{Account: "acme"}, []store.GovCheck{c3, c0, c2, c1}},
		{"plan", store.CheckFilter{Account: "acme", PlanID: "p1"}, []store.GovCheck{c2, c1}},
		{"sub", store.CheckFilter{Account: "acme", Sub: "s1"}, []store.GovCheck{c0, c1}},
		{"status", store.CheckFilter{Account: "acme", Status: "submitted"}, []store.GovCheck{c3, c2}},
		{"plan and status", store.CheckFilter{Account: "acme", PlanID: "p2", Status: "completed"}, []store.GovCheck{c0}},
		{"all three", store.CheckFilter{Account: "acme", PlanID: "p1", Sub: "s1", Status: "completed"}, []store.GovCheck{c1}},
		{"other account", store.CheckFilter{Account: "beta"}, []store.GovCheck{b1}},
		{"other account's sub", store.CheckFilter{Account: "beta", Sub: "s2"}, nil},
		{"unknown account", store.CheckFilter{Account: "nope"}, nil},
		{"no account", store.CheckFilter{}, nil},
		{"no account, a plan", store.CheckFilter{PlanID: "p1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListChecks(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListChecks(%+v) = %v", tc.f, err)
			}
			var want []store.GovCheck
			for _, c := range tc.want {
				want = append(want, normCheck(c))
			}
			if empty(got) && empty(want) {
				return
			}
			check(t, "ListChecks("+show(tc.f)+")", got, want)
		})
	}
}

func testPutAction(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := govAction("acme", "sub-1", "p1", "https://buyer.example.com", "https://seller.example.com", base)
	putAction(t, s, a)
	got, err := s.GetAction(ctx, "acme", "sub-1")
	wantErr(t, "GetAction", err, nil)
	check(t, "GetAction", got, normAction(a))

	// PutAction replaces every field.
	b := govAction("acme", "sub-1", "p2", "https://b2.example.com", "https://s2.example.com", at(time.Hour))
	b.Tool, b.PurchaseType, b.Currency = "update_media_buy", "signal_activation", "JPY"
	b.Authorized, b.Committed, b.Settlement, b.SettledAt = 10, 9.99, "completed", at(2*time.Hour)
	b.Rechecks, b.MediaBuyID, b.UpdatedAt = 3, "mb-1", at(3*time.Hour)
	putAction(t, s, b)
	got, err = s.GetAction(ctx, "acme", "sub-1")
	wantErr(t, "GetAction", err, nil)
	check(t, "GetAction after replace", got, normAction(b))

	// Zero values and times round-trip.
	z := store.GovAction{Account: "acme", Sub: "zero"}
	putAction(t, s, z)
	got, err = s.GetAction(ctx, "acme", "zero")
	wantErr(t, "GetAction(zero)", err, nil)
	check(t, "GetAction(zero)", got, z)

	_, err = s.GetAction(ctx, "acme", "nope")
	wantErr(t, "GetAction(unknown)", err, store.ErrNotFound)
	_, err = s.GetAction(ctx, "beta", "sub-1")
	wantErr(t, "GetAction(other account)", err, store.ErrNotFound)
}

func testListActions(t *testing.T, s store.Store) {
	ctx := t.Context()
	const b1, b2, s1, s2 = "https://b1.example.com", "https://b2.example.com", "https://s1.example.com", "https://s2.example.com"
	a1 := govAction("acme", "a1", "p1", b1, s1, at(2*time.Second))
	a2 := govAction("acme", "a2", "p1", b1, s2, at(time.Second))
	a0 := govAction("acme", "a0", "p2", b1, s1, at(time.Second))
	a3 := govAction("acme", "a3", "p2", b2, s1, time.Time{})
	x1 := govAction("beta", "x1", "p1", b1, s1, base)
	for _, a := range []store.GovAction{a1, x1, a3, a0, a2} {
		putAction(t, s, a)
	}
	tests := []struct {
		name string
		f    store.ActionFilter
		want []store.GovAction
	}{
		{"account", store.ActionFilter{Account: "acme"}, []store.GovAction{a3, a0, a2, a1}},
		{"plan", store.ActionFilter{Account: "acme", PlanID: "p1"}, []store.GovAction{a2, a1}},
		{"buyer", store.ActionFilter{Account: "acme", Buyer: b1}, []store.GovAction{a0, a2, a1}},
		{"seller", store.ActionFilter{Account: "acme", Seller: s1}, []store.GovAction{a3, a0, a1}},
		{"buyer and seller", store.ActionFilter{Account: "acme", Buyer: b1, Seller: s1}, []store.GovAction{a0, a1}},
		{"since, inclusive", store.ActionFilter{Account: "acme", Since: at(time.Second)}, []store.GovAction{a0, a2, a1}},
		{"since, other zone", store.ActionFilter{Account: "acme", Since: at(time.Second).In(time.FixedZone("PST", -8*3600))},
			[]store.GovAction{a0, a2, a1}},
		{"since, later", store.ActionFilter{Account: "acme", Since: norm(at(time.Second)).Add(time.Microsecond)},
			[]store.GovAction{a1}},
		{"buyer, seller, since", store.ActionFilter{Account: "acme", Buyer: b1, Seller: s1, Since: at(1500 * time.Millisecond)},
			[]store.GovAction{a1}},
		{"since, after all", store.ActionFilter{Account: "acme", Since: at(time.Hour)}, nil},
		{"other account", store.ActionFilter{Account: "beta", Buyer: b1}, []store.GovAction{x1}},
		{"unknown account", store.ActionFilter{Account: "nope"}, nil},
		{"no account", store.ActionFilter{Buyer: b1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListActions(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListActions(%+v) = %v", tc.f, err)
			}
			var want []store.GovAction
			for _, a := range tc.want {
				want = append(want, normAction(a))
			}
			if empty(got) && empty(want) {
				return
			}
			check(t, "ListActions("+show(tc.f)+")", got, want)
		})
	}
}

func testOutcomes(t *testing.T, s store.Store) {
	ctx := t.Context()
	o1 := outcome("o1", "acme", "p1", at(2*time.Second))
	o1.Request = oddJSON
	o2 := outcome("o2", "acme", "p1", at(time.Second))
	o2.Outcome, o2.Committed, o2.Response = "failed", 0, nil
	o0 := outcome("o0", "acme", "p1", at(time.Second))
	o0.Outcome, o0.Request = "delivery", json.RawMessage{}
	o3 := outcome("o3", "acme", "p1", time.Time{})
	o4 := outcome("o4", "acme", "p2", base)
	ob := outcome("ob", "beta", "p1", base)
	for _, o := range []store.GovOutcome{o1, ob, o4, o3, o2, o0} {
		if err := s.CreateOutcome(ctx, o); err != nil {
			t.Fatalf("CreateOutcome(%q) = %v", o.ID, err)
		}
	}
	for _, account := range []string{"acme", "beta"} {
		dup := outcome("o1", account, "p9", base)
		err := s.CreateOutcome(ctx, dup)
		wantErr(t, "CreateOutcome(existing ID in "+account+")", err, store.ErrConflict)
	}
	tests := []struct {
		account, plan string
		want          []store.GovOutcome
	}{
		{"acme", "p1", []store.GovOutcome{o3, o0, o2, o1}},
		{"acme", "p2", []store.GovOutcome{o4}},
		{"beta", "p1", []store.GovOutcome{ob}},
		{"beta", "p2", nil},
		{"acme", "", nil},
		{"", "p1", nil},
	}
	for _, tc := range tests {
		got, err := s.ListOutcomes(ctx, tc.account, tc.plan)
		if err != nil {
			t.Fatalf("ListOutcomes(%s, %s) = %v", tc.account, tc.plan, err)
		}
		var want []store.GovOutcome
		for _, o := range tc.want {
			want = append(want, normOutcome(o))
		}
		if empty(got) && empty(want) {
			continue
		}
		check(t, fmt.Sprintf("ListOutcomes(%s, %s)", tc.account, tc.plan), got, want)
	}
}

func testDeliveryStatements(t *testing.T, s store.Store) {
	ctx := t.Context()
	st1, st2, st3 := statement("acme", "sub-1", "st-b", 1), statement("acme", "sub-1", "st-a", 2), statement("acme", "sub-1", "st-c", 3)
	st3.PeriodStart, st3.PeriodEnd, st3.CreatedAt = time.Time{}, time.Time{}, time.Time{}
	other := statement("acme", "sub-2", "st-b", 1) // the same ID on another action
	other.Digest = "sha256:other"
	for _, st := range []store.DeliveryStatement{st3, st1, other, st2} {
		if err := s.PutDeliveryStatement(ctx, st); err != nil {
			t.Fatalf("PutDeliveryStatement(%s/%s) = %v", st.Sub, st.StatementID, err)
		}
	}
	// The same digest is a no-op, even with other fields; another is a conflict.
	same := st1
	same.Spend, same.Sequence = 999, 7
	if err := s.PutDeliveryStatement(ctx, same); err != nil {
		t.Errorf("PutDeliveryStatement(same digest) = %v, want nil", err)
	}
	changed := st1
	changed.Digest = "sha256:changed"
	err := s.PutDeliveryStatement(ctx, changed)
	wantErr(t, "PutDeliveryStatement(other digest)", err, store.ErrConflict)

	got, err := s.ListDeliveryStatements(ctx, "acme", "sub-1")
	wantErr(t, "ListDeliveryStatements", err, nil)
	check(t, "ListDeliveryStatements(sub-1)", got,
		[]store.DeliveryStatement{normStatement(st1), normStatement(st2), normStatement(st3)})
	got, err = s.ListDeliveryStatements(ctx, "acme", "sub-2")
	wantErr(t, "ListDeliveryStatements", err, nil)
	check(t, "ListDeliveryStatements(sub-2)", got, []store.DeliveryStatement{normStatement(other)})
	got, err = s.ListDeliveryStatements(ctx, "beta", "sub-1")
	if err != nil || !empty(got) {
		t.Errorf("ListDeliveryStatements(other account) = %s, %v, want none", show(got), err)
	}
}
