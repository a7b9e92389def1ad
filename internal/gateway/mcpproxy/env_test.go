package mcpproxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/gateway/mcpproxy"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// everythingVersion pins the official reference MCP server the tests run
// the proxy against (npm @modelcontextprotocol/server-everything).
const everythingVersion = "2026.8.31"

// everythingEnv names an installed mcp-server-everything command; .ci/run
// sets it. Without it the tests install the pinned version with npm into
// the user cache directory, and skip only when npm cannot.
const everythingEnv = "FLEETGOV_MCP_EVERYTHING"

var everything struct {
	once sync.Once
	url  string // the Streamable HTTP endpoint
	skip string // why the tests that need it skip
	err  error
	cmd  *exec.Cmd
	done chan error // the command's Wait
	log  bytes.Buffer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if c := everything.cmd; c != nil {
		_ = c.Process.Kill()
		<-everything.done
	}
	os.Exit(code)
}

// everythingURL returns the endpoint of a running server-everything
// (started once for the package), skipping the test when npm is
// unreachable and no installed command was named.
func everythingURL(t *testing.T) string {
	t.Helper()
	everything.once.Do(startEverything)
	if everything.skip != "" {
		t.Skip(everything.skip)
	}
	if everything.err != nil {
		t.Fatalf("server-everything: %v\n%s", everything.err, everything.log.String())
	}
	return everything.url
}

func startEverything() {
	bin := os.Getenv(everythingEnv)
	if bin == "" {
		var why string
		bin, why = installEverything()
		if bin == "" {
			everything.skip = fmt.Sprintf("cannot install @modelcontextprotocol/server-everything@%s with npm (%s); set %s to an installed mcp-server-everything command (.ci/run does)",
				everythingVersion, why, everythingEnv)
			return
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		everything.err = err
		return
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "streamableHttp")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	out := &syncWriter{w: &everything.log}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		everything.err = fmt.Errorf("start %s: %w", bin, err)
		return
	}
	everything.cmd, everything.done = cmd, make(chan error, 1)
	go func() { everything.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-everything.done:
			everything.err = fmt.Errorf("%s exited before listening: %v", bin, err)
			everything.cmd = nil
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			everything.err = fmt.Errorf("%s did not listen on port %d within 60s", bin, port)
			return
		}
	}
	everything.url = fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
}

// installEverything installs the pinned server-everything into the user
// cache directory, once; it returns its command, or why it could not.
func installEverything() (bin, why string) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", "npm is not installed"
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "fleetgov-test", "server-everything-"+everythingVersion)
	bin = filepath.Join(dir, "node_modules", ".bin", "mcp-server-everything")
	if _, err := os.Stat(bin); err == nil {
		return bin, ""
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err.Error()
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
	if err != nil {
		return "", err.Error()
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--silent",
		"@modelcontextprotocol/server-everything@"+everythingVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("npm install: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, serr := os.Stat(bin); serr != nil {
			return "", err.Error()
		}
	}
	return bin, ""
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// recorder is a recording reverse proxy in front of an upstream MCP server:
// it keeps every request's headers and body, to check what the gateway
// sends upstream.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	header http.Header
	body   string
}

// newRecorder starts a recording proxy to the upstream endpoint and returns
// the endpoint to use instead.
func newRecorder(t *testing.T, endpoint string) (*recorder, string) {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rp.FlushInterval = -1
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{header: r.Header.Clone(), body: string(b)})
		rec.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL + u.Path
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// seen reports whether any recorded request carried s in a header or body.
func (r *recorder) seen(s string) bool {
	for _, q := range r.all() {
		if strings.Contains(q.body, s) {
			return true
		}
		for _, vs := range q.header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					return true
				}
			}
		}
	}
	return false
}

// calls returns the names of the tools/call requests that reached upstream.
func (r *recorder) calls() []string {
	var out []string
	for _, q := range r.all() {
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if json.Unmarshal([]byte(q.body), &msg) == nil && msg.Method == "tools/call" {
			out = append(out, msg.Params.Name)
		}
	}
	return out
}

// env is a fleetgov control plane with the test fleet, its gateway and the
// MCP proxy on a loopback server, agents registered.
type env struct {
	st      store.Store
	plane   *control.Plane
	proxy   *mcpproxy.Proxy
	url     string
	keys    map[string]string // tenant → its agent's key
	tokens  map[string]string // tenant → a tenant token
	secrets map[string]string // credential file name → secret
}

