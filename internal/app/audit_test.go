package app_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/postgres"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// fillAudit appends records to three partitions: acme (5), beta (3) and the
// platform's (2), as the gateway and the control plane would.
func fillAudit(t *testing.T, st store.Store) {
	t.Helper()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for p, n := range map[string]int{"acme": 5, "beta": 3, store.PlatformPartition: 2} {
		for i := range n {
			r := store.AuditRecord{Partition: p, Time: t0.Add(time.Duration(i) * time.Second), Actor: "cred-" + p,
				Agent: p + ".bot", Resource: "model-provider", Action: "model.call", Object: "gpt-x", Outcome: "allow",
				TraceID: fmt.Sprintf("trace-%d", i), CostMicros: int64(1000 * (i + 1)), Detail: []byte(fmt.Sprintf(`{"tokens":%d}`, 10*i))}
			if _, err := st.AppendAudit(t.Context(), r); err != nil {
				t.Fatalf("AppendAudit(%s) = %v", p, err)
			}
		}
	}
}

// tamper is an edit of the database behind the store's back, and what
// audit verify must then report.
type tamper struct {
	name string
	sql  []string // run in order; nil for none
	code int
	want []string // in the output: partition, seq and kind
}

// tampers are written for both backends: the SQL is the same in both.
var tampers = []tamper{
	{"untouched", nil, 0, []string{"partition acme: 5 records", "partition beta: 3 records", "partition _platform: 2 records", "every chain is intact"}},
	{"outcome changed", []string{`UPDATE audit_records SET outcome = 'deny' WHERE partition_name = 'acme' AND seq = 3`},
		1, []string{"acme seq 3: altered", "partition beta: 3 records, head", "1 of 3 partitions"}},
	{"cost changed", []string{`UPDATE audit_records SET cost_micros = 1 WHERE partition_name = 'beta' AND seq = 2`},
		1, []string{"beta seq 2: altered"}},
	{"agent changed", []string{`UPDATE audit_records SET agent = 'acme.other' WHERE partition_name = 'acme' AND seq = 1`},
		1, []string{"acme seq 1: altered"}},
	{"middle record deleted", []string{`DELETE FROM audit_records WHERE partition_name = 'acme' AND seq = 3`},
		1, []string{"acme seq 3: removed", "partition acme: 4 records"}},
	{"first record deleted", []string{`DELETE FROM audit_records WHERE partition_name = '_platform' AND seq = 1`},
		1, []string{"_platform seq 1: removed"}},
	{"seqs swapped", []string{
		`UPDATE audit_records SET seq = -2 WHERE partition_name = 'acme' AND seq = 2`,
		`UPDATE audit_records SET seq = 2 WHERE partition_name = 'acme' AND seq = 3`,
		`UPDATE audit_records SET seq = 3 WHERE partition_name = 'acme' AND seq = -2`,
	}, 1, []string{"acme seq 2: reordered", "acme seq 3: reordered"}},
	{"record moved to another partition", []string{`UPDATE audit_records SET partition_name = 'beta', seq = 4 WHERE partition_name = 'acme' AND seq = 5`},
		1, []string{"beta seq 4: altered"}},
}

