package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fleetgov/fleetgov/examples"
	"github.com/fleetgov/fleetgov/internal/api"
	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/gctune"
	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/governance/mcpserver"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/postgres"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// Log attribute keys of the serve command.
const (
	logKeyAddr = "addr"
	logKeyPath = "path"
	logKeyErr  = "err"
)

// Files in the data directory.
const (
	dbFile          = "fleetgov.db"
	demoFleetDir    = "demo-fleet"
	demoCredentials = "demo-credentials.json"
	adminTokenFile  = "admin-token"
)

type serveConfig struct {
	fleetDir, dataDir, addr, postgresDSN, logFormat, publicURL string
	demo                                                       bool
}

func runServe(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "serve", "[--fleet DIR] [--data DIR] [--addr ADDR] [--demo] [--postgres DSN]")
	var c serveConfig
	fs.StringVar(&c.fleetDir, "fleet", os.Getenv("FLEETGOV_FLEET"), "the fleet repo `DIR`; env FLEETGOV_FLEET (with --demo, default: the built-in example fleet)")
	fs.StringVar(&c.dataDir, "data", envOr("FLEETGOV_DATA", "fleetgov-data"), "the data `DIR`: the embedded SQLite database and demo files; env FLEETGOV_DATA")
	fs.StringVar(&c.addr, "addr", envOr("FLEETGOV_ADDR", "127.0.0.1:8080"), "listen `ADDR`ess; env FLEETGOV_ADDR")
	fs.StringVar(&c.postgresDSN, "postgres", os.Getenv("FLEETGOV_POSTGRES"), "use PostgreSQL at `DSN` instead of the embedded SQLite; env FLEETGOV_POSTGRES")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&c.publicURL, "public-url", os.Getenv("FLEETGOV_PUBLIC_URL"), "the externally visible base `URL` (governance tokens name it as issuer); env FLEETGOV_PUBLIC_URL; default http://ADDR")
	fs.BoolVar(&c.demo, "demo", false, "run the demo: the example fleet, its agents registered, credentials in DATA/demo-credentials.json")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil || len(pos) > 0 {
		if len(pos) > 0 {
			fmt.Fprintf(e.stderr, "fleetgov serve: unexpected argument %q\n", pos[0])
		}
		return exitUsage
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		fmt.Fprintf(e.stderr, "fleetgov serve: unknown --log-format %q (want text or json)\n", c.logFormat)
		return exitUsage
	}
	if err := serve(ctx, e, c); err != nil {
		fmt.Fprintf(e.stderr, "fleetgov serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newLogger(e env, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, nil))
	}
	return slog.New(slog.NewTextHandler(e.stderr, nil))
}

