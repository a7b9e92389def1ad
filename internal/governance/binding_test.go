package governance_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// hrBinding is an account's binding as the API shows it.
type hrBinding struct {
	Account string    `json:"account"`
	URL     string    `json:"url"`
	Builtin bool      `json:"builtin"`
	BoundAt time.Time `json:"bound_at"`
}

// hrGetBinding returns the account's binding and the status of the GET.
func hrGetBinding(t *testing.T, e *govtest.Env) (hrBinding, int) {
	t.Helper()
	var b hrBinding
	code, _ := e.API(t, "GET", "/v1/tenants/adsales/adcp/binding", govtest.Production, nil, &b)
	return b, code
}

// hrAgent is a governance_agents entry of sync_governance.
func hrAgent(url string) map[string]any {
	return map[string]any{"url": url, "authentication": map[string]any{"schemes": []any{"Bearer"},
		"credentials": "seller-presents-this-to-the-governance-agent-" + fmt.Sprint(len(url))}}
}

// hrSyncGovernance is a sync_governance request with one accounts entry per
// agent list.
func hrSyncGovernance(key string, agentLists ...[]any) map[string]any {
	accounts := make([]any, len(agentLists))
	for i, agents := range agentLists {
		accounts[i] = map[string]any{"account": map[string]any{"brand": map[string]any{"domain": fmt.Sprintf("brand%d.example", i)}, "operator": "northwind.example"},
			"governance_agents": agents}
	}
	return map[string]any{"idempotency_key": key, "accounts": accounts}
}

// TestOneGovernanceAgent checks that an account binds exactly one
// governance agent: a registration naming two, or naming another agent
// than the bound one, fails with an error that says why and how to collapse
// to one, and the binding is unchanged.
func TestOneGovernanceAgent(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	before, code := hrGetBinding(t, e)
	if code != http.StatusOK || before.URL != e.Agent.Issuer(govtest.Production) || !before.Builtin {
		t.Fatalf("GET binding = %d %+v, want fleetgov's own agent %s", code, before, e.Agent.Issuer(govtest.Production))
	}
	const (
		brandSafety = "https://brand-safety.partner.example/governance"
		budgetAgent = "https://budget.partner.example/governance"
	)
	// Every refusal explains the rule; each names where to go from there.
	why := "binds exactly one governance agent"
	adcp := []struct {
		name  string
		args  map[string]any
		code  string
		field string
		says  []string
	}{
		{"two agents", hrSyncGovernance("binding-two-agents-31", []any{hrAgent(brandSafety), hrAgent(budgetAgent)}),
			"INVALID_REQUEST", "accounts[0].governance_agents", []string{why, "names 2 governance agents", brandSafety, budgetAgent, "Collapse them to one", "categories"}},
		{"two agents (AdCP 3.0, whose schema allows ten)", with(hrSyncGovernance("binding-two-agents-30", []any{hrAgent(brandSafety), hrAgent(budgetAgent)}), map[string]any{"adcp_version": "3.0"}),
			"INVALID_REQUEST", "accounts[0].governance_agents", []string{why, "names 2 governance agents", "Collapse them to one"}},
		{"three agents in the second account entry", hrSyncGovernance("binding-three-agents", []any{hrAgent(brandSafety)}, []any{hrAgent(brandSafety), hrAgent(budgetAgent), hrAgent("https://legal.partner.example")}),
			"INVALID_REQUEST", "accounts[1].governance_agents", []string{why, "names 3 governance agents"}},
		{"another agent than the bound one", hrSyncGovernance("binding-another-agent", []any{hrAgent(brandSafety)}),
			"CONFLICT", "accounts[0].governance_agents[0].url", []string{why, "already binds governance agent " + before.URL, brandSafety, "unbinds the current agent first (DELETE /v1/tenants/adsales/adcp/binding)", "route the other agent's reviews through it"}},
	}
	s := e.Connect(t, govtest.Production, "buyer")
	for _, tc := range adcp {
		t.Run("sync_governance/"+tc.name, func(t *testing.T) {
			r := s.Call("sync_governance", tc.args)
			code, field := r.Error()
			if !r.IsError || code != tc.code || field != tc.field {
				t.Fatalf("sync_governance = %s, want %s on %s", r.Text, tc.code, tc.field)
			}
			msg := r.Body["adcp_error"].(map[string]any)["message"].(string)
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Errorf("sync_governance error %q does not say %q", msg, s)
				}
			}
		})
	}
	api := []struct {
		name   string
		token  string
		body   any
		status int
		says   []string
	}{
		{"two agents", "platform", map[string]any{"governance_agents": []any{map[string]any{"url": brandSafety}, map[string]any{"url": budgetAgent}}},
			http.StatusBadRequest, []string{why, "names 2", "collapse them to one", `"field": "governance_agents"`}},
		{"no agent", "platform", map[string]any{"governance_agents": []any{}}, http.StatusBadRequest, []string{why, "names 0"}},
		{"another agent", "platform", map[string]any{"governance_agents": []any{map[string]any{"url": brandSafety}}},
			http.StatusConflict, []string{why, "already binds governance agent " + before.URL, "unbinds the current agent first (DELETE /v1/tenants/adsales/adcp/binding)"}},
		{"by the tenant", govtest.Production, map[string]any{"governance_agents": []any{map[string]any{"url": brandSafety}}},
			http.StatusForbidden, []string{`"code": "forbidden"`}},
		{"by the buyer", "buyer", map[string]any{"governance_agents": []any{map[string]any{"url": brandSafety}}},
			http.StatusForbidden, []string{`"code": "forbidden"`}},
	}
	for _, tc := range api {
		t.Run("PUT binding/"+tc.name, func(t *testing.T) {
			code, body := e.API(t, "PUT", "/v1/tenants/adsales/adcp/binding", tc.token, tc.body, nil)
			if code != tc.status {
				t.Fatalf("PUT binding = %d %s, want %d", code, body, tc.status)
			}
			for _, s := range tc.says {
				if !strings.Contains(body, s) {
					t.Errorf("PUT binding answer %s does not say %q", body, s)
				}
			}
		})
	}
	after, code := hrGetBinding(t, e)
	if code != http.StatusOK || after != before {
		t.Errorf("binding after the refusals = %d %+v, want it unchanged: %+v", code, after, before)
	}
	if n := len(hrRecords(hrAudit(t, e, govtest.Production), "adcp.sync_governance", "")); n != 0 {
		t.Errorf("%d adcp.sync_governance audit records after refusals, want 0", n)
	}
	// Registering the bound agent again is no second agent.
	var again hrBinding
	code, body := e.API(t, "PUT", "/v1/tenants/adsales/adcp/binding", "platform", map[string]any{"governance_agents": []any{map[string]any{"url": before.URL}}}, &again)
	if code != http.StatusOK || again != before {
		t.Errorf("PUT of the bound agent = %d %s, want 200 and the binding unchanged", code, body)
	}
}

