package audit

import (
	"context"

	"github.com/fleetgov/fleetgov/internal/store"
)

// Lister is what Each reads from; store.Tx has it.
type Lister interface {
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error)
}

// PageSize is how many records Each reads at a time.
const PageSize = 1000

// Each calls fn with every record of partition in Seq order, reading
// PageSize records at a time, and stops at the first error.
func Each(ctx context.Context, l Lister, partition string, fn func(store.AuditRecord) error) error {
	var after int64
	for {
		recs, err := l.ListAudit(ctx, store.AuditFilter{Partition: partition, AfterSeq: after, Limit: PageSize})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < PageSize {
			return nil
		}
		after = recs[len(recs)-1].Seq
	}
}
