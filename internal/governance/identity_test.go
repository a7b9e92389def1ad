package governance_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// TestCallerMustMatchCredential checks that on the production account a
// check's caller must byte-equal the agent URL its credential resolves to:
// anything else is PERMISSION_DENIED, and nothing is written.
func TestCallerMustMatchCredential(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	buyer := e.Connect(t, govtest.Production, "buyer")
	hrSync(t, buyer, "identity-sync-plan-01", hrPlan(e, "identity", nil))
	tests := []struct {
		name   string
		token  string
		caller string
		code   string // "" for an approval
	}{
		{"the buyer as itself", "buyer", govtest.BuyerURL, ""},
		{"the buyer claiming the seller", "buyer", govtest.SellerURL, "PERMISSION_DENIED"},
		{"the seller claiming the buyer", "seller", govtest.BuyerURL, "PERMISSION_DENIED"},
		{"a seller claiming another seller", "seller2", govtest.SellerURL, "PERMISSION_DENIED"},
		{"the buyer with a trailing slash", "buyer", govtest.BuyerURL + "/", "PERMISSION_DENIED"},
		{"the buyer in upper case", "buyer", strings.ToUpper(govtest.BuyerURL), "PERMISSION_DENIED"},
		{"the buyer over http", "buyer", strings.Replace(govtest.BuyerURL, "https:", "http:", 1), "PERMISSION_DENIED"},
		{"the tenant token claiming the buyer", govtest.Production, govtest.BuyerURL, "PERMISSION_DENIED"},
		// The seller is who it says, but the plan is the buyer's: missing
		// and not yours look the same.
		{"the seller as itself on the buyer's plan", "seller", govtest.SellerURL, "PLAN_NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := e.Connect(t, govtest.Production, tc.token)
			audit := len(hrAudit(t, e, govtest.Production))
			checks := len(hrChecks(t, e, govtest.Production, "identity"))
			r := s.Call("check_governance", hrIntent(e, "identity", tc.caller, 1000))
			code, _ := r.Error()
			if tc.code == "" {
				if r.IsError || r.Body["verdict"] != "approved" {
					t.Fatalf("check_governance(caller %s) as %s = %s, want approved", tc.caller, tc.token, r.Text)
				}
				if claims := hrClaims(t, r.Body["governance_context"].(string)); claims["caller"] != tc.caller {
					t.Errorf("token caller = %v, want %s", claims["caller"], tc.caller)
				}
				return
			}
			if !r.IsError || code != tc.code {
				t.Errorf("check_governance(caller %s) as %s = %s, want %s", tc.caller, tc.token, r.Text, tc.code)
			}
			if n := len(hrAudit(t, e, govtest.Production)); n != audit {
				t.Errorf("the refused check wrote %d audit records, want none", n-audit)
			}
			if n := len(hrChecks(t, e, govtest.Production, "identity")); n != checks {
				t.Errorf("the refused check stored %d checks, want none", n-checks)
			}
		})
	}
}

// TestProductionNeedsAgentCredential checks that the account's tenant token
// is no AdCP agent on production: it may read the audit trail, not act.
func TestProductionNeedsAgentCredential(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	hrSync(t, e.Connect(t, govtest.Production, "buyer"), "identity-tenant-sync-1", hrPlan(e, "identity-tenant", nil))
	s := e.Connect(t, govtest.Production, govtest.Production)
	audit := len(hrAudit(t, e, govtest.Production))
	r := s.Call("sync_plans", map[string]any{"idempotency_key": "identity-tenant-sync-2", "plans": []any{hrPlan(e, "identity-tenant-2", nil)}})
	if code, _ := r.Error(); code != "PERMISSION_DENIED" {
		t.Errorf("sync_plans with the tenant token = %s, want PERMISSION_DENIED", r.Text)
	}
	if _, err := e.Store.GetPlan(context.Background(), govtest.Production, "identity-tenant-2"); err == nil {
		t.Errorf("the refused sync_plans stored the plan")
	}
	if n := len(hrAudit(t, e, govtest.Production)); n != audit {
		t.Errorf("the refused sync_plans wrote %d audit records, want none", n-audit)
	}
	r = s.Call("get_plan_audit_logs", map[string]any{"plan_ids": []any{"identity-tenant"}})
	if plans, _ := r.Body["plans"].([]any); r.IsError || len(plans) != 1 {
		t.Errorf("get_plan_audit_logs with the tenant token = %s, want the plan's trail", r.Text)
	}
}