// TestRebindAfterUnbind checks that changing an account's governance agent
// takes an explicit unbind by the platform, after which another agent binds.
func TestRebindAfterUnbind(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	before, _ := hrGetBinding(t, e)
	for _, token := range []string{govtest.Production, "buyer"} {
		if code, body := e.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", token, nil, nil); code != http.StatusForbidden {
			t.Errorf("DELETE binding by %s = %d %s, want 403", token, code, body)
		}
	}
	if after, _ := hrGetBinding(t, e); after != before {
		t.Fatalf("binding after refused unbinds = %+v, want %+v", after, before)
	}
	if code, body := e.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", "platform", nil, nil); code != http.StatusOK {
		t.Fatalf("DELETE binding by the platform = %d %s, want 200", code, body)
	}
	if _, code := hrGetBinding(t, e); code != http.StatusNotFound {
		t.Errorf("GET binding after the unbind = %d, want 404", code)
	}
	if code, body := e.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", "platform", nil, nil); code != http.StatusNotFound {
		t.Errorf("a second DELETE binding = %d %s, want 404", code, body)
	}

	// The buyer registers the account's agent through AdCP.
	const partner = "https://governance.partner.example/adsales"
	s := e.Connect(t, govtest.Production, "buyer")
	r := s.Call("sync_governance", hrSyncGovernance("rebind-partner-0001", []any{hrAgent(partner)}))
	accounts, _ := r.Body["accounts"].([]any)
	if r.IsError || len(accounts) != 1 {
		t.Fatalf("sync_governance after the unbind = %s, want the account synced", r.Text)
	}
	if a := accounts[0].(map[string]any); a["status"] != "synced" || fmt.Sprint(a["governance_agents"]) != fmt.Sprintf("[map[url:%s]]", partner) {
		t.Errorf("synced account = %v, want status synced with agent %s", a, partner)
	}
	b, code := hrGetBinding(t, e)
	if code != http.StatusOK || b.URL != partner || b.Builtin {
		t.Errorf("GET binding = %d %+v, want %s, not built in", code, b, partner)
	}
	if n := len(hrRecords(hrAudit(t, e, govtest.Production), "adcp.sync_governance", "")); n != 1 {
		t.Errorf("%d adcp.sync_governance audit records, want 1", n)
	}
	// The same agent again is fine; another is not, and fleetgov's own
	// agent is now the other one.
	if r := s.Call("sync_governance", hrSyncGovernance("rebind-partner-0002", []any{hrAgent(partner)})); r.IsError {
		t.Errorf("sync_governance of the bound agent = %s, want synced", r.Text)
	}
	r = s.Call("sync_governance", hrSyncGovernance("rebind-partner-0003", []any{hrAgent("https://another.partner.example/gov")}))
	if code, _ := r.Error(); code != "CONFLICT" {
		t.Errorf("sync_governance of another agent = %s, want CONFLICT", r.Text)
	}
	// With the partner's agent bound, fleetgov's own does not govern the
	// account: it refuses plans and checks, naming the bound agent, though
	// it still describes itself.
	for task, args := range map[string]map[string]any{
		"sync_plans":       {"idempotency_key": "rebind-partner-plans-01", "plans": []any{benchPlan("partner-plan")}},
		"check_governance": benchCheck("partner-plan"),
	} {
		r := s.Call(task, args)
		if code, _ := r.Error(); code != "PERMISSION_DENIED" || !strings.Contains(r.Text, "binds governance agent "+partner) {
			t.Errorf("%s while %s is bound = %s, want PERMISSION_DENIED naming it", task, partner, r.Text)
		}
	}
	if r := s.Call("get_adcp_capabilities", map[string]any{}); r.IsError {
		t.Errorf("get_adcp_capabilities while %s is bound = %s, want an answer", partner, r.Text)
	}
	code, body := e.API(t, "PUT", "/v1/tenants/adsales/adcp/binding", "platform", map[string]any{"governance_agents": []any{map[string]any{"url": before.URL}}}, nil)
	if code != http.StatusConflict || !strings.Contains(body, "already binds governance agent "+partner) {
		t.Errorf("PUT of fleetgov's own agent = %d %s, want 409 naming %s", code, body, partner)
	}
	// Back to fleetgov's own agent: unbind, then bind.
	if code, body := e.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", "platform", nil, nil); code != http.StatusOK {
		t.Fatalf("DELETE binding = %d %s", code, body)
	}
	var got hrBinding
	if code, body := e.API(t, "PUT", "/v1/tenants/adsales/adcp/binding", "platform", map[string]any{"governance_agents": []any{map[string]any{"url": before.URL}}}, &got); code != http.StatusOK {
		t.Fatalf("PUT binding = %d %s, want 200", code, body)
	}
	if got.URL != before.URL || !got.Builtin {
		t.Errorf("rebound = %+v, want fleetgov's own agent %s", got, before.URL)
	}
	// Rebound, it governs the account again at once.
	if r := s.Call("sync_plans", map[string]any{"idempotency_key": "rebind-own-plans-0001", "plans": []any{benchPlan("own-plan")}}); r.IsError {
		t.Errorf("sync_plans after rebinding fleetgov's own agent = %s", r.Text)
	}
}

