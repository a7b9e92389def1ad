package storetest

import (
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func tenant(id, name string) store.Tenant {
	return store.Tenant{ID: id, Name: name, Team: "team-" + id, Owner: id + "@example.com", Kind: "internal"}
}

// stored is tn as the store holds it after SyncTenants.
func stored(tn store.Tenant, created, updated, retired time.Time) store.Tenant {
	tn.CreatedAt, tn.UpdatedAt, tn.RetiredAt = norm(created), norm(updated), norm(retired)
	return tn
}

func testSyncTenants(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b, c := tenant("a", "Alpha"), tenant("b", "Beta"), tenant("c", "Gamma")
	b2 := b
	b2.Name = "Beta Two"
	a2 := a
	a2.Sandbox = true
	// Input timestamps are ignored: the store sets them from at.
	noisy := a
	noisy.CreatedAt, noisy.UpdatedAt, noisy.RetiredAt = at(-time.Hour), at(-time.Hour), at(-time.Hour)
	t1, t2, t3, t4 := at(time.Minute), at(2*time.Minute), at(3*time.Minute), at(4*time.Minute)
	t5, t6, t7 := at(5*time.Minute), at(6*time.Minute), at(7*time.Minute)

	steps := []struct {
		name string
		at   time.Time
		in   []store.Tenant
		want []store.Tenant
	}{
		{"insert", t1, []store.Tenant{b, noisy}, []store.Tenant{
			stored(a, t1, t1, time.Time{}), stored(b, t1, t1, time.Time{}),
		}},
		{"update changed, keep unchanged, insert new", t2, []store.Tenant{a, b2, c}, []store.Tenant{
			stored(a, t1, t1, time.Time{}), stored(b2, t1, t2, time.Time{}), stored(c, t2, t2, time.Time{}),
		}},
		{"retire absent", t3, []store.Tenant{b2}, []store.Tenant{
			stored(a, t1, t3, t3), stored(b2, t1, t2, time.Time{}), stored(c, t2, t3, t3),
		}},
		{"retired stay retired once", t4, []store.Tenant{b2}, []store.Tenant{
			stored(a, t1, t3, t3), stored(b2, t1, t2, time.Time{}), stored(c, t2, t3, t3),
		}},
		{"un-retire", t5, []store.Tenant{a, b2}, []store.Tenant{
			stored(a, t1, t5, time.Time{}), stored(b2, t1, t2, time.Time{}), stored(c, t2, t3, t3),
		}},
		{"update a flag", t6, []store.Tenant{a2, b2}, []store.Tenant{
			stored(a2, t1, t6, time.Time{}), stored(b2, t1, t2, time.Time{}), stored(c, t2, t3, t3),
		}},
		{"retire all", t7, nil, []store.Tenant{
			stored(a2, t1, t7, t7), stored(b2, t1, t7, t7), stored(c, t2, t3, t3),
		}},
	}
	for _, st := range steps {
		if err := s.SyncTenants(ctx, st.in, st.at); err != nil {
			t.Fatalf("%s: SyncTenants = %v", st.name, err)
		}
		got, err := s.ListTenants(ctx)
		if err != nil {
			t.Fatalf("%s: ListTenants = %v", st.name, err)
		}
		check(t, st.name+": ListTenants", got, st.want)
		for _, want := range st.want {
			got, err := s.GetTenant(ctx, want.ID)
			if err != nil {
				t.Fatalf("%s: GetTenant(%q) = %v", st.name, want.ID, err)
			}
			check(t, st.name+": GetTenant("+want.ID+")", got, want)
		}
	}
}

func testTenantRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	// IDs chosen so that bytewise order differs from most locales' order.
	in := []store.Tenant{
		{ID: "b", Name: "b", Kind: "advertising", Sandbox: true},
		{ID: "B", Name: "Ünïcode ✓", Team: "t", Owner: "o", Kind: "internal"},
		{ID: "_x", Name: "underscore"},
		{ID: "a-b", Name: "dash"},
		{ID: "a_b", Name: "underscore 2"},
		{ID: "a", Name: ""},
	}
	if err := s.SyncTenants(ctx, in, base); err != nil {
		t.Fatalf("SyncTenants = %v", err)
	}
	got, err := s.ListTenants(ctx)
	if err != nil {
		t.Fatalf("ListTenants = %v", err)
	}
	var want []store.Tenant
	for _, id := range []string{"B", "_x", "a", "a-b", "a_b", "b"} {
		for _, tn := range in {
			if tn.ID == id {
				want = append(want, stored(tn, base, base, time.Time{}))
			}
		}
	}
	check(t, "ListTenants", got, want)
}

func testTenantErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	ts, err := s.ListTenants(ctx)
	if err != nil || !empty(ts) {
		t.Errorf("ListTenants on an empty store = %v, %v, want none", show(ts), err)
	}
	_, err = s.GetTenant(ctx, "nope")
	wantErr(t, `GetTenant("nope")`, err, store.ErrNotFound)
	if err := s.SyncTenants(ctx, []store.Tenant{tenant("a", "A")}, time.Time{}); err == nil {
		t.Errorf("SyncTenants(zero time) = nil, want an error")
	}
}
