package constraint

import (
	"testing"
	"time"
)

func BenchmarkEvalRule(b *testing.B) {
	for _, src := range []string{
		`action.tool == "payments.payout"`,
		`action.kind == "tool_call" && action.tool in agent.not_authorized`,
		`action.kind == "tool_call" && has(action.arguments.amount) && action.arguments.amount > 200`,
		`contains_credential(action.arguments)`,
	} {
		b.Run(src, func(b *testing.B) {
			p, err := Compile(src)
			if err != nil {
				b.Fatal(err)
			}
			agent := NewAgent(Agent{ID: "acme.refunds", Tools: []string{"crm.read", "payments.refund"}, NotAuthorized: []string{"payments.payout"}})
			action := &Action{Kind: "tool_call", Tool: "payments.refund", Arguments: map[string]any{"amount": 250.0, "order": "A-1234", "note": "damaged in transit"}}
			in := NewActivation()
			in.Reset(action, agent, time.Now())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Eval(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