// TestSandboxTrustsCaller checks that the sandbox account, for the
// conformance runner that plays buyer and seller with one token, takes the
// caller its tenant token names.
func TestSandboxTrustsCaller(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	s := e.Connect(t, govtest.Sandbox, govtest.Sandbox)
	hrSync(t, s, "identity-sandbox-sync", hrPlan(e, "identity-sandbox", nil))
	for _, caller := range []string{"https://pinnacle-agency.example", "https://seller.example.com", govtest.BuyerURL} {
		r := s.Call("check_governance", hrIntent(e, "identity-sandbox", caller, 1000))
		if r.IsError || r.Body["status"] != "approved" {
			t.Errorf("sandbox check_governance(caller %s) = %s, want approved (3.0: status)", caller, r.Text)
			continue
		}
		if claims := hrClaims(t, r.Body["governance_context"].(string)); claims["caller"] != caller {
			t.Errorf("sandbox token caller = %v, want %s", claims["caller"], caller)
		}
	}
	var callers []string
	for _, c := range hrChecks(t, e, govtest.Sandbox, "identity-sandbox") {
		callers = append(callers, c.Caller)
	}
	slices.Sort(callers)
	if want := []string{"https://media-buyer.adsales.northwind.example", "https://pinnacle-agency.example", "https://seller.example.com"}; !slices.Equal(callers, want) {
		t.Errorf("stored check callers = %q, want %q", callers, want)
	}
}

// TestTransportIdentity checks the MCP endpoint's authentication: a
// credential works only at its own account's path, and a path that names
// no advertising account is 404.
func TestTransportIdentity(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	tests := []struct {
		name    string
		account string
		token   string
		status  int
	}{
		{"the buyer at its account", govtest.Production, "buyer", http.StatusOK},
		{"the sandbox tenant at its account", govtest.Sandbox, govtest.Sandbox, http.StatusOK},
		{"the sandbox tenant at the production account", govtest.Production, govtest.Sandbox, http.StatusUnauthorized},
		{"the production tenant at the sandbox", govtest.Sandbox, govtest.Production, http.StatusUnauthorized},
		{"the buyer at the sandbox", govtest.Sandbox, "buyer", http.StatusUnauthorized},
		{"the platform admin", govtest.Production, "platform", http.StatusUnauthorized},
		{"an unknown token", govtest.Production, "fg_not_a_real_token", http.StatusUnauthorized},
		{"no token", govtest.Production, "", http.StatusUnauthorized},
		{"an unknown account", "nosuchaccount", "buyer", http.StatusNotFound},
		{"an internal tenant", "payments", "buyer", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := hrInitialize(t, e, tc.account, tc.token); got != tc.status {
				t.Errorf("initialize at %s with %q = %d, want %d", tc.account, tc.token, got, tc.status)
			}
			_, err := e.TryConnect(t, tc.account, tc.token)
			if (err == nil) != (tc.status == http.StatusOK) {
				t.Errorf("TryConnect(%s, %q) = %v, want success %t", tc.account, tc.token, err, tc.status == http.StatusOK)
			}
		})
	}
}

