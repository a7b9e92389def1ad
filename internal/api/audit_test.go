package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/audit"
	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// auditEnv is an API server whose store the test writes audit records to,
// with credentials of two tenants, the platform and an agent.
type auditEnv struct {
	*env
	st      store.Store
	support string // tenant support's token
	agent   string // an agent key of payments
	adcp    string // an AdCP buyer's credential with the account adsales
}

// Payloads the platform must never see.
const (
	paymentsPayload = "payments-secret-prompt"
	supportPayload  = "support-secret-args"
)

var auditT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newAuditEnv(t *testing.T) *auditEnv {
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
	_, sup, err := plane.IssueTenantToken(t.Context(), pr, "support", "test")
	if err != nil {
		t.Fatal(err)
	}
	_, buyer, err := plane.IssueADCPCredential(t.Context(), pr, "adsales", "https://buyer.example", "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(plane, Options{}).Handler())
	t.Cleanup(srv.Close)
	e := &auditEnv{env: &env{srv: srv, fleetDir: dir, admin: admin.Secret, payments: pay}, st: st, support: sup, adcp: buyer}

	spec, err := os.ReadFile(filepath.Join(dir, "specs/payments/refund-executor.md"))
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := e.do(t, "POST", "/v1/agents", e.payments, "text/markdown", string(spec))
	var reg struct {
		AgentKey string `json:"agent_key"`
	}
	if err := json.Unmarshal([]byte(body), &reg); status != 201 || err != nil || reg.AgentKey == "" {
		t.Fatalf("register = %d %s", status, body)
	}
	e.agent = reg.AgentKey

	// Gateway records: resource, agent, cost and a payload in detail.
	for i, r := range []store.AuditRecord{
		{Partition: "payments", Agent: "payments.refund-executor", Resource: "model-provider", Action: "model.call", Outcome: "allow", CostMicros: 1500},
		{Partition: "payments", Agent: "payments.refund-executor", Resource: "model-provider", Action: "model.call", Outcome: "allow", CostMicros: 2500},
		{Partition: "payments", Agent: "payments.refund-executor", Resource: "mcp-servers", Action: "tool.call", Outcome: "deny"},
		{Partition: "support", Agent: "support.triage", Resource: "vector-store", Action: "vector.query", Outcome: "allow", CostMicros: 7},
		{Partition: store.PlatformPartition, Resource: "skill-registry", Action: "cross_tenant", Outcome: "refused"},
	} {
		r.Time = auditT0.Add(time.Duration(i) * time.Hour)
		r.Actor = "gateway"
		r.TraceID = fmt.Sprintf("trace-%d", i)
		payload := paymentsPayload
		if r.Partition != "payments" {
			payload = supportPayload
		}
		r.Detail = []byte(`{"prompt":"` + payload + `"}`)
		if _, err := st.AppendAudit(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *auditEnv) token(name string) string {
	return map[string]string{"ADMIN": e.admin, "PAYMENTS": e.payments, "SUPPORT": e.support, "AGENT": e.agent, "ADCP": e.adcp}[name]
}

// records decodes a GET /v1/audit answer of records.
func records(t *testing.T, body string) []control.AuditEntry {
	t.Helper()
	var b struct {
		Records []control.AuditEntry `json:"records"`
	}
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("decode records: %v\n%s", err, body)
	}
	return b.Records
}

func TestAuditPartitions(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t)

	t.Run("a tenant reads its own partition", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/v1/audit", "/v1/audit?partition=payments"} {
			status, _, body := e.do(t, "GET", path, e.payments, "", "")
			if status != 200 {
				t.Fatalf("GET %s as payments = %d %s", path, status, body)
			}
			recs := records(t, body)
			var model int64
			for _, r := range recs {
				if r.Partition != "payments" {
					t.Errorf("GET %s as payments holds a record of %s", path, r.Partition)
				}
				if r.Resource == "model-provider" {
					model += r.CostMicros
					if r.Agent != "payments.refund-executor" || r.TraceID == "" || !strings.Contains(string(r.Detail), paymentsPayload) {
						t.Errorf("gateway record as read = %+v, want agent, trace and detail", r)
					}
				}
			}
			if model != 4000 {
				t.Errorf("GET %s: model-provider cost = %d, want 4000", path, model)
			}
			if strings.Contains(body, supportPayload) || strings.Contains(body, `"support`) {
				t.Errorf("GET %s as payments mentions support:\n%s", path, body)
			}
		}
	})

	t.Run("another tenant's partition answers as a missing one", func(t *testing.T) {
		t.Parallel()
		missingStatus, _, missing := e.do(t, "GET", "/v1/audit?partition=nosuchtenant", e.payments, "", "")
		if missingStatus != 404 {
			t.Fatalf("GET a missing partition = %d %s, want 404", missingStatus, missing)
		}
		for _, p := range []string{"support", store.PlatformPartition, "research"} {
			for _, path := range []string{"/v1/audit?partition=", "/v1/audit/export?partition="} {
				status, _, body := e.do(t, "GET", path+p, e.payments, "", "")
				if status != missingStatus || strings.ReplaceAll(body, p, "<p>") != strings.ReplaceAll(missing, "nosuchtenant", "<p>") {
					t.Errorf("GET %s%s as payments = %d %s\nwant as for a missing one: %d %s", path, p, status, body, missingStatus, missing)
				}
			}
		}
	})

	t.Run("the platform gets aggregates without payloads", func(t *testing.T) {
		t.Parallel()
		status, _, body := e.do(t, "GET", "/v1/audit", e.admin, "", "")
		if status != 200 {
			t.Fatalf("GET /v1/audit as platform = %d %s", status, body)
		}
		for _, leak := range []string{paymentsPayload, supportPayload, "detail", "trace", "actor", "hash", "records", "refund-executor", "gateway"} {
			if strings.Contains(body, leak) {
				t.Errorf("the platform's aggregates contain %q:\n%s", leak, body)
			}
		}
		var b auditSummaryBody
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatal(err)
		}
		got := map[string]control.AuditAggregate{}
		for _, a := range b.Aggregates {
			got[a.Partition+"/"+a.Resource+"/"+a.Outcome] = a
		}
		for key, want := range map[string][2]int64{
			"payments/model-provider/allow": {2, 4000},
			"payments/mcp-servers/deny":     {1, 0},
			"support/vector-store/allow":    {1, 7},
			// Not audit-log: the parallel subtests add Cat 4 records of that.
			"_platform/skill-registry/refused": {1, 0},
		} {
			if a := got[key]; a.Count != want[0] || a.CostMicros != want[1] {
				t.Errorf("aggregate %s = %d records, %d µUSD; want %d, %d", key, a.Count, a.CostMicros, want[0], want[1])
			}
		}
		if _, ok := got["payments//ok"]; !ok {
			t.Errorf("aggregates lack the control-plane records of payments (credential.issue, agent.register): %v", b.Aggregates)
		}
	})

	t.Run("the platform bounds aggregates in time", func(t *testing.T) {
		t.Parallel()
		path := "/v1/audit?since=" + auditT0.Add(time.Hour).Format(time.RFC3339) + "&until=" + auditT0.Add(3*time.Hour).Format(time.RFC3339)
		status, _, body := e.do(t, "GET", path, e.admin, "", "")
		var b auditSummaryBody
		if err := json.Unmarshal([]byte(body), &b); status != 200 || err != nil {
			t.Fatalf("GET %s = %d %s", path, status, body)
		}
		want := []control.AuditAggregate{
			{Partition: "payments", Resource: "mcp-servers", Outcome: "deny", Count: 1},
			{Partition: "payments", Resource: "model-provider", Outcome: "allow", Count: 1, CostMicros: 2500},
		}
		if fmt.Sprint(b.Aggregates) != fmt.Sprint(want) || b.Since == nil || !b.Since.Equal(auditT0.Add(time.Hour)) {
			t.Errorf("GET %s = %s, want aggregates %v and since echoed", path, body, want)
		}
	})

	t.Run("the platform reads its own partition, never a tenant's", func(t *testing.T) {
		t.Parallel()
		status, _, body := e.do(t, "GET", "/v1/audit?partition=_platform", e.admin, "", "")
		recs := records(t, body)
		if status != 200 || len(recs) == 0 {
			t.Fatalf("GET ?partition=_platform as platform = %d %s", status, body)
		}
		for _, r := range recs {
			if r.Partition != store.PlatformPartition {
				t.Errorf("GET ?partition=_platform holds a record of %s", r.Partition)
			}
		}
		for _, path := range []string{"/v1/audit?partition=payments", "/v1/audit/export?partition=payments", "/v1/audit?partition=nosuchtenant"} {
			status, eb, body := e.do(t, "GET", path, e.admin, "", "")
			if status != 403 || eb.Code != "forbidden" || strings.Contains(body, paymentsPayload) {
				t.Errorf("GET %s as platform = %d %s, want 403 forbidden", path, status, body)
			}
		}
	})
}

