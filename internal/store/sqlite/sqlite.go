// Package sqlite is the embedded store.Store backend, on modernc.org/sqlite
// (pure Go, no cgo). The SQL and the semantics are shared with
// store/postgres in store/sqlstore; this package opens the database and
// holds the SQLite schema.
//
// The database runs in WAL mode with foreign keys on and a busy timeout.
// A write returns once its commit is in the log and the log is synced to
// disk: the writer commits in synchronous=NORMAL mode and the log is synced
// by the store after the write lock is released, once for every commit
// before it, so that the next group of writes need not wait for the disk.
// Only a budget reservation, which a synced settlement follows, returns
// before the sync. Writes go through a pool of one connection whose transactions
// start with BEGIN IMMEDIATE, so a transaction holds the write lock from its
// first statement: a read followed by a write in Atomic never has to upgrade
// its lock, and audit appends are serialized without further locking, also
// against other processes on the same file. Reads outside Atomic go to a
// separate pool of query-only connections, which WAL lets run alongside the
// writer. Concurrent Atomic calls are joined into group commits (see
// sqlstore.Options.GroupCommit).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlstore"
)

// busyTimeout is how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DB is a fleetgov store in one SQLite file. It implements store.Store.
type DB struct {
	*sqlstore.Store
	write *sql.DB
	wal   *walSyncer
}

// Close closes the database.
func (db *DB) Close() error {
	err := db.Store.Close()
	if werr := db.wal.close(); werr != nil && err == nil {
		err = fmt.Errorf("sqlite: close log: %w", werr)
	}
	return err
}

var _ store.Store = (*DB)(nil)

// Open opens the SQLite database at path, creating the file and its parent
// directories if needed, and applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write, err := openWriter(ctx, abs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if _, err := sqlstore.Migrate(ctx, write, dialect{}, migrations); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read, err := openPool(ctx, abs, true, max(4, runtime.GOMAXPROCS(0)))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wal := &walSyncer{path: abs + "-wal"}
	return &DB{Store: sqlstore.New(dialect{}, write, read, sqlstore.Options{GroupCommit: true, SyncLog: wal.sync}),
		write: write, wal: wal}, nil
}

// walSyncer syncs the write-ahead log file. SQLite's FULL mode syncs it
// inside the commit, holding the write lock across the disk's wait; the
// store commits in NORMAL mode and syncs here instead, after the lock is
// released. One fsync covers every frame written to the file before it, and
// a frame the log no longer holds was checkpointed into the database file,
// which NORMAL mode syncs before the log restarts.
type walSyncer struct {
	path  string
	mu    sync.Mutex
	f     *os.File
	syncs int // how many syncs succeeded, under mu
}

// sync syncs the log, opening it (again, if SQLite replaced it, which it
// does only after a checkpoint of all of it) as needed.
func (w *walSyncer) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		cur, err1 := os.Stat(w.path)
		held, err2 := w.f.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(cur, held) {
			w.f.Close()
			w.f = nil
		}
	}
	if w.f == nil {
		f, err := os.OpenFile(w.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		w.f = f
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	w.syncs++
	return nil
}

// count returns how many syncs succeeded.
func (w *walSyncer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncs
}

func (w *walSyncer) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// openWriter opens the pool of the one writer connection. Its first
// connection switches a new file to WAL, which takes an exclusive lock;
// SQLite reports a collision with another process doing the same as
// SQLITE_BUSY at once, without waiting the busy timeout, so openWriter
// retries for up to that long.
func openWriter(ctx context.Context, path string) (*sql.DB, error) {
	deadline := time.Now().Add(busyTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		db, err := openPool(ctx, path, false, 1)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return db, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY, extended codes included.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// openPool opens a pool of at most n connections to the file at path.
func openPool(ctx context.Context, path string, readOnly bool, n int) (*sql.DB, error) {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dialect is SQLite's sqlstore.Dialect.
type dialect struct{}

func (dialect) Name() string { return "sqlite" }

// Rebind turns $1 into ?1, SQLite's numbered parameter; the shared queries
// have no $ anywhere else.
func (dialect) Rebind(query string) string { return strings.ReplaceAll(query, "$", "?") }

func (dialect) Time(t time.Time) any { return t.UnixMicro() }

// AuditLock is not needed: write transactions begin IMMEDIATE and so are
// exclusive.
func (dialect) AuditLock(string) (string, []any) { return "", nil }

// MigrationLock is not needed, for the same reason.
func (dialect) MigrationLock() (string, []any) { return "", nil }

// SyncMode switches the writer connection between synchronous=FULL (a
// commit syncs the log) and NORMAL (the log is synced at checkpoints and at
// the next FULL commit). SQLite refuses the change inside a transaction.
func (dialect) SyncMode(unsynced bool) (string, bool) {
	if unsynced {
		return "PRAGMA synchronous = NORMAL", false
	}
	return "PRAGMA synchronous = FULL", false
}

// ExclusiveWrites holds: write transactions begin IMMEDIATE.
func (dialect) ExclusiveWrites() bool { return true }

func (dialect) MigrationsTable() string {
	return `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`
}

func (dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
