package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migration is one numbered SQL file, "0001_init.sql".
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the *.sql files at the root of fsys, ordered by the
// number that starts their names.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := make(map[int]string)
	for _, name := range names {
		num, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name does not start with a positive number and _", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same number", other, name)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(rest, ".sql"), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate applies the migrations in fsys (files "0001_name.sql" at its root)
// that db has not applied yet, each in its own transaction under the
// dialect's migration lock, and records them in schema_migrations. It
// returns how many it applied, 0 when the schema is current. A database
// that has applied a migration fsys does not hold is refused: it belongs to
// a newer fleetgov.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) (int, error) {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return 0, fmt.Errorf("%s: migrate: %w", d.Name(), err)
	}
	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].version
	}
	var newest int
	err = migrateTx(ctx, db, d, func(x *tx) error {
		return x.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest)
	})
	if err != nil {
		return 0, fmt.Errorf("%s: migrate: read version: %w", d.Name(), err)
	}
	if newest > known {
		return 0, fmt.Errorf("%s: migrate: database schema version %d is newer than this build's %d", d.Name(), newest, known)
	}
	applied := 0
	for _, m := range ms {
		if m.version <= newest {
			continue // applied in order, so every version up to newest is there
		}
		err := migrateTx(ctx, db, d, func(x *tx) error {
			var n int
			if err := x.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil // another process applied it meanwhile
			}
			if _, err := x.q.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			if _, err := x.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, x.time(time.Now())); err != nil {
				return err
			}
			applied++
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("%s: migrate: apply %04d_%s: %w", d.Name(), m.version, m.name, err)
		}
	}
	return applied, nil
}

// migrateTx runs fn in a transaction that holds the migration lock and in
// which schema_migrations exists.
func migrateTx(ctx context.Context, db *sql.DB, d Dialect, fn func(x *tx) error) error {
	t, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = t.Rollback() }() // a no-op after Commit
	if q, args := d.MigrationLock(); q != "" {
		if _, err := t.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := t.ExecContext(ctx, d.MigrationsTable()); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := fn(&tx{d: d, q: t}); err != nil {
		return err
	}
	return t.Commit()
}
