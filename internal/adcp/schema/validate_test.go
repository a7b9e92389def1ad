package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Well-formed documents the bad-input cases mutate.
const (
	syncPlansRequest = `{
		"idempotency_key": "fleetgov-test-sync-plans-0001",
		"plans": [{
			"plan_id": "plan_acme_q2",
			"brand": {"domain": "acme.example"},
			"objectives": "Q2 awareness for the outdoor range",
			"budget": {"total": 50000, "currency": "USD", "reallocation_threshold": 5000},
			"flight": {"start": "2027-04-01T00:00:00Z", "end": "2027-06-30T23:59:59Z"},
			"countries": ["US"],
			"channels": {"allowed": ["display", "ctv"]}
		}],
		"context": {"correlation_id": "c-1"}
	}`
	// intent30 is a 3.0 intent check: no target_agent (3.0 requests forbid unknown fields).
	intent30 = `{
		"plan_id": "plan_acme_q2",
		"caller": "https://buyer.example",
		"tool": "create_media_buy",
		"payload": {"total_budget": 40000, "packages": [{"product_id": "p1", "budget": 40000}]},
		"context": {"correlation_id": "c-2"}
	}`
	// intent is a 3.1/3.2 intent check.
	intent = `{
		"plan_id": "plan_acme_q2",
		"caller": "https://buyer.example",
		"target_agent": "https://seller.example",
		"tool": "create_media_buy",
		"payload": {"total_budget": 40000, "packages": [{"product_id": "p1", "budget": 40000}]},
		"context": {"correlation_id": "c-2"}
	}`
	// response30 is check_governance as 3.0 shapes it: the verdict in status, conditions with
	// a governance_context (the legacy "approved with conditions" the storyboards expect).
	response30 = `{
		"check_id": "chk_0001",
		"status": "conditions",
		"plan_id": "plan_acme_q2",
		"explanation": "CTV line items need weekly delivery reporting.",
		"conditions": [{"field": "payload.total_budget", "required_value": 30000, "reason": "Exceeds the per-seller share."}],
		"governance_context": "eyJhbGciOiJFZERTQSJ9.e30.sig",
		"expires_at": "2027-04-01T00:15:00Z",
		"findings": [{"category_id": "budget_authority", "severity": "warning", "explanation": "Near the per-seller share."}],
		"context": {"correlation_id": "c-2"}
	}`
	// response31 is check_governance as 3.1 shapes it: verdict, and the task status beside it.
	response31 = `{
		"status": "completed",
		"check_id": "chk_0001",
		"verdict": "approved",
		"plan_id": "plan_acme_q2",
		"explanation": "Within budget authority.",
		"governance_context": "eyJhbGciOiJFZERTQSJ9.e30.sig",
		"expires_at": "2027-04-01T00:15:00Z",
		"categories_evaluated": ["budget_authority", "brand_policy"],
		"context": {"correlation_id": "c-2"}
	}`
	// response32 adds check_type, which selects the 3.2 rules.
	response32 = `{
		"status": "completed",
		"check_id": "chk_0001",
		"check_type": "intent",
		"verdict": "approved",
		"plan_id": "plan_acme_q2",
		"explanation": "Within budget authority.",
		"governance_context": "eyJhbGciOiJFZERTQSJ9.e30.sig",
		"expires_at": "2027-04-01T00:15:00Z",
		"categories_evaluated": ["budget_authority"],
		"policies_evaluated": ["us_coppa_data_collection"]
	}`
	syncGovernanceRequest = `{
		"idempotency_key": "fleetgov-test-sync-gov-0001",
		"accounts": [{
			"account": {"account_id": "acct_acme"},
			"governance_agents": [
				{"url": "https://gov.example/adcp/acme", "authentication": {"schemes": ["Bearer"], "credentials": "0123456789abcdef0123456789abcdef"}}
			]
		}]
	}`
)

// doc decodes JSON and applies edits: a key "a.b[0].c" set to a value, or deleted when the
// value is deleteKey.
func doc(t testing.TB, src string, edits map[string]any) any {
	t.Helper()
	var d any
	if err := json.Unmarshal([]byte(src), &d); err != nil {
		t.Fatalf("bad test JSON: %v", err)
	}
	for path, val := range edits {
		setPath(t, d, path, val)
	}
	return d
}

