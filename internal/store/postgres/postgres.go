// Package postgres is the store.Store backend for several fleetgov replicas
// sharing one PostgreSQL database. The SQL and the semantics are shared with
// store/sqlite in store/sqlstore; this package opens the database and holds
// the PostgreSQL schema and locking.
//
// It uses pgx through its database/sql driver (github.com/jackc/pgx/v5/stdlib)
// rather than pgxpool: every query, scan and transaction is then the same
// database/sql code as SQLite's, in one package, and pgx still does the wire
// protocol, types and statement caching.
//
// Replicas stay correct together: transactions run at READ COMMITTED;
// appends to one audit partition are serialized by a transaction-scoped
// advisory lock on a hash of the schema and partition name, taken before the
// partition's last record is read; migrations run under another advisory
// lock, each in its own transaction, so replicas starting together apply
// each migration once. Tables live in the first schema of the search_path,
// which the DSN may set (search_path=...).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlstore"
)

// maxConns bounds the connection pool of one store.
const maxConns = 16

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is a fleetgov store in a PostgreSQL database. It implements store.Store.
type DB struct {
	*sqlstore.Store
	db *sql.DB
}

var _ store.Store = (*DB)(nil)

// Open connects to the database at dsn (a URL or key=value string, as pgx
// accepts) and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if _, err := sqlstore.Migrate(ctx, db, dialect{}, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return &DB{Store: sqlstore.New(dialect{}, db, db, sqlstore.Options{}), db: db}, nil
}

// dialect is PostgreSQL's sqlstore.Dialect.
type dialect struct{}

func (dialect) Name() string { return "postgres" }

func (dialect) Rebind(query string) string { return query }

func (dialect) Time(t time.Time) any { return t }

// AuditLock takes a transaction-scoped advisory lock keyed by the schema and
// the partition: the lock is released at commit or rollback, and a hash
// collision only serializes two partitions more than needed.
func (dialect) AuditLock(partition string) (string, []any) {
	return `SELECT pg_advisory_xact_lock(hashtextextended(
		'fleetgov.audit/' || coalesce(current_schema(), '') || '/' || $1::text, 0))`, []any{partition}
}

// MigrationLock takes a transaction-scoped advisory lock keyed by the schema.
func (dialect) MigrationLock() (string, []any) {
	return `SELECT pg_advisory_xact_lock(hashtextextended(
		'fleetgov.migrate/' || coalesce(current_schema(), ''), 0))`, nil
}

// SyncMode turns synchronous_commit off for one transaction; the server's
// setting applies otherwise.
func (dialect) SyncMode(unsynced bool) (string, bool) {
	if unsynced {
		return "SET LOCAL synchronous_commit = off", true
	}
	return "", true
}

// ExclusiveWrites does not hold: transactions run concurrently and lock rows.
func (dialect) ExclusiveWrites() bool { return false }

func (dialect) MigrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL
)`
}

// uniqueViolation is PostgreSQL's SQLSTATE for a unique-constraint violation.
const uniqueViolation = "23505"

func (dialect) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == uniqueViolation
}
