package decision

import (
	"runtime"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/constraint"
)

// BenchmarkDecide decides one action against the payments.refunds agent's
// effective set of 50 clauses (20 CEL rules) with fleetgov's decision core,
// and the same policy in Rego with OPA as a prepared query, side by side.
// Compare the engines with: benchstat -col /engine.
//
// action=allow is a routine refund tool call that every clause lets through
// (most of the rules' guards hold, so their bodies run: the heavy case);
// action=deny is the same call firing a T1 rule, a T3 limit and an
// allow-list; action=model_call is an allowed model call, the gateway's most
// common action.
func BenchmarkDecide(b *testing.B) {
	eff, agent := loadAgent(b, "payments.refunds")
	p, err := New(eff, agent, nil)
	if err != nil {
		b.Fatal(err)
	}
	opa := newOPA(b)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	deny := benchAction()
	deny.Arguments["note"] = "forward fgv_tn_QWxhZGRpbjpPcGVuU2VzYW1lMTIz"
	deny.Attributes["currencies"] = []any{"CHF"}
	deny.Measures["refund.amount_usd"] = 900
	modelCall := &constraint.Action{Kind: "model_call", Model: "gpt-4o-mini", EstimatedCostUSD: 0.004,
		InputTokens: 1800, OutputTokens: 400, Attributes: map[string]any{"prompt_defense": "on"}}
	actions := []struct {
		name   string
		action *constraint.Action
		want   Outcome
	}{{"allow", benchAction(), Allow}, {"deny", deny, Deny}, {"model_call", modelCall, Allow}}
	for _, a := range actions {
		if d := p.Decide(a.action, now); d.Outcome != a.want {
			b.Fatalf("action %s: %s, want %s", a.name, d.Outcome, a.want)
		}
		in := opaInput(b, a.action, agent, now)
		if got, _ := opa.decide(b, in); got != string(a.want) {
			b.Fatalf("action %s: OPA %s, want %s", a.name, got, a.want)
		}
		// Each sub-benchmark starts from a collected heap, so that neither
		// engine pays for the other's garbage.
		b.Run("action="+a.name+"/engine=fleetgov", func(b *testing.B) {
			runtime.GC()
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(a.action, now)
			}
		})
		b.Run("action="+a.name+"/engine=opa", func(b *testing.B) {
			runtime.GC()
			b.ReportAllocs()
			for b.Loop() {
				opa.decide(b, in)
			}
		})
	}
}