func TestAuditErrors(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t)
	tests := []struct {
		name, path, token string
		wantStatus        int
		wantCode          string
		wantField         string
	}{
		{"agent key", "/v1/audit", "AGENT", 403, "forbidden", ""},
		{"agent key, own partition", "/v1/audit?partition=payments", "AGENT", 403, "forbidden", ""},
		{"agent key export", "/v1/audit/export", "AGENT", 403, "forbidden", ""},
		{"AdCP principal", "/v1/audit", "ADCP", 403, "forbidden", ""},
		{"AdCP principal, its account", "/v1/audit?partition=adsales", "ADCP", 403, "forbidden", ""},
		{"AdCP principal export", "/v1/audit/export", "ADCP", 403, "forbidden", ""},
		{"no credential", "/v1/audit/export", "", 401, "unauthenticated", ""},
		{"bad since", "/v1/audit?since=yesterday", "ADMIN", 400, "invalid_field", "since"},
		{"date without time", "/v1/audit?until=2026-03-01", "ADMIN", 400, "invalid_field", "until"},
		{"until before since", "/v1/audit?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "ADMIN", 400, "invalid_field", "until"},
		{"paging aggregates", "/v1/audit?after=3", "ADMIN", 400, "invalid_field", "after"},
		{"since on records", "/v1/audit?since=2026-03-01T00:00:00Z", "PAYMENTS", 400, "invalid_field", "since"},
		{"since on the platform's records", "/v1/audit?partition=_platform&until=2026-03-01T00:00:00Z", "ADMIN", 400, "invalid_field", "until"},
		{"negative after", "/v1/audit?after=-1", "PAYMENTS", 400, "invalid_field", "after"},
		{"bad limit", "/v1/audit?limit=many", "SUPPORT", 400, "invalid_field", "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, eb, body := e.do(t, "GET", tc.path, e.token(tc.token), "", "")
			if status != tc.wantStatus || eb.Code != tc.wantCode || eb.Field != tc.wantField || eb.Message == "" {
				t.Errorf("GET %s = %d %s, want %d code %s field %q", tc.path, status, body, tc.wantStatus, tc.wantCode, tc.wantField)
			}
		})
	}
}