var platform = auth.Principal{Kind: store.KindPlatformAdmin, CredentialID: "cred_mcptest_platform"}

// newEnv starts an environment whose "everything" server is at upstream.
func newEnv(t *testing.T, upstream string) *env {
	t.Helper()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "fleet")
	if err := os.CopyFS(dir, os.DirFS("testdata/fleet")); err != nil {
		t.Fatal(err)
	}
	secretsDir := filepath.Join(t.TempDir(), "secrets")
	if err := os.Mkdir(secretsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := &env{keys: map[string]string{}, tokens: map[string]string{}, secrets: map[string]string{}}
	for _, name := range []string{"alpha-everything", "beta-everything", "alpha-demo", "provider-key"} {
		e.secrets[name] = name + "-" + randomHex(t)
		if err := os.WriteFile(filepath.Join(secretsDir, name), []byte(e.secrets[name]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, "fleet.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"EVERYTHING_URL": upstream, "DOWN_URL": closedURL(t), "SECRETS": secretsDir}
	cfg := os.Expand(string(tmpl), func(k string) string { return vars[k] })
	if err := os.WriteFile(filepath.Join(dir, "fleet.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fleetgov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	plane, err := control.New(ctx, st, dir, control.Options{})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	g := gateway.New(plane, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	p := mcpproxy.New(g, mcpproxy.Options{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	e.st, e.plane, e.proxy, e.url = st, plane, p, srv.URL
	for tenant, spec := range map[string]string{"alpha": "alpha/operator.md", "beta": "beta/helper.md", "gamma": "gamma/loner.md"} {
		src, err := os.ReadFile(filepath.Join(dir, "specs", spec))
		if err != nil {
			t.Fatal(err)
		}
		res, err := plane.Register(ctx, platform, spec, src)
		if err != nil {
			t.Fatalf("register %s: %v", spec, err)
		}
		e.keys[tenant] = res.AgentKey
		_, tok, err := plane.IssueTenantToken(ctx, platform, tenant, "mcptest")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[tenant] = tok
	}
	return e
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// closedURL is an MCP endpoint on a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/mcp"
}

// withBearer sends a bearer token on every request.
type withBearer struct {
	base  http.RoundTripper
	token string
}

func (b withBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

// connect opens an MCP client session (the official Go SDK's client) with
// the proxy's server, with a bearer token.
func (e *env) connect(t *testing.T, server, token string) (*mcp.ClientSession, error) {
	t.Helper()
	return connectTo(t, e.url+"/gateway/mcp/"+server, token)
}

func connectTo(t *testing.T, endpoint, token string) (*mcp.ClientSession, error) {
	t.Helper()
	hc := &http.Client{Transport: withBearer{base: http.DefaultTransport, token: token}}
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpproxy-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { cs.Close() })
	return cs, nil
}

func (e *env) mustConnect(t *testing.T, server, tenant string) *mcp.ClientSession {
	t.Helper()
	cs, err := e.connect(t, server, e.keys[tenant])
	if err != nil {
		t.Fatalf("connect to %s as %s's agent: %v", server, tenant, err)
	}
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) ([]string, error) {
	t.Helper()
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	return out, nil
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, error) {
	t.Helper()
	return cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// audit returns the MCP proxy's records of a partition.
func (e *env) audit(t *testing.T, partition string) []store.AuditRecord {
	t.Helper()
	recs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Partition: partition, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditRecord
	for _, r := range recs {
		if r.Resource == gateway.ResourceMCP {
			out = append(out, r)
		}
	}
	return out
}

// audited returns the records of a partition with this action and object.
func (e *env) audited(t *testing.T, partition, action, object string) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	for _, r := range e.audit(t, partition) {
		if r.Action == action && r.Object == object {
			out = append(out, r)
		}
	}
	return out
}

func detail(t *testing.T, r store.AuditRecord) map[string]any {
	t.Helper()
	var d map[string]any
	if len(r.Detail) > 0 {
		if err := json.Unmarshal(r.Detail, &d); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// anywhereInAudit reports whether s appears in any audit record of any
// partition.
func (e *env) anywhereInAudit(t *testing.T, s string) bool {
	t.Helper()
	parts, err := e.st.AuditPartitions(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		recs, err := e.st.ListAudit(t.Context(), store.AuditFilter{Partition: p, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if strings.Contains(string(r.Detail)+r.Object+r.Actor+r.Action, s) {
				return true
			}
		}
	}
	return false
}
