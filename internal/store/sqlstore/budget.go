package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

const reservationCols = `id, tenant, agent, amount, windows, created_at, settled_at, actual`

// storedWindow is a BudgetWindow as a reservation row keeps it.
type storedWindow struct {
	Scope  string `json:"scope"`
	Period string `json:"period"`
	Limit  int64  `json:"limit"`
}

// byKey returns the windows sorted by key: the order every transaction
// locks them in.
func byKey(ws []store.BudgetWindow) []store.BudgetWindow {
	out := slices.Clone(ws)
	slices.SortFunc(out, func(a, b store.BudgetWindow) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// Reserve raises each window's reserved total with an update that holds only
// while the window has room. The windows are updated in key order, so that
// concurrent reservations over the same windows lock them in one order and
// never deadlock; at READ COMMITTED, PostgreSQL re-checks the condition
// against the row a concurrent reservation committed.
func (x *tx) Reserve(ctx context.Context, r store.Reservation) error {
	if r.ID == "" || r.Amount < 0 || len(r.Windows) == 0 {
		return x.errorf("reserve %q: a reservation needs an ID, a non-negative amount and a window", r.ID)
	}
	order := byKey(r.Windows)
	for i := 1; i < len(order); i++ {
		if order[i].Key() == order[i-1].Key() {
			return x.errorf("reserve %s: window %s named twice", r.ID, order[i].Key())
		}
	}
	if x.d.ExclusiveWrites() {
		if err := x.reserveExclusive(ctx, r); err != nil {
			return err
		}
		return x.storeReservation(ctx, r)
	}
	for i, w := range order {
		if _, err := x.exec(ctx, `INSERT INTO budget_windows (scope, period) VALUES ($1, $2)
			ON CONFLICT (scope, period) DO NOTHING`, w.Scope, w.Period); err != nil {
			return x.errorf("reserve %s: window %s: %w", r.ID, w.Key(), err)
		}
		ok, err := x.execOne(ctx, `UPDATE budget_windows SET reserved = reserved + $3
			WHERE scope = $1 AND period = $2 AND spent + reserved + $3 <= $4`, w.Scope, w.Period, r.Amount, w.Limit)
		if err != nil {
			return x.errorf("reserve %s: window %s: %w", r.ID, w.Key(), err)
		}
		if !ok {
			return x.refuse(ctx, r, order[:i])
		}
	}
	return x.storeReservation(ctx, r)
}

// windowArgs returns the condition "(scope, period) IN (VALUES ...)" over
// ws, its parameters numbered from $first, and the parameters.
func windowArgs(ws []store.BudgetWindow, first int) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(ws))
	b.WriteString("(scope, period) IN (VALUES ")
	for i, w := range ws {
		if i > 0 {
			b.WriteString(", ")
		}
		n := first + 2*i
		fmt.Fprintf(&b, "($%d, $%d)", n, n+1)
		args = append(args, w.Scope, w.Period)
	}
	b.WriteString(")")
	return b.String(), args
}

// reserveExclusive is Reserve where the transaction excludes every other
// writer (SQLite): one statement creates the windows not yet used and
// raises every window, returning each one's new total, and the totals are
// checked against the limits after. A reservation that does not fit is
// undone with a second statement; a window it created is left empty, which
// is the same as none (BudgetUsage answers zeros for both). No other writer
// can see the raised totals in between.
func (x *tx) reserveExclusive(ctx context.Context, r store.Reservation) error {
	var q strings.Builder
	args := make([]any, 0, 1+2*len(r.Windows))
	args = append(args, r.Amount)
	q.WriteString("INSERT INTO budget_windows (scope, period, reserved) VALUES ")
	for i, w := range r.Windows {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "($%d, $%d, $1)", 2*i+2, 2*i+3)
		args = append(args, w.Scope, w.Period)
	}
	q.WriteString(" ON CONFLICT (scope, period) DO UPDATE SET reserved = budget_windows.reserved + excluded.reserved" +
		" RETURNING scope, period, reserved + spent")
	rows, err := x.query(ctx, q.String(), args...)
	if err != nil {
		return x.errorf("reserve %s: windows: %w", r.ID, err)
	}
	used := make(map[string]int64, len(r.Windows))
	for rows.Next() {
		var scope, period string
		var total int64
		if err := rows.Scan(&scope, &period, &total); err != nil {
			rows.Close()
			return x.errorf("reserve %s: windows: %w", r.ID, err)
		}
		used[scope+"/"+period] = total - r.Amount
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return x.errorf("reserve %s: windows: %w", r.ID, err)
	}
	if len(used) != len(r.Windows) {
		return x.errorf("reserve %s: raised %d of %d windows", r.ID, len(used), len(r.Windows))
	}
	for _, w := range r.Windows {
		if u := used[w.Key()]; u+r.Amount > w.Limit {
			in, wargs := windowArgs(r.Windows, 2)
			if _, err := x.exec(ctx, `UPDATE budget_windows SET reserved = reserved - $1 WHERE `+in, append([]any{r.Amount}, wargs...)...); err != nil {
				return x.errorf("reserve %s: undo windows: %w", r.ID, err)
			}
			return &store.BudgetExceededError{Window: w, Used: u, Amount: r.Amount}
		}
	}
	return nil
}