// runTampers fills a fresh store per case from open, tampers with it through
// db(t, store) and runs audit verify with args(store).
func runTampers(t *testing.T, open func(t *testing.T) (st store.Store, db *sql.DB, args []string)) {
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, db, args := open(t)
			fillAudit(t, st)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			for _, q := range tc.sql {
				if _, err := db.ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			code, out, errOut := run(t, append([]string{"audit", "verify"}, args...)...)
			if code != tc.code {
				t.Errorf("audit verify = exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("audit verify output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}
}

func TestAuditVerifySQLite(t *testing.T) {
	t.Parallel()
	runTampers(t, func(t *testing.T) (store.Store, *sql.DB, []string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "fleetgov.db")
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return st, db, []string{"--data", dir}
	})
}

func TestAuditVerifyPostgres(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("FLEETGOV_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("FLEETGOV_TEST_POSTGRES is not set; set it to a PostgreSQL DSN to run the PostgreSQL tests")
	}
	runTampers(t, func(t *testing.T) (store.Store, *sql.DB, []string) {
		schemaDSN := pgSchema(t, dsn)
		st, err := postgres.Open(t.Context(), schemaDSN)
		if err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("pgx", schemaDSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return st, db, []string{"--postgres", schemaDSN}
	})
}

// pgSchema creates a schema that is dropped when t ends and returns dsn
// with that schema as its search_path.
func pgSchema(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := "fleetgov_app_" + strings.ToLower(rand.Text()[:16])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("FLEETGOV_TEST_POSTGRES must be a postgres:// URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// exportFixture fills a SQLite store and exports it; it returns the data
// directory and the export's lines.
func exportFixture(t *testing.T) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "fleetgov.db"))
	if err != nil {
		t.Fatal(err)
	}
	fillAudit(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "audit", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("audit export = exit %d: %s", code, errOut)
	}
	return dir, strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n")
}

func TestAuditExportVerify(t *testing.T) {
	t.Parallel()
	dir, lines := exportFixture(t)
	if len(lines) != 10 {
		t.Fatalf("audit export wrote %d lines, want 10:\n%s", len(lines), strings.Join(lines, ""))
	}
	// Partitions in name order, each in seq order.
	for i, want := range []string{`"partition":"_platform","seq":1,`, `"partition":"acme","seq":1,`, `"partition":"acme","seq":5,`, `"partition":"beta","seq":3,`} {
		at := []int{0, 2, 6, 9}[i]
		if !strings.HasPrefix(lines[at], "{"+want) {
			t.Errorf("export line %d = %s, want it to start with %s", at+1, lines[at], want)
		}
	}
	// line returns the index of the export line of partition p, seq n.
	line := func(p string, n int) int {
		for i, l := range lines {
			if strings.HasPrefix(l, fmt.Sprintf(`{"partition":%q,"seq":%d,`, p, n)) {
				return i
			}
		}
		t.Fatalf("no export line of %s seq %d", p, n)
		return -1
	}
	edit := func(f func(ls []string) []string) string {
		return strings.Join(f(append([]string(nil), lines...)), "")
	}
	tests := []struct {
		name    string
		content string
		args    []string
		code    int
		want    []string
	}{
		{"untouched", edit(func(ls []string) []string { return ls }), nil, 0, []string{"partition acme: 5 records", "3 partitions, 10 records: every chain is intact"}},
		{"outcome changed", edit(func(ls []string) []string {
			i := line("acme", 2)
			ls[i] = strings.Replace(ls[i], `"outcome":"allow"`, `"outcome":"deny"`, 1)
			return ls
		}), nil, 1, []string{"acme seq 2: altered"}},
		{"detail changed", edit(func(ls []string) []string {
			i := line("beta", 3)
			ls[i] = strings.Replace(ls[i], `tokens\":20`, `tokens\":2`, 1)
			return ls
		}), nil, 1, []string{"beta seq 3: altered"}},
		{"line deleted", edit(func(ls []string) []string {
			i := line("acme", 4)
			return append(ls[:i], ls[i+1:]...)
		}), nil, 1, []string{"acme seq 4: removed"}},
		{"lines swapped", edit(func(ls []string) []string {
			i, j := line("acme", 2), line("acme", 3)
			ls[i], ls[j] = ls[j], ls[i]
			return ls
		}), nil, 1, []string{"acme seq 3: reordered", "acme seq 2: reordered"}},
		{"one partition", edit(func(ls []string) []string {
			i := line("acme", 2)
			ls[i] = strings.Replace(ls[i], `"outcome":"allow"`, `"outcome":"deny"`, 1)
			return ls
		}), []string{"--partition", "beta"}, 0, []string{"partition beta: 3 records", "1 partition, 3 records: every chain is intact"}},
		{"cut short", edit(func(ls []string) []string { return append(ls[:3], `{"error":"the export was cut short"}`+"\n") }),
			nil, 1, []string{"incomplete export", "line 4"}},
		{"not an export", "hello\n", nil, 1, []string{"line 1", "malformed export"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "export.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := run(t, append([]string{"audit", "verify", "--file", path}, tc.args...)...)
			if code != tc.code {
				t.Errorf("audit verify --file = exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("audit verify --file output lacks %q:\n%s%s", w, out, errOut)
				}
			}
		})
	}

	// The store and its export verify alike, one partition at a time too.
	code, out, _ := run(t, "audit", "verify", "--data", dir, "--partition", "beta")
	if code != 0 || !strings.Contains(out, "partition beta: 3 records") || strings.Contains(out, "acme") {
		t.Errorf("audit verify --partition beta = exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "audit", "export", "--data", dir, "--partition", "beta")
	if code != 0 || strings.Count(out, "\n") != 3 || strings.Contains(out, "acme") {
		t.Errorf("audit export --partition beta = exit %d\n%s", code, out)
	}
}

func TestAuditUsage(t *testing.T) {
	t.Parallel()
	dir, _ := exportFixture(t)
	empty := t.TempDir()
	tests := []struct {
		name   string
		args   []string
		code   int
		wantIn string
	}{
		{"two sources", []string{"audit", "verify", "--data", dir, "--file", "x.jsonl"}, 2, "name one of"},
		{"data and postgres", []string{"audit", "export", "--data", dir, "--postgres", "postgres://x"}, 2, "name one of"},
		{"no database", []string{"audit", "verify", "--data", empty}, 2, "no database at"},
		{"missing file", []string{"audit", "verify", "--file", filepath.Join(empty, "nope.jsonl")}, 2, "nope.jsonl"},
		{"positional argument", []string{"audit", "verify", "--data", dir, "extra"}, 2, `unexpected argument "extra"`},
		{"unknown flag", []string{"audit", "verify", "--nope"}, 2, "-nope"},
		{"export has no --file", []string{"audit", "export", "--file", "x"}, 2, "-file"},
		{"unknown partition", []string{"audit", "verify", "--data", dir, "--partition", "nope"}, 1, "partition nope has no records"},
		{"help", []string{"audit", "verify", "-h"}, 0, "Usage: fleetgov audit verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.wantIn) {
				t.Errorf("fleetgov %s = exit %d\n%s%s\nwant exit %d containing %q", strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.wantIn)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(empty, "fleetgov.db")); err == nil {
		t.Error("audit verify --data on a directory without a database created one")
	}
}
