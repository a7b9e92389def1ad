package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

var (
	fleetDay  = store.BudgetWindow{Scope: "fleet", Period: "day:2025-03-14", Limit: 1000}
	tenantDay = store.BudgetWindow{Scope: "tenant:acme", Period: "day:2025-03-14", Limit: 500}
)

func reservation(id string, amount int64, ws ...store.BudgetWindow) store.Reservation {
	return store.Reservation{ID: id, Tenant: "acme", Agent: "acme/bot", Amount: amount, Windows: ws, CreatedAt: at(time.Second)}
}

// usage fails the test unless each window's totals are as wanted.
func usage(t *testing.T, s store.Tx, stage string, want map[store.BudgetWindow]store.BudgetUsage) {
	t.Helper()
	for w, u := range want {
		got, err := s.BudgetUsage(t.Context(), w)
		wantErr(t, stage+": BudgetUsage("+w.Key()+")", err, nil)
		if got != u {
			t.Fatalf("%s: BudgetUsage(%s) = %+v, want %+v", stage, w.Key(), got, u)
		}
	}
}

func testBudgetReserveSettle(t *testing.T, s store.Store) {
	ctx := t.Context()
	usage(t, s, "empty", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {}, tenantDay: {}})

	wantErr(t, "Reserve(r1)", s.Reserve(ctx, reservation("r1", 300, fleetDay, tenantDay)), nil)
	usage(t, s, "after r1", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {Reserved: 300}, tenantDay: {Reserved: 300}})

	// The tenant window has 200 left: a reservation of 300 is refused, names
	// it, and changes nothing.
	err := s.Reserve(ctx, reservation("r2", 300, fleetDay, tenantDay))
	var ex *store.BudgetExceededError
	if !errors.As(err, &ex) {
		t.Fatalf("Reserve(r2) = %v, want a *BudgetExceededError", err)
	}
	if ex.Window != tenantDay || ex.Used != 300 || ex.Amount != 300 {
		t.Fatalf("Reserve(r2) refused %+v, want the tenant window with 300 used and 300 asked", ex)
	}
	usage(t, s, "after refused r2", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {Reserved: 300}, tenantDay: {Reserved: 300}})
	if _, err := s.GetReservation(ctx, "r2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetReservation(refused r2) = %v, want ErrNotFound", err)
	}

	// Exactly what is left fits.
	wantErr(t, "Reserve(r3)", s.Reserve(ctx, reservation("r3", 200, tenantDay, fleetDay)), nil)
	usage(t, s, "after r3", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {Reserved: 500}, tenantDay: {Reserved: 500}})

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"a reservation ID that exists", s.Reserve(ctx, reservation("r1", 1, fleetDay)), store.ErrConflict},
		{"settling an unknown reservation", s.Settle(ctx, "nope", 1, at(time.Minute)), store.ErrNotFound},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	for _, bad := range []struct {
		name string
		err  error
	}{
		{"no ID", s.Reserve(ctx, reservation("", 1, fleetDay))},
		{"a negative amount", s.Reserve(ctx, reservation("neg", -1, fleetDay))},
		{"no window", s.Reserve(ctx, reservation("none", 1))},
		{"a window named twice", s.Reserve(ctx, reservation("twice", 1, fleetDay, fleetDay))},
		{"a negative cost", s.Settle(ctx, "r1", -5, at(time.Minute))},
	} {
		if bad.err == nil {
			t.Fatalf("%s: accepted", bad.name)
		}
	}
	usage(t, s, "after bad input", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {Reserved: 500}, tenantDay: {Reserved: 500}})

	// Settling gives back the reservation and charges the real cost, once.
	wantErr(t, "Settle(r1)", s.Settle(ctx, "r1", 120, at(time.Minute)), nil)
	usage(t, s, "after settling r1", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {Reserved: 200, Spent: 120}, tenantDay: {Reserved: 200, Spent: 120}})
	wantErr(t, "Settle(r1) again", s.Settle(ctx, "r1", 120, at(time.Minute)), store.ErrConflict)
	got, err := s.GetReservation(ctx, "r1")
	wantErr(t, "GetReservation(r1)", err, nil)
	want := reservation("r1", 300, fleetDay, tenantDay)
	want.CreatedAt, want.SettledAt, want.Actual = norm(want.CreatedAt), norm(at(time.Minute)), 120
	check(t, "GetReservation(r1)", got, want)

	// A call that cost more than reserved is recorded as it happened.
	wantErr(t, "Settle(r3)", s.Settle(ctx, "r3", 260, at(time.Minute)), nil)
	usage(t, s, "after settling r3", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {Spent: 380}, tenantDay: {Spent: 380}})
	err = s.Reserve(ctx, reservation("r4", 121, tenantDay))
	if !errors.As(err, &ex) || ex.Used != 380 {
		t.Fatalf("Reserve(r4) = %v, want the tenant window exceeded with 380 used", err)
	}
}

