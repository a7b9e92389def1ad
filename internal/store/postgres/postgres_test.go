package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
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

// envDSN names the environment variable that holds the DSN of a PostgreSQL
// database the tests may create schemas in.
const envDSN = "FLEETGOV_TEST_POSTGRES"

// schemaDSN creates a schema with a random name and returns a DSN whose
// search_path is that schema; the schema is dropped when t ends.
func schemaDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		t.Skipf("%s is not set; set it to a PostgreSQL DSN to run the PostgreSQL tests", envDSN)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", envDSN, err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := "fleetgov_test_" + rand.Text()[:16]
	schema = strings.ToLower(schema)
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, dsn, schema)
}

// withSearchPath sets search_path in a URL or key=value DSN.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", envDSN, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// open opens a store in a fresh schema, closed when t ends.
func open(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn)
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
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, schemaDSN(t)) })
}

func TestReopen(t *testing.T) {
	t.Parallel()
	dsn := schemaDSN(t)
	storetest.Reopen(t, func(t *testing.T) store.Store { return open(t, dsn) })

	// Migrating the current schema again is a no-op.
	ctx := t.Context()
	db := open(t, dsn)
	m := migrations(t)
	n, err := sqlstore.Migrate(ctx, db.db, dialect{}, m)
	if err != nil || n != 0 {
		t.Errorf("Migrate on a current schema = %d, %v, want 0, nil", n, err)
	}
	var versions int
	if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	names, err := fs.Glob(m, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if versions != len(names) {
		t.Errorf("schema_migrations has %d rows, want %d", versions, len(names))
	}
}

// TestUpgrade migrates a database of schema 0002 to the current one: what it
// held is kept, and a credential of 0002 reads back with no AgentURL.
func TestUpgrade(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := schemaDSN(t)
	old, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if n, err := sqlstore.Migrate(ctx, old, dialect{}, migrationsUpTo(t, 2)); err != nil || n != 2 {
		t.Fatalf("Migrate(up to 0002) = %d, %v, want 2, nil", n, err)
	}
	legacy := store.Credential{ID: "c-old", Kind: store.KindTenant, TenantID: "acme", Hash: []byte("hash-old"),
		Prefix: "fg_old", Label: "from 0002", CreatedAt: time.UnixMicro(1_700_000_000_000_000).UTC()}
	if _, err := old.ExecContext(ctx, `INSERT INTO credentials
		(id, kind, tenant_id, agent_id, hash, prefix, label, created_at) VALUES ($1, $2, $3, '', $4, $5, $6, $7)`,
		legacy.ID, legacy.Kind, legacy.TenantID, legacy.Hash, legacy.Prefix, legacy.Label, legacy.CreatedAt); err != nil {
		t.Fatalf("insert a 0002 credential: %v", err)
	}
	oldAudit := func(r store.AuditRecord) error {
		_, err := old.ExecContext(ctx, `INSERT INTO audit_records (partition_name, seq, recorded_at, actor, action,
			object, outcome, trace_id, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			r.Partition, r.Seq, r.Time, r.Actor, r.Action, r.Object, r.Outcome, r.TraceID, r.Detail, r.PrevHash, r.Hash)
		return err
	}
	oldLoad := func(l store.FleetLoad) (int64, error) {
		versions, err := json.Marshal(l.LibraryVersions)
		if err != nil {
			return 0, err
		}
		var id int64
		err = old.QueryRowContext(ctx, `INSERT INTO fleet_loads (digest, library_version, contract_version, source,
			loaded_at, loaded_by, library_versions) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			l.Digest, l.LibraryVersion, l.ContractVersion, l.Source, l.LoadedAt, l.LoadedBy, string(versions)).Scan(&id)
		return id, err
	}
	storetest.Upgrade(t, sqlstore.New(dialect{}, old, old, sqlstore.Options{}), oldAudit, oldLoad, func(t *testing.T) store.Store { return open(t, dsn) })

	db := open(t, dsn)
	got, err := db.CredentialByHash(ctx, legacy.Hash)
	if err != nil {
		t.Fatalf("CredentialByHash(0002 credential) = %v", err)
	}
	if !reflect.DeepEqual(got, legacy) {
		t.Errorf("CredentialByHash(0002 credential) = %+v, want %+v", got, legacy)
	}
	names, err := fs.Glob(migrations(t), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("count schema_migrations: %v", err)
	}
	if versions != len(names) {
		t.Errorf("schema_migrations has %d rows, want %d", versions, len(names))
	}
}

// TestReplicas opens several stores on one new schema at once: migrations
// run once, and appends through different stores form one chain.
func TestReplicas(t *testing.T) {
	t.Parallel()
	dsn := schemaDSN(t)
	storetest.Replicas(t, 4, func(ctx context.Context) (store.Store, error) { return Open(ctx, dsn) })
}

func TestWithSearchPath(t *testing.T) {
	t.Parallel()
	tests := []struct{ dsn, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s&sslmode=disable"},
		{"host=h dbname=db", "host=h dbname=db search_path=s"},
	}
	for _, tc := range tests {
		if got := withSearchPath(t, tc.dsn, "s"); got != tc.want {
			t.Errorf("withSearchPath(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
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
