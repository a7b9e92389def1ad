package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// isolationClient calls the running demo with one credential.
type isolationClient struct {
	t    *testing.T
	base string
	tok  string
}

// do sends a request and returns the status and the raw body.
func (c isolationClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// auditRecords reads a tenant's own audit partition.
func (c isolationClient) auditRecords() []map[string]any {
	c.t.Helper()
	status, b := c.do("GET", "/v1/audit?limit=1000", nil)
	if status != http.StatusOK {
		c.t.Fatalf("GET /v1/audit = %d %s", status, b)
	}
	var out struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatal(err)
	}
	return out.Records
}

// sameAnswer reports whether two refusals are alike once the name each
// asked for is taken out: the answer to another tenant's object must be the
// answer to a missing one.
func sameAnswer(a, b []byte, nameA, nameB string) bool {
	return string(bytes.ReplaceAll(a, []byte(nameA), []byte("X"))) == string(bytes.ReplaceAll(b, []byte(nameB), []byte("X")))
}

// TestIsolationBattery takes tenant B's credentials (support: its tenant
// token and its agents' keys) against every one of tenant A's resources
// (payments: its model budget, its MCP tools and upstream credential, its
// vector collections, private skills and audit records) on the running demo: every attempt is refused, the
// answers reveal nothing of A's (not even whether an object exists), and
// each refusal is audited in B's partition, with a Cat 4 event at the
// platform tier for each cross-tenant attempt.
func TestIsolationBattery(t *testing.T) {
	creds, _ := demoServer(t)
	key := func(agent string) string {
		for _, a := range creds.Agents {
			if a.ID == agent {
				return a.Key
			}
		}
		t.Fatalf("no demo key for %s", agent)
		return ""
	}
	tenant := func(id string) string {
		for _, tt := range creds.Tenants {
			if tt.ID == id {
				return tt.Token
			}
		}
		t.Fatalf("no demo token for %s", id)
		return ""
	}
	aTok := isolationClient{t, creds.API, tenant("payments")}
	aKey := isolationClient{t, creds.API, key("payments.refund-executor")}
	bTok := isolationClient{t, creds.API, tenant("support")}
	bKey := isolationClient{t, creds.API, key("support.support-advisor")}
	admin := isolationClient{t, creds.API, creds.PlatformAdminToken}

	// Tenant A's resources.
	if s, b := aTok.do("POST", "/gateway/vector/collections", map[string]any{"name": "market-notes", "dims": 3}); s != http.StatusCreated {
		t.Fatalf("A creates a collection: %d %s", s, b)
	}
	if s, b := aTok.do("POST", "/gateway/vector/collections/market-notes/upsert", map[string]any{"points": []any{
		map[string]any{"id": "q3-churn", "vector": []float64{0.9, 0.1, 0.2}, "text": "Q3 churn rose 4% in the Nordics"}}}); s != http.StatusOK {
		t.Fatalf("A upserts: %d %s", s, b)
	}
	if s, b := aTok.do("POST", "/gateway/skills", map[string]any{
		"manifest": map[string]any{"name": "competitor-scan", "version": "1.0.0", "description": "Scan competitor pricing pages.", "visibility": "private"},
		"skill_md": "# Competitor scan\nVisit the pricing pages and tabulate.\n"}); s != http.StatusCreated {
		t.Fatalf("A publishes a private skill: %d %s", s, b)
	}

	before := len(bTok.auditRecords())
	type attempt struct {
		name    string
		c       isolationClient
		method  string
		path    string
		body    any
		status  int
		missing string // the same request for an object nobody has: the answer must be identical
		cat4    bool   // the attempt names A: a Cat 4 event at the platform tier
	}
	attempts := []attempt{
		{"query A's collection", bKey, "POST", "/gateway/vector/collections/market-notes/query", map[string]any{"vector": []float64{1, 0, 0}, "top_k": 5}, 404,
			"/gateway/vector/collections/nope-notes/query", false},
		{"fetch A's points", bKey, "POST", "/gateway/vector/collections/market-notes/fetch", map[string]any{"ids": []string{"q3-churn"}}, 404,
			"/gateway/vector/collections/nope-notes/fetch", false},
		{"overwrite A's points", bKey, "POST", "/gateway/vector/collections/market-notes/upsert", map[string]any{"points": []any{
			map[string]any{"id": "q3-churn", "vector": []float64{0, 0, 1}}}}, 404, "/gateway/vector/collections/nope-notes/upsert", false},
		{"delete A's collection", bTok, "DELETE", "/gateway/vector/collections/market-notes", nil, 404, "/gateway/vector/collections/nope-notes", false},
		{"query naming A's namespace", bKey, "POST", "/gateway/vector/collections/market-notes/query", map[string]any{"vector": []float64{1, 0, 0}, "namespace": "payments"}, 403,
			"", true},
		{"read A's private skill", bKey, "GET", "/gateway/skills/payments/competitor-scan", nil, 404, "/gateway/skills/payments/nope-scan", true},
		{"read A's private skill version", bTok, "GET", "/gateway/skills/payments/competitor-scan/versions/1.0.0", nil, 404, "/gateway/skills/payments/nope-scan/versions/1.0.0", true},
		{"read A's audit partition", bTok, "GET", "/v1/audit?partition=payments", nil, 404, "/v1/audit?partition=nope-tenant", true},
		{"export A's audit partition", bTok, "GET", "/v1/audit/export?partition=payments", nil, 404, "/v1/audit/export?partition=nope-tenant", true},
	}
	refusals := 0
	for _, at := range attempts {
		status, body := at.c.do(at.method, at.path, at.body)
		if status != at.status {
			t.Errorf("%s: %d %s, want %d", at.name, status, body, at.status)
			continue
		}
		refusals++
		if strings.Contains(string(body), "Q3 churn") || strings.Contains(string(body), "q3-churn") || strings.Contains(string(body), "Competitor") {
			t.Errorf("%s: the answer reveals A's data: %s", at.name, body)
		}
		if at.missing != "" {
			ms, mb := at.c.do(at.method, at.missing, at.body)
			nameA, nameB := "market-notes", "nope-notes"
			switch {
			case strings.Contains(at.path, "/skills/"):
				nameA, nameB = "competitor-scan", "nope-scan"
			case strings.Contains(at.path, "/audit"):
				nameA, nameB = "payments", "nope-tenant"
			}
			if ms != status || !sameAnswer(body, mb, nameA, nameB) {
				t.Errorf("%s: answer %d %s; for a missing object %d %s: they must be the same", at.name, status, body, ms, mb)
			}
		}
	}
	// The model budget: B's calls are metered to B, whatever B claims;
	// A's windows do not move.
	aModel := len(modelRecords(aTok.auditRecords()))
	status, body := bKey.do("POST", "/gateway/openai/v1/chat/completions", map[string]any{"model": "fleet-demo-mini", "max_tokens": 20,
		"user": "payments.refund-executor", "messages": []any{map[string]any{"role": "user", "content": "charge this to payments"}}})
	if status != http.StatusOK && status != http.StatusForbidden {
		t.Errorf("B's model call: %d %s", status, body)
	}
	if n := len(modelRecords(aTok.auditRecords())); n != aModel {
		t.Errorf("B's model call left %d records in A's partition", n-aModel)
	}
	if recs := modelRecords(bTok.auditRecords()); len(recs) == 0 || recs[len(recs)-1]["agent"] != "support.support-advisor" {
		t.Errorf("B's model call is not attributed to B's agent: %v", recs)
	}

	// MCP: A's tools on the shared CRM are not in B's list; calling one is
	// refused exactly as an unknown tool is; B's calls never carry A's
	// upstream credential (whoami reports the injected credential's
	// fingerprint).
	aMCP := mcpSession(t, creds.API+"/gateway/mcp/crm", aKey.tok)
	if aTools, err := aMCP.ListTools(t.Context(), nil); err != nil || len(aTools.Tools) == 0 || aTools.Tools[0].Name != "add_case_note" {
		t.Fatalf("A's crm tools = %v, %v; want add_case_note", aTools, err)
	}
	bMCP := mcpSession(t, creds.API+"/gateway/mcp/crm", key("support.reply-executor"))
	tools, err := bMCP.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("B lists crm tools: %v", err)
	}
	for _, tl := range tools.Tools {
		if tl.Name == "add_case_note" {
			t.Errorf("B's crm tools/list holds A's add_case_note")
		}
	}
	callTool := func(name string) string {
		res, err := bMCP.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: map[string]any{"case_id": "C-1", "note": "x"}})
		if err != nil {
			return err.Error()
		}
		b, _ := json.Marshal(res)
		return string(b)
	}
	if got, missing := callTool("add_case_note"), callTool("add_case_notes"); strings.ReplaceAll(got, "add_case_note", "X") != strings.ReplaceAll(missing, "add_case_notes", "X") || !strings.Contains(got, "add_case_note") {
		t.Errorf("B calling A's tool: %q; an unknown tool: %q; they must be the same", got, missing)
	} else {
		refusals++
	}

	// B's list views hold nothing of A's.
	for _, path := range []string{"/gateway/vector/collections", "/gateway/skills"} {
		_, b := bKey.do("GET", path, nil)
		if strings.Contains(string(b), "market-notes") || strings.Contains(string(b), "competitor-scan") {
			t.Errorf("GET %s as B lists A's objects: %s", path, b)
		}
	}

	// A's collection and skill are untouched.
	if s, b := aTok.do("POST", "/gateway/vector/collections/market-notes/fetch", map[string]any{"ids": []string{"q3-churn"}}); s != http.StatusOK || !strings.Contains(string(b), "Q3 churn") || !strings.Contains(string(b), "0.9") {
		t.Errorf("A's point after B's attempts: %d %s", s, b)
	}

	// Every refusal is in B's partition (the missing-object probes add as
	// many again, worded alike).
	recs := bTok.auditRecords()[before:]
	refused := 0
	for _, r := range recs {
		if r["outcome"] == "refused" {
			refused++
		}
	}
	if want := refusals; refused < want {
		t.Errorf("B's partition holds %d refusals since the battery began, want at least %d: %v", refused, want, recs)
	}

	// The platform sees the Cat 4 events, and only aggregates of tenants.
	status, b := admin.do("GET", "/v1/audit?partition=_platform&limit=1000", nil)
	want := 1 // the MCP call naming A's tool
	if status != http.StatusOK {
		t.Fatalf("platform partition: %d %s", status, b)
	}
	var plat struct {
		Records []struct {
			Action string         `json:"action"`
			Detail map[string]any `json:"detail"`
		} `json:"records"`
	}
	_ = json.Unmarshal(b, &plat)
	cat4 := 0
	for _, r := range plat.Records {
		if r.Action == "isolation.cross_tenant" && r.Detail["tenant"] == "support" && r.Detail["cat"] == float64(4) {
			cat4++
		}
	}
	for _, at := range attempts {
		if at.cat4 {
			want++
		}
	}
	t.Logf("%d refusals, %d in B's partition, %d Cat 4 events", refusals, refused, cat4)
	if cat4 < want {
		t.Errorf("platform partition holds %d Cat 4 events of support, want at least %d", cat4, want)
	}
	status, b = admin.do("GET", "/v1/audit", nil)
	_ = body
	if status != http.StatusOK || !strings.Contains(string(b), `"aggregates"`) || strings.Contains(string(b), "market-notes") || strings.Contains(string(b), "detail") {
		t.Errorf("platform aggregates: %d %s: want counts only", status, b)
	}
}

// modelRecords keeps a partition's model calls.
func modelRecords(recs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if a, _ := r["action"].(string); strings.HasPrefix(a, "gateway.model.") {
			out = append(out, r)
		}
	}
	return out
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpSession connects the MCP Go SDK's client to an endpoint of the gateway.
func mcpSession(t *testing.T, endpoint, token string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "isolation-battery", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: endpoint,
		HTTPClient: &http.Client{Transport: bearerTransport{token}, Timeout: 30 * time.Second}, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}