// export fetches GET /v1/audit/export and returns the answer and its records.
func (e *auditEnv) export(t *testing.T, path, token string) (*http.Response, []store.AuditRecord) {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	recs, err := audit.ReadAll(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, b)
	}
	return resp, recs
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	e := newAuditEnv(t)
	// More than a page of records, so that the export pages.
	const extra = audit.PageSize + 7
	err := e.st.Atomic(t.Context(), func(tx store.Tx) error {
		for i := range extra {
			r := store.AuditRecord{Partition: "support", Time: auditT0.Add(time.Duration(i) * time.Second), Actor: "gateway",
				Resource: "model-provider", Action: "model.call", Outcome: "allow", CostMicros: int64(i)}
			if _, err := tx.AppendAudit(t.Context(), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, token, partition string
		min                          int
	}{
		{"tenant", "/v1/audit/export", "PAYMENTS", "payments", 3},
		{"tenant naming itself", "/v1/audit/export?partition=payments", "PAYMENTS", "payments", 3},
		{"tenant over a page", "/v1/audit/export", "SUPPORT", "support", extra + 1},
		{"platform", "/v1/audit/export", "ADMIN", store.PlatformPartition, 1},
		{"platform naming itself", "/v1/audit/export?partition=_platform", "ADMIN", store.PlatformPartition, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, recs := e.export(t, tc.path, e.token(tc.token))
			if ct := resp.Header.Get("Content-Type"); ct != "application/jsonl" {
				t.Errorf("Content-Type = %q, want application/jsonl", ct)
			}
			if len(recs) < tc.min {
				t.Errorf("export has %d records, want at least %d", len(recs), tc.min)
			}
			names, by := audit.Partitions(recs)
			if len(names) != 1 || names[0] != tc.partition {
				t.Fatalf("export holds partitions %v, want only %s", names, tc.partition)
			}
			if rep := audit.Verify(tc.partition, by[tc.partition]); !rep.OK() || rep.Records != len(recs) {
				t.Errorf("the export does not verify: %v", rep.Problems)
			}
		})
	}
}
