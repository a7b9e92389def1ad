package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/api"
)

// demoServer runs fleetgov serve --demo on a free loopback port and returns
// its credentials once it is ready. The server stops when the test ends.
func demoServer(t *testing.T) (DemoCredentials, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	var mu sync.Mutex
	done := make(chan int, 1)
	go func() {
		w := &lockedWriter{w: &out, mu: &mu}
		done <- Run(ctx, []string{"serve", "--demo", "--data", dir, "--addr", "127.0.0.1:0"}, strings.NewReader(""), w, w)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				mu.Lock()
				t.Errorf("serve exited %d:\n%s", code, out.String())
				mu.Unlock()
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not shut down within 20s")
		}
	})
	path := filepath.Join(dir, demoCredentials)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		var c DemoCredentials
		if err == nil && json.Unmarshal(b, &c) == nil && c.API != "" {
			if resp, err := http.Get(c.API + "/readyz"); err == nil {
				resp.Body.Close()
				// The file is complete once the server answers: read it again.
				if b, err := os.ReadFile(path); resp.StatusCode == http.StatusOK && err == nil {
					var c DemoCredentials
					if err := json.Unmarshal(b, &c); err != nil {
						t.Fatalf("%s: %v", path, err)
					}
					return c, dir
				}
			}
		}
		select {
		case code := <-done:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("serve exited %d before it was ready:\n%s", code, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("serve --demo was not ready within 60s")
	return DemoCredentials{}, ""
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

type client struct {
	t     *testing.T
	base  string
	token string
}

// do sends a request and returns the status and body.
func (c client) do(method, path string, body any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "text/markdown"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (c client) json(method, path string, body any, want int, out any) {
	c.t.Helper()
	status, b := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
}

func tokenOf(t *testing.T, c DemoCredentials, tenant string) string {
	t.Helper()
	for _, tc := range c.Tenants {
		if tc.ID == tenant {
			return tc.Token
		}
	}
	t.Fatalf("no demo token for tenant %s", tenant)
	return ""
}

// TestTenantPartition tries every tenant-scoped route with another tenant's
// credential: each answers exactly as it does for a missing object, reveals
// nothing of the other tenant, and changes nothing.
func TestTenantPartition(t *testing.T) {
	creds, _ := demoServer(t)
	a := client{t: t, base: creds.API, token: tokenOf(t, creds, "payments")}
	b := client{t: t, base: creds.API, token: tokenOf(t, creds, "support")}

	// Objects of tenant A.
	const agent = "payments.refund-executor"
	var exc struct{ ID string }
	a.json("POST", "/v1/exceptions", map[string]any{"clause": "payments.refund-review", "tenant": "payments", "agent": agent,
		"waive": true, "reason": "quarter-end backlog drill", "expires_at": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}, 201, &exc)
	var creds1 struct {
		Credentials []struct{ ID, Kind string }
	}
	a.json("GET", "/v1/tenants/payments/credentials", nil, 200, &creds1)
	if len(creds1.Credentials) == 0 {
		t.Fatal("tenant payments has no credentials")
	}
	credID := creds1.Credentials[0].ID
	var before struct{ Status string }
	a.json("GET", "/v1/agents/"+agent, nil, 200, &before)
	specSrc, err := os.ReadFile("../../examples/fleet/specs/payments/refund-executor.md")
	if err != nil {
		t.Fatal(err)
	}

	// For each tenant-scoped route: the path and body aimed at A's object,
	// and the same aimed at an object that does not exist.
	const missingAgent, missingExc, missingCred, missingTenant = "payments.no-such-agent", "exc_nosuchexception00", "cred_nosuchcredential0", "no-such-tenant"
	cases := map[string]struct {
		path, missingPath string
		body, missingBody any
		replace           [2]string // A's id and the missing id, for comparing bodies
	}{
		"GET /v1/tenants/{tenant}":             {"/v1/tenants/payments", "/v1/tenants/" + missingTenant, nil, nil, [2]string{"payments", missingTenant}},
		"GET /v1/tenants/{tenant}/credentials": {"/v1/tenants/payments/credentials", "/v1/tenants/" + missingTenant + "/credentials", nil, nil, [2]string{"payments", missingTenant}},
		"POST /v1/tenants/{tenant}/tokens":     {"/v1/tenants/payments/tokens", "/v1/tenants/" + missingTenant + "/tokens", map[string]string{"label": "x"}, map[string]string{"label": "x"}, [2]string{"payments", missingTenant}},
		"POST /v1/credentials/{id}/revoke":     {"/v1/credentials/" + credID + "/revoke", "/v1/credentials/" + missingCred + "/revoke", nil, nil, [2]string{credID, missingCred}},
		"GET /v1/agents/{id}":                  {"/v1/agents/" + agent, "/v1/agents/" + missingAgent, nil, nil, [2]string{agent, missingAgent}},
		"PATCH /v1/agents/{id}":                {"/v1/agents/" + agent, "/v1/agents/" + missingAgent, map[string]string{"status": "deprecated"}, map[string]string{"status": "deprecated"}, [2]string{agent, missingAgent}},
		"GET /v1/agents/{id}/spec":             {"/v1/agents/" + agent + "/spec", "/v1/agents/" + missingAgent + "/spec", nil, nil, [2]string{agent, missingAgent}},
		"GET /v1/agents/{id}/spec/revisions":   {"/v1/agents/" + agent + "/spec/revisions", "/v1/agents/" + missingAgent + "/spec/revisions", nil, nil, [2]string{agent, missingAgent}},
		"GET /v1/agents/{id}/constraints":      {"/v1/agents/" + agent + "/constraints", "/v1/agents/" + missingAgent + "/constraints", nil, nil, [2]string{agent, missingAgent}},
		"POST /v1/agents/{id}/evaluate":        {"/v1/agents/" + agent + "/evaluate", "/v1/agents/" + missingAgent + "/evaluate", map[string]any{"kind": "tool_call", "tool": "payments.refund"}, map[string]any{"kind": "tool_call", "tool": "payments.refund"}, [2]string{agent, missingAgent}},
		"POST /v1/agents/{id}/keys":            {"/v1/agents/" + agent + "/keys", "/v1/agents/" + missingAgent + "/keys", nil, nil, [2]string{agent, missingAgent}},
		"POST /v1/exceptions": {"/v1/exceptions", "/v1/exceptions",
			map[string]any{"clause": "payments.refund-review", "tenant": "payments", "waive": true, "reason": "a reason long enough", "expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)},
			map[string]any{"clause": "payments.refund-review", "tenant": missingTenant, "waive": true, "reason": "a reason long enough", "expires_at": time.Now().Add(time.Hour).Format(time.RFC3339)},
			[2]string{"payments", missingTenant}},
		// The governance routes, aimed at the advertising account adsales.
		"POST /v1/tenants/{tenant}/adcp/credentials": {"/v1/tenants/adsales/adcp/credentials", "/v1/tenants/" + missingTenant + "/adcp/credentials",
			map[string]string{"agent_url": "https://buyer.example"}, map[string]string{"agent_url": "https://buyer.example"}, [2]string{"adsales", missingTenant}},
		"GET /v1/tenants/{tenant}/adcp/binding":    {"/v1/tenants/adsales/adcp/binding", "/v1/tenants/" + missingTenant + "/adcp/binding", nil, nil, [2]string{"adsales", missingTenant}},
		"PUT /v1/tenants/{tenant}/adcp/binding":    {"/v1/tenants/adsales/adcp/binding", "/v1/tenants/" + missingTenant + "/adcp/binding", map[string]any{"governance_agents": []map[string]string{{"url": "https://gov.example"}}}, map[string]any{"governance_agents": []map[string]string{{"url": "https://gov.example"}}}, [2]string{"adsales", missingTenant}},
		"DELETE /v1/tenants/{tenant}/adcp/binding": {"/v1/tenants/adsales/adcp/binding", "/v1/tenants/" + missingTenant + "/adcp/binding", nil, nil, [2]string{"adsales", missingTenant}},
		"GET /v1/tenants/{tenant}/adcp/reviews":    {"/v1/tenants/adsales/adcp/reviews", "/v1/tenants/" + missingTenant + "/adcp/reviews", nil, nil, [2]string{"adsales", missingTenant}},
		"POST /v1/tenants/{tenant}/adcp/reviews/{check}": {"/v1/tenants/adsales/adcp/reviews/chk_x", "/v1/tenants/" + missingTenant + "/adcp/reviews/chk_x",
			map[string]string{"decision": "approve", "reviewer": "r@x", "authority": "a"}, map[string]string{"decision": "approve", "reviewer": "r@x", "authority": "a"}, [2]string{"adsales", missingTenant}},
		"POST /v1/tenants/{tenant}/adcp/keys/rotate":         {"/v1/tenants/adsales/adcp/keys/rotate", "/v1/tenants/" + missingTenant + "/adcp/keys/rotate", nil, nil, [2]string{"adsales", missingTenant}},
		"POST /v1/tenants/{tenant}/adcp/tokens/{jti}/revoke": {"/v1/tenants/adsales/adcp/tokens/j1/revoke", "/v1/tenants/" + missingTenant + "/adcp/tokens/j1/revoke", nil, nil, [2]string{"adsales", missingTenant}},
		"GET /v1/exceptions/{id}":                            {"/v1/exceptions/" + exc.ID, "/v1/exceptions/" + missingExc, nil, nil, [2]string{exc.ID, missingExc}},
		"POST /v1/exceptions/{id}/revoke":                    {"/v1/exceptions/" + exc.ID + "/revoke", "/v1/exceptions/" + missingExc + "/revoke", nil, nil, [2]string{exc.ID, missingExc}},
		// The audit log: a partition is named in the query.
		"GET /v1/audit":        {"/v1/audit?partition=payments", "/v1/audit?partition=" + missingTenant, nil, nil, [2]string{"payments", missingTenant}},
		"GET /v1/audit/export": {"/v1/audit/export?partition=payments", "/v1/audit/export?partition=" + missingTenant, nil, nil, [2]string{"payments", missingTenant}},
	}
	routes := api.New(nil, api.Options{}).Routes()
	tried := 0
	for _, rt := range routes {
		if !rt.TenantScoped {
			continue
		}
		key := rt.Method + " " + rt.Path
		tc, ok := cases[key]
		if !ok {
			t.Errorf("tenant-scoped route %s has no partition case: add one", key)
			continue
		}
		tried++
		t.Run(key, func(t *testing.T) {
			b := client{t: t, base: b.base, token: b.token}
			gotStatus, got := b.do(rt.Method, tc.path, tc.body)
			wantStatus, want := b.do(rt.Method, tc.missingPath, tc.missingBody)
			if gotStatus < 400 {
				t.Fatalf("%s on tenant payments's object with tenant support's credential = %d %s, want refused", key, gotStatus, got)
			}
			normal := func(s string) string {
				s = strings.ReplaceAll(s, tc.replace[0], "<id>")
				s = strings.ReplaceAll(s, tc.replace[1], "<id>")
				return s
			}
			if gotStatus != wantStatus || normal(got) != normal(want) {
				t.Errorf("%s: another tenant's object answers %d %s\nbut a missing one answers %d %s", key, gotStatus, got, wantStatus, want)
			}
			if strings.Contains(got, "refund") && !strings.Contains(tc.replace[0], "refund") {
				t.Errorf("%s: answer reveals tenant payments's data: %s", key, got)
			}
		})
	}
	if tried < len(cases) {
		t.Errorf("tried %d tenant-scoped routes, have cases for %d: a route lost its TenantScoped mark?", tried, len(cases))
	}

	// Registering a spec of tenant A with B's credential is refused, and
	// answers as for a tenant that does not exist.
	t.Run("POST /v1/agents", func(t *testing.T) {
		gotStatus, got := b.do("POST", "/v1/agents", string(specSrc))
		missing := strings.Replace(string(specSrc), "tenant: payments", "tenant: "+missingTenant, 1)
		wantStatus, want := b.do("POST", "/v1/agents", missing)
		if gotStatus != http.StatusForbidden || gotStatus != wantStatus ||
			strings.ReplaceAll(got, "payments", "<t>") != strings.ReplaceAll(want, missingTenant, "<t>") {
			t.Errorf("register A's spec as B = %d %s; for a missing tenant = %d %s", gotStatus, got, wantStatus, want)
		}
	})

	// B's lists hold nothing of A's.
	for _, path := range []string{"/v1/fleet", "/v1/agents", "/v1/agents?tenant=payments", "/v1/tenants", "/v1/exceptions", "/v1/exceptions?tenant=payments", "/v1/audit", "/v1/library/diff?from=1.0.0&to=1.1.0"} {
		status, body := b.do("GET", path, nil)
		if status != http.StatusOK || strings.Contains(body, "payments") || strings.Contains(body, `"tenants": 5`) {
			t.Errorf("GET %s as support = %d, and mentions payments: %v\n%s", path, status, strings.Contains(body, "payments"), body)
		}
	}

	// Nothing of A's changed.
	var after struct{ Status string }
	a.json("GET", "/v1/agents/"+agent, nil, 200, &after)
	if after.Status != before.Status {
		t.Errorf("agent %s status %s → %s after tenant support's attempts", agent, before.Status, after.Status)
	}
	var e struct {
		RevokedAt *time.Time `json:"revoked_at"`
	}
	a.json("GET", "/v1/exceptions/"+exc.ID, nil, 200, &e)
	if e.RevokedAt != nil {
		t.Errorf("exception %s was revoked by tenant support", exc.ID)
	}
	a.json("GET", "/v1/tenants/payments", nil, 200, nil) // A's own token still works
	var keyCheck struct{ Decision string }
	k := client{t: t, base: creds.API}
	for _, ag := range creds.Agents {
		if ag.ID == agent {
			k.token = ag.Key
		}
	}
	k.json("POST", "/v1/agents/"+agent+"/evaluate", map[string]any{"kind": "tool_call", "tool": "orders.get_order", "server": "orders"}, 200, &keyCheck)
	var audit struct {
		Records []struct{ Actor, Action string }
	}
	a.json("GET", "/v1/audit", nil, 200, &audit)
	for _, r := range audit.Records {
		if strings.Contains(r.Actor, "support") {
			t.Errorf("tenant payments's audit partition holds a record by tenant support: %+v", r)
		}
	}
}