type deleteMarker struct{}

var deleteKey = deleteMarker{}

func setPath(t testing.TB, d any, path string, val any) {
	t.Helper()
	toks := strings.FieldsFunc(path, func(r rune) bool { return r == '.' || r == '[' || r == ']' })
	cur := d
	for i, tok := range toks {
		last := i == len(toks)-1
		switch n := cur.(type) {
		case map[string]any:
			if last {
				if val == deleteKey {
					delete(n, tok)
				} else {
					n[tok] = val
				}
				return
			}
			cur = n[tok]
		case []any:
			var idx int
			if _, err := fmt.Sscan(tok, &idx); err != nil || idx >= len(n) {
				t.Fatalf("setPath %s: bad index %q", path, tok)
			}
			if last {
				n[idx] = val
				return
			}
			cur = n[idx]
		default:
			t.Fatalf("setPath %s: %q is not in the document", path, tok)
		}
	}
}

func TestValidWellFormed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    Version
		task string
		dir  Direction
		src  string
	}{
		{"sync_plans 3.0", V30, "sync_plans", Request, syncPlansRequest},
		{"sync_plans 3.1", V31, "sync_plans", Request, syncPlansRequest},
		{"sync_plans 3.2", V32, "sync_plans", Request, syncPlansRequest},
		{"intent 3.0", V30, "check_governance", Request, intent30},
		{"intent 3.1", V31, "check_governance", Request, intent},
		{"intent 3.2", V32, "check_governance", Request, intent},
		{"3.0 response shape under 3.0", V30, "check_governance", Response, response30},
		{"3.1 response shape under 3.1", V31, "check_governance", Response, response31},
		{"3.1 response shape under 3.2 (legacy arm)", V32, "check_governance", Response, response31},
		{"3.2 response shape under 3.2", V32, "check_governance", Response, response32},
		{"sync_governance 3.0", V30, "sync_governance", Request, syncGovernanceRequest},
		{"sync_governance 3.1", V31, "sync_governance", Request, syncGovernanceRequest},
		{"sync_governance 3.2", V32, "sync_governance", Request, syncGovernanceRequest},
		{"capabilities request", V30, "get_adcp_capabilities", Request, `{"context": {"correlation_id": "x"}}`},
		{"capabilities response", V31, "get_adcp_capabilities", Response, `{
			"status": "completed",
			"adcp": {"major_versions": [3], "supported_versions": ["3.0", "3.1"], "idempotency": {"supported": true, "replay_ttl_seconds": 86400}},
			"supported_protocols": ["governance"],
			"specialisms": ["governance-spend-authority", "governance-delivery-monitor"],
			"experimental_features": ["governance.campaign"],
			"governance": {"aggregation_window_days": 30}
		}`},
		{"comply_test_controller seed_plan", V30, "comply_test_controller", Request, `{
			"scenario": "seed_plan",
			"account": {"brand": {"domain": "test.example"}, "operator": "test.example", "sandbox": true},
			"params": {"plan_id": "gov_plan", "fixture": {"budget": {"total": 10000}}}
		}`},
		{"comply_test_controller success", V30, "comply_test_controller", Response, `{"status": "completed", "success": true}`},
		{"get_task_status request", V31, "get_task_status", Request, `{"task_id": "task_123"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := Validate(tc.v, tc.task, tc.dir, doc(t, tc.src, nil)); err != nil {
				t.Errorf("Validate(%s, %s, %s) = %v, want nil", tc.v, tc.task, tc.dir, err)
			}
		})
	}
}

func TestValidateBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		v       Version
		task    string
		dir     Direction
		src     string
		edits   map[string]any
		field   string // want Error.Field
		keyword string // want Error.Keyword
		message string // want a substring of Error.Message
	}{
		{
			name: "sync_plans without idempotency_key", v: V30, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"idempotency_key": deleteKey},
			field: "idempotency_key", keyword: "required", message: `required property "idempotency_key" is missing`,
		},
		{
			name: "sync_plans without idempotency_key 3.2", v: V32, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"idempotency_key": deleteKey},
			field: "idempotency_key", keyword: "required", message: `"idempotency_key"`,
		},
		{
			name: "idempotency_key too short", v: V31, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"idempotency_key": "short"},
			field: "idempotency_key", keyword: "pattern", message: `expected a string matching ^[A-Za-z0-9_.:-]{16,255}$, got "short"`,
		},
		{
			name: "budget total as a string", v: V31, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"plans[0].budget.total": "50000"},
			field: "plans[0].budget.total", keyword: "type", message: "expected number, got string",
		},
		{
			name: "missing budget currency", v: V32, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"plans[0].budget.currency": deleteKey},
			field: "plans[0].budget.currency", keyword: "required",
		},
		{
			name: "bad channel enum", v: V30, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"plans[0].channels.allowed": []any{"display", "audio"}},
			field: "plans[0].channels.allowed[1]", keyword: "enum", message: `got "audio"`,
		},
		{
			name: "flight start is a date, not a date-time", v: V30, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"plans[0].flight.start": "2027-04-01"},
			field: "plans[0].flight.start", keyword: "format", message: "RFC 3339 date-time",
		},
		{
			name: "date-time without a time zone", v: V32, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"plans[0].flight.end": "2027-06-30T23:59:59"},
			field: "plans[0].flight.end", keyword: "format",
		},
		{
			name: "plan field the schema forbids", v: V31, task: "sync_plans", src: syncPlansRequest,
			edits: map[string]any{"plans[0].mode": "enforce"},
			field: "plans[0].mode", keyword: "additionalProperties", message: `property "mode" is not allowed`,
		},
		{
			name: "caller is not a URI", v: V31, task: "check_governance", src: intent,
			edits: map[string]any{"caller": "pinnacle agency"},
			field: "caller", keyword: "format", message: "absolute URI",
		},
		{
			name: "bad purchase_type enum", v: V32, task: "check_governance", src: intent,
			edits: map[string]any{"purchase_type": "tv_spot"},
			field: "purchase_type", keyword: "enum", message: `expected one of "media_buy"`,
		},
		{
			name: "3.0 request forbids target_agent", v: V30, task: "check_governance", src: intent,
			field: "target_agent", keyword: "additionalProperties",
		},
		{
			name: "3.0 request forbids adcp_version", v: V30, task: "check_governance", src: intent30,
			edits: map[string]any{"adcp_version": "3.0"},
			field: "adcp_version", keyword: "additionalProperties",
		},
		{
			name: "3.2 intent without target_agent", v: V32, task: "check_governance", src: intent,
			edits: map[string]any{"target_agent": deleteKey},
			field: "target_agent", keyword: "required",
		},
		{
			name: "3.2 update without proposed_commitment", v: V32, task: "check_governance", src: intent,
			edits: map[string]any{"tool": "update_media_buy"},
			field: "proposed_commitment", keyword: "required",
		},
		{
			name: "3.2 intent carrying a governance_context", v: V32, task: "check_governance", src: intent,
			edits: map[string]any{"governance_context": "tok"},
			field: "", keyword: "not", message: "must not include governance_context",
		},
		{
			name: "3.2 mixed intent and execution shapes", v: V32, task: "check_governance", src: intent,
			edits: map[string]any{"planned_delivery": map[string]any{"total_budget": 1000, "currency": "USD"}},
			field: "", keyword: "not", message: "must not include (tool or payload) together with (planned_delivery or delivery_metrics)",
		},
		{
			name: "3.0 response with the 3.1 status", v: V30, task: "check_governance", dir: Response, src: response31,
			field: "status", keyword: "enum", message: `expected one of "approved", "denied", "conditions"; got "completed"`,
		},
		{
			name: "3.1 response with the 3.0 shape", v: V31, task: "check_governance", dir: Response, src: response30,
			field: "verdict", keyword: "required",
		},
		{
			name: "3.1 conditions without conditions[]", v: V31, task: "check_governance", dir: Response, src: response31,
			edits: map[string]any{"verdict": "conditions"},
			field: "conditions", keyword: "required",
		},
		{
			name: "3.1 verdict escalated does not exist", v: V31, task: "check_governance", dir: Response, src: response31,
			edits: map[string]any{"verdict": "escalated"},
			field: "verdict", keyword: "enum",
		},
		{
			name: "3.2 conditions on an execution check", v: V32, task: "check_governance", dir: Response, src: response32,
			edits: map[string]any{"check_type": "execution", "verdict": "conditions", "governance_context": deleteKey, "expires_at": deleteKey,
				"conditions": []any{map[string]any{"field": "planned_delivery.total_budget", "reason": "too high"}}, "consultation_context": "cc_1"},
			field: "check_type", keyword: "const", message: `expected "intent", got "execution"`,
		},
		{
			name: "expires_at not a date-time", v: V31, task: "check_governance", dir: Response, src: response31,
			edits: map[string]any{"expires_at": "tomorrow"},
			field: "expires_at", keyword: "format", message: `got "tomorrow"`,
		},
		{
			name: "findings item without severity", v: V30, task: "check_governance", dir: Response, src: response30,
			edits: map[string]any{"findings[0].severity": deleteKey},
			field: "findings[0].severity", keyword: "required",
		},
		{
			name: "3.1 two governance agents", v: V31, task: "sync_governance", src: syncGovernanceRequest,
			edits: map[string]any{"accounts[0].governance_agents": []any{
				map[string]any{"url": "https://gov-a.example", "authentication": map[string]any{"schemes": []any{"Bearer"}, "credentials": strings.Repeat("a", 32)}},
				map[string]any{"url": "https://gov-b.example", "authentication": map[string]any{"schemes": []any{"Bearer"}, "credentials": strings.Repeat("b", 32)}},
			}},
			field: "accounts[0].governance_agents", keyword: "maxItems", message: "expected at most 1 items, got 2",
		},
		{
			name: "governance agent over plain http", v: V32, task: "sync_governance", src: syncGovernanceRequest,
			edits: map[string]any{"accounts[0].governance_agents[0].url": "http://gov.example"},
			field: "accounts[0].governance_agents[0].url", keyword: "pattern",
		},
		{
			name: "sync_plans response without status from 3.1", v: V31, task: "sync_plans", dir: Response,
			src:   `{"plans": [{"plan_id": "p", "status": "active", "version": 1}]}`,
			field: "status", keyword: "required",
		},
		{
			name: "report_plan_outcome 3.0 without governance_context", v: V30, task: "report_plan_outcome",
			src:   `{"idempotency_key": "fleetgov-test-outcome-0001", "plan_id": "p", "outcome": "failed", "check_id": "chk", "error": {"code": "X", "message": "y"}}`,
			field: "governance_context", keyword: "required",
		},
		{
			name: "adcp_version with a patch", v: V31, task: "check_governance", src: intent,
			edits: map[string]any{"adcp_version": "3.1.19"},
			field: "adcp_version", keyword: "pattern",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(tc.v, tc.task, tc.dir, doc(t, tc.src, tc.edits))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate(%s, %s, %s) = %v, want a *schema.Error", tc.v, tc.task, tc.dir, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			if e.Field != tc.field || e.Keyword != tc.keyword || !strings.Contains(e.Message, tc.message) {
				t.Errorf("Validate(%s, %s, %s) = field %q keyword %q message %q, want field %q keyword %q message containing %q\nall: %q",
					tc.v, tc.task, tc.dir, e.Field, e.Keyword, e.Message, tc.field, tc.keyword, tc.message, e.Violations)
			}
			if e.Task != tc.task || e.Version != tc.v || e.Direction != tc.dir || e.Root == "" || e.Schema == "" {
				t.Errorf("error context = task %q version %q dir %v root %q schema %q", e.Task, e.Version, e.Direction, e.Root, e.Schema)
			}
		})
	}
}

// TestMixedShapesBeforeThreePointTwo records that 3.0 and 3.1 schemas do not forbid mixing
// intent and execution fields; only 3.2 does, so a handler must check the shape itself.
func TestMixedShapesBeforeThreePointTwo(t *testing.T) {
	t.Parallel()
	mixed := map[string]any{"governance_context": "tok", "planned_delivery": map[string]any{"total_budget": 1000, "currency": "USD"}}
	if err := Validate(V30, "check_governance", Request, doc(t, intent30, mixed)); err != nil {
		t.Errorf("3.0: Validate(mixed) = %v, want nil", err)
	}
	if err := Validate(V31, "check_governance", Request, doc(t, intent, mixed)); err != nil {
		t.Errorf("3.1: Validate(mixed) = %v, want nil", err)
	}
	if err := Validate(V32, "check_governance", Request, doc(t, intent, mixed)); !errors.Is(err, ErrInvalid) {
		t.Errorf("3.2: Validate(mixed) = %v, want ErrInvalid", err)
	}
}

// TestResponsesRequiringStatus records which response schemas require a root "status", and
// what it means there: the verdict/outcome enum in 3.0's check_governance and
// report_plan_outcome, the TaskStatus of core/protocol-envelope.json elsewhere.
func TestResponsesRequiringStatus(t *testing.T) {
	t.Parallel()
	envelope := []string{"comply_test_controller", "get_adcp_capabilities", "get_task_status"} // head schemas in every version
	want := map[Version][]string{
		V30: append([]string{"check_governance", "report_plan_outcome"}, envelope...),
		V31: append([]string{"get_plan_audit_logs", "sync_governance", "sync_plans"}, envelope...),
		V32: append([]string{"get_plan_audit_logs", "sync_governance", "sync_plans"}, envelope...),
	}
	for _, v := range Versions() {
		var got []string
		for _, task := range Tasks() {
			err := Validate(v, task, Response, map[string]any{})
			if errors.Is(err, ErrUnknownTask) {
				continue
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate(%s, %s, response, {}) = %v, want a *schema.Error", v, task, err)
			}
			for _, viol := range e.Violations {
				if viol.Field == "status" && viol.Keyword == "required" {
					got = append(got, task)
					break
				}
			}
		}
		slices.Sort(got)
		slices.Sort(want[v])
		if !slices.Equal(got, want[v]) {
			t.Errorf("%s: responses requiring status = %q, want %q", v, got, want[v])
		}
	}
}

func TestSchemaID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v       Version
		task    string
		dir     Direction
		want    string
		wantErr error
	}{
		{V30, "sync_plans", Request, "/schemas/3.0.6/governance/sync-plans-request.json", nil},
		{V31, "check_governance", Response, "/schemas/3.1.19/governance/check-governance-response.json", nil},
		{V32, "check_governance", Response, "/schemas/governance/check-governance-response.json", nil},
		{V30, "sync_governance", Response, "/schemas/3.0.6/account/sync-governance-response.json", nil},
		{V30, "get_task_status", Request, "/schemas/protocol/get-task-status-request.json", nil},
		{V31, "get_adcp_capabilities", Response, "/schemas/protocol/get-adcp-capabilities-response.json", nil},
		{V31, "comply_test_controller", Request, "/schemas/compliance/comply-test-controller-request.json", nil},
		{V32, "report_plan_adjustment", Request, "/schemas/governance/report-plan-adjustment-request.json", nil},
		{V30, "report_plan_adjustment", Request, "", ErrUnknownTask},
		{V31, "report_plan_adjustment", Response, "", ErrUnknownTask},
		{V32, "create_media_buy", Request, "", ErrUnknownTask},
		{V32, "", Request, "", ErrUnknownTask},
		{"2.5", "sync_plans", Request, "", ErrUnknownVersion},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s/%s", tc.v, tc.task, tc.dir), func(t *testing.T) {
			t.Parallel()
			got, err := SchemaID(tc.v, tc.task, tc.dir)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("SchemaID(%s, %s, %s) = %q, %v, want %q, %v", tc.v, tc.task, tc.dir, got, err, tc.want, tc.wantErr)
			}
			if tc.wantErr != nil {
				if err := Validate(tc.v, tc.task, tc.dir, map[string]any{}); !errors.Is(err, tc.wantErr) {
					t.Errorf("Validate(%s, %s, %s) = %v, want %v", tc.v, tc.task, tc.dir, err, tc.wantErr)
				}
			}
		})
	}
}

func TestPrecompile(t *testing.T) {
	t.Parallel()
	if err := Precompile(); err != nil {
		t.Fatalf("Precompile() = %v", err)
	}
}

func TestValidateJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		wantErr error
		field   string
	}{
		{"valid", syncPlansRequest, nil, ""},
		{"invalid", `{"plans": []}`, ErrInvalid, "idempotency_key"},
		{"malformed", `{"plans": [`, ErrMalformed, ""},
		{"trailing data", `{} {}`, ErrMalformed, ""},
		{"empty", ``, ErrMalformed, ""},
		// json.Number keeps a large integer exact; it is still a number.
		{"large integer", strings.Replace(syncPlansRequest, `"total": 50000`, `"total": 123456789012345678901234567890`, 1), nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateJSON(V31, "sync_plans", Request, []byte(tc.data))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("ValidateJSON(%s) = %v, want %v", tc.name, err, tc.wantErr)
			}
			var e *Error
			if errors.As(err, &e) && e.Field != tc.field {
				t.Errorf("ValidateJSON(%s) field = %q, want %q", tc.name, e.Field, tc.field)
			}
		})
	}
}

func TestValidateSchema(t *testing.T) {
	t.Parallel()
	adcpError := map[string]any{"code": "VALIDATION_ERROR", "message": "plans[0].budget.total: expected number", "field": "plans[0].budget.total", "recovery": "correctable"}
	tests := []struct {
		name    string
		v       Version
		path    string
		doc     any
		wantErr error
		field   string
	}{
		{"adcp_error 3.0", V30, "core/error.json", adcpError, nil, ""},
		{"adcp_error 3.2", V32, "core/error.json", adcpError, nil, ""},
		{"adcp_error without message", V31, "core/error.json", map[string]any{"code": "X"}, ErrInvalid, "message"},
		{"adcp_error bad recovery", V32, "core/error.json", map[string]any{"code": "X", "message": "m", "recovery": "later"}, ErrInvalid, "recovery"},
		// The 3.0.6 envelope is the nested transport shape: status and payload.
		{"envelope 3.0 needs payload", V30, "core/protocol-envelope.json", map[string]any{"status": "completed"}, ErrInvalid, "payload"},
		{"envelope 3.1", V31, "core/protocol-envelope.json", map[string]any{"status": "submitted", "task_id": "t1"}, nil, ""},
		{"envelope legacy task_status", V32, "core/protocol-envelope.json", map[string]any{"status": "completed", "task_status": "completed"}, ErrInvalid, ""},
		{"not embedded", V30, "media-buy/create-media-buy-request.json", map[string]any{}, ErrUnknownSchema, ""},
		{"3.0 has no get_task_status", V30, "protocol/get-task-status-request.json", map[string]any{}, ErrUnknownSchema, ""},
		{"unknown version", "9.9", "core/error.json", adcpError, ErrUnknownVersion, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateSchema(tc.v, tc.path, tc.doc)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("ValidateSchema(%s, %s) = %v, want %v", tc.v, tc.path, err, tc.wantErr)
			}
			var e *Error
			if errors.As(err, &e) {
				if e.Field != tc.field {
					t.Errorf("ValidateSchema(%s, %s) field = %q, want %q (%v)", tc.v, tc.path, e.Field, tc.field, err)
				}
				if e.Task != "" || !strings.HasSuffix(e.Root, tc.path) {
					t.Errorf("ValidateSchema error task %q root %q", e.Task, e.Root)
				}
			}
		})
	}
}

func TestValidateNotJSONTyped(t *testing.T) {
	t.Parallel()
	type plan struct{ PlanID string }
	err := Validate(V31, "sync_plans", Request, map[string]any{"idempotency_key": "fleetgov-test-0000001", "plans": []plan{{"p"}}})
	if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a decoded JSON value") {
		t.Errorf("Validate(struct inside) = %v, want a not-JSON error", err)
	}
}

func TestErrorString(t *testing.T) {
	t.Parallel()
	err := Validate(V31, "sync_plans", Request, doc(t, syncPlansRequest, map[string]any{"idempotency_key": deleteKey, "plans[0].budget.total": "x"}))
	const want = `schema: invalid sync_plans request for AdCP 3.1: plans[0].budget.total: expected number, got string (and 1 more)`
	if err == nil || err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	err = ValidateSchema(V30, "core/error.json", map[string]any{})
	const wantRoot = `schema: document does not conform to /schemas/3.0.6/core/error.json: code: required property "code" is missing (and 1 more)`
	if err == nil || err.Error() != wantRoot {
		t.Errorf("Error() = %q, want %q", err, wantRoot)
	}
}

func TestFieldPath(t *testing.T) {
	t.Parallel()
	d := doc(t, `{"plans": [{"budget": {"total": 1}}], "delivery_metrics": {"geo_distribution": {"US": 1, "1": 2}, "indices": {"age:25-34": 1}}, "a/b": {"~x": 0}}`, nil)
	tests := []struct {
		tokens     []string
		field, ptr string
	}{
		{nil, "", ""},
		{[]string{"plans", "0", "budget", "total"}, "plans[0].budget.total", "/plans/0/budget/total"},
		{[]string{"delivery_metrics", "geo_distribution", "US"}, "delivery_metrics.geo_distribution.US", "/delivery_metrics/geo_distribution/US"},
		{[]string{"delivery_metrics", "geo_distribution", "1"}, `delivery_metrics.geo_distribution["1"]`, "/delivery_metrics/geo_distribution/1"},
		{[]string{"delivery_metrics", "indices", "age:25-34"}, `delivery_metrics.indices["age:25-34"]`, "/delivery_metrics/indices/age:25-34"},
		{[]string{"a/b", "~x"}, `["a/b"]["~x"]`, "/a~1b/~0x"},
		{[]string{"missing", "deeper"}, "missing.deeper", "/missing/deeper"},
	}
	for _, tc := range tests {
		field, ptr := fieldPath(d, tc.tokens)
		if field != tc.field || ptr != tc.ptr {
			t.Errorf("fieldPath(%q) = %q, %q, want %q, %q", tc.tokens, field, ptr, tc.field, tc.ptr)
		}
	}
}

// TestConcurrentFirstUse validates every task of every version from many goroutines at
// once, with nothing compiled yet in a fresh registry; run with -race.
func TestConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	var wg sync.WaitGroup
	for i := range 4 {
		for _, v := range Versions() {
			for _, task := range Tasks() {
				for _, dir := range []Direction{Request, Response} {
					wg.Go(func() {
						err := r.validate(v, task, dir, map[string]any{"n": float64(i)})
						var e *Error
						if err != nil && !errors.As(err, &e) && !errors.Is(err, ErrUnknownTask) {
							t.Errorf("validate(%s, %s, %s) = %v", v, task, dir, err)
						}
					})
				}
			}
		}
	}
	wg.Wait()
}

func TestLoaderServesOnlyEmbeddedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		name string // "" when refused
	}{
		{baseURL + "/schemas/core/error.json", "schemas/head/core/error.json"},
		{baseURL + "/schemas/3.0.6/core/error.json#/properties", "schemas/3.0.6/core/error.json"},
		{baseURL + "/schemas/3.1.19/governance/policy-entry.json", "schemas/3.1.19/governance/policy-entry.json"},
		{"https://evil.example/schemas/core/error.json", ""},
		{baseURL + "/schemas/../../etc/passwd", ""},
		{"file:///etc/passwd", ""},
	}
	for _, tc := range tests {
		name, ok := embeddedName(tc.url)
		if name != tc.name || ok != (tc.name != "") {
			t.Errorf("embeddedName(%q) = %q, %v, want %q", tc.url, name, ok, tc.name)
		}
		_, err := loader{}.Load(tc.url)
		if (err == nil) != (tc.name != "") {
			t.Errorf("Load(%q) error = %v", tc.url, err)
		}
	}
}

func TestErrorDetails(t *testing.T) {
	t.Parallel()
	d := readJSON(t, "testdata/examples/check_governance/05-execution-check-purchase.json").(map[string]any)["arguments"]
	err := Validate(V32, "check_governance", Request, d)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Validate = %v, want *Error", err)
	}
	want := Violation{
		Field:   "planned_delivery.frequency_cap.per",
		Pointer: "/planned_delivery/frequency_cap/per",
		Message: `expected one of "individuals", "households", "devices", "accounts", "cookies", "custom"; got "user"`,
		Keyword: "enum",
		Schema:  "/schemas/enums/reach-unit.json#/enum",
	}
	if len(e.Violations) != 1 || e.Violations[0] != want {
		t.Errorf("Violations = %#v, want [%#v]", e.Violations, want)
	}
	if e.Root != "/schemas/governance/check-governance-request.json" {
		t.Errorf("Root = %q", e.Root)
	}
}
