package constraint

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMachine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Machine
	}{
		{"rule with default effect", `rule: action.tool == "crm.delete"`,
			Machine{Rule: &Rule{When: `action.tool == "crm.delete"`, Effect: Deny}}},
		{"rule deny", `rule deny: action.tool == "x"`, Machine{Rule: &Rule{When: `action.tool == "x"`, Effect: Deny}}},
		{"rule escalate", `rule escalate: action.arguments.amount > 200`,
			Machine{Rule: &Rule{When: `action.arguments.amount > 200`, Effect: Escalate}}},
		{"rule warn with spaces", `  rule   warn :   now.getHours() < 6   `, Machine{Rule: &Rule{When: `now.getHours() < 6`, Effect: Warn}}},
		{"rule effect in capitals", `rule DENY: true`, Machine{Rule: &Rule{When: `true`, Effect: Deny}}},
		{"rule with colons in CEL", `rule: action.arguments["a:b"] == "c:d"`, Machine{Rule: &Rule{When: `action.arguments["a:b"] == "c:d"`, Effect: Deny}}},
		{"limit", `limit cost.per_call_usd <= 0.5`, Machine{Limit: &Limit{Name: "cost.per_call_usd", Max: 0.5, Effect: Deny}}},
		{"limit without spaces", `limit cost.per_call_usd<=0.25`, Machine{Limit: &Limit{Name: "cost.per_call_usd", Max: 0.25, Effect: Deny}}},
		{"limit integer", `limit refund.amount_usd <= 500`, Machine{Limit: &Limit{Name: "refund.amount_usd", Max: 500, Effect: Deny}}},
		{"limit exponent", `limit tokens.per_call <= 1e5`, Machine{Limit: &Limit{Name: "tokens.per_call", Max: 100000, Effect: Deny}}},
		{"limit zero", `limit refund.amount_usd <= 0`, Machine{Limit: &Limit{Name: "refund.amount_usd", Max: 0, Effect: Deny}}},
		{"limit warn", `limit audit.delay_seconds <= 5 warn`, Machine{Limit: &Limit{Name: "audit.delay_seconds", Max: 5, Effect: Warn}}},
		{"limit escalate", `limit plan.budget_usd <= 250000 escalate`, Machine{Limit: &Limit{Name: "plan.budget_usd", Max: 250000, Effect: Escalate}}},
		{"allow", `allow tools: crm.read, payments.refund`, Machine{Allow: &Allow{Name: "tools", Values: []string{"crm.read", "payments.refund"}, Effect: Deny}}},
		{"allow with patterns", `allow models: gpt-4o-mini,fleet-demo-*`, Machine{Allow: &Allow{Name: "models", Values: []string{"gpt-4o-mini", "fleet-demo-*"}, Effect: Deny}}},
		{"allow one value", `allow countries: US`, Machine{Allow: &Allow{Name: "countries", Values: []string{"US"}, Effect: Deny}}},
		{"allow trailing comma", `allow countries: US, CA,`, Machine{Allow: &Allow{Name: "countries", Values: []string{"US", "CA"}, Effect: Deny}}},
		{"allow escalate", `allow countries: US, CA (escalate)`, Machine{Allow: &Allow{Name: "countries", Values: []string{"US", "CA"}, Effect: Escalate}}},
		{"allow warn", `allow channels: display (warn)`, Machine{Allow: &Allow{Name: "channels", Values: []string{"display"}, Effect: Warn}}},
		{"allow dotted name", `allow ticket.fields: status`, Machine{Allow: &Allow{Name: "ticket.fields", Values: []string{"status"}, Effect: Deny}}},
		{"check", `check tool-manifest`, Machine{Check: "tool-manifest"}},
		{"check with spaces", `  check   not-authorized-scope `, Machine{Check: "not-authorized-scope"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMachine(tc.in)
			if err != nil {
				t.Fatalf("ParseMachine(%q) = %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMachine(%q) = %s, want %s", tc.in, show(got), show(tc.want))
			}
		})
	}
}

func show(m Machine) string {
	c := &Clause{}
	c.SetMachine(m)
	return c.MachineForm()
}

func TestParseMachineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"empty", ``, "unknown machine form"},
		{"unknown keyword", `deny: action.tool == "x"`, "unknown machine form"},
		{"rule without colon", `rule deny action.tool == "x"`, "bad rule"},
		{"rule without expression", `rule deny:`, "bad rule"},
		{"rule with unknown effect", `rule block: action.tool == "x"`, `unknown effect "block"`},
		{"limit without ceiling", `limit cost.per_call_usd`, "bad limit"},
		{"limit with another operator", `limit cost.per_call_usd < 0.5`, "bad limit"},
		{"limit not a number", `limit cost.per_call_usd <= cheap`, `"cheap" is not a number`},
		{"limit negative", `limit cost.per_call_usd <= -1`, "is negative"},
		{"limit NaN", `limit cost.per_call_usd <= NaN`, "not a finite number"},
		{"limit infinite", `limit cost.per_call_usd <= +Inf`, "not a finite number"},
		{"limit bad name", `limit Cost.PerCall <= 1`, "not a dotted lower-case name"},
		{"limit name with dash", `limit cost.per-call <= 1`, "not a dotted lower-case name"},
		{"limit unknown effect", `limit cost.per_call_usd <= 1 block`, `unknown effect "block"`},
		{"limit trailing words", `limit cost.per_call_usd <= 1 deny now`, "bad limit"},
		{"allow without colon", `allow tools crm.read`, "bad allow"},
		{"allow empty", `allow tools:`, "allow-list tools is empty"},
		{"allow only commas", `allow tools: , ,`, "allow-list tools is empty"},
		{"allow bad name", `allow Tools: crm.read`, "not a dotted lower-case name"},
		{"allow star inside", `allow tools: crm.*.read`, "may only end in *"},
		{"allow duplicate", `allow tools: a, b, a`, `lists "a" twice`},
		{"check without name", `check`, `unknown check ""`},
		{"unknown check", `check has-readme`, `unknown check "has-readme"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseMachine(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseMachine(%q) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestMachineForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // the canonical form
	}{
		{`rule: action.tool == "x"`, `rule deny: action.tool == "x"`},
		{`rule escalate:   action.tool == "x"`, `rule escalate: action.tool == "x"`},
		{`limit cost.per_call_usd <= 0.50`, `limit cost.per_call_usd <= 0.5`},
		{`limit cost.per_call_usd<=0.5 deny`, `limit cost.per_call_usd <= 0.5`},
		{`limit refund.amount_usd <= 500.0 warn`, `limit refund.amount_usd <= 500 warn`},
		{`limit tokens.per_call <= 1e6`, `limit tokens.per_call <= 1000000`},
		{`allow tools: a,b ,c`, `allow tools: a, b, c`},
		{`allow tools: a (deny)`, `allow tools: a`},
		{`allow tools: a (escalate)`, `allow tools: a (escalate)`},
		{`check  tool-manifest`, `check tool-manifest`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			m, err := ParseMachine(tc.in)
			if err != nil {
				t.Fatalf("ParseMachine(%q): %v", tc.in, err)
			}
			c := &Clause{}
			c.SetMachine(m)
			if got := c.MachineForm(); got != tc.want {
				t.Errorf("MachineForm() of %q = %q, want %q", tc.in, got, tc.want)
			}
			if !c.HasMachineForm() {
				t.Errorf("HasMachineForm() of %q = false, want true", tc.in)
			}
		})
	}
	if c := (&Clause{ID: "x", Text: "y"}); c.MachineForm() != "" || c.HasMachineForm() {
		t.Errorf("a clause without a machine form has MachineForm() = %q, HasMachineForm() = %v", c.MachineForm(), c.HasMachineForm())
	}
}

// TestMachineFormRoundTrip checks that ParseMachine(c.MachineForm()) gives
// back the same machine form, for every form and for every clause of the
// example library.
func TestMachineFormRoundTrip(t *testing.T) {
	t.Parallel()
	clauses := []*Clause{
		{ID: "a", Rule: &Rule{When: `action.kind == "tool_call" && action.tool in agent.not_authorized`, Effect: Deny}},
		{ID: "b", Rule: &Rule{When: `has(action.arguments.amount) && action.arguments.amount > 200`, Effect: Escalate}},
		{ID: "c", Rule: &Rule{When: `now.getHours() < 6`, Effect: Warn}},
		{ID: "d", Limit: &Limit{Name: "cost.per_call_usd", Max: 0.25, Effect: Deny}},
		{ID: "e", Limit: &Limit{Name: "refund.amount_usd", Max: 1234.5678, Effect: Escalate}},
		{ID: "f", Limit: &Limit{Name: "tokens.per_call", Max: 1e9, Effect: Warn}},
		{ID: "g", Limit: &Limit{Name: "x", Max: 0.1, Effect: Deny}},
		{ID: "h", Allow: &Allow{Name: "models", Values: []string{"gpt-4o", "claude-sonnet-4-*"}, Effect: Deny}},
		{ID: "i", Allow: &Allow{Name: "countries", Values: []string{"US"}, Effect: Warn}},
		{ID: "j", Allow: &Allow{Name: "channels", Values: []string{"display", "olv", "ctv"}, Effect: Escalate}},
		{ID: "k", Check: "composition-declared"},
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		file := filepath.Join(exampleLibrary, v+".yaml")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lib, err := ParseLibrary(file, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range lib.Clauses {
			if c.HasMachineForm() {
				clauses = append(clauses, c)
			}
		}
	}
	for _, c := range clauses {
		t.Run(c.ID, func(t *testing.T) {
			t.Parallel()
			form := c.MachineForm()
			m, err := ParseMachine(form)
			if err != nil {
				t.Fatalf("ParseMachine(%q) = %v", form, err)
			}
			back := &Clause{}
			back.SetMachine(m)
			if got := back.MachineForm(); got != form {
				t.Errorf("ParseMachine(%q).MachineForm() = %q", form, got)
			}
			if !back.SameMachine(c) {
				t.Errorf("SameMachine after a round trip of %q = false", form)
			}
			want := Machine{Limit: c.Limit, Allow: c.Allow, Check: c.Check}
			if c.Rule != nil {
				want.Rule = &Rule{When: c.Rule.When, Effect: c.Rule.Effect}
			}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("ParseMachine(%q) = %+v, want %+v", form, m, want)
			}
		})
	}
}

func TestLooksLikeMachineForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{`rule deny: x`, true},
		{`rule: x`, true},
		{`rule`, true},
		{`limit x <= 1`, true},
		{`allow tools: a`, true},
		{`check tool-manifest`, true},
		{` check`, true},
		{`rules are rules`, false},
		{`limits.yaml`, false},
		{`allowance`, false},
		{`checkout.create`, false},
		{`payments.refund`, false},
		{`deny: x`, false},
	}
	for _, tc := range tests {
		if got := LooksLikeMachineForm(tc.in); got != tc.want {
			t.Errorf("LooksLikeMachineForm(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestValidID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   string
		want bool
	}{
		{"fleet.no-token-exfil", true},
		{"executor.not-authorized-enforced", true},
		{"payments.refund-executor.t3-1", true},
		{"acme.limit_1", true},
		{"a", true},
		{"1.2", true},
		{"", false},
		{"Fleet.x", false},
		{"fleet..x", false},
		{".fleet", false},
		{"fleet.", false},
		{"fleet.-x", false},
		{"fleet x", false},
		{"fleet/x", false},
	}
	for _, tc := range tests {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestParseTier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Tier
		wantErr bool
	}{
		{"T1", T1, false},
		{" T2 ", T2, false},
		{"T3", T3, false},
		{"t1", 0, true},
		{"T4", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseTier(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseTier(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	var tier Tier
	if err := tier.UnmarshalText([]byte("T2")); err != nil || tier != T2 {
		t.Errorf("UnmarshalText(T2) = %v, %v", tier, err)
	}
	if err := tier.UnmarshalText([]byte("T0")); err == nil {
		t.Errorf("UnmarshalText(T0) = nil, want error")
	}
	if b, _ := T3.MarshalText(); string(b) != "T3" {
		t.Errorf("MarshalText(T3) = %q", b)
	}
	if got := Tier(7).String(); got != "T7?" {
		t.Errorf("Tier(7).String() = %q, want T7?", got)
	}
}

func TestParseArchetype(t *testing.T) {
	t.Parallel()
	for _, a := range Archetypes {
		for _, in := range []string{a, strings.ToLower(a), strings.ToUpper(a), " " + a + " "} {
			if got, err := ParseArchetype(in); err != nil || got != a {
				t.Errorf("ParseArchetype(%q) = %q, %v; want %q", in, got, err, a)
			}
		}
	}
	for _, in := range []string{"", "Robot", "Executors", "Guard"} {
		if got, err := ParseArchetype(in); err == nil {
			t.Errorf("ParseArchetype(%q) = %q, want error", in, got)
		}
	}
}

func TestEffect(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"deny", "DENY", " Escalate ", "warn"} {
		if _, err := ParseEffect(in); err != nil {
			t.Errorf("ParseEffect(%q) = %v", in, err)
		}
	}
	if _, err := ParseEffect("allow"); err == nil {
		t.Errorf("ParseEffect(allow) = nil, want error")
	}
	tests := []struct {
		a, b Effect
		want bool
	}{
		{Deny, Escalate, true},
		{Deny, Warn, true},
		{Escalate, Warn, true},
		{Warn, Escalate, false},
		{Deny, Deny, false},
		{Warn, "", true},
	}
	for _, tc := range tests {
		if got := tc.a.Stronger(tc.b); got != tc.want {
			t.Errorf("%q.Stronger(%q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSpecLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    Clause
		want string
	}{
		{Clause{ID: "fleet.a", Tier: T1, Text: "A."}, "- (Fleet, T1) [fleet.a] A."},
		{Clause{ID: "executor.b", Tier: T2, Archetype: Executor, Text: "B."}, "- (Archetype: Executor, T2) [executor.b] B."},
		{Clause{ID: "acme.c", Tier: T3, Text: "C."}, "- (Tenant, T3) [acme.c] C."},
		{Clause{Tier: T3, Text: "D."}, "- (Tenant, T3) D."},
	}
	for _, tc := range tests {
		if got := tc.c.SpecLine(); got != tc.want {
			t.Errorf("SpecLine() = %q, want %q", got, tc.want)
		}
	}
}

func TestProvenanceJustified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    *Provenance
		want bool
	}{
		{"nil", nil, false},
		{"empty", &Provenance{}, false},
		{"cat only", &Provenance{Cat: 4}, false},
		{"incidents only", &Provenance{Incidents: []string{"INC-1"}}, false},
		{"cat and incidents", &Provenance{Cat: 4, Incidents: []string{"INC-1"}}, true},
		{"cat and note", &Provenance{Cat: 1, Note: "cross-tenant failure"}, true},
		{"cat and blank note", &Provenance{Cat: 1, Note: "  "}, false},
		{"cat out of range", &Provenance{Cat: 8, Incidents: []string{"INC-1"}}, false},
	}
	for _, tc := range tests {
		if got := tc.p.Justified(); got != tc.want {
			t.Errorf("%s: Justified() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		c       Clause
		wantErr []string
	}{
		{"unnamed T3", Clause{Tier: T3, Section: 6, Text: "x"}, nil},
		{"named T3", Clause{ID: "acme.x", Tier: T3, Section: 6, Text: "x"}, nil},
		{"unnamed T1", Clause{Tier: T1, Section: 6, Text: "x"}, []string{"bad clause id"}},
		{"T3 with archetype", Clause{ID: "a", Tier: T3, Archetype: Executor, Section: 6, Text: "x"}, []string{"only T2 clauses name an archetype"}},
		{"no tier", Clause{ID: "a", Section: 6, Text: "x"}, []string{"unknown tier"}},
		{"everything wrong", Clause{ID: "A", Tier: T1, Section: 2, Text: " ", Check: "x", Limit: &Limit{Name: "y", Max: 1}},
			[]string{"bad clause id", "section §2", "no text", "at most one machine form"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.c
			errs := c.Validate()
			if len(tc.wantErr) == 0 {
				if len(errs) > 0 {
					t.Fatalf("Validate() = %v, want no errors", errs)
				}
				return
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errs.Error(), w) {
					t.Errorf("Validate() = %v, want an error containing %q", errs, w)
				}
			}
		})
	}
}
