package constraint

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCompile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		wantErr string // substring; "" means it compiles
	}{
		{"field compare", `action.tool == "crm.delete"`, ""},
		{"argument path", `action.kind == "tool_call" && action.arguments.amount > 200`, ""},
		{"agent list", `action.kind == "tool_call" && !(action.tool in agent.tools)`, ""},
		{"not authorized", `action.tool in agent.not_authorized`, ""},
		{"credential scan", `contains_credential(action.arguments) || action.credential_detected`, ""},
		{"timestamps", `now.getHours() < 6`, ""},
		{"has", `has(action.arguments.reason)`, ""},
		{"comprehension", `action.arguments.exists(k, k.startsWith("x_"))`, ""},
		{"unknown field", `action.tol == "x"`, "does not type-check"},
		{"unknown variable", `request.tool == "x"`, "does not type-check"},
		{"wrong type", `action.estimated_cost_usd == "x"`, "does not type-check"},
		{"not boolean", `action.tool`, "want bool"},
		{"syntax", `action.tool ==`, "does not type-check"},
		{"empty", `  `, "empty expression"},
		{"too costly", `agent.tools.all(a, agent.tools.all(b, agent.not_authorized.all(c, a + b + c != "x")))`, "costs too much"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tc.src)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Compile(%q) = %v, want no error", tc.src, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Compile(%q) = %v, want error containing %q", tc.src, err, tc.wantErr)
			}
		})
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	agent := NewAgent(Agent{ID: "acme.refunds", Tenant: "acme", Archetype: Executor,
		Tools: []string{"crm.read", "payments.refund"}, NotAuthorized: []string{"payments.payout"}})
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		src     string
		action  Action
		want    bool
		wantErr bool
	}{
		{"refund over threshold", `action.tool == "payments.refund" && action.arguments.amount > 200`,
			Action{Kind: "tool_call", Tool: "payments.refund", Arguments: map[string]any{"amount": 250.0}}, true, false},
		{"refund under threshold", `action.tool == "payments.refund" && action.arguments.amount > 200`,
			Action{Kind: "tool_call", Tool: "payments.refund", Arguments: map[string]any{"amount": 20.0}}, false, false},
		{"missing argument errors", `action.arguments.amount > 200`,
			Action{Kind: "tool_call", Tool: "payments.refund"}, false, true},
		{"unlisted tool", `action.kind == "tool_call" && !(action.tool in agent.tools)`,
			Action{Kind: "tool_call", Tool: "crm.delete"}, true, false},
		{"listed tool", `action.kind == "tool_call" && !(action.tool in agent.tools)`,
			Action{Kind: "tool_call", Tool: "crm.read"}, false, false},
		{"not authorized", `action.tool in agent.not_authorized`,
			Action{Kind: "tool_call", Tool: "payments.payout"}, true, false},
		{"credential in args", `contains_credential(action.arguments)`,
			Action{Kind: "tool_call", Arguments: map[string]any{"note": "fgv_tn_abcdefghijklmnopqrstuvwxyz"}}, true, false},
		{"credential in a list built by the rule", `contains_credential([action.tool, "x"])`,
			Action{Kind: "tool_call", Tool: "sk-abcdefghijklmnopqrstuvwxyz0123"}, true, false},
		{"credential in a map built by the rule", `contains_credential({"k": action.arguments.map(k, action.arguments[k])})`,
			Action{Kind: "tool_call", Arguments: map[string]any{"a": "x fgv_ak_abcdefghijklmnopqrstuvwxyz"}}, true, false},
		{"string extensions", `action.tool.lowerAscii().split(".")[0] == "payments"`,
			Action{Kind: "tool_call", Tool: "Payments.Refund"}, true, false},
		{"clean args", `contains_credential(action.arguments)`,
			Action{Kind: "tool_call", Arguments: map[string]any{"note": "hello"}}, false, false},
		{"has absent", `has(action.arguments.reason)`, Action{Kind: "veto"}, false, false},
		{"now", `now.getHours() == 12`, Action{}, true, false},
		{"agent facts", `agent.archetype == "Executor" && agent.tenant == "acme"`, Action{}, true, false},
		{"measures", `action.measures["refund.amount_usd"] > 10.0`,
			Action{Measures: map[string]float64{"refund.amount_usd": 11}}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tc.src, err)
			}
			in := NewActivation()
			in.Reset(&tc.action, agent, noon)
			got, err := p.Eval(in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Eval(%q) error = %v, wantErr %v", tc.src, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("Eval(%q) = %v, want %v", tc.src, got, tc.want)
			}
		})
	}
}

func TestEvalCostLimit(t *testing.T) {
	t.Parallel()
	// The estimate assumes at most hintMap arguments; a larger input is
	// stopped by the runtime limit.
	p, err := Compile(`action.measures.all(k, action.measures.all(j, action.measures[j] >= 0.0))`)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	m := make(map[string]float64, 1000)
	for i := range 1000 {
		m[fmt.Sprintf("m%d", i)] = 1
	}
	in := NewActivation()
	in.Reset(&Action{Measures: m}, NewAgent(Agent{}), time.Now())
	if _, err := p.Eval(in); !errors.Is(err, ErrCostLimit) {
		t.Fatalf("Eval over %d measures = %v, want ErrCostLimit", len(m), err)
	}
}
