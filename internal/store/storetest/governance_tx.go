package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// govFixture is one object of every governance kind in one account.
type govFixture struct {
	binding store.GovernanceBinding
	plan    store.GovPlan // as stored
	check   store.GovCheck
	action  store.GovAction
	outcome store.GovOutcome
	stmt    store.DeliveryStatement
	idem    store.IdempotencyRecord
	key     store.SigningKey
	jti     string
	fixture store.Fixture
}

// writeGovernance writes one object of every governance kind to account
// through tx, with the same IDs whatever the account.
func writeGovernance(t *testing.T, tx store.Tx, account string) govFixture {
	t.Helper()
	ctx := t.Context()
	f := govFixture{
		binding: binding(account, "https://gov.example.com/adcp/"+account, base),
		check:   govCheck("chk-1", account, "p1", "sub-1", base),
		action:  govAction(account, "sub-1", "p1", "https://buyer.example.com", "https://seller.example.com", base),
		outcome: outcome("out-1", account, "p1", base),
		stmt:    statement(account, "sub-1", "st-1", 1),
		idem:    idemRecord(account, "https://buyer.example.com", "check_governance", "key-0123456789abcdef", base),
		key:     signingKey(account, "kid-1", base),
		jti:     "jti-1",
		fixture: fixture(account, "product", "prod-1", base),
	}
	var err error
	if f.binding, err = tx.BindGovernanceAgent(ctx, f.binding); err != nil {
		t.Fatalf("BindGovernanceAgent(%s) = %v", account, err)
	}
	f.plan = putPlan(t, tx, plan(account, "p1", 1))
	createCheck(t, tx, f.check)
	putAction(t, tx, f.action)
	for _, err := range []error{
		tx.CreateOutcome(ctx, f.outcome),
		tx.PutDeliveryStatement(ctx, f.stmt),
		tx.PutIdempotency(ctx, f.idem),
		tx.PutSigningKey(ctx, f.key),
		tx.RevokeToken(ctx, account, f.jti, base),
		tx.PutFixture(ctx, f.fixture),
	} {
		if err != nil {
			t.Fatalf("write governance state of %s: %v", account, err)
		}
	}
	return f
}

// countGovernance reports how many governance objects of each kind account
// holds, as seen through tx.
func countGovernance(t *testing.T, tx store.Tx, account string) map[string]int {
	t.Helper()
	ctx := t.Context()
	n := map[string]int{}
	one := func(kind string, err error) {
		switch {
		case err == nil:
			n[kind] = 1
		case errors.Is(err, store.ErrNotFound):
			n[kind] = 0
		default:
			t.Fatalf("get %s of %s = %v", kind, account, err)
		}
	}
	count := func(kind string, l int, err error) {
		if err != nil {
			t.Fatalf("list %s of %s = %v", kind, account, err)
		}
		n[kind] = l
	}
	_, err := tx.GovernanceBinding(ctx, account)
	one("binding", err)
	_, err = tx.GetPlan(ctx, account, "p1")
	one("plan", err)
	revs, err := tx.ListPlanRevisions(ctx, account, "p1")
	count("plan revisions", len(revs), err)
	cs, err := tx.ListChecks(ctx, store.CheckFilter{Account: account})
	count("checks", len(cs), err)
	as, err := tx.ListActions(ctx, store.ActionFilter{Account: account})
	count("actions", len(as), err)
	outs, err := tx.ListOutcomes(ctx, account, "p1")
	count("outcomes", len(outs), err)
	ss, err := tx.ListDeliveryStatements(ctx, account, "sub-1")
	count("statements", len(ss), err)
	_, err = tx.GetIdempotency(ctx, store.IdempotencyScope{Account: account, Principal: "https://buyer.example.com",
		Task: "check_governance", Key: "key-0123456789abcdef"})
	one("idempotency", err)
	ks, err := tx.ListSigningKeys(ctx, account)
	count("keys", len(ks), err)
	ts, err := tx.ListRevokedTokens(ctx, account)
	count("revoked tokens", len(ts), err)
	fixtures, err := tx.ListFixtures(ctx, account, "product")
	count("fixtures", len(fixtures), err)
	rs, err := tx.ListAudit(ctx, store.AuditFilter{Partition: account})
	count("audit records", len(rs), err)
	return n
}

