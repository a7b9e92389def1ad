package storetest

import (
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func exception(id, tenantID, agentID, clauseID string, created time.Time) store.Exception {
	return store.Exception{
		ID: id, ClauseID: clauseID, Tier: "T2", TenantID: tenantID, AgentID: agentID,
		Reason: "because " + id, ApprovedBy: "cred-admin", CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour),
	}
}

func normException(e store.Exception) store.Exception {
	e.CreatedAt, e.ExpiresAt, e.RevokedAt = norm(e.CreatedAt), norm(e.ExpiresAt), norm(e.RevokedAt)
	return e
}

func createException(t *testing.T, s store.Tx, e store.Exception) {
	t.Helper()
	if err := s.CreateException(t.Context(), e); err != nil {
		t.Fatalf("CreateException(%q) = %v", e.ID, err)
	}
}

func testExceptionRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	with := func(id string, f func(e *store.Exception)) store.Exception {
		e := exception(id, "acme", "acme.bot", "budget.daily", base)
		f(&e)
		return e
	}
	tests := []struct {
		name string
		e    store.Exception
	}{
		{"nil limit", with("nil-limit", func(e *store.Exception) {})},
		{"zero limit", with("zero-limit", func(e *store.Exception) { e.Limit = ptr(0.0) })},
		{"limit", with("limit", func(e *store.Exception) { e.Limit = ptr(1234.5678) })},
		{"negative limit", with("neg-limit", func(e *store.Exception) { e.Limit = ptr(-0.1) })},
		{"allow", with("allow", func(e *store.Exception) { e.Allow = []string{"x", "y", "ü"} })},
		{"empty allow", with("empty-allow", func(e *store.Exception) { e.Allow = []string{} })},
		{"waive", with("waive", func(e *store.Exception) { e.Waive = true })},
		{"tenant wide", with("tenant-wide", func(e *store.Exception) { e.AgentID = "" })},
		{"revoked", with("revoked", func(e *store.Exception) { e.RevokedAt, e.RevokedBy = at(time.Hour), "cred-x" })},
		{"zero times", with("zero-times", func(e *store.Exception) { e.CreatedAt, e.ExpiresAt = time.Time{}, time.Time{} })},
		{"zero value", store.Exception{ID: "zero"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			createException(t, s, tc.e)
			got, err := s.GetException(ctx, tc.e.ID)
			if err != nil {
				t.Fatalf("GetException(%q) = %v", tc.e.ID, err)
			}
			check(t, "GetException("+tc.e.ID+")", got, normException(tc.e))
		})
	}
	_, err := s.GetException(ctx, "nope")
	wantErr(t, `GetException("nope")`, err, store.ErrNotFound)
	err = s.CreateException(ctx, exception("limit", "other", "", "other", base))
	wantErr(t, `CreateException("limit") again`, err, store.ErrConflict)
}

func testListExceptions(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Inserted out of order: the list is by CreatedAt (zero first), then ID.
	e1 := exception("e1", "acme", "", "budget.daily", at(2*time.Second))
	e2 := exception("e2", "acme", "acme.bot", "budget.daily", at(time.Second))
	e3 := exception("e3", "acme", "acme.bot", "tools.allow", at(time.Second))
	e0 := exception("e0", "acme", "acme.bot", "tools.allow", at(time.Second))
	e4 := exception("e4", "beta", "beta.bot", "budget.daily", at(3*time.Second))
	e5 := exception("e5", "beta", "", "tools.allow", time.Time{})
	for _, e := range []store.Exception{e4, e3, e1, e5, e2, e0} {
		createException(t, s, e)
	}
	tests := []struct {
		name string
		f    store.ExceptionFilter
		want []store.Exception
	}{
		{"all", store.ExceptionFilter{}, []store.Exception{e5, e0, e2, e3, e1, e4}},
		{"tenant", store.ExceptionFilter{TenantID: "acme"}, []store.Exception{e0, e2, e3, e1}},
		{"agent", store.ExceptionFilter{AgentID: "acme.bot"}, []store.Exception{e0, e2, e3}},
		{"clause", store.ExceptionFilter{ClauseID: "budget.daily"}, []store.Exception{e2, e1, e4}},
		{"tenant and clause", store.ExceptionFilter{TenantID: "beta", ClauseID: "tools.allow"}, []store.Exception{e5}},
		{"all three", store.ExceptionFilter{TenantID: "acme", AgentID: "acme.bot", ClauseID: "budget.daily"}, []store.Exception{e2}},
		{"none", store.ExceptionFilter{TenantID: "acme", AgentID: "beta.bot"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListExceptions(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListExceptions(%+v) = %v", tc.f, err)
			}
			checkExceptions(t, "ListExceptions("+show(tc.f)+")", got, tc.want)
		})
	}
}

