// Package govtest runs the accounts' governance agents the way fleetgov
// serves them, for tests and benchmarks: the example fleet, a real SQLite
// store, the control plane, the MCP endpoint and the API on a loopback
// HTTP server, and a real MCP client. Every response a Session receives is
// validated against the official AdCP schema of its wire version.
package govtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/adcp/schema"
	"github.com/fleetgov/fleetgov/internal/api"
	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/governance/mcpserver"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// The example fleet's advertising accounts and the agent URLs the
// environment issues credentials for.
const (
	Production = "adsales" // a production advertising account
	Sandbox    = "adlab"   // a sandbox advertising account (AdCP 3.0 by default)
	BuyerURL   = "https://media-buyer.adsales.northwind.example"
	SellerURL  = "https://sales.streamhaus.example"
	Seller2URL = "https://ads.riverline.example"
)

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Env is a running fleetgov with its governance agents.
type Env struct {
	Store  store.Store
	Plane  *control.Plane
	Agent  *governance.Agent
	Server *httptest.Server
	Clock  *Clock
	// Tokens are bearer tokens: "platform", a tenant's ID (its tenant
	// token), and "buyer", "seller", "seller2" (AdCP principals of
	// adsales with the agent URLs above).
	Tokens map[string]string
}

// Options configures Start.
type Options struct {
	// FleetDir is the fleet repo to serve; empty copies the example fleet.
	FleetDir string
	// DBPath is the SQLite file; empty is a file in a temporary directory.
	DBPath string
}

// Platform is the platform admin principal the environment acts as.
var Platform = auth.Principal{Kind: store.KindPlatformAdmin, CredentialID: "cred_govtest_platform"}