var (
	noGovernance = map[string]int{"binding": 0, "plan": 0, "plan revisions": 0, "checks": 0, "actions": 0,
		"outcomes": 0, "statements": 0, "idempotency": 0, "keys": 0, "revoked tokens": 0, "fixtures": 0,
		"audit records": 0}
	oneGovernance = map[string]int{"binding": 1, "plan": 1, "plan revisions": 1, "checks": 1, "actions": 1,
		"outcomes": 1, "statements": 1, "idempotency": 1, "keys": 1, "revoked tokens": 1, "fixtures": 1,
		"audit records": 1}
)

// counts returns m with the counts in diff added.
func counts(m map[string]int, diff map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v + diff[k]
	}
	return out
}

// testGovernanceIsolation checks that no method reads or changes another
// account's state: account beta neither sees acme's objects nor, writing
// the same IDs, touches them.
func testGovernanceIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	acme := writeGovernance(t, s, "acme")
	appendAudit(t, s, record("acme", "governance.check", 1))
	check(t, "acme's state", countGovernance(t, s, "acme"), oneGovernance)
	check(t, "beta's state", countGovernance(t, s, "beta"), noGovernance)

	// Beta reaches none of acme's objects by their IDs.
	notFound := func(call string, err error) { t.Helper(); wantErr(t, call, err, store.ErrNotFound) }
	_, err := s.GetCheck(ctx, "beta", acme.check.ID)
	notFound("GetCheck(beta, acme's check)", err)
	_, err = s.GetAction(ctx, "beta", acme.action.Sub)
	notFound("GetAction(beta, acme's sub)", err)
	_, err = s.GetPlanRevision(ctx, "beta", "p1", 1)
	notFound("GetPlanRevision(beta, acme's plan)", err)
	_, err = s.GetFixture(ctx, "beta", "product", acme.fixture.ID)
	notFound("GetFixture(beta, acme's fixture)", err)
	betaCheck := acme.check
	betaCheck.Account, betaCheck.Status, betaCheck.Verdict = "beta", "completed", "denied"
	notFound("UpdateCheck(beta, acme's check)", s.UpdateCheck(ctx, betaCheck))
	notFound("SetPlanStatus(beta, acme's plan)", s.SetPlanStatus(ctx, "beta", "p1", store.PlanSuspended))
	betaKey := acme.key
	betaKey.Account, betaKey.RevokedAt = "beta", base
	notFound("UpdateSigningKey(beta, acme's kid)", s.UpdateSigningKey(ctx, betaKey))
	notFound("UnbindGovernanceAgent(beta)", s.UnbindGovernanceAgent(ctx, "beta"))
	for _, f := range []store.CheckFilter{{Account: "beta", PlanID: "p1"}, {Account: "beta", Sub: "sub-1"}} {
		cs, err := s.ListChecks(ctx, f)
		if err != nil || !empty(cs) {
			t.Errorf("ListChecks(%s) = %s, %v, want none", show(f), show(cs), err)
		}
	}

	// Beta writing the same IDs (check IDs aside, which are global) gets
	// its own objects and leaves acme's alone.
	beta := writeGovernanceExceptCheck(t, s, "beta")
	err = s.CreateCheck(ctx, govCheck(acme.check.ID, "beta", "p1", "sub-1", base))
	wantErr(t, "CreateCheck(beta, acme's check ID)", err, store.ErrConflict)
	createCheck(t, s, govCheck("chk-beta", "beta", "p1", "sub-1", base))
	if beta.plan.Version != 1 {
		t.Errorf("PutPlan(beta, p1).Version = %d, want 1", beta.plan.Version)
	}
	conflicting := statement("beta", "sub-1", "st-1", 1)
	conflicting.Digest = "sha256:beta"
	if err := s.PutDeliveryStatement(ctx, conflicting); err != nil {
		t.Errorf("PutDeliveryStatement(beta, acme's statement ID, another digest) = %v, want nil", err)
	}
	check(t, "acme's state after beta's writes", countGovernance(t, s, "acme"), oneGovernance)

	gotCheck := getCheck(t, s, "acme", acme.check.ID)
	check(t, "GetCheck(acme) after beta's writes", gotCheck, normCheck(acme.check))
	gotPlan, err := s.GetPlan(ctx, "acme", "p1")
	wantErr(t, "GetPlan(acme)", err, nil)
	check(t, "GetPlan(acme) after beta's writes", gotPlan, acme.plan)
	gotAction, err := s.GetAction(ctx, "acme", "sub-1")
	wantErr(t, "GetAction(acme)", err, nil)
	check(t, "GetAction(acme) after beta's writes", gotAction, normAction(acme.action))
	gotBinding, err := s.GovernanceBinding(ctx, "acme")
	wantErr(t, "GovernanceBinding(acme)", err, nil)
	check(t, "GovernanceBinding(acme) after beta's writes", gotBinding, acme.binding)
	ks, err := s.ListSigningKeys(ctx, "acme")
	wantErr(t, "ListSigningKeys(acme)", err, nil)
	check(t, "ListSigningKeys(acme) after beta's writes", ks, []store.SigningKey{normKey(acme.key)})
	ss, err := s.ListDeliveryStatements(ctx, "acme", "sub-1")
	wantErr(t, "ListDeliveryStatements(acme)", err, nil)
	check(t, "ListDeliveryStatements(acme) after beta's writes", ss, []store.DeliveryStatement{normStatement(acme.stmt)})
	outs, err := s.ListOutcomes(ctx, "beta", "p1")
	wantErr(t, "ListOutcomes(beta)", err, nil)
	check(t, "ListOutcomes(beta)", outs, []store.GovOutcome{normOutcome(beta.outcome)})
}