// testBudgetRefusedInAtomic checks that a refused Reserve changes nothing
// even when the transaction it ran in goes on and commits.
func testBudgetRefusedInAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantErr(t, "Reserve(r1)", s.Reserve(ctx, reservation("r1", 450, tenantDay)), nil)
	err := s.Atomic(ctx, func(tx store.Tx) error {
		// fleetDay sorts first, so it is raised before tenantDay refuses.
		var ex *store.BudgetExceededError
		if err := tx.Reserve(ctx, reservation("r2", 100, fleetDay, tenantDay)); !errors.As(err, &ex) {
			return fmt.Errorf("Reserve(r2) = %v, want a *BudgetExceededError", err)
		}
		return tx.Reserve(ctx, reservation("r3", 40, fleetDay, tenantDay))
	})
	wantErr(t, "Atomic", err, nil)
	usage(t, s, "after commit", map[store.BudgetWindow]store.BudgetUsage{fleetDay: {Reserved: 40}, tenantDay: {Reserved: 490}})
}

// testBudgetExactness sends 1,000 concurrent reservations at a budget that
// fits exactly 100 of them: exactly 100 are admitted, and after settling,
// the recorded spend is the sum of their real costs.
func testBudgetExactness(t *testing.T, s store.Store) {
	ctx := t.Context()
	const calls, fits, amount = 1000, 100, 10
	w := store.BudgetWindow{Scope: "agent:acme/bot", Period: "total", Limit: fits * amount}
	var admitted atomic.Int64
	ids := make(chan string, calls)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			id := fmt.Sprintf("x%04d", i)
			err := s.Reserve(ctx, reservation(id, amount, w, fleetDay))
			var ex *store.BudgetExceededError
			switch {
			case err == nil:
				admitted.Add(1)
				ids <- id
			case errors.As(err, &ex):
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Fatalf("Reserve: %v", err)
	}
	if n := admitted.Load(); n != fits {
		t.Fatalf("%d of %d reservations admitted, want exactly %d", n, calls, fits)
	}
	usage(t, s, "reserved", map[store.BudgetWindow]store.BudgetUsage{w: {Reserved: fits * amount}, fleetDay: {Reserved: fits * amount}})
	open, err := s.ListOpenReservations(ctx, at(time.Hour), calls)
	wantErr(t, "ListOpenReservations", err, nil)
	if len(open) != fits {
		t.Fatalf("ListOpenReservations = %d reservations, want %d", len(open), fits)
	}
	var sum int64
	var settle sync.WaitGroup
	i := int64(0)
	for id := range ids {
		actual := amount - i%4 // real usage below the worst case
		i++
		sum += actual
		settle.Go(func() {
			if err := s.Settle(ctx, id, actual, at(time.Minute)); err != nil {
				t.Errorf("Settle(%s) = %v", id, err)
			}
		})
	}
	settle.Wait()
	usage(t, s, "settled", map[store.BudgetWindow]store.BudgetUsage{w: {Spent: sum}, fleetDay: {Spent: sum}})
	open, err = s.ListOpenReservations(ctx, at(time.Hour), calls)
	wantErr(t, "ListOpenReservations after settling", err, nil)
	if len(open) != 0 {
		t.Fatalf("ListOpenReservations after settling = %d, want 0", len(open))
	}
}
