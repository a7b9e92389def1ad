package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/fleetgov/fleetgov/internal/store"
)

const auditCols = `partition_name, seq, recorded_at, actor, agent, resource, action, object, outcome,
	trace_id, cost_micros, detail, prev_hash, hash`

func scanAudit(sc scanner) (store.AuditRecord, error) {
	var r store.AuditRecord
	err := sc.Scan(&r.Partition, &r.Seq, timeCol{&r.Time}, &r.Actor, &r.Agent, &r.Resource, &r.Action, &r.Object,
		&r.Outcome, &r.TraceID, &r.CostMicros, bytesCol{&r.Detail}, bytesCol{&r.PrevHash}, bytesCol{&r.Hash})
	return r, err
}

// AppendAudit locks the partition (a no-op where write transactions are
// exclusive), reads its last record and inserts the next one. Called on the
// Store it runs in its own transaction; inside Atomic, in fn's.
//
// The lock and the read must stay separate statements: at READ COMMITTED
// each statement takes a new snapshot, so the read, started after the lock
// is granted, sees the record committed by the previous holder.
func (x *tx) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	if q, args := x.d.AuditLock(r.Partition); q != "" {
		if _, err := x.q.ExecContext(ctx, q, args...); err != nil {
			return store.AuditRecord{}, x.errorf("append audit %s: lock: %w", r.Partition, err)
		}
	}
	var last int64
	var prev []byte
	err := x.queryRow(ctx, `SELECT seq, hash FROM audit_records WHERE partition_name = $1
		ORDER BY seq DESC LIMIT 1`, r.Partition).Scan(&last, bytesCol{&prev})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.AuditRecord{}, x.errorf("append audit %s: read head: %w", r.Partition, err)
	}
	r.Seq = last + 1
	r.Time = normTime(r.Time)
	r.Detail = normBytes(r.Detail)
	r.PrevHash = prev
	r.Hash = r.Seal(prev)
	if _, err := x.exec(ctx, `INSERT INTO audit_records (`+auditCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		r.Partition, r.Seq, x.time(r.Time), r.Actor, r.Agent, r.Resource, r.Action, r.Object, r.Outcome, r.TraceID,
		r.CostMicros, bytesArg(r.Detail), bytesArg(r.PrevHash), r.Hash); err != nil {
		if x.d.IsUniqueViolation(err) {
			err = store.ErrConflict
		}
		return store.AuditRecord{}, x.errorf("append audit %s seq %d: %w", r.Partition, r.Seq, err)
	}
	return r, nil
}

func (x *tx) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	var w where
	w.add("partition_name = " + w.arg(f.Partition))
	w.add("seq > " + w.arg(f.AfterSeq))
	rows, err := x.query(ctx, `SELECT `+auditCols+` FROM audit_records`+w.String()+` ORDER BY seq`+
		w.limit(f.Limit), w.args...)
	if err != nil {
		return nil, x.errorf("list audit %s: %w", f.Partition, err)
	}
	rs, err := collect(rows, scanAudit)
	if err != nil {
		return nil, x.errorf("list audit %s: %w", f.Partition, err)
	}
	return rs, nil
}

func (x *tx) AuditPartitions(ctx context.Context) ([]string, error) {
	rows, err := x.query(ctx, `SELECT DISTINCT partition_name FROM audit_records ORDER BY partition_name`)
	if err != nil {
		return nil, x.errorf("audit partitions: %w", err)
	}
	ps, err := collect(rows, func(sc scanner) (string, error) {
		var p string
		return p, sc.Scan(&p)
	})
	if err != nil {
		return nil, x.errorf("audit partitions: %w", err)
	}
	return ps, nil
}

// AuditSummary groups in SQL and orders in Go, so that both backends order
// byte for byte whatever the database's collation.
func (x *tx) AuditSummary(ctx context.Context, f store.AuditSummaryFilter) ([]store.AuditAggregate, error) {
	var w where
	if !f.Since.IsZero() {
		w.add("recorded_at >= " + w.arg(x.time(f.Since)))
	}
	if !f.Until.IsZero() {
		// A zero time is stored as NULL and is earlier than any bound.
		w.add("(recorded_at IS NULL OR recorded_at < " + w.arg(x.time(f.Until)) + ")")
	}
	rows, err := x.query(ctx, `SELECT partition_name, resource, outcome, COUNT(*), CAST(COALESCE(SUM(cost_micros), 0) AS bigint)
		FROM audit_records`+w.String()+` GROUP BY partition_name, resource, outcome`, w.args...)
	if err != nil {
		return nil, x.errorf("audit summary: %w", err)
	}
	as, err := collect(rows, func(sc scanner) (store.AuditAggregate, error) {
		var a store.AuditAggregate
		return a, sc.Scan(&a.Partition, &a.Resource, &a.Outcome, &a.Count, &a.CostMicros)
	})
	if err != nil {
		return nil, x.errorf("audit summary: %w", err)
	}
	slices.SortFunc(as, func(a, b store.AuditAggregate) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Outcome, b.Outcome))
	})
	return as, nil
}

// AuditSummary implements store.Tx.
func (s *Store) AuditSummary(ctx context.Context, f store.AuditSummaryFilter) ([]store.AuditAggregate, error) {
	return s.reader().AuditSummary(ctx, f)
}