// writeGovernanceExceptCheck is writeGovernance without the check, whose ID
// is global, and with an outcome ID of its own.
func writeGovernanceExceptCheck(t *testing.T, s store.Store, account string) govFixture {
	t.Helper()
	ctx := t.Context()
	f := govFixture{
		binding: binding(account, "https://other.example.com/"+account, base),
		outcome: outcome("out-"+account, account, "p1", base),
	}
	var err error
	if f.binding, err = s.BindGovernanceAgent(ctx, f.binding); err != nil {
		t.Fatalf("BindGovernanceAgent(%s) = %v", account, err)
	}
	f.plan = putPlan(t, s, plan(account, "p1", 2))
	putAction(t, s, govAction(account, "sub-1", "p2", "https://b.example.com", "https://s.example.com", at(time.Hour)))
	idem := idemRecord(account, "https://buyer.example.com", "check_governance", "key-0123456789abcdef", base)
	idem.RequestHash = "sha256:" + account
	for _, err := range []error{
		s.CreateOutcome(ctx, f.outcome),
		s.PutIdempotency(ctx, idem),
		s.PutSigningKey(ctx, signingKey(account, "kid-1", at(time.Hour))),
		s.RevokeToken(ctx, account, "jti-1", base),
		s.PutFixture(ctx, fixture(account, "product", "prod-1", at(time.Hour))),
	} {
		if err != nil {
			t.Fatalf("write governance state of %s: %v", account, err)
		}
	}
	return f
}

