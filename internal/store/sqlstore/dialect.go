package sqlstore

import "time"

// Dialect is what differs between the SQL backends.
type Dialect interface {
	// Name is the backend's name, which prefixes error messages.
	Name() string
	// Rebind rewrites a query written with $1, $2, ... placeholders into the
	// backend's placeholder syntax.
	Rebind(query string) string
	// Time returns the value stored for t, which is non-zero, in UTC and
	// truncated to microseconds.
	Time(t time.Time) any
	// AuditLock returns a statement that, run inside a transaction, serializes
	// appends to the audit partition until the transaction ends, also across
	// processes; "" if every write transaction is already exclusive.
	AuditLock(partition string) (query string, args []any)
	// MigrationLock is like AuditLock, for migrations.
	MigrationLock() (query string, args []any)
	// MigrationsTable is the DDL that creates schema_migrations(version,
	// name, applied_at) if it does not exist; applied_at holds Time values.
	MigrationsTable() string
	// IsUniqueViolation reports whether err is a unique-constraint violation.
	IsUniqueViolation(err error) bool
	// SyncMode returns the statement that makes commits wait for the disk
	// (unsynced false) or not, and whether it runs first inside the
	// transaction (inTx) or on the connection before it begins; "" if the
	// mode needs no statement.
	SyncMode(unsynced bool) (query string, inTx bool)
	// ExclusiveWrites reports whether every write transaction excludes all
	// others from its first statement, so that a read followed by a write
	// in one transaction sees no concurrent change, and statements need not
	// lock rows in a common order.
	ExclusiveWrites() bool
}