// storeReservation inserts the row of an admitted reservation.
func (x *tx) storeReservation(ctx context.Context, r store.Reservation) error {
	ws := make([]storedWindow, len(r.Windows))
	for i, w := range r.Windows {
		ws[i] = storedWindow(w)
	}
	b, err := json.Marshal(ws)
	if err != nil {
		return x.errorf("reserve %s: %w", r.ID, err)
	}
	ok, err := x.execOne(ctx, `INSERT INTO budget_reservations (id, tenant, agent, amount, windows, created_at, actual)
		VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Tenant, r.Agent, r.Amount, string(b), x.time(r.CreatedAt))
	if err != nil {
		return x.errorf("reserve %s: %w", r.ID, err)
	}
	if !ok {
		return x.errorf("reserve %s: %w", r.ID, store.ErrConflict)
	}
	return nil
}

// refuse undoes the reservation's increments of the windows in applied, so
// that a refused Reserve changes nothing even where its caller goes on in
// the same transaction, and names the first window, in the caller's order,
// that has no room.
func (x *tx) refuse(ctx context.Context, r store.Reservation, applied []store.BudgetWindow) error {
	for _, w := range applied {
		if _, err := x.exec(ctx, `UPDATE budget_windows SET reserved = reserved - $3 WHERE scope = $1 AND period = $2`,
			w.Scope, w.Period, r.Amount); err != nil {
			return x.errorf("reserve %s: undo window %s: %w", r.ID, w.Key(), err)
		}
	}
	for _, w := range r.Windows {
		u, err := x.BudgetUsage(ctx, w)
		if err != nil {
			return err
		}
		if used := u.Spent + u.Reserved; used+r.Amount > w.Limit {
			return &store.BudgetExceededError{Window: w, Used: used, Amount: r.Amount}
		}
	}
	return x.errorf("reserve %s: a window had no room and then had: %w", r.ID, store.ErrConflict)
}

func (x *tx) Settle(ctx context.Context, id string, actual int64, at time.Time) error {
	if actual < 0 {
		return x.errorf("settle %s: negative cost %d", id, actual)
	}
	var r store.Reservation
	var ws string
	err := x.queryRow(ctx, `UPDATE budget_reservations SET settled_at = $2, actual = $3
		WHERE id = $1 AND settled_at IS NULL RETURNING amount, windows`, id, x.time(at), actual).Scan(&r.Amount, &ws)
	if errors.Is(err, sql.ErrNoRows) {
		// Not open: unknown, or settled before.
		if _, gerr := x.GetReservation(ctx, id); gerr != nil {
			return x.errorf("settle: %w", gerr)
		}
		return x.errorf("settle %s: already settled: %w", id, store.ErrConflict)
	}
	if err != nil {
		return x.errorf("settle %s: %w", id, err)
	}
	if r.Windows, err = decodeWindows(ws); err != nil {
		return x.errorf("settle %s: %w", id, err)
	}
	if x.d.ExclusiveWrites() {
		in, args := windowArgs(r.Windows, 3)
		if _, err := x.exec(ctx, `UPDATE budget_windows SET reserved = reserved - $1, spent = spent + $2 WHERE `+in,
			append([]any{r.Amount, actual}, args...)...); err != nil {
			return x.errorf("settle %s: windows: %w", id, err)
		}
		return nil
	}
	for _, w := range byKey(r.Windows) {
		if _, err := x.exec(ctx, `UPDATE budget_windows SET reserved = reserved - $3, spent = spent + $4
			WHERE scope = $1 AND period = $2`, w.Scope, w.Period, r.Amount, actual); err != nil {
			return x.errorf("settle %s: window %s: %w", id, w.Key(), err)
		}
	}
	return nil
}

func (x *tx) BudgetUsage(ctx context.Context, w store.BudgetWindow) (store.BudgetUsage, error) {
	var u store.BudgetUsage
	err := x.queryRow(ctx, `SELECT reserved, spent FROM budget_windows WHERE scope = $1 AND period = $2`,
		w.Scope, w.Period).Scan(&u.Reserved, &u.Spent)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.BudgetUsage{}, x.errorf("budget usage %s: %w", w.Key(), err)
	}
	return u, nil
}

func scanReservation(sc scanner) (store.Reservation, error) {
	var r store.Reservation
	var ws string
	if err := sc.Scan(&r.ID, &r.Tenant, &r.Agent, &r.Amount, &ws, timeCol{&r.CreatedAt}, timeCol{&r.SettledAt}, &r.Actual); err != nil {
		return store.Reservation{}, err
	}
	ws2, err := decodeWindows(ws)
	if err != nil {
		return store.Reservation{}, fmt.Errorf("reservation %s: %w", r.ID, err)
	}
	r.Windows = ws2
	return r, nil
}

// decodeWindows decodes a reservation row's windows.
func decodeWindows(s string) ([]store.BudgetWindow, error) {
	var stored []storedWindow
	if err := json.Unmarshal([]byte(s), &stored); err != nil {
		return nil, fmt.Errorf("windows: %w", err)
	}
	out := make([]store.BudgetWindow, len(stored))
	for i, w := range stored {
		out[i] = store.BudgetWindow(w)
	}
	return out, nil
}

func (x *tx) GetReservation(ctx context.Context, id string) (store.Reservation, error) {
	r, err := scanReservation(x.queryRow(ctx, `SELECT `+reservationCols+` FROM budget_reservations WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Reservation{}, x.errorf("reservation %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Reservation{}, x.errorf("reservation %s: %w", id, err)
	}
	return r, nil
}

func (x *tx) ListOpenReservations(ctx context.Context, before time.Time, limit int) ([]store.Reservation, error) {
	rows, err := x.query(ctx, `SELECT `+reservationCols+` FROM budget_reservations
		WHERE settled_at IS NULL AND created_at < $1 ORDER BY created_at, id LIMIT $2`, x.time(before), limit)
	if err != nil {
		return nil, x.errorf("open reservations: %w", err)
	}
	rs, err := collect(rows, scanReservation)
	if err != nil {
		return nil, x.errorf("open reservations: %w", err)
	}
	return rs, nil
}
