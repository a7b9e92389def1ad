package decision

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/secret"
)

// opaEngine is the benchmark policy in Rego, prepared once.
type opaEngine struct {
	pq rego.PreparedEvalQuery
}

func newOPA(tb testing.TB) *opaEngine {
	tb.Helper()
	src, err := os.ReadFile("testdata/policy.rego")
	if err != nil {
		tb.Fatal(err)
	}
	pq, err := rego.New(rego.Query("data.fleetgov.result"), rego.Module("policy.rego", string(src)), containsCredential).
		PrepareForEval(context.Background())
	if err != nil {
		tb.Fatalf("prepare Rego: %v", err)
	}
	return &opaEngine{pq: pq}
}

// opaInput converts an action and agent to OPA's parsed input, once, so that
// the benchmark measures evaluation alone: the comparison most favourable to OPA.
func opaInput(tb testing.TB, a *constraint.Action, agent constraint.Agent, now time.Time) ast.Value {
	tb.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	var act map[string]any
	if err := json.Unmarshal(b, &act); err != nil {
		tb.Fatal(err)
	}
	in := map[string]any{
		"action": act,
		"agent": map[string]any{"tenant": agent.Tenant, "status": agent.Status,
			"tools": nonNil(agent.Tools), "not_authorized": nonNil(agent.NotAuthorized)},
		"now_ns": now.UnixNano(),
	}
	v, err := ast.InterfaceToValue(in)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// containsCredential registers fleetgov.contains_credential for Rego, the
// same Go scanner fleetgov's CEL function calls.
var containsCredential = rego.Function1(&rego.Function{
	Name:    "fleetgov.contains_credential",
	Decl:    types.NewFunction(types.Args(types.A), types.B),
	Memoize: true,
}, func(_ rego.BuiltinContext, x *ast.Term) (*ast.Term, error) {
	v, err := ast.JSON(x.Value)
	if err != nil {
		return nil, err
	}
	_, found, _ := secret.Scan(v)
	return ast.BooleanTerm(found), nil
})

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (o *opaEngine) decide(tb testing.TB, in ast.Value) (string, []string) {
	rs, err := o.pq.Eval(context.Background(), rego.EvalParsedInput(in))
	if err != nil {
		tb.Fatalf("OPA eval: %v", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		tb.Fatalf("OPA result set %v, want one result", rs)
	}
	res := rs[0].Expressions[0].Value.(map[string]any)
	var fired []string
	for _, f := range res["fired"].([]any) {
		fired = append(fired, f.(string))
	}
	slices.Sort(fired)
	return res["decision"].(string), fired
}

// TestOPAEquivalence checks that the Rego policy decides every case of the
// benchmark agent exactly as fleetgov does, so that the benchmark compares
// the same policy.
func TestOPAEquivalence(t *testing.T) {
	var cases []decisionCase
	readYAML(t, "testdata/decisions.yaml", &cases)
	eff, agent := loadAgent(t, "payments.refunds")
	p, err := New(eff, agent, nil)
	if err != nil {
		t.Fatal(err)
	}
	opa := newOPA(t)
	n := 0
	for _, tc := range cases {
		// fleetgov fails closed on a rule it cannot evaluate; Rego leaves it
		// undefined. That case tests fail-closed, not the policy.
		if tc.Agent != "payments.refunds" || len(tc.Exceptions) > 0 || tc.Name == "rule that cannot be evaluated fails closed" {
			continue
		}
		now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
		if tc.Now != "" {
			now, _ = time.Parse(time.RFC3339, tc.Now)
		}
		a := toAction(t, tc.Action)
		d := p.Decide(a, now)
		var fired []string
		for _, f := range d.Fired {
			if !slices.Contains(fired, f.Clause) {
				fired = append(fired, f.Clause)
			}
		}
		slices.Sort(fired)
		outcome, opaFired := opa.decide(t, opaInput(t, a, agent, now))
		if outcome != string(d.Outcome) || !slices.Equal(fired, opaFired) {
			t.Errorf("%s: fleetgov %s %v, OPA %s %v", tc.Name, d.Outcome, fired, outcome, opaFired)
		}
		n++
	}
	a := benchAction()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if outcome, fired := opa.decide(t, opaInput(t, a, agent, now)); outcome != "allow" || len(fired) != 0 {
		t.Errorf("benchmark action: OPA %s %v, want allow", outcome, fired)
	}
	if n < 20 {
		t.Fatalf("compared %d cases, want at least 20", n)
	}
}
