package schema

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// unknown marks a version in which the example's task does not exist.
var unknown = []string{"<unknown task>"}

// TestDocExamples validates the AdCP documentation examples (testdata/examples, CC-BY-4.0)
// under every version. Requests wrapped as {"tool","arguments"} are unwrapped; the rest are
// response bodies, except where dir says Request. Each want lists the Field of every
// violation (nil: valid). The docs are written for 3.2; the failures there are the ones the
// implementation digest (§8) found, plus sync_governance's setup example, which also lacks
// its idempotency_key. Under 3.0 and 3.1 the 3.2 shapes fail where those versions differ
// (3.0: status instead of verdict, strict requests; 3.0/3.1: plan_id required in responses).
func TestDocExamples(t *testing.T) {
	t.Parallel()
	const (
		cg   = "check_governance"
		gpal = "get_plan_audit_logs"
		rpo  = "report_plan_outcome"
		rpa  = "report_plan_adjustment"
	)
	freqCap := "planned_delivery.frequency_cap.per" // per:"user" is not in the enum
	tests := []struct {
		file          string
		task          string // inferred from a {"tool","arguments"} wrapper when ""
		dir           Direction
		v30, v31, v32 []string
	}{
		{file: "audit-trail/01-producing-a-shareable-view.json"},
		{file: "audit-trail/03-worked-example-a-clean-buy.json", task: gpal, dir: Response,
			v30: []string{"plans[0].entries[0].verdict"}}, // 3.0 entries say status
		{file: "audit-trail/04-security-shaped-finding-an-unauthorized-seller.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "audit-trail/05-coaching-shaped-finding-an-annex-iii-prerequisite-is-missing.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "audit-trail/06-the-operator-s-dial-enforce-advisory-audit.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "audit-trail/07-the-operator-s-dial-enforce-advisory-audit.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "audit-trail/08-the-operator-s-dial-enforce-advisory-audit.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "check_governance/01-runtime-signal-attestations.json", task: cg, dir: Request,
			v30: []string{"proposed_commitment", "runtime_attestations", "target_agent"}},
		{file: "check_governance/02-runtime-signal-attestations.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "check_governance/03-intent-check-orchestrator-checking-before-sending-to-seller.json",
			v30: []string{"target_agent"}},
		{file: "check_governance/04-intent-check-rights-license.json",
			v30: []string{"proposed_commitment", "target_agent"}},
		{file: "check_governance/05-execution-check-purchase.json",
			v30: []string{freqCap, "plan_id"}, v31: []string{freqCap, "plan_id"}, v32: []string{freqCap}},
		{file: "check_governance/06-execution-check-modification.json",
			v30: []string{freqCap, "execution_commitment", "plan_id"}, v31: []string{freqCap, "plan_id"}, v32: []string{freqCap}},
		{file: "check_governance/07-execution-check-delivery.json",
			// 3.0 and 3.1 delivery_metrics are additionalProperties:false without the 3.2 statement fields.
			v30: []string{freqCap, "delivery_metrics.currency", "delivery_metrics.issued_at", "delivery_metrics.sequence", "delivery_metrics.statement_digest", "delivery_metrics.statement_id", "plan_id"},
			v31: []string{freqCap, "delivery_metrics.currency", "delivery_metrics.issued_at", "delivery_metrics.sequence", "delivery_metrics.statement_digest", "delivery_metrics.statement_id", "plan_id"},
			v32: []string{freqCap}},
		{file: "check_governance/08-approved-intent-check.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "check_governance/09-approved-execution-check-purchase-with-delivery-opt-in.json", task: cg, dir: Response,
			v30: []string{"plan_id", "status"}, v31: []string{"plan_id"}},
		{file: "check_governance/10-approved-execution-check-delivery.json", task: cg, dir: Response,
			v30: []string{"plan_id", "status"}, v31: []string{"plan_id"}},
		{file: "check_governance/11-denied-intent-check.json", task: cg, dir: Response, v30: []string{"status"}},
		{file: "check_governance/12-conditions-intent-counterproposal.json", task: cg, dir: Response,
			v30: []string{"status"}, v31: []string{"expires_at"}}, // 3.1 requires expires_at with conditions
		{file: "check_governance/13-denied-execution-check-delivery-geo-drift.json", task: cg, dir: Response,
			v30: []string{"plan_id", "status"}, v31: []string{"plan_id"}},
		{file: "get_plan_audit_logs/01-request.json"},
		{file: "get_plan_audit_logs/02-request.json"},
		{file: "get_plan_audit_logs/03-request.json"},
		{file: "report_plan_adjustment/01-seller-report.json", v30: unknown, v31: unknown},
		{file: "report_plan_adjustment/02-plan-owner-review.json", v30: unknown, v31: unknown},
		{file: "report_plan_adjustment/03-verified-accounting.json", task: rpa, dir: Response, v30: unknown, v31: unknown},
		{file: "report_plan_outcome/01-seller-response-after-create-media-buy.json"},
		{file: "report_plan_outcome/02-response-no-issues.json", task: rpo, dir: Response, v30: []string{"status"}},
		{file: "report_plan_outcome/03-response-discrepancy-found.json", task: rpo, dir: Response, v30: []string{"status"}},
		{file: "report_plan_outcome/04-buyer-delivery-observation.json"},
		{file: "report_plan_outcome/05-response-on-track.json", task: rpo, dir: Response, v30: []string{"status"}},
		{file: "report_plan_outcome/06-response-forwarded-seller-copy-does-not-match-the-canonical-.json", task: rpo, dir: Response, v30: []string{"status"}},
		{file: "report_plan_outcome/07-response-buyer-measurement-differs-from-the-seller-statement.json", task: rpo, dir: Response, v30: []string{"status"}},
		{file: "report_plan_outcome/08-closing-an-unresolved-governance-period.json", task: rpo, dir: Response, v30: []string{"status"}},
		{file: "report_plan_outcome/09-failed-actions.json"},
		{file: "report_plan_outcome/10-failed-actions.json", task: rpo, dir: Response, v30: []string{"status"}},
		// A capability-declaration fragment, not a whole response: it lacks what every
		// get_adcp_capabilities response needs (head schema in every version).
		{file: "specification/09-capability-declaration.json", task: "get_adcp_capabilities", dir: Response,
			v30: capsFragment, v31: capsFragment, v32: capsFragment},
		{file: "specification/10-integration-with-create-media-buy.json", v30: unknown, v31: unknown, v32: unknown},
		{file: "specification/12-setup.json", // no idempotency_key
			v30: []string{"idempotency_key"}, v31: []string{"idempotency_key"}, v32: []string{"idempotency_key"}},
		{file: "specification/13-verification-examples.json",
			v30: []string{freqCap, "plan_id"}, v31: []string{freqCap, "plan_id"}, v32: []string{freqCap}},
		{file: "specification/14-verification-examples.json", task: cg, dir: Response, v30: []string{"plan_id", "status"}, v31: []string{"plan_id"}},
		{file: "specification/15-verification-examples.json", task: cg, dir: Response, v30: []string{"plan_id", "status"}, v31: []string{"plan_id"}},
		{file: "specification/16-verification-examples.json", task: cg, dir: Response, v30: []string{"plan_id", "status"}, v31: []string{"plan_id"}},
		{file: "sync_governance/01-buyer-declared-accounts-brand-operator-request.json", task: "sync_governance", dir: Request},
		{file: "sync_plans/01-request.json", // channel "audio" is not in the enum; no idempotency_key
			v30: []string{"plans[0].channels.allowed[3]", "idempotency_key"},
			v31: []string{"plans[0].channels.allowed[3]", "idempotency_key"},
			v32: []string{"plans[0].channels.allowed[3]", "idempotency_key"}},
		{file: "sync_plans/02-response.json", task: "sync_plans", dir: Response, // no root status (TaskStatus) from 3.1 on
			v31: []string{"status"}, v32: []string{"status"}},
	}

	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.file] = true
		doc := readJSON(t, filepath.Join("testdata/examples", tc.file))
		task, dir := tc.task, tc.dir
		if task == "" {
			wrapped, ok := doc.(map[string]any)
			if !ok || wrapped["tool"] == nil || wrapped["arguments"] == nil {
				t.Fatalf("%s: not a {tool, arguments} request; set task and dir", tc.file)
			}
			task, dir, doc = wrapped["tool"].(string), Request, wrapped["arguments"]
		}
		for v, want := range map[Version][]string{V30: tc.v30, V31: tc.v31, V32: tc.v32} {
			t.Run(string(v)+"/"+tc.file, func(t *testing.T) {
				t.Parallel()
				err := Validate(v, task, dir, doc)
				if slices.Equal(want, unknown) {
					if !errors.Is(err, ErrUnknownTask) {
						t.Fatalf("Validate(%s, %s, %s) = %v, want ErrUnknownTask", v, task, dir, err)
					}
					return
				}
				if got := violationFields(t, err); !slices.Equal(got, want) {
					t.Errorf("Validate(%s, %s, %s) fields = %q, want %q\nerror: %v", v, task, dir, got, want, err)
				}
			})
		}
	}

	// Every copied example is in the table.
	files, err := filepath.Glob("testdata/examples/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel, _ := filepath.Rel("testdata/examples", f)
		if !covered[filepath.ToSlash(rel)] {
			t.Errorf("testdata/examples/%s has no test case", rel)
		}
	}
}

var capsFragment = []string{"adcp.attestations.max_embedded_credential_bytes", "adcp.idempotency", "adcp.major_versions", "status", "supported_protocols"}

// violationFields returns the Field of every violation of err, nil for a nil err, and fails
// the test for an error that is not an *Error.
func violationFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *schema.Error", err, err)
	}
	fields := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		fields[i] = v.Field
	}
	return fields
}

func readJSON(t testing.TB, name string) any {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}