// Start runs the environment until the test ends.
func Start(tb testing.TB, opt Options) *Env {
	tb.Helper()
	ctx := context.Background()
	if opt.FleetDir == "" {
		opt.FleetDir = CopyExampleFleet(tb)
	}
	if opt.DBPath == "" {
		opt.DBPath = filepath.Join(tb.TempDir(), "fleetgov.db")
	}
	st, err := sqlite.Open(ctx, opt.DBPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	clock := &Clock{t: time.Now().UTC().Truncate(time.Second)}
	plane, err := control.New(ctx, st, opt.FleetDir, control.Options{})
	if err != nil {
		tb.Fatalf("control plane: %v", err)
	}
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	tb.Cleanup(srv.Close)

	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		tb.Fatal(err)
	}
	keys, err := governance.NewKeyRing(st, master)
	if err != nil {
		tb.Fatal(err)
	}
	gov, err := governance.New(st, plane, keys, governance.Options{PublicURL: srv.URL, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	root := http.NewServeMux()
	root.Handle("/adcp/", mcpserver.New(gov, plane, nil).Handler())
	root.Handle("/", api.New(plane, api.Options{Governance: gov}).Handler())
	handler = root

	e := &Env{Store: st, Plane: plane, Agent: gov, Server: srv, Clock: clock, Tokens: map[string]string{}}
	for _, spec := range []string{"adsales/media-buyer.md", "adsales/brand-safety-guardian.md", "adlab/test-buyer.md"} {
		src, err := os.ReadFile(filepath.Join(opt.FleetDir, "specs", spec))
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := plane.Register(ctx, Platform, spec, src); err != nil {
			tb.Fatalf("register %s: %v", spec, err)
		}
	}
	m, err := auth.Mint(store.KindPlatformAdmin, "", "", "govtest", time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateCredential(ctx, m.Credential); err != nil {
		tb.Fatal(err)
	}
	e.Tokens["platform"] = m.Secret
	for _, t := range []string{Production, Sandbox} {
		_, secret, err := plane.IssueTenantToken(ctx, Platform, t, "govtest")
		if err != nil {
			tb.Fatalf("tenant token %s: %v", t, err)
		}
		e.Tokens[t] = secret
	}
	for name, url := range map[string]string{"buyer": BuyerURL, "seller": SellerURL, "seller2": Seller2URL} {
		_, secret, err := plane.IssueADCPCredential(ctx, Platform, Production, url, "govtest "+name)
		if err != nil {
			tb.Fatalf("AdCP credential %s: %v", name, err)
		}
		e.Tokens[name] = secret
	}
	if _, err := gov.Bind(ctx, Production, gov.Issuer(Production), "govtest", true); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	return e
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

// MCPURL is the MCP endpoint of an account's governance agent.
func (e *Env) MCPURL(account string) string { return e.Server.URL + "/adcp/" + account + "/mcp" }

// Session is an MCP client session with one account's governance agent.
type Session struct {
	tb      testing.TB
	cs      *mcp.ClientSession
	Account string
	// Version is the wire version the account speaks when a request names
	// no adcp_version.
	Version schema.Version
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// Connect opens an MCP session with an account's agent, authenticated by
// the named token ("buyer", "seller", a tenant ID...) or, if no token has
// that name, by the string itself.
func (e *Env) Connect(tb testing.TB, account, token string) *Session {
	tb.Helper()
	s, err := e.TryConnect(tb, account, token)
	if err != nil {
		tb.Fatalf("connect to %s as %s: %v", account, token, err)
	}
	return s
}

// TryConnect is Connect returning the error.
func (e *Env) TryConnect(tb testing.TB, account, token string) (*Session, error) {
	if t, ok := e.Tokens[token]; ok {
		token = t
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "govtest", Version: "1.0.0"}, nil)
	hc := &http.Client{Transport: bearer{token: token, next: http.DefaultTransport}, Timeout: 30 * time.Second}
	cs, err := client.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: e.MCPURL(account), HTTPClient: hc}, nil)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { cs.Close() })
	v := schema.V31
	if t, ok := e.Plane.Repo().Tenant(account); ok && t.ADCP.WireVersion != "" {
		if pv, err := schema.ParseVersion(t.ADCP.WireVersion); err == nil {
			v = pv
		}
	}
	return &Session{tb: tb, cs: cs, Account: account, Version: v}, nil
}

// Result is a task's answer.
type Result struct {
	Body    map[string]any
	IsError bool
	Text    string
}

// Error returns the AdCP error of a failed task: its code and field.
func (r Result) Error() (code, field string) {
	e, _ := r.Body["adcp_error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

// Call runs a task and validates the answer against the official schema of
// the request's wire version; a result that does not validate fails the
// test.
func (s *Session) Call(task string, args any) Result {
	s.tb.Helper()
	r, err := s.TryCall(task, args)
	if err != nil {
		s.tb.Fatalf("%s: %v", task, err)
	}
	return r
}

// TryCall is Call returning the protocol error of a call the server
// refuses before any task runs (an unknown tool, say) instead of failing
// the test. An answer is validated as Call validates it.
func (s *Session) TryCall(task string, args any) (Result, error) {
	s.tb.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		s.tb.Fatal(err)
	}
	res, err := s.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: task, Arguments: json.RawMessage(raw)})
	if err != nil {
		return Result{}, err
	}
	out := Result{IsError: res.IsError}
	sc, err := json.Marshal(res.StructuredContent)
	if err != nil {
		s.tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(sc))
	dec.UseNumber()
	if err := dec.Decode(&out.Body); err != nil || out.Body == nil {
		s.tb.Fatalf("%s: structuredContent is not a JSON object: %s", task, sc)
	}
	if len(res.Content) != 1 {
		s.tb.Fatalf("%s: %d content blocks, want the one text block", task, len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		s.tb.Fatalf("%s: content is %T, want text", task, res.Content[0])
	}
	out.Text = tc.Text
	if !jsonEqual(sc, []byte(tc.Text)) {
		s.tb.Errorf("%s: text content differs from structuredContent:\n%s\n%s", task, tc.Text, sc)
	}
	v := s.versionOf(args)
	// An answer names the release it was served in (a later pin is
	// downshifted): validate against that release's schema.
	if served, ok := out.Body["adcp_version"].(string); ok {
		if sv, err := schema.ParseVersion(served); err == nil {
			v = sv
		}
	}
	if err := CheckResponse(v, task, out); err != nil {
		s.tb.Errorf("%s response (AdCP %s) does not validate: %v\n%s", task, v, err, sc)
	}
	return out, nil
}

// Tools returns the names of the tools the agent lists (tools/list), in
// the order it lists them.
func (s *Session) Tools() []string {
	s.tb.Helper()
	var names []string
	for tool, err := range s.cs.Tools(context.Background(), nil) {
		if err != nil {
			s.tb.Fatalf("tools/list: %v", err)
		}
		names = append(names, tool.Name)
	}
	return names
}

// versionOf is the wire version a request speaks.
func (s *Session) versionOf(args any) schema.Version {
	if m, ok := args.(map[string]any); ok {
		if v, ok := m["adcp_version"].(string); ok {
			if pv, err := schema.ParseVersion(v); err == nil {
				return pv
			}
		}
	}
	return s.Version
}

// CheckResponse validates an answer against the official schema: a task's
// response schema, a submitted task's envelope, or each error of a failure
// against the error schema.
func CheckResponse(v schema.Version, task string, r Result) error {
	if r.IsError {
		errs, _ := r.Body["errors"].([]any)
		if len(errs) == 0 || r.Body["adcp_error"] == nil {
			return fmt.Errorf("a failure carries adcp_error and errors[]")
		}
		for _, e := range append(errs, r.Body["adcp_error"]) {
			if err := schema.ValidateSchema(v, "core/error.json", e); err != nil {
				return err
			}
		}
		return nil
	}
	// A task gone async answers the protocol envelope; get_task_status
	// reporting a submitted task is its own response.
	if r.Body["status"] == "submitted" && task != "get_task_status" {
		return schema.ValidateSchema(v, "core/protocol-envelope.json", r.Body)
	}
	return schema.Validate(v, task, schema.Response, r.Body)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// API calls fleetgov's HTTP API with the named token and decodes the JSON
// answer into out (when not nil); it returns the status and the body.
func (e *Env) API(tb testing.TB, method, path, token string, body any, out any) (int, string) {
	tb.Helper()
	if t, ok := e.Tokens[token]; ok {
		token = t
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, string(b)
}

// Raw runs a task without validating the answer, for benchmarks: it
// returns whether the task failed and the structured content.
func (s *Session) Raw(ctx context.Context, task string, args json.RawMessage) (isError bool, body json.RawMessage, err error) {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: task, Arguments: args})
	if err != nil {
		return false, nil, err
	}
	b, err := json.Marshal(res.StructuredContent)
	return res.IsError, b, err
}

// LoadClient calls an account's agent with bare MCP tools/call requests
// (JSON-RPC over Streamable HTTP, which fleetgov serves statelessly): the
// lean client of a load generator, so that a benchmark on one machine
// spends its CPU on the server rather than on the client.
type LoadClient struct {
	url, token string
	hc         *http.Client
	id         atomicCounter
}

type atomicCounter struct {
	mu sync.Mutex
	n  int64
}

func (c *atomicCounter) next() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// LoadClient returns a lean client of an account's agent authenticated by
// the named token.
func (e *Env) LoadClient(account, token string) *LoadClient {
	if t, ok := e.Tokens[token]; ok {
		token = t
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &LoadClient{url: e.MCPURL(account), token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Call runs a task and returns whether it failed and its structured
// content.
func (c *LoadClient) Call(ctx context.Context, task string, args json.RawMessage) (isError bool, body json.RawMessage, err error) {
	req := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, c.id.next(), task, args)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(req))
	if err != nil {
		return false, nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json, text/event-stream")
	hr.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(hr)
	if err != nil {
		return false, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, nil, fmt.Errorf("%s: HTTP %d: %s", task, resp.StatusCode, b)
	}
	var msg struct {
		Result *struct {
			IsError           bool            `json:"isError"`
			StructuredContent json.RawMessage `json:"structuredContent"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		return false, nil, fmt.Errorf("%s: %w", task, err)
	}
	if msg.Error != nil || msg.Result == nil {
		return false, nil, fmt.Errorf("%s: JSON-RPC error: %s", task, b)
	}
	return msg.Result.IsError, msg.Result.StructuredContent, nil
}