func checkExceptions(t *testing.T, call string, got, want []store.Exception) {
	t.Helper()
	var w []store.Exception
	for _, e := range want {
		w = append(w, normException(e))
	}
	if empty(got) && empty(w) {
		return
	}
	check(t, call, got, w)
}

func testExceptionsActiveAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base
	mk := func(id string, created time.Time, f func(e *store.Exception)) store.Exception {
		e := exception(id, "acme", "", "budget.daily", created)
		f(&e)
		return e
	}
	open := mk("open", at(-5*time.Hour), func(e *store.Exception) { e.ExpiresAt = now.Add(time.Hour) })
	expired := mk("expired", at(-4*time.Hour), func(e *store.Exception) { e.ExpiresAt = now.Add(-time.Hour) })
	expiresNow := mk("expires-now", at(-3*time.Hour), func(e *store.Exception) { e.ExpiresAt = now })
	justOpen := mk("just-open", at(-3*time.Hour+time.Second), func(e *store.Exception) {
		e.ExpiresAt = norm(now).Add(time.Microsecond)
	})
	revoked := mk("revoked", at(-2*time.Hour), func(e *store.Exception) {
		e.ExpiresAt, e.RevokedAt, e.RevokedBy = now.Add(time.Hour), now.Add(-time.Minute), "x"
	})
	revokedNow := mk("revoked-now", at(-90*time.Minute), func(e *store.Exception) {
		e.ExpiresAt, e.RevokedAt, e.RevokedBy = now.Add(time.Hour), now, "x"
	})
	revokedLater := mk("revoked-later", at(-time.Hour), func(e *store.Exception) {
		e.ExpiresAt, e.RevokedAt, e.RevokedBy = now.Add(time.Hour), now.Add(time.Minute), "x"
	})
	noExpiry := mk("no-expiry", at(-30*time.Minute), func(e *store.Exception) { e.ExpiresAt = time.Time{} })
	all := []store.Exception{open, expired, expiresNow, justOpen, revoked, revokedNow, revokedLater, noExpiry}
	for _, e := range all {
		createException(t, s, e)
	}
	tests := []struct {
		name string
		at   time.Time
		want []store.Exception
	}{
		{"zero: no filter", time.Time{}, all},
		{"now", now, []store.Exception{open, justOpen, revokedLater, noExpiry}},
		{"later", now.Add(2 * time.Hour), []store.Exception{noExpiry}},
		{"earlier", now.Add(-2 * time.Hour), all},
		{"other zone", now.In(time.FixedZone("PST", -8*3600)), []store.Exception{open, justOpen, revokedLater, noExpiry}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListExceptions(ctx, store.ExceptionFilter{TenantID: "acme", ActiveAt: tc.at})
			if err != nil {
				t.Fatalf("ListExceptions(ActiveAt %v) = %v", tc.at, err)
			}
			checkExceptions(t, "ListExceptions(ActiveAt "+tc.at.String()+")", got, tc.want)
		})
	}
}

func testRevokeException(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := exception("e1", "acme", "acme.bot", "budget.daily", base)
	createException(t, s, e)
	tests := []struct {
		name string
		id   string
		by   string
		at   time.Time
		want error
	}{
		{"first", "e1", "cred-a", at(time.Hour), nil},
		{"twice", "e1", "cred-b", at(2 * time.Hour), store.ErrNotFound},
		{"unknown", "nope", "cred-a", at(time.Hour), store.ErrNotFound},
	}
	for _, tc := range tests {
		err := s.RevokeException(ctx, tc.id, tc.by, tc.at)
		wantErr(t, "RevokeException("+tc.name+")", err, tc.want)
	}
	if err := s.RevokeException(ctx, "e1", "x", time.Time{}); err == nil {
		t.Errorf("RevokeException(zero time) = nil, want an error")
	}
	got, err := s.GetException(ctx, "e1")
	if err != nil {
		t.Fatalf("GetException = %v", err)
	}
	want := e
	want.RevokedAt, want.RevokedBy = at(time.Hour), "cred-a"
	check(t, "GetException(revoked)", got, normException(want))
	active, err := s.ListExceptions(ctx, store.ExceptionFilter{ActiveAt: at(90 * time.Minute)})
	if err != nil || !empty(active) {
		t.Errorf("ListExceptions(active after revocation) = %s, %v, want none", show(active), err)
	}
	active, err = s.ListExceptions(ctx, store.ExceptionFilter{ActiveAt: at(30 * time.Minute)})
	if err != nil {
		t.Fatalf("ListExceptions = %v", err)
	}
	checkExceptions(t, "ListExceptions(active before revocation)", active, []store.Exception{want})
}
