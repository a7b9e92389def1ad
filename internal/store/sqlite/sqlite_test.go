package sqlite

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlstore"
	"github.com/fleetgov/fleetgov/internal/store/storetest"
)

// open opens a new store in t's temporary directory, closed when t ends.
func open(t testing.TB) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "sub", "dir", "fleetgov.db"))
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fleetgov.db")
	reopen := func(t *testing.T) *DB {
		db, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	storetest.Reopen(t, func(t *testing.T) store.Store { return reopen(t) })

	// Migrating the current schema again is a no-op.
	ctx := t.Context()
	db := reopen(t)
	n, err := sqlstore.Migrate(ctx, db.write, dialect{}, migrations(t))
	if err != nil || n != 0 {
		t.Errorf("Migrate on a current schema = %d, %v, want 0, nil", n, err)
	}
	var versions int
	if err := db.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	if want := countMigrations(t); versions != want {
		t.Errorf("schema_migrations has %d rows, want %d", versions, want)
	}
}

// TestUpgrade migrates a database of schema 0002 to the current one: what it
// held is kept, and a credential of 0002 reads back with no AgentURL.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "fleetgov.db")
	write, err := openPool(ctx, path, false, 1)
	if err != nil {
		t.Fatalf("openPool = %v", err)
	}
	if n, err := sqlstore.Migrate(ctx, write, dialect{}, migrationsUpTo(t, 2)); err != nil || n != 2 {
		t.Fatalf("Migrate(up to 0002) = %d, %v, want 2, nil", n, err)
	}
	legacy := store.Credential{ID: "c-old", Kind: store.KindTenant, TenantID: "acme", Hash: []byte("hash-old"),
		Prefix: "fg_old", Label: "from 0002", CreatedAt: time.UnixMicro(1_700_000_000_000_000).UTC()}
	if _, err := write.ExecContext(ctx, `INSERT INTO credentials
		(id, kind, tenant_id, agent_id, hash, prefix, label, created_at) VALUES (?, ?, ?, '', ?, ?, ?, ?)`,
		legacy.ID, legacy.Kind, legacy.TenantID, legacy.Hash, legacy.Prefix, legacy.Label,
		legacy.CreatedAt.UnixMicro()); err != nil {
		t.Fatalf("insert a 0002 credential: %v", err)
	}
	reopen := func(t *testing.T) *DB {
		db, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	oldAudit := func(r store.AuditRecord) error {
		_, err := write.ExecContext(ctx, `INSERT INTO audit_records (partition_name, seq, recorded_at, actor, action,
			object, outcome, trace_id, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Partition, r.Seq, r.Time.UnixMicro(), r.Actor, r.Action, r.Object, r.Outcome, r.TraceID, r.Detail, r.PrevHash, r.Hash)
		return err
	}
	oldLoad := func(l store.FleetLoad) (int64, error) {
		versions, err := json.Marshal(l.LibraryVersions)
		if err != nil {
			return 0, err
		}
		res, err := write.ExecContext(ctx, `INSERT INTO fleet_loads (digest, library_version, contract_version, source,
			loaded_at, loaded_by, library_versions) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			l.Digest, l.LibraryVersion, l.ContractVersion, l.Source, l.LoadedAt.UnixMicro(), l.LoadedBy, string(versions))
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	}
	storetest.Upgrade(t, sqlstore.New(dialect{}, write, write, sqlstore.Options{}), oldAudit, oldLoad, func(t *testing.T) store.Store { return reopen(t) })

	db := reopen(t)
	got, err := db.CredentialByHash(ctx, legacy.Hash)
	if err != nil {
		t.Fatalf("CredentialByHash(0002 credential) = %v", err)
	}
	if !reflect.DeepEqual(got, legacy) {
		t.Errorf("CredentialByHash(0002 credential) = %+v, want %+v", got, legacy)
	}
	var versions int
	if err := db.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	if want := countMigrations(t); versions != want {
		t.Errorf("schema_migrations has %d rows, want %d", versions, want)
	}
}

// TestReplicas opens several stores on one new file at once, as several
// processes would: the first creates the schema, and appends through
// different stores form one chain, which takes write transactions that lock
// the file from their first statement.
func TestReplicas(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fleetgov.db")
	storetest.Replicas(t, 4, func(ctx context.Context) (store.Store, error) { return Open(ctx, path) })
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "10000"},
	}
	for _, tc := range tests {
		var got string
		if err := db.write.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

// TestSyncModes checks that the writer commits in synchronous=NORMAL mode
// and that a write returns after a sync of the log, except a reservation's.
func TestSyncModes(t *testing.T) {
	t.Parallel()
	db := open(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	r := store.Reservation{ID: "res_sync", Tenant: "acme", Agent: "acme.a", Amount: 5, CreatedAt: now,
		Windows: []store.BudgetWindow{{Scope: "fleet", Period: "total", Limit: 10}}}
	before := db.wal.count()
	if err := db.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	if n := db.wal.count(); n != before {
		t.Errorf("Reserve synced the log (%d syncs, want %d): it need not wait for one", n, before)
	}
	if err := db.Atomic(ctx, func(tx store.Tx) error { return tx.Settle(ctx, r.ID, 3, now) }); err != nil {
		t.Fatal(err)
	}
	if n := db.wal.count(); n != before+1 {
		t.Errorf("after a synced Atomic, %d syncs of the log, want %d", n, before+1)
	}
	var mode string
	if err := db.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "1" {
		t.Errorf("PRAGMA synchronous = %s, want 1 (NORMAL): the store syncs the log itself", mode)
	}
	u, err := db.BudgetUsage(ctx, r.Windows[0])
	if err != nil || u.Spent != 3 || u.Reserved != 0 {
		t.Errorf("usage after settling = %+v, %v; want 3 spent, none reserved", u, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	if _, err := Open(context.Background(), ""); err == nil {
		t.Errorf("Open(%q) = nil error, want one", "")
	}
	dir := t.TempDir()
	if _, err := Open(t.Context(), dir); err == nil {
		t.Errorf("Open(%q) (a directory) = nil error, want one", dir)
	}
}

// TestNewerSchema checks that a database migrated by a newer build is refused.
func TestNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fleetgov.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	if _, err := db.write.ExecContext(t.Context(),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatalf("insert a future migration: %v", err)
	}
	db.Close()
	if db, err := Open(t.Context(), path); err == nil {
		db.Close()
		t.Errorf("Open(a database of a newer schema) = nil error, want one")
	}
}

func migrations(t *testing.T) fs.FS {
	t.Helper()
	m, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func countMigrations(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(migrations(t), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// migrationsUpTo returns the migrations numbered up to n.
func migrationsUpTo(t *testing.T, n int) fs.FS {
	t.Helper()
	names, err := fs.Glob(migrations(t), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, name := range names {
		num, _, _ := strings.Cut(name, "_")
		if v, err := strconv.Atoi(num); err != nil || v > n {
			continue
		}
		b, err := fs.ReadFile(migrations(t), name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = &fstest.MapFile{Data: b}
	}
	return out
}