// TestBindingNothingHalfWritten checks that a sync_governance naming two
// different agents for the account in two entries binds neither.
func TestBindingNothingHalfWritten(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	if code, body := e.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", "platform", nil, nil); code != http.StatusOK {
		t.Fatalf("DELETE binding = %d %s", code, body)
	}
	s := e.Connect(t, govtest.Production, "buyer")
	r := s.Call("sync_governance", hrSyncGovernance("half-written-0001",
		[]any{hrAgent("https://first.partner.example/gov")}, []any{hrAgent("https://second.partner.example/gov")}))
	code, field := r.Error()
	if !r.IsError || code != "INVALID_REQUEST" || field != "accounts[1].governance_agents[0].url" ||
		!strings.Contains(r.Text, "names 2 governance agents (https://first.partner.example/gov, https://second.partner.example/gov)") {
		t.Errorf("sync_governance naming two agents in two entries = %s, want INVALID_REQUEST on accounts[1].governance_agents[0].url naming both", r.Text)
	}
	if b, code := hrGetBinding(t, e); code != http.StatusNotFound {
		t.Errorf("binding after the refused sync_governance = %d %+v, want none", code, b)
	}
}

// TestBindingRace binds different agents concurrently: exactly one wins.
func TestBindingRace(t *testing.T) {
	t.Parallel()
	e := govtest.Start(t, govtest.Options{})
	if code, body := e.API(t, "DELETE", "/v1/tenants/adsales/adcp/binding", "platform", nil, nil); code != http.StatusOK {
		t.Fatalf("DELETE binding = %d %s", code, body)
	}
	const n = 8
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = e.API(t, "PUT", "/v1/tenants/adsales/adcp/binding", "platform",
				map[string]any{"governance_agents": []any{map[string]any{"url": fmt.Sprintf("https://agent%d.partner.example/gov", i)}}}, nil)
		}()
	}
	wg.Wait()
	winner := -1
	for i, c := range codes {
		switch {
		case c == http.StatusOK && winner < 0:
			winner = i
		case c == http.StatusOK:
			t.Errorf("PUT binding #%d and #%d both succeeded", winner, i)
		case c != http.StatusConflict:
			t.Errorf("PUT binding #%d = %d, want 200 or 409", i, c)
		}
	}
	if winner < 0 {
		t.Fatalf("no concurrent PUT binding succeeded: %v", codes)
	}
	if b, _ := hrGetBinding(t, e); b.URL != fmt.Sprintf("https://agent%d.partner.example/gov", winner) {
		t.Errorf("binding = %s, want the winner's agent%d", b.URL, winner)
	}
}