func serve(ctx context.Context, e env, c serveConfig) error {
	log := newLogger(e, c.logFormat)
	if gc, changed := gctune.Apply(); changed {
		log.Debug("garbage collector tuned for serving; set GOGC or GOMEMLIMIT to choose otherwise", "gogc", gc)
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if c.fleetDir == "" {
		if !c.demo {
			return errors.New("name the fleet repo with --fleet DIR (or FLEETGOV_FLEET), or run the demo with --demo")
		}
		dir, err := writeDemoFleet(c.dataDir)
		if err != nil {
			return err
		}
		c.fleetDir = dir
	}
	st, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	plane, err := control.New(ctx, st, c.fleetDir, control.Options{Logger: log})
	if err != nil {
		var rej *control.RejectedError
		if errors.As(err, &rej) {
			for _, f := range rej.Findings {
				fmt.Fprintf(e.stderr, "  %s:%d: %s\n", f.File, f.Line, f.Message)
			}
		}
		return fmt.Errorf("load fleet repo %s: %w", c.fleetDir, err)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	baseURL := "http://" + ln.Addr().String()
	demoPath := ""
	if c.demo {
		if demoPath, err = seedDemo(ctx, plane, c.fleetDir, c.dataDir, baseURL); err != nil {
			ln.Close()
			return fmt.Errorf("demo: %w", err)
		}
	} else if path, err := ensureAdmin(ctx, st, c.dataDir); err != nil {
		ln.Close()
		return err
	} else if path != "" {
		log.Info("platform admin token created: read it from the file, then keep it somewhere safe", logKeyPath, path)
	}
	if c.publicURL == "" {
		c.publicURL = baseURL
	}
	gov, err := newGovernance(ctx, st, plane, c, log)
	if err != nil {
		ln.Close()
		return err
	}
	if c.demo {
		if err := seedDemoADCP(ctx, plane, gov, c.dataDir); err != nil {
			ln.Close()
			return fmt.Errorf("demo: %w", err)
		}
		log.Info("demo ready: credentials written", logKeyPath, demoPath)
	}
	srv := api.New(plane, api.Options{Logger: log, Governance: gov, Ready: func(ctx context.Context) error { return st.Ping(ctx) }})
	root := http.NewServeMux()
	root.Handle("/adcp/", mcpserver.New(gov, plane, log).Handler())
	mountGateway(ctx, root, plane, log)
	root.Handle("/", srv.Handler())
	hs := &http.Server{Handler: root, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if _, err := plane.Reload(ctx, "sighup"); err != nil {
					log.Error("reload on SIGHUP refused; the running fleet repo stays", logKeyErr, err)
				}
			}
		}
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("fleetgov listening", logKeyAddr, baseURL, "fleet", plane.Repo().Config.Fleet, "store", storeName(c))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func storeName(c serveConfig) string {
	if c.postgresDSN != "" {
		return "postgres"
	}
	return "sqlite:" + filepath.Join(c.dataDir, dbFile)
}

func openStore(ctx context.Context, c serveConfig) (store.Store, error) {
	if c.postgresDSN != "" {
		st, err := postgres.Open(ctx, c.postgresDSN)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, filepath.Join(c.dataDir, dbFile))
	if err != nil {
		return nil, fmt.Errorf("open SQLite store: %w", err)
	}
	return st, nil
}

// masterKeyFile holds the key that seals governance signing keys at rest.
const masterKeyFile = "master.key"

// masterKey returns the 32-byte key that seals signing keys: from
// FLEETGOV_MASTER_KEY (base64), else DATA/master.key, created on first use.
// Replicas sharing a PostgreSQL store must share it (set the variable).
func masterKey(dataDir string) ([]byte, error) {
	if v := os.Getenv("FLEETGOV_MASTER_KEY"); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(k) != 32 {
			return nil, errors.New("FLEETGOV_MASTER_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)")
		}
		return k, nil
	}
	path := filepath.Join(dataDir, masterKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s does not hold a base64 32-byte key", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return k, nil
}

// newGovernance builds the accounts' governance agent and binds fleetgov's
// built-in agent to every production advertising account that binds none.
func newGovernance(ctx context.Context, st store.Store, plane *control.Plane, c serveConfig, log *slog.Logger) (*governance.Agent, error) {
	mk, err := masterKey(c.dataDir)
	if err != nil {
		return nil, err
	}
	keys, err := governance.NewKeyRing(st, mk)
	if err != nil {
		return nil, err
	}
	gov, err := governance.New(st, plane, keys, governance.Options{PublicURL: c.publicURL, Logger: log})
	if err != nil {
		return nil, err
	}
	for _, t := range plane.Repo().Config.Tenants {
		if t.Kind != "advertising" || t.Sandbox {
			continue
		}
		if _, err := gov.Bind(ctx, t.ID, gov.Issuer(t.ID), "startup", true); err != nil {
			log.Warn("account binds another governance agent; fleetgov's own does not serve it", "account", t.ID, logKeyErr, err)
		}
	}
	return gov, nil
}

// writeDemoFleet copies the built-in example fleet into the data directory,
// unless a copy is already there (it may have been edited to try a reload).
func writeDemoFleet(dataDir string) (string, error) {
	dst := filepath.Join(dataDir, demoFleetDir)
	sub, err := fs.Sub(examples.Fleet, "fleet")
	if err != nil {
		return "", fmt.Errorf("write the example fleet: %w", err)
	}
	embedded, err := treeDigest(sub)
	if err != nil {
		return "", fmt.Errorf("write the example fleet: %w", err)
	}
	marker := filepath.Join(dataDir, demoFleetDir+".digest")
	if _, err := os.Stat(filepath.Join(dst, "fleet.yaml")); err == nil {
		// Keep a demo fleet the user has edited; replace one an older
		// fleetgov wrote and nobody touched, so that the demo keeps up.
		was, _ := os.ReadFile(marker)
		now, err := treeDigest(os.DirFS(dst))
		if err != nil || string(was) != now || now == embedded {
			return dst, nil
		}
		if err := os.RemoveAll(dst); err != nil {
			return "", fmt.Errorf("replace the example fleet: %w", err)
		}
	}
	if err := os.CopyFS(dst, sub); err != nil {
		return "", fmt.Errorf("write the example fleet: %w", err)
	}
	if err := os.WriteFile(marker, []byte(embedded), 0o600); err != nil {
		return "", fmt.Errorf("write the example fleet: %w", err)
	}
	return dst, nil
}

// treeDigest is a SHA-256 over the paths and contents of every file in fsys.
func treeDigest(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// ensureAdmin mints the platform admin token on first start and writes it to
// DATA/admin-token (mode 0600). It returns the path when it minted one.
func ensureAdmin(ctx context.Context, st store.Store, dataDir string) (string, error) {
	cs, err := st.ListCredentials(ctx, store.CredentialFilter{Kind: store.KindPlatformAdmin})
	if err != nil {
		return "", fmt.Errorf("look up the platform admin: %w", err)
	}
	for _, c := range cs {
		if c.RevokedAt.IsZero() {
			return "", nil
		}
	}
	m, err := auth.Mint(store.KindPlatformAdmin, "", "", "bootstrap", time.Now())
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, adminTokenFile)
	if err := os.WriteFile(path, []byte(m.Secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := st.CreateCredential(ctx, m.Credential); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("store the platform admin credential: %w", err)
	}
	return path, nil
}

// specErrors formats constraint errors one per line.
func specErrors(err error) string {
	s := ""
	for _, ce := range constraint.Errors(err) {
		s += "\n  " + ce.Error()
	}
	return s
}
