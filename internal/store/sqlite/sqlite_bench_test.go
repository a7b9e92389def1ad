package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/storetest"
)

func BenchmarkAppendAudit(b *testing.B) {
	db := open(b)
	ctx := b.Context()
	r := store.AuditRecord{
		Partition: "acme", Time: time.Now(), Actor: "cred-1", Action: "decision", Object: "acme.bot",
		Outcome: "allow", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Detail: []byte(`{"clause":"budget.daily","spent":12.5}`),
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.AppendAudit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGovernanceCheckWrite is PutPlan, CreateCheck, PutAction and
// AppendAudit in one Atomic, as a governance check writes them.
func BenchmarkGovernanceCheckWrite(b *testing.B) {
	storetest.BenchCheckWrite(b, open(b))
}

// BenchmarkBudgetCall is one gateway call's writes, one after another:
// a reservation over six windows, then its settlement with the call's
// audit record in one synced Atomic.
func BenchmarkBudgetCall(b *testing.B) {
	db := open(b)
	ctx := b.Context()
	now := time.Now()
	windows := []store.BudgetWindow{
		{Scope: "fleet", Period: "day:2026-11-24", Limit: 1 << 60}, {Scope: "fleet", Period: "month:2026-11", Limit: 1 << 60},
		{Scope: "tenant:acme", Period: "day:2026-11-24", Limit: 1 << 60}, {Scope: "tenant:acme", Period: "month:2026-11", Limit: 1 << 60},
		{Scope: "agent:acme.bot", Period: "day:2026-11-24", Limit: 1 << 60},
	}
	rec := store.AuditRecord{Partition: "acme", Time: now, Actor: "agent:acme.bot", Action: "gateway.model.chat", Object: "m",
		Outcome: "allow", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Detail: []byte(`{"kind":"chat","model":"m","input_tokens":262}`)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("r%d", i)
		if err := db.Reserve(ctx, store.Reservation{ID: id, Tenant: "acme", Agent: "acme.bot", Amount: 100, Windows: windows, CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		if err := db.Atomic(ctx, func(tx store.Tx) error {
			if err := tx.Settle(ctx, id, 50, now); err != nil {
				return err
			}
			_, err := tx.AppendAudit(ctx, rec)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
