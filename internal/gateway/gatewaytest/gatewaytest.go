// Package gatewaytest runs a fleetgov control plane and gateway for tests:
// a copy of the example fleet repo (or another), a real store (SQLite in a
// temporary directory, or PostgreSQL in a fresh schema), every example
// spec registered, and a tenant token per tenant and an agent key per agent.
package gatewaytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/postgres"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// EnvPostgres names the environment variable holding a PostgreSQL DSN the
// tests may create schemas in.
const EnvPostgres = "FLEETGOV_TEST_POSTGRES"

// Platform is the platform admin principal the environment seeds with.
var Platform = auth.Principal{Kind: store.KindPlatformAdmin, CredentialID: "cred_gatewaytest_platform"}

// Env is a running control plane with its gateway.
type Env struct {
	Dir     string // the fleet repo
	Store   store.Store
	Plane   *control.Plane
	Gateway *gateway.Gateway
	// Tenants maps a tenant ID to its tenant token; Agents maps an agent ID
	// ("<tenant>.<name>") to its agent key.
	Tenants map[string]string
	Agents  map[string]string
}

// Options configures Start.
type Options struct {
	// FleetDir is the fleet repo; empty copies the example fleet.
	FleetDir string
	// Edit, if set, may change the fleet repo copy before it loads.
	Edit func(tb testing.TB, dir string)
	// Store is the store; empty opens SQLite in a temporary directory.
	Store store.Store
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Start runs the environment until the test ends.
func Start(tb testing.TB, opt Options) *Env {
	tb.Helper()
	ctx := context.Background()
	if opt.FleetDir == "" {
		opt.FleetDir = CopyExampleFleet(tb)
	}
	if opt.Edit != nil {
		opt.Edit(tb, opt.FleetDir)
	}
	st := opt.Store
	if st == nil {
		st = SQLite(tb)
	}
	plane, err := control.New(ctx, st, opt.FleetDir, control.Options{Now: opt.Now})
	if err != nil {
		tb.Fatalf("control plane: %v", err)
	}
	e := &Env{Dir: opt.FleetDir, Store: st, Plane: plane, Gateway: gateway.New(plane, gateway.Options{Now: opt.Now}),
		Tenants: map[string]string{}, Agents: map[string]string{}}
	for _, t := range plane.Repo().Config.Tenants {
		_, secret, err := plane.IssueTenantToken(ctx, Platform, t.ID, "gatewaytest")
		if err != nil {
			tb.Fatalf("tenant token %s: %v", t.ID, err)
		}
		e.Tenants[t.ID] = secret
	}
	specs, err := fleet.LoadSpecs(filepath.Join(opt.FleetDir, fleet.SpecsDir))
	if err != nil {
		tb.Fatalf("specs: %v", err)
	}
	for _, s := range specs {
		src, err := os.ReadFile(s.File)
		if err != nil {
			tb.Fatal(err)
		}
		rel, _ := filepath.Rel(opt.FleetDir, s.File)
		res, err := plane.Register(ctx, Platform, rel, src)
		if err != nil {
			tb.Fatalf("register %s: %v", rel, err)
		}
		e.Agents[res.Agent.ID] = res.AgentKey
	}
	return e
}

// SQLite opens a SQLite store in a temporary directory, closed when tb ends.
func SQLite(tb testing.TB) store.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "fleetgov.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// Postgres opens a PostgreSQL store in a fresh schema, dropped when tb ends;
// it skips tb when EnvPostgres is not set.
func Postgres(tb testing.TB) store.Store {
	tb.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		tb.Skipf("%s is not set; set it to a PostgreSQL DSN to run the PostgreSQL tests", EnvPostgres)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatalf("open %s: %v", EnvPostgres, err)
	}
	schema := strings.ToLower("fleetgov_gwtest_" + rand.Text()[:16])
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s must be a postgres:// URL: %v", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := postgres.Open(context.Background(), u.String())
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() {
		st.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	return st
}

// CopyExampleFleet copies the example fleet repo into a temporary directory.
func CopyExampleFleet(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "fleet")
	dst := filepath.Join(tb.TempDir(), "fleet")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		tb.Fatal(err)
	}
	return dst
}

// ReplaceInFile replaces old with new in the fleet repo file name (relative
// to dir), failing tb if old is not there.
func ReplaceInFile(tb testing.TB, dir, name, old, new string) {
	tb.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		tb.Fatalf("%s does not contain %q", name, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Do sends a request with the bearer token (none if empty), a JSON body (a
// string is sent as it is, nil sends none) and extra headers, given as
// name, value pairs, and returns the answer's status and body.
func Do(tb testing.TB, method, url, token string, body any, hdr ...string) (status int, answer []byte) {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return res.StatusCode, b
}
