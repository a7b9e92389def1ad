package postgres

import (
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/storetest"
)

func BenchmarkAppendAudit(b *testing.B) {
	db := open(b, schemaDSN(b))
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
	storetest.BenchCheckWrite(b, open(b, schemaDSN(b)))
}
