package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx implements store.Tx on a transaction (inside Atomic) or on the read pool.
type tx struct {
	d     Dialect
	q     querier
	stmts *stmtCache // the pool's prepared statements, if any
	t     *sql.Tx    // the transaction, if any
	// misses are the queries the transaction ran unprepared, to prepare
	// once it has ended: preparing takes a connection of the pool, which
	// may be the one the transaction holds.
	misses *[]string
	// cachedChanged, in a transaction, is set by a write to credentials,
	// agents, tenants or exceptions, which the gateway and the control plane
	// cache; the Store counts the change once the transaction has ended
	// (Store.Generation).
	cachedChanged *bool
}

// touchCached marks the transaction as changing what the gateway and the
// control plane cache (see Store.Generation).
func (x *tx) touchCached() {
	if x.cachedChanged != nil {
		*x.cachedChanged = true
	}
}

// stmt returns the prepared statement of a query, in the transaction if
// there is one, or nil to run the query unprepared.
func (x *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	switch {
	case x.stmts == nil:
		return nil
	case x.t == nil:
		return x.stmts.get(ctx, query)
	}
	st := x.stmts.lookup(query)
	if st == nil {
		if x.misses != nil {
			*x.misses = append(*x.misses, query)
		}
		return nil
	}
	return x.t.StmtContext(ctx, st)
}

func (x *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query = x.d.Rebind(query)
	if st := x.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return x.q.ExecContext(ctx, query, args...)
}

func (x *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = x.d.Rebind(query)
	if st := x.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return x.q.QueryContext(ctx, query, args...)
}

func (x *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	query = x.d.Rebind(query)
	if st := x.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return x.q.QueryRowContext(ctx, query, args...)
}

// execOne runs a statement and reports whether it affected a row.
func (x *tx) execOne(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := x.exec(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// errorf formats an error prefixed with the backend's name.
func (x *tx) errorf(format string, args ...any) error {
	return fmt.Errorf(x.d.Name()+": "+format, args...)
}

// time returns the stored value of t: NULL for zero, else the dialect's
// encoding of t in UTC truncated to microseconds.
func (x *tx) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return x.d.Time(normTime(t))
}

// normTime is t as it reads back from the store.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// bytesArg stores an empty slice as NULL.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// normBytes is b as it reads back from the store.
func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// jsonArg encodes a list as JSON text: nil as "null", empty as "[]".
func jsonArg(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// timeCol scans a time column: NULL, SQLite's integer microseconds or a
// PostgreSQL timestamptz.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC()
	default:
		return fmt.Errorf("scan time: unsupported value of type %T", src)
	}
	return nil
}

// bytesCol scans a bytes column, reading NULL and empty as nil.
type bytesCol struct{ b *[]byte }

func (c bytesCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.b = nil
	case []byte:
		*c.b = normBytes(append([]byte(nil), v...))
	default:
		return fmt.Errorf("scan bytes: unsupported value of type %T", src)
	}
	return nil
}

// jsonCol scans a JSON text column into *v.
type jsonCol[T any] struct{ v *T }

func (c jsonCol[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan json: unsupported value of type %T", src)
	}
	return json.Unmarshal(b, c.v)
}

// where builds a WHERE clause with numbered placeholders.
type where struct {
	conds []string
	args  []any
}

// arg adds v to the arguments and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

// eq adds "col = v" unless v is empty.
func (w *where) eq(col, v string) {
	if v != "" {
		w.conds = append(w.conds, col+" = "+w.arg(v))
	}
}

// add adds a condition.
func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// limit adds a LIMIT clause for n > 0.
func (w *where) limit(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + w.arg(n)
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
