package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

const exampleFleet = "../../examples/fleet"

// copyFleet copies the example fleet repo into a temporary directory.
func copyFleet(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "fleet")
	if err := os.CopyFS(dst, os.DirFS(exampleFleet)); err != nil {
		t.Fatal(err)
	}
	return dst
}

type fixture struct {
	plane    *Plane
	dir      string
	now      time.Time
	platform auth.Principal
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := copyFleet(t)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fleetgov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{dir: dir, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		platform: auth.Principal{Kind: store.KindPlatformAdmin, CredentialID: "cred_platform"}}
	p, err := New(t.Context(), st, dir, Options{Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.plane = p
	return f
}

func tenant(id string) auth.Principal {
	return auth.Principal{Kind: store.KindTenant, CredentialID: "cred_" + id, TenantID: id}
}

func (f *fixture) spec(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "specs", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) register(t *testing.T, pr auth.Principal, rel string) RegisterResult {
	t.Helper()
	res, err := f.plane.Register(t.Context(), pr, rel, f.spec(t, rel))
	if err != nil {
		t.Fatalf("Register(%s): %v", rel, err)
	}
	return res
}

func TestRegister(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	res := f.register(t, tenant("payments"), "payments/refund-executor.md")
	if !res.Created || res.AgentKey == "" || res.Check != check.Pass {
		t.Fatalf("first Register = created %v, key %q, check %s; want created with a key, pass", res.Created, res.AgentKey, res.Check)
	}
	a := res.Agent
	if a.ID != "payments.refund-executor" || a.Archetype != constraint.Executor || a.SpecVersion != "2.3.0" ||
		a.LibraryVersion != "1.1.0" || a.Status != store.StatusActive || len(a.Tools) != 4 || a.EscalationPath == "" {
		t.Errorf("registered agent = %+v", a)
	}
	// Re-registering the same spec updates, mints no new key.
	again := f.register(t, tenant("payments"), "payments/refund-executor.md")
	if again.Created || again.AgentKey != "" {
		t.Errorf("second Register = created %v key %q, want an update with no key", again.Created, again.AgentKey)
	}
	// Same version, different content: conflict, nothing written.
	changed := strings.Replace(string(f.spec(t, "payments/refund-executor.md")), "Refund Executor", "Refund Bot", 1)
	if _, err := f.plane.Register(ctx, tenant("payments"), "x.md", []byte(changed)); !errors.Is(err, ErrConflict) {
		t.Errorf("Register(changed content, same version) = %v, want ErrConflict", err)
	}
	revs, err := f.plane.SpecRevisions(ctx, tenant("payments"), a.ID)
	if err != nil || len(revs) != 1 {
		t.Errorf("SpecRevisions = %d, %v; want 1", len(revs), err)
	}
	// Agent key principal can evaluate its own agent.
	k, err := f.plane.Authenticate(ctx, res.AgentKey)
	if err != nil || k.AgentID != a.ID {
		t.Fatalf("Authenticate(agent key) = %+v, %v", k, err)
	}
	if _, err := f.plane.Register(ctx, k, "x.md", f.spec(t, "payments/refund-executor.md")); !errors.Is(err, ErrForbidden) {
		t.Errorf("Register with an agent key = %v, want ErrForbidden", err)
	}
}

func TestRegisterRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src := string(f.spec(t, "payments/refund-executor.md"))
	tests := []struct {
		name     string
		pr       auth.Principal
		src      string
		wantErr  error
		wantCode string // a finding code, for rejections
	}{
		{"missing T1 clause", tenant("payments"), strings.Replace(src, "- (Fleet, T1) [fleet.no-token-exfil] No exfiltration of session tokens across tool calls.\n", "", 1), nil, "missing-inherited-clause"},
		{"weakened limit", tenant("payments"), strings.Replace(src, "limit cost.per_call_usd <= 0.05", "limit cost.per_call_usd <= 0.75", 1), nil, "weakened-limit"},
		{"malformed annotation", tenant("payments"), strings.Replace(src, "(Fleet, T1) [fleet.models]", "(Fleet, T2) [fleet.models]", 1), nil, "bad-annotation"},
		{"CEL does not type-check", tenant("payments"), strings.Replace(src, "action.arguments.amount > 200", "action.argumnts.amount > 200", 1), nil, "cel-type-error"},
		{"unknown library version", tenant("payments"), strings.Replace(src, "library: 1.1.0", "library: 9.0.0", 1), nil, "unknown-library-version"},
		{"contract pin ahead", tenant("payments"), strings.Replace(src, "contract: 1.1.0", "contract: 1.2.0", 1), nil, "contract-pin-ahead"},
		{"another tenant's spec", tenant("support"), src, ErrForbidden, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.plane.Register(t.Context(), tc.pr, "refund-executor.md", []byte(tc.src))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Register = %v, want %v", err, tc.wantErr)
				}
			} else {
				var rej *RejectedError
				if !errors.As(err, &rej) {
					t.Fatalf("Register = %v, want a RejectedError", err)
				}
				found := false
				for _, fd := range rej.Findings {
					found = found || fd.Code == tc.wantCode
				}
				if !found {
					t.Errorf("Register findings = %+v, want one with code %s", rej.Findings, tc.wantCode)
				}
			}
			if _, err := f.plane.GetAgent(t.Context(), f.platform, "payments.refund-executor"); !errors.Is(err, ErrNotFound) {
				t.Errorf("after a refused registration GetAgent = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestReloadRefusedWhole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	f.register(t, tenant("payments"), "payments/refund-executor.md")
	before := f.plane.Repo()

	// A broken library file: refused, the running repo stays.
	lib := filepath.Join(f.dir, "constraints", "1.1.0.yaml")
	orig, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(orig), `action.target_tenant != "" && action.target_tenant != agent.tenant`, `action.target_tenant != agent.tenantt`, 1)
	if err := os.WriteFile(lib, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	// Also a valid change elsewhere, which must not be applied halfway.
	cfg := filepath.Join(f.dir, "fleet.yaml")
	origCfg, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(origCfg), "max_days: 30", "max_days: 10", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.plane.Reload(ctx, "test")
	var rej *RejectedError
	if !errors.As(err, &rej) || len(rej.Findings) == 0 || !strings.Contains(rej.Findings[0].Message, "type-check") || rej.Findings[0].Clause != "fleet.no-cross-tenant" {
		t.Fatalf("Reload(broken library) = %v %+v, want a rejection naming fleet.no-cross-tenant", err, rej)
	}
	if f.plane.Repo() != before || f.plane.Repo().Config.Exceptions.MaxDays != 30 {
		t.Errorf("after a refused reload the repo in force changed")
	}
	// Removing a version a registered agent pins is refused too.
	if err := os.WriteFile(lib, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(lib, lib+".off"); err != nil {
		t.Fatal(err)
	}
	curCfg := strings.Replace(string(origCfg), "current: 1.1.0", "current: 1.0.0", 1)
	if err := os.WriteFile(cfg, []byte(curCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.plane.Reload(ctx, "test")
	if !errors.As(err, &rej) || !strings.Contains(rej.Findings[0].Message, "payments.refund-executor") {
		t.Fatalf("Reload(pinned version removed) = %v, want a rejection naming the agent", err)
	}
	if f.plane.Repo() != before {
		t.Errorf("after a refused reload the repo in force changed")
	}
	// Putting it back reloads as unchanged.
	if err := os.Rename(lib+".off", lib); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, origCfg, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := f.plane.Reload(ctx, "test")
	if err != nil || res.Changed {
		t.Errorf("Reload(original) = %+v, %v; want unchanged", res, err)
	}
}

func TestAmendmentAfterLibraryBump(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	f.register(t, tenant("payments"), "payments/refund-executor.md")
	// Publish 1.2.0: the cost ceiling drops to 0.20.
	orig, _ := os.ReadFile(filepath.Join(f.dir, "constraints", "1.1.0.yaml"))
	next := strings.NewReplacer("version: 1.1.0", "version: 1.2.0",
		"No single model call may cost more than $0.25", "No single model call may cost more than $0.20",
		"max: 0.25", "max: 0.20").Replace(string(orig))
	if err := os.WriteFile(filepath.Join(f.dir, "constraints", "1.2.0.yaml"), []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(f.dir, "fleet.yaml")
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "current: 1.1.0", "current: 1.2.0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := f.plane.Reload(ctx, "test")
	if err != nil || !res.Changed || res.Library != "1.2.0" || len(res.AmendmentRequired) != 1 {
		t.Fatalf("Reload(1.2.0) = %+v, %v; want changed, 1.2.0, one agent needing amendment", res, err)
	}
	v, err := f.plane.Constraints(ctx, tenant("payments"), "payments.refund-executor")
	if err != nil {
		t.Fatal(err)
	}
	if !v.AmendmentRequired || v.LibraryPinned != "1.1.0" || v.LibraryEnforced != "1.2.0" || len(v.Changes) != 1 ||
		v.Changes[0].Clause != "fleet.cost-per-call" || !strings.Contains(v.Changes[0].Diff, "$0.20") {
		t.Errorf("Constraints after the bump = %+v", v)
	}
	// The fleet-wide ceiling in force is 1.2.0's, though the spec pins 1.1.0.
	// A $0.22 call is within 1.1.0's $0.25 but above 1.2.0's $0.20.
	d, err := f.plane.Decide(ctx, "payments.refund-executor", &constraint.Action{Kind: "model_call", Model: "gpt-4o-mini", EstimatedCostUSD: 0.22})
	fired := false
	for _, fc := range d.Fired {
		fired = fired || (fc.Clause == "fleet.cost-per-call" && strings.Contains(fc.Reason, "0.2"))
	}
	if err != nil || d.Outcome != decision.Deny || !fired {
		t.Errorf("Decide($0.22 call) = %+v, %v; want deny by fleet.cost-per-call at 0.20", d, err)
	}
}

func TestExceptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	f.register(t, tenant("payments"), "payments/refund-executor.md")
	const agent = "payments.refund-executor"
	exp := f.now.Add(7 * 24 * time.Hour)
	limit := func(v float64) *float64 { return &v }
	tests := []struct {
		name    string
		pr      auth.Principal
		req     ExceptionRequest
		wantErr string
	}{
		{"tenant relaxes its T3 limit", tenant("payments"), ExceptionRequest{Clause: "payments.cost-per-claim", Tenant: "payments", Agent: agent, Limit: limit(0.10), Reason: "month-end claim spike", ExpiresAt: exp}, ""},
		{"tenant cannot relax a T1 clause", tenant("payments"), ExceptionRequest{Clause: "fleet.cost-per-call", Tenant: "payments", Limit: limit(0.40), Reason: "month-end claim spike", ExpiresAt: exp}, "platform"},
		{"platform relaxes a T1 clause", f.platform, ExceptionRequest{Clause: "fleet.models", Tenant: "payments", Allow: []string{"o1-pro"}, Reason: "evaluation of o1-pro for claims", ExpiresAt: exp}, ""},
		{"no expiry", tenant("payments"), ExceptionRequest{Clause: "payments.refund-review", Tenant: "payments", Waive: true, Reason: "month-end claim spike"}, "time-boxed"},
		{"too long", tenant("payments"), ExceptionRequest{Clause: "payments.refund-review", Tenant: "payments", Waive: true, Reason: "month-end claim spike", ExpiresAt: f.now.AddDate(0, 0, 31)}, "at most 30 days"},
		{"in the past", tenant("payments"), ExceptionRequest{Clause: "payments.refund-review", Tenant: "payments", Waive: true, Reason: "month-end claim spike", ExpiresAt: f.now.Add(-time.Hour)}, "not in the future"},
		{"tightening is not an exception", tenant("payments"), ExceptionRequest{Clause: "payments.cost-per-claim", Tenant: "payments", Limit: limit(0.01), Reason: "month-end claim spike", ExpiresAt: exp}, "does not relax"},
		{"wrong kind", tenant("payments"), ExceptionRequest{Clause: "payments.refund-review", Tenant: "payments", Limit: limit(1), Reason: "month-end claim spike", ExpiresAt: exp}, "is a rule"},
		{"textual clause", tenant("payments"), ExceptionRequest{Clause: "payments.pii-redaction", Tenant: "payments", Waive: true, Reason: "month-end claim spike", ExpiresAt: exp}, "no runtime form"},
		{"no reason", tenant("payments"), ExceptionRequest{Clause: "payments.refund-review", Tenant: "payments", Waive: true, ExpiresAt: exp}, "reason"},
		{"unknown clause", tenant("payments"), ExceptionRequest{Clause: "payments.nope", Tenant: "payments", Waive: true, Reason: "month-end claim spike", ExpiresAt: exp}, "neither"},
		{"another tenant", tenant("support"), ExceptionRequest{Clause: "payments.refund-review", Tenant: "payments", Waive: true, Reason: "month-end claim spike", ExpiresAt: exp}, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.plane.CreateException(ctx, tc.pr, tc.req)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("CreateException = %v, want success", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("CreateException = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	// The two exceptions apply: a $0.08 call and an o1-pro call pass, each
	// naming its exception; a $0.12 call does not.
	for _, c := range []struct {
		action constraint.Action
		want   decision.Outcome
	}{
		{constraint.Action{Kind: "model_call", Model: "gpt-4o-mini", EstimatedCostUSD: 0.08}, decision.Allow},
		{constraint.Action{Kind: "model_call", Model: "gpt-4o-mini", EstimatedCostUSD: 0.12}, decision.Deny},
	} {
		ev, err := f.plane.Evaluate(ctx, tenant("payments"), agent, &c.action)
		if err != nil || ev.Outcome != c.want {
			t.Errorf("Evaluate(%+v) = %s %+v, %v; want %s", c.action, ev.Outcome, ev.Fired, err, c.want)
		}
		if c.want == decision.Allow && len(ev.ExceptionsApplied) != 1 {
			t.Errorf("Evaluate(%+v) applied %+v, want one exception", c.action, ev.ExceptionsApplied)
		}
	}
	// Revoked, the exception stops applying at once.
	es, err := f.plane.ListExceptions(ctx, tenant("payments"), ExceptionFilter{Active: true})
	if err != nil || len(es) != 2 {
		t.Fatalf("ListExceptions = %d, %v; want 2", len(es), err)
	}
	for _, e := range es {
		if e.ClauseID == "fleet.models" {
			if _, err := f.plane.RevokeException(ctx, tenant("payments"), e.ID); !errors.Is(err, ErrForbidden) {
				t.Errorf("tenant revoking a T1 exception = %v, want ErrForbidden", err)
			}
			continue
		}
		if _, err := f.plane.RevokeException(ctx, tenant("payments"), e.ID); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := f.plane.Evaluate(ctx, tenant("payments"), agent, &constraint.Action{Kind: "model_call", Model: "gpt-4o-mini", EstimatedCostUSD: 0.08})
	if err != nil || ev.Outcome != decision.Deny {
		t.Errorf("after revocation Evaluate = %s, %v; want deny", ev.Outcome, err)
	}
	// Expiry ends the other one without a revocation.
	f.now = exp.Add(time.Second)
	ev, err = f.plane.Evaluate(ctx, tenant("payments"), agent, &constraint.Action{Kind: "model_call", Model: "o1-pro", EstimatedCostUSD: 0.01})
	if err != nil || ev.Outcome != decision.Deny {
		t.Errorf("after expiry Evaluate(o1-pro) = %s, %v; want deny", ev.Outcome, err)
	}
	// Every step is in the tenant's audit partition.
	recs, err := f.plane.ListAudit(ctx, tenant("payments"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range recs {
		counts[r.Action]++
	}
	if counts["exception.create"] != 2 || counts["exception.revoke"] != 1 || counts["decision"] != 4 || counts["agent.register"] != 1 {
		t.Errorf("audit actions = %v, want 2 creates, 1 revoke, 4 decisions, 1 registration", counts)
	}
}

func TestEvaluateValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(t, tenant("payments"), "payments/refund-executor.md")
	tests := []struct {
		name   string
		action constraint.Action
		field  string
	}{
		{"no kind", constraint.Action{Tool: "x"}, "kind"},
		{"negative cost", constraint.Action{Kind: "model_call", EstimatedCostUSD: -1}, "estimated_cost_usd"},
		{"negative tokens", constraint.Action{Kind: "model_call", InputTokens: -5}, "input_tokens"},
		{"bad effect", constraint.Action{Kind: "tool_call", Effect: "explode"}, "effect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.plane.Evaluate(context.Background(), tenant("payments"), "payments.refund-executor", &tc.action)
			var inv *InvalidError
			if !errors.As(err, &inv) || inv.Field != tc.field {
				t.Errorf("Evaluate(%+v) = %v, want an InvalidError on %s", tc.action, err, tc.field)
			}
		})
	}
}

func TestReleasedVersionIsImmutable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lib := filepath.Join(f.dir, "constraints", "1.0.0.yaml")
	orig, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(orig), "max: 0.50", "max: 0.90", 1)
	if err := os.WriteFile(lib, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.plane.Reload(t.Context(), "test")
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Findings[0].Code != "library-version-changed" || !strings.Contains(rej.Findings[0].Message, "1.0.0") {
		t.Fatalf("Reload(1.0.0 edited in place) = %v, want a library-version-changed rejection", err)
	}
	// A restart sees it too: the digests of the last load are in the store.
	if _, err := New(t.Context(), f.plane.Store(), f.dir, Options{}); !errors.As(err, &rej) {
		t.Fatalf("New over an edited released version = %v, want a rejection", err)
	}
	if err := os.WriteFile(lib, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), f.plane.Store(), f.dir, Options{}); err != nil {
		t.Fatalf("New over the restored version = %v", err)
	}
}

// TestExceptionExpiryWhileCached: the tenant's exceptions are cached
// between decisions; one that expires while cached stops applying at its
// instant, and one granted while cached applies at the next decision.
func TestExceptionExpiryWhileCached(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	f.register(t, tenant("payments"), "payments/refund-executor.md")
	const agent = "payments.refund-executor"
	limit := func(v float64) *float64 { return &v }
	call := &constraint.Action{Kind: "model_call", Model: "gpt-4o-mini", EstimatedCostUSD: 0.08}
	outcome := func() decision.Outcome {
		t.Helper()
		ev, err := f.plane.Evaluate(ctx, tenant("payments"), agent, call)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Outcome
	}
	steps := []struct {
		name string
		do   func()
		want decision.Outcome
	}{
		{"no exception", func() {}, decision.Deny},
		{"granted, expiring in 500ms", func() {
			if _, err := f.plane.CreateException(ctx, tenant("payments"), ExceptionRequest{Clause: "payments.cost-per-claim", Tenant: "payments",
				Agent: agent, Limit: limit(0.10), Reason: "month-end claim spike", ExpiresAt: f.now.Add(500 * time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
		}, decision.Allow},
		{"400ms on, still in force", func() { f.now = f.now.Add(400 * time.Millisecond) }, decision.Allow},
		{"200ms more, expired", func() { f.now = f.now.Add(200 * time.Millisecond) }, decision.Deny},
	}
	for _, s := range steps {
		s.do()
		if got := outcome(); got != s.want {
			t.Errorf("%s: Evaluate = %s, want %s", s.name, got, s.want)
		}
	}
}
