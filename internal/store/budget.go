package store

import (
	"context"
	"fmt"
	"time"
)

// BudgetTx is the budget ledger: reservations of worst-case cost against
// every budget window that applies to a call, settled from real usage.
// Amounts are integers in the ledger's unit (the gateway uses micro-USD), so
// sums are exact.
type BudgetTx interface {
	// Reserve admits r only if, in every window of r.Windows, what is spent
	// plus what is reserved plus r.Amount stays within the window's Limit.
	// It then adds r.Amount to every window's reserved total and stores r;
	// otherwise it changes nothing and returns a *BudgetExceededError
	// naming the first window (in r.Windows order) that would be exceeded.
	// Concurrent Reserves, also across replicas, never admit more than a
	// window's Limit. A reservation ID that exists is ErrConflict.
	//
	// Called on a Store rather than inside Atomic, Reserve may commit
	// without waiting for the disk: the reservation is durable against a
	// crash of the process when Reserve returns, and against a crash of
	// the machine once a later synced commit returns, such as the Settle
	// that follows it.
	Reserve(ctx context.Context, r Reservation) error
	// Settle ends a reservation with the real cost: every window of the
	// reservation gives back its Amount and is charged actual. A
	// reservation settles once: an unknown one is ErrNotFound, a settled
	// one ErrConflict. actual may exceed the reserved amount (the spend is
	// recorded as it happened) but not be negative.
	Settle(ctx context.Context, id string, actual int64, at time.Time) error
	// BudgetUsage returns a window's reserved and spent totals; a window
	// nothing was reserved in has zero of both.
	BudgetUsage(ctx context.Context, w BudgetWindow) (BudgetUsage, error)
	// GetReservation returns a reservation.
	GetReservation(ctx context.Context, id string) (Reservation, error)
	// ListOpenReservations returns the reservations not yet settled and
	// created before before, oldest first, at most limit of them: those a
	// crash or a lost connection left hanging.
	ListOpenReservations(ctx context.Context, before time.Time, limit int) ([]Reservation, error)
}

// BudgetWindow is one budget over one period: Scope is "fleet",
// "tenant:ID" or "agent:TENANT/ID" (or any name the caller chooses);
// Period names the window, e.g. "day:2026-11-24", "month:2026-11" or
// "total".
type BudgetWindow struct {
	Scope  string
	Period string
	Limit  int64 // the cap in force when reserving
}

// Key is the window's name in errors and logs.
func (w BudgetWindow) Key() string { return w.Scope + "/" + w.Period }

// BudgetUsage is a window's totals.
type BudgetUsage struct {
	Reserved int64
	Spent    int64
}

// Reservation is a worst-case cost held against budget windows until the
// call it covers settles.
type Reservation struct {
	ID        string
	Tenant    string
	Agent     string
	Amount    int64
	Windows   []BudgetWindow
	CreatedAt time.Time
	SettledAt time.Time // zero while open
	Actual    int64     // the settled cost
}

// BudgetExceededError is Reserve's refusal: Window would go over its limit.
type BudgetExceededError struct {
	Window BudgetWindow
	Used   int64 // spent plus reserved before this reservation
	Amount int64 // what the refused reservation asked for
}

func (e *BudgetExceededError) Error() string {
	return fmt.Sprintf("store: budget %s exceeded: %d used of %d, %d more asked", e.Window.Key(), e.Used, e.Window.Limit, e.Amount)
}