// hrInitialize sends an MCP initialize request to an account's endpoint and
// returns the HTTP status.
func hrInitialize(t *testing.T, e *govtest.Env, account, token string) int {
	t.Helper()
	if tok, ok := e.Tokens[token]; ok {
		token = tok
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"govtest","version":"1.0.0"}}}`
	req, err := http.NewRequest("POST", e.MCPURL(account), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSandboxOnlyTasks checks that comply_test_controller and sync_accounts
// exist on the sandbox account only: production does not list them, and
// calling them there fails.
func TestSandboxOnlyTasks(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	sandboxOnly := []string{"comply_test_controller", "sync_accounts"}

	prod := e.Connect(t, govtest.Production, "buyer")
	tools := prod.Tools()
	slices.Sort(tools)
	want := slices.Sorted(slices.Values(governance.Tasks))
	if !slices.Equal(tools, want) {
		t.Errorf("production tools/list = %q, want %q", tools, want)
	}
	for _, task := range sandboxOnly {
		if r, err := prod.TryCall(task, map[string]any{"scenario": "list_scenarios", "accounts": []any{}}); err == nil {
			t.Errorf("production %s = %s, want the call refused", task, r.Text)
		}
		// Behind the transport the agent refuses the task as well.
		_, err := e.Agent.Handle(context.Background(), governance.Caller{Account: govtest.Production, CredentialID: "cred_test", AgentURL: govtest.BuyerURL},
			task, json.RawMessage(`{"scenario":"list_scenarios"}`))
		var ae *governance.Error
		if !errors.As(err, &ae) || ae.Code != governance.CodeUnsupportedFeature {
			t.Errorf("Handle(production, %s) = %v, want UNSUPPORTED_FEATURE", task, err)
		}
	}

	sandbox := e.Connect(t, govtest.Sandbox, govtest.Sandbox)
	tools = sandbox.Tools()
	for _, task := range append(sandboxOnly, governance.Tasks...) {
		if !slices.Contains(tools, task) {
			t.Errorf("sandbox tools/list = %q, want %s in it", tools, task)
		}
	}
	// The conformance runner names its sandbox account on every call.
	account := map[string]any{"brand": map[string]any{"domain": "test.example"}, "operator": "test.example", "sandbox": true}
	r := sandbox.Call("comply_test_controller", map[string]any{"account": account, "scenario": "list_scenarios"})
	if scenarios, _ := r.Body["scenarios"].([]any); r.IsError || r.Body["success"] != true || !slices.Contains(scenarios, any("seed_plan")) {
		t.Errorf("sandbox list_scenarios = %s, want success listing seed_plan", r.Text)
	}
	// A seeded plan governs checks like a synced one.
	fixture := hrPlan(e, "seeded", map[string]any{"budget": map[string]any{"total": 50000, "currency": "USD", "reallocation_threshold": 40000}})
	delete(fixture, "plan_id")
	r = sandbox.Call("comply_test_controller", map[string]any{"account": account, "scenario": "seed_plan", "params": map[string]any{"plan_id": "seeded", "fixture": fixture}})
	if r.IsError || r.Body["success"] != true {
		t.Fatalf("seed_plan = %s, want success", r.Text)
	}
	tests := []struct {
		amount float64
		status string // 3.0: the verdict
	}{{10000, "approved"}, {45000, "denied"}, {60000, "denied"}}
	for _, tc := range tests {
		r := sandbox.Call("check_governance", hrIntent(e, "seeded", "https://pinnacle-agency.example", tc.amount))
		if r.IsError || r.Body["status"] != tc.status || r.Body["plan_id"] != "seeded" {
			t.Errorf("check_governance(%v) on the seeded plan = %s, want %s", tc.amount, r.Text, tc.status)
		}
	}
	// A fixture that is no plan is refused and seeds nothing.
	bad := hrPlan(e, "bad-seed", map[string]any{"flight": map[string]any{"start": "2026-12-31T00:00:00Z", "end": "2026-01-01T00:00:00Z"}})
	r = sandbox.Call("comply_test_controller", map[string]any{"account": account, "scenario": "seed_plan", "params": map[string]any{"plan_id": "bad-seed", "fixture": bad}})
	if r.IsError || r.Body["success"] != false || r.Body["error"] != "INVALID_PARAMS" {
		t.Errorf("seed_plan of a flight that ends before it starts = %s, want success false, INVALID_PARAMS", r.Text)
	}
	if _, err := e.Store.GetPlan(context.Background(), govtest.Sandbox, "bad-seed"); err == nil {
		t.Errorf("the refused seed_plan stored the plan")
	}
}
