package store

import (
	"context"
	"time"
)

// AuditTx is the platform's view of the audit log: aggregates across
// partitions, never a record's payload.
type AuditTx interface {
	// AuditSummary counts the records whose Time lies in [f.Since, f.Until)
	// and sums their CostMicros, grouped by partition, resource and
	// outcome, ordered by those three (byte order). The platform partition
	// is a partition like any other. A zero bound is open; a record with a
	// zero Time counts as earlier than any other.
	AuditSummary(ctx context.Context, f AuditSummaryFilter) ([]AuditAggregate, error)
}

// AuditSummaryFilter bounds AuditSummary in time: Since inclusive, Until
// exclusive; zero values leave that side open.
type AuditSummaryFilter struct {
	Since time.Time
	Until time.Time
}

// AuditAggregate is one group of AuditSummary: how many records of a
// partition had that resource and outcome, and what they cost.
type AuditAggregate struct {
	Partition  string
	Resource   string
	Outcome    string
	Count      int64
	CostMicros int64
}