// testGovernanceAtomicRollback writes governance state and an audit record
// in one transaction that fails: none of it is kept, and plan versions are
// not used up.
func testGovernanceAtomicRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Committed before: plan p0 (not counted), check chk-0 and key kid-0.
	pre := map[string]int{"checks": 1, "keys": 1}
	p0 := putPlan(t, s, plan("acme", "p0", 0))
	preCheck := govCheck("chk-0", "acme", "p0", "sub-0", base)
	createCheck(t, s, preCheck)
	preKey := signingKey("acme", "kid-0", base)
	if err := s.PutSigningKey(ctx, preKey); err != nil {
		t.Fatalf("PutSigningKey = %v", err)
	}
	err := s.Atomic(ctx, func(tx store.Tx) error {
		writeGovernance(t, tx, "acme")
		putPlan(t, tx, plan("acme", "p0", 1))
		if err := tx.SetPlanStatus(ctx, "acme", "p0", store.PlanSuspended); err != nil {
			t.Fatalf("SetPlanStatus = %v", err)
		}
		upd := preCheck
		upd.Status, upd.Verdict = "completed", "denied"
		if err := tx.UpdateCheck(ctx, upd); err != nil {
			t.Fatalf("UpdateCheck = %v", err)
		}
		k := preKey
		k.RevokedAt = at(time.Hour)
		if err := tx.UpdateSigningKey(ctx, k); err != nil {
			t.Fatalf("UpdateSigningKey = %v", err)
		}
		appendAudit(t, tx, record("acme", "governance.check", 1))
		// Reads inside the transaction see its writes.
		check(t, "acme's state inside Atomic", countGovernance(t, tx, "acme"), counts(oneGovernance, pre))
		if p, err := tx.GetPlan(ctx, "acme", "p0"); err != nil || p.Version != 2 || p.Status != store.PlanSuspended {
			t.Errorf("GetPlan(p0) inside Atomic = %s, %v, want version 2, suspended", show(p), err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Atomic = %v, want %v", err, errBoom)
	}
	check(t, "acme's state after rollback", countGovernance(t, s, "acme"), counts(noGovernance, pre))
	got, err := s.GetPlan(ctx, "acme", "p0")
	wantErr(t, "GetPlan(p0)", err, nil)
	check(t, "GetPlan(p0) after rollback", got, p0)
	check(t, "GetCheck(chk-0) after rollback", getCheck(t, s, "acme", "chk-0"), normCheck(preCheck))
	ks, err := s.ListSigningKeys(ctx, "acme")
	wantErr(t, "ListSigningKeys", err, nil)
	check(t, "ListSigningKeys after rollback", ks, []store.SigningKey{normKey(preKey)})

	// Nothing was used up: versions and sequence numbers go on from the
	// committed state, and the same objects can be written.
	p := plan("acme", "p0", 3)
	check(t, "PutPlan(p0) after rollback", putPlan(t, s, p), storedPlan(p, 2, store.PlanActive))
	err = s.Atomic(ctx, func(tx store.Tx) error {
		writeGovernance(t, tx, "acme")
		appendAudit(t, tx, record("acme", "governance.check", 1))
		return nil
	})
	if err != nil {
		t.Fatalf("Atomic = %v", err)
	}
	check(t, "acme's state after commit", countGovernance(t, s, "acme"), counts(oneGovernance, pre))
	checkChain(t, "acme", listAudit(t, s, "acme"))
}

// testGovernanceAtomicSentinelErrors checks that ErrNotFound and
// ErrConflict from governance methods leave the transaction usable.
func testGovernanceAtomicSentinelErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Atomic(ctx, func(tx store.Tx) error {
		f := writeGovernance(t, tx, "acme")
		conflict := func(call string, err error) { t.Helper(); wantErr(t, call, err, store.ErrConflict) }
		notFound := func(call string, err error) { t.Helper(); wantErr(t, call, err, store.ErrNotFound) }
		_, err := tx.BindGovernanceAgent(ctx, binding("acme", "https://other.example.com", base))
		conflict("BindGovernanceAgent(other URL)", err)
		conflict("CreateCheck(again)", tx.CreateCheck(ctx, f.check))
		conflict("CreateOutcome(again)", tx.CreateOutcome(ctx, f.outcome))
		st := f.stmt
		st.Digest = "sha256:other"
		conflict("PutDeliveryStatement(other digest)", tx.PutDeliveryStatement(ctx, st))
		conflict("PutIdempotency(again)", tx.PutIdempotency(ctx, f.idem))
		conflict("PutSigningKey(again)", tx.PutSigningKey(ctx, f.key))
		_, err = tx.GetPlan(ctx, "acme", "nope")
		notFound("GetPlan(unknown)", err)
		_, err = tx.GetCheck(ctx, "beta", f.check.ID)
		notFound("GetCheck(other account)", err)
		c := f.check
		c.ID = "nope"
		notFound("UpdateCheck(unknown)", tx.UpdateCheck(ctx, c))
		notFound("SetPlanStatus(unknown)", tx.SetPlanStatus(ctx, "acme", "nope", store.PlanSuspended))
		notFound("UnbindGovernanceAgent(unbound)", tx.UnbindGovernanceAgent(ctx, "beta"))
		k := f.key
		k.KID = "nope"
		notFound("UpdateSigningKey(unknown)", tx.UpdateSigningKey(ctx, k))
		_, err = tx.GetIdempotency(ctx, store.IdempotencyScope{Account: "acme", Key: "nope"})
		notFound("GetIdempotency(unknown)", err)
		_, err = tx.GetFixture(ctx, "acme", "product", "nope")
		notFound("GetFixture(unknown)", err)
		appendAudit(t, tx, record("acme", "governance.check", 1))
		return nil
	})
	if err != nil {
		t.Fatalf("Atomic = %v", err)
	}
	check(t, "acme's state after commit", countGovernance(t, s, "acme"), oneGovernance)
}

// testPutPlanConcurrent syncs one plan from many goroutines, half of them
// in a transaction with an audit append: every PutPlan succeeds and the
// versions are 1..n, each the revision its caller stored.
func testPutPlanConcurrent(t *testing.T, s store.Store) {
	const goroutines, puts = 8, 10
	ctx := t.Context()
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*puts)
	got := make([][]store.GovPlan, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range puts {
				p := plan("acme", "shared", g*puts+i)
				var stored store.GovPlan
				var err error
				if g%2 == 0 {
					stored, err = s.PutPlan(ctx, p)
				} else {
					err = s.Atomic(ctx, func(tx store.Tx) error {
						var err error
						if stored, err = tx.PutPlan(ctx, p); err != nil {
							return err
						}
						r := record("acme", "plan.sync", i)
						r.Object = fmt.Sprintf("shared@%d", stored.Version)
						_, err = tx.AppendAudit(ctx, r)
						return err
					})
				}
				if err != nil {
					errs <- fmt.Errorf("goroutine %d put %d: %w", g, i, err)
					return
				}
				got[g] = append(got[g], stored)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	revs, err := s.ListPlanRevisions(ctx, "acme", "shared")
	if err != nil {
		t.Fatalf("ListPlanRevisions = %v", err)
	}
	if len(revs) != goroutines*puts {
		t.Fatalf("ListPlanRevisions has %d revisions, want %d", len(revs), goroutines*puts)
	}
	for i, r := range revs {
		if r.Version != i+1 {
			t.Fatalf("revision %d: Version = %d, want %d", i, r.Version, i+1)
		}
	}
	for g, ps := range got {
		last := 0
		for _, p := range ps {
			if p.Version <= last {
				t.Errorf("goroutine %d: Version %d after %d, want increasing", g, p.Version, last)
			}
			last = p.Version
			check(t, fmt.Sprintf("PutPlan(g%d) vs revision %d", g, p.Version), p, revs[p.Version-1])
		}
	}
	cur, err := s.GetPlan(ctx, "acme", "shared")
	wantErr(t, "GetPlan", err, nil)
	check(t, "GetPlan after concurrent puts", cur, revs[len(revs)-1])
	checkChain(t, "acme", listAudit(t, s, "acme"))
}

// testSetPlanStatusConcurrent sets a plan's status while others sync it: the
// status is not lost, since every revision after it keeps it.
func testSetPlanStatusConcurrent(t *testing.T, s store.Store) {
	const goroutines, puts = 4, 10
	ctx := t.Context()
	putPlan(t, s, plan("acme", "p1", 0))
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*puts+1)
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range puts {
				if _, err := s.PutPlan(ctx, plan("acme", "p1", g*puts+i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		if err := s.SetPlanStatus(ctx, "acme", "p1", store.PlanSuspended); err != nil {
			errs <- err
		}
	})
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	revs, err := s.ListPlanRevisions(ctx, "acme", "p1")
	if err != nil {
		t.Fatalf("ListPlanRevisions = %v", err)
	}
	if len(revs) != 1+goroutines*puts {
		t.Fatalf("ListPlanRevisions has %d revisions, want %d", len(revs), 1+goroutines*puts)
	}
	suspended := false
	for _, r := range revs {
		switch {
		case r.Status == store.PlanSuspended:
			suspended = true
		case suspended || r.Status != store.PlanActive:
			t.Fatalf("revision statuses are not active... then suspended...: %s", show(revs))
		}
	}
	cur, err := s.GetPlan(ctx, "acme", "p1")
	wantErr(t, "GetPlan", err, nil)
	check(t, "GetPlan after SetPlanStatus and concurrent puts", cur, revs[len(revs)-1])
	if cur.Status != store.PlanSuspended {
		t.Errorf("GetPlan().Status = %q, want %q", cur.Status, store.PlanSuspended)
	}
}

// race runs fn(g) for g in 0..n-1 in n goroutines released at once and
// returns their errors by g.
func race(n int, fn func(g int) error) []error {
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			<-start
			errs[g] = fn(g)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// winner checks that exactly one of errs is nil and every other one
// ErrConflict, and returns the index of the nil one.
func winner(t *testing.T, call string, errs []error) int {
	t.Helper()
	w := -1
	for g, err := range errs {
		switch {
		case err == nil && w >= 0:
			t.Fatalf("%s: goroutines %d and %d both won", call, w, g)
		case err == nil:
			w = g
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("%s: goroutine %d: %v, want nil or ErrConflict", call, g, err)
		}
	}
	if w < 0 {
		t.Fatalf("%s: no goroutine won", call)
	}
	return w
}

func testPutIdempotencyConcurrent(t *testing.T, s store.Store) {
	const goroutines, rounds = 8, 5
	ctx := t.Context()
	for round := range rounds {
		key := fmt.Sprintf("key-%d-0123456789abcdef", round)
		mk := func(g int) store.IdempotencyRecord {
			r := idemRecord("acme", "https://buyer.example.com", "check_governance", key, base)
			r.RequestHash = fmt.Sprintf("sha256:g%d", g)
			r.Response = json.RawMessage(fmt.Sprintf(`{"g": %d}`, g))
			return r
		}
		errs := race(goroutines, func(g int) error { return s.PutIdempotency(ctx, mk(g)) })
		w := winner(t, fmt.Sprintf("PutIdempotency(round %d)", round), errs)
		got, err := s.GetIdempotency(ctx, mk(w).IdempotencyScope)
		wantErr(t, "GetIdempotency", err, nil)
		check(t, fmt.Sprintf("GetIdempotency(round %d)", round), got, normIdem(mk(w)))
	}
}

func testBindConcurrent(t *testing.T, s store.Store) {
	const goroutines, rounds = 8, 5
	ctx := t.Context()
	for round := range rounds {
		account := fmt.Sprintf("acct-%d", round)
		mk := func(g int) store.GovernanceBinding {
			return binding(account, fmt.Sprintf("https://gov-%d.example.com", g), at(time.Duration(g)*time.Second))
		}
		got := make([]store.GovernanceBinding, goroutines)
		errs := race(goroutines, func(g int) error {
			var err error
			got[g], err = s.BindGovernanceAgent(ctx, mk(g))
			return err
		})
		w := winner(t, fmt.Sprintf("BindGovernanceAgent(round %d)", round), errs)
		want := normBinding(mk(w))
		for g := range got {
			check(t, fmt.Sprintf("BindGovernanceAgent(round %d, g%d) binding", round, g), got[g], want)
		}
		b, err := s.GovernanceBinding(ctx, account)
		wantErr(t, "GovernanceBinding", err, nil)
		check(t, fmt.Sprintf("GovernanceBinding(round %d)", round), b, want)
	}
	// Concurrent binds of one URL all succeed with the first binding.
	got := make([]store.GovernanceBinding, goroutines)
	errs := race(goroutines, func(g int) error {
		var err error
		got[g], err = s.BindGovernanceAgent(ctx, binding("same", "https://gov.example.com", at(time.Duration(g)*time.Second)))
		return err
	})
	for g := range got {
		if errs[g] != nil {
			t.Fatalf("BindGovernanceAgent(same URL, g%d) = %v", g, errs[g])
		}
		check(t, fmt.Sprintf("BindGovernanceAgent(same URL, g%d)", g), got[g], got[0])
	}
}

func testPutDeliveryStatementConcurrent(t *testing.T, s store.Store) {
	const goroutines = 8
	ctx := t.Context()
	mk := func(g int) store.DeliveryStatement {
		st := statement("acme", "sub-1", "st-1", 1)
		st.Digest = fmt.Sprintf("sha256:%d", g%2)
		return st
	}
	errs := race(goroutines, func(g int) error { return s.PutDeliveryStatement(ctx, mk(g)) })
	w := -1
	for g, err := range errs {
		if err == nil {
			w = g
			break
		}
	}
	if w < 0 {
		t.Fatalf("PutDeliveryStatement: every goroutine failed: %v", errors.Join(errs...))
	}
	for g, err := range errs {
		want := error(nil)
		if g%2 != w%2 {
			want = store.ErrConflict
		}
		wantErr(t, fmt.Sprintf("PutDeliveryStatement(g%d, digest %d)", g, g%2), err, want)
	}
	ss, err := s.ListDeliveryStatements(ctx, "acme", "sub-1")
	wantErr(t, "ListDeliveryStatements", err, nil)
	check(t, "ListDeliveryStatements", ss, []store.DeliveryStatement{normStatement(mk(w))})
}
