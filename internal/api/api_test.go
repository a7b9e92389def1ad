package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

type env struct {
	srv      *httptest.Server
	fleetDir string
	admin    string
	payments string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet")
	if err := os.CopyFS(dir, os.DirFS("../../examples/fleet")); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	plane, err := control.New(t.Context(), st, dir, control.Options{})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := auth.Mint(store.KindPlatformAdmin, "", "", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateCredential(t.Context(), admin.Credential); err != nil {
		t.Fatal(err)
	}
	pr := auth.Principal{Kind: store.KindPlatformAdmin, CredentialID: admin.Credential.ID}
	_, pay, err := plane.IssueTenantToken(t.Context(), pr, "payments", "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(plane, Options{}).Handler())
	t.Cleanup(srv.Close)
	return &env{srv: srv, fleetDir: dir, admin: admin.Secret, payments: pay}
}

func (e *env) do(t *testing.T, method, path, token, ct, body string) (int, errorBody, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb errorBody
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb, string(b)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spec, err := os.ReadFile(filepath.Join(e.fleetDir, "specs/payments/refund-executor.md"))
	if err != nil {
		t.Fatal(err)
	}
	if status, _, body := e.do(t, "POST", "/v1/agents", e.payments, "text/markdown", string(spec)); status != 201 {
		t.Fatalf("register = %d %s", status, body)
	}
	broken := strings.Replace(string(spec), "- (Fleet, T1) [fleet.no-token-exfil] No exfiltration of session tokens across tool calls.\n", "", 1)
	broken = strings.Replace(broken, "version: 2.3.0", "version: 2.4.0", 1)
	tests := []struct {
		name                        string
		method, path, token, ct     string
		body                        string
		wantStatus                  int
		wantCode, wantField, wantIn string
	}{
		{"no credential", "GET", "/v1/agents", "", "", "", 401, "unauthenticated", "", "Bearer"},
		{"unknown credential", "GET", "/v1/agents", "fgv_tn_nottherealtokenatallnottherealtoken", "", "", 401, "unauthenticated", "", ""},
		{"platform-only route", "POST", "/v1/fleet/reload", "PAYMENTS", "", "", 403, "forbidden", "", "platform admin"},
		{"issue token as tenant", "POST", "/v1/tenants/payments/tokens", "PAYMENTS", "", "", 403, "forbidden", "", "platform admin"},
		{"unknown route", "GET", "/v1/nope", "PAYMENTS", "", "", 404, "not_found", "", "no route"},
		{"missing agent", "GET", "/v1/agents/payments.nope", "PAYMENTS", "", "", 404, "not_found", "", "payments.nope"},
		{"malformed JSON", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "application/json", `{"kind": `, 400, "invalid_request", "", "malformed JSON"},
		{"unknown field", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "application/json", `{"kind":"tool_call","amout":3}`, 400, "invalid_field", "amout", ""},
		{"wrong type", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "application/json", `{"kind":"tool_call","input_tokens":"many"}`, 400, "invalid_field", "input_tokens", "int64"},
		{"missing kind", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "application/json", `{"tool":"x"}`, 400, "invalid_field", "kind", ""},
		{"empty body", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "application/json", ``, 400, "invalid_request", "", "empty"},
		{"two values", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "application/json", `{"kind":"a"} {"kind":"b"}`, 400, "invalid_request", "", "more than one"},
		{"too large", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "application/json", `{"kind":"tool_call","tool":"` + strings.Repeat("x", control.MaxActionBytes) + `"}`, 413, "too_large", "", ""},
		{"multipart", "POST", "/v1/agents/payments.refund-executor/evaluate", "PAYMENTS", "multipart/form-data; boundary=x", `--x--`, 415, "unsupported_media_type", "", ""},
		{"spec as image", "POST", "/v1/agents", "PAYMENTS", "image/png", "xx", 415, "unsupported_media_type", "", ""},
		{"empty spec", "POST", "/v1/agents", "PAYMENTS", "text/markdown", "  ", 400, "invalid_field", "spec", ""},
		{"spec failing its check", "POST", "/v1/agents", "PAYMENTS", "text/markdown", broken, 422, "rejected", "", "missing-inherited-clause"},
		{"conflicting revision", "POST", "/v1/agents", "PAYMENTS", "text/markdown", strings.Replace(string(spec), "Refund Executor", "Refund Bot", 1), 409, "conflict", "", "bump the spec's version"},
		{"bad status", "PATCH", "/v1/agents/payments.refund-executor", "PAYMENTS", "application/json", `{"status":"paused"}`, 400, "invalid_field", "status", ""},
		{"bad archetype filter", "GET", "/v1/agents?archetype=Robot", "PAYMENTS", "", "", 400, "invalid_field", "archetype", ""},
		{"bad after", "GET", "/v1/audit?after=x", "PAYMENTS", "", "", 400, "invalid_field", "after", ""},
		{"unknown library version", "GET", "/v1/library/9.9.9", "PAYMENTS", "", "", 404, "not_found", "", "9.9.9"},
		{"diff without versions", "GET", "/v1/library/diff", "PAYMENTS", "", "", 400, "invalid_field", "from", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := tc.token
			if tok == "PAYMENTS" {
				tok = e.payments
			}
			status, eb, body := e.do(t, tc.method, tc.path, tok, tc.ct, tc.body)
			if status != tc.wantStatus || eb.Code != tc.wantCode || eb.Field != tc.wantField || !strings.Contains(body, tc.wantIn) {
				t.Errorf("%s %s = %d %s, want %d code %s field %q containing %q", tc.method, tc.path, status, body, tc.wantStatus, tc.wantCode, tc.wantField, tc.wantIn)
			}
		})
	}
}

func TestReloadEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	status, _, body := e.do(t, "POST", "/v1/fleet/reload", e.admin, "", "")
	if status != 200 || !strings.Contains(body, `"changed": false`) {
		t.Fatalf("reload unchanged = %d %s", status, body)
	}
	cfg := filepath.Join(e.fleetDir, "fleet.yaml")
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("\nsurprise: true\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	status, eb, body := e.do(t, "POST", "/v1/fleet/reload", e.admin, "", "")
	if status != 422 || eb.Code != "rejected" || len(eb.Findings) == 0 || !strings.Contains(body, "surprise") || eb.Findings[0].Line == 0 {
		t.Fatalf("reload of a bad fleet.yaml = %d %s, want 422 naming the field and its line", status, body)
	}
	status, _, body = e.do(t, "GET", "/v1/fleet", e.payments, "", "")
	if status != 200 || !strings.Contains(body, `"current": "1.1.0"`) {
		t.Errorf("after the refused reload GET /v1/fleet = %d %s", status, body)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _, body := e.do(t, "GET", p, "", "", ""); status != 200 {
			t.Errorf("GET %s = %d %s", p, status, body)
		}
	}
}

// TestContractEndpoint: a tenant reads the contract with its version and
// changelog; a reload that changes a row without a new version is refused
// with the finding; one with a new version is answered with the change and
// tenants then read the new contract.
func TestContractEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type contract struct {
		Version   string `json:"version"`
		Changelog []struct {
			Version string   `json:"version"`
			Summary string   `json:"summary"`
			Changed []string `json:"changed"`
		} `json:"changelog"`
		Resources []struct {
			ID string `json:"id"`
		} `json:"resources"`
	}
	read := func() contract {
		t.Helper()
		status, _, body := e.do(t, "GET", "/v1/contract", e.payments, "", "")
		var c contract
		if err := json.Unmarshal([]byte(body), &c); status != 200 || err != nil {
			t.Fatalf("GET /v1/contract = %d %s (%v)", status, body, err)
		}
		return c
	}
	c := read()
	if c.Version != "1.1.0" || len(c.Changelog) != 2 || c.Changelog[0].Version != "1.1.0" || len(c.Changelog[0].Changed) != 1 ||
		c.Changelog[0].Changed[0] != "vector-store" || c.Changelog[0].Summary == "" || len(c.Resources) != 5 {
		t.Fatalf("GET /v1/contract = %+v, want 1.1.0 with its changelog and 5 rows", c)
	}

	path := filepath.Join(e.fleetDir, "contract.yaml")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const oldMech, newMech = "storage backend scopes every read and write to it.", "storage backend scopes every read, write and delete to it."
	edited := strings.Replace(string(orig), oldMech, newMech, 1)
	if edited == string(orig) {
		t.Fatalf("contract.yaml lacks %q", oldMech)
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	status, eb, body := e.do(t, "POST", "/v1/fleet/reload", e.admin, "", "")
	if status != 422 || eb.Code != "rejected" || len(eb.Findings) != 1 || eb.Findings[0].Code != "contract-changed-in-place" || eb.Findings[0].Resource != "vector-store" {
		t.Fatalf("reload of a row changed in place = %d %s, want 422 with contract-changed-in-place on vector-store", status, body)
	}

	bumped := strings.NewReplacer("version: 1.1.0\nowner:", "version: 1.2.0\nowner:",
		"changelog:\n", "changelog:\n  - version: 1.2.0\n    summary: Deletes are scoped too.\n    changed: [vector-store]\n").Replace(edited)
	if err := os.WriteFile(path, []byte(bumped), 0o644); err != nil {
		t.Fatal(err)
	}
	status, _, body = e.do(t, "POST", "/v1/fleet/reload", e.admin, "", "")
	var res struct {
		Contract       string `json:"contract_version"`
		ContractChange struct {
			From    string   `json:"from"`
			To      string   `json:"to"`
			Changed []string `json:"changed"`
		} `json:"contract_change"`
	}
	if err := json.Unmarshal([]byte(body), &res); status != 200 || err != nil || res.Contract != "1.2.0" ||
		res.ContractChange.From != "1.1.0" || res.ContractChange.To != "1.2.0" || len(res.ContractChange.Changed) != 1 {
		t.Fatalf("reload of contract 1.2.0 = %d %s, want 200 with the contract change", status, body)
	}
	if c := read(); c.Version != "1.2.0" || len(c.Changelog) != 3 || c.Changelog[0].Summary != "Deletes are scoped too." {
		t.Errorf("GET /v1/contract after the reload = %+v, want 1.2.0 with 3 changelog entries", c)
	}
}
