package constraint

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// resolveCase is one case of testdata/resolve.yaml.
type resolveCase struct {
	Name      string         `yaml:"name"`
	Inherited []resolveInput `yaml:"inherited"`
	Own       []resolveInput `yaml:"own"`
	Want      struct {
		Order  []string `yaml:"order"`
		Limits []struct {
			Name    string   `yaml:"name"`
			Max     float64  `yaml:"max"`
			From    string   `yaml:"from"`
			Clauses []string `yaml:"clauses"`
		} `yaml:"limits"`
		Allows []struct {
			Name    string   `yaml:"name"`
			Values  []string `yaml:"values"`
			Clauses []string `yaml:"clauses"`
		} `yaml:"allows"`
		Rules      []string `yaml:"rules"`
		Weakenings []struct {
			Clause    string `yaml:"clause"`
			Inherited string `yaml:"inherited"`
			Kind      string `yaml:"kind"`
			Msg       string `yaml:"msg"`
		} `yaml:"weakenings"`
	} `yaml:"want"`
}

type resolveInput struct {
	ID        string `yaml:"id"`
	Tier      string `yaml:"tier"`
	Archetype string `yaml:"archetype"`
	Machine   string `yaml:"machine"`
}

func (in resolveInput) clause(t *testing.T, def Tier) *Clause {
	t.Helper()
	c := &Clause{ID: in.ID, Tier: def, Archetype: in.Archetype, Section: SectionInvariants, Text: "Clause " + in.ID + "."}
	if in.Tier != "" {
		tier, err := ParseTier(in.Tier)
		if err != nil {
			t.Fatalf("clause %s: %v", in.ID, err)
		}
		c.Tier = tier
	}
	if in.Machine != "" {
		m, err := ParseMachine(in.Machine)
		if err != nil {
			t.Fatalf("clause %s: %v", in.ID, err)
		}
		c.SetMachine(m)
	}
	if errs := c.Validate(); len(errs) > 0 {
		t.Fatalf("clause %s: %v", in.ID, errs)
	}
	return c
}

func ids(cs []*Clause) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestResolve(t *testing.T) {
	t.Parallel()
	for _, tc := range loadYAMLCases[resolveCase](t, "testdata/resolve.yaml") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			var inherited, own []*Clause
			for _, in := range tc.Inherited {
				inherited = append(inherited, in.clause(t, T1))
			}
			for _, in := range tc.Own {
				own = append(own, in.clause(t, T3))
			}
			inBefore, ownBefore := ids(inherited), ids(own)
			eff, weak := Resolve(inherited, own)

			if !slices.Equal(ids(inherited), inBefore) || !slices.Equal(ids(own), ownBefore) {
				t.Errorf("Resolve reordered its inputs")
			}
			if len(eff.Clauses) != len(inherited)+len(own) {
				t.Errorf("Resolve: %d clauses, want %d", len(eff.Clauses), len(inherited)+len(own))
			}
			if tc.Want.Order != nil && !slices.Equal(ids(eff.Clauses), tc.Want.Order) {
				t.Errorf("Resolve: clause order = %v, want %v", ids(eff.Clauses), tc.Want.Order)
			}
			for i := 1; i < len(eff.Clauses); i++ {
				if eff.Clauses[i-1].Tier > eff.Clauses[i].Tier {
					t.Errorf("Resolve: clause order %v is not by tier", ids(eff.Clauses))
				}
			}

			var gotLimits, wantLimits []string
			for _, l := range eff.Limits {
				gotLimits = append(gotLimits, fmt.Sprintf("%s<=%v from %s %v", l.Name, l.Max, l.From, l.Clauses))
			}
			for _, l := range tc.Want.Limits {
				wantLimits = append(wantLimits, fmt.Sprintf("%s<=%v from %s %v", l.Name, l.Max, l.From, l.Clauses))
			}
			if !slices.Equal(gotLimits, wantLimits) {
				t.Errorf("Resolve: limits = %q, want %q", gotLimits, wantLimits)
			}

			var gotAllows, wantAllows []string
			for _, a := range eff.Allows {
				gotAllows = append(gotAllows, fmt.Sprintf("%s=%v %v", a.Name, a.Values, a.Clauses))
			}
			for _, a := range tc.Want.Allows {
				wantAllows = append(wantAllows, fmt.Sprintf("%s=%v %v", a.Name, a.Values, a.Clauses))
			}
			if !slices.Equal(gotAllows, wantAllows) {
				t.Errorf("Resolve: allows = %q, want %q", gotAllows, wantAllows)
			}

			if got := ids(eff.Rules()); !slices.Equal(got, nonNilStrings(tc.Want.Rules)) {
				t.Errorf("Resolve: rules = %v, want %v", got, tc.Want.Rules)
			}

			if len(weak) != len(tc.Want.Weakenings) {
				t.Fatalf("Resolve: %d weakenings %v, want %d", len(weak), weak, len(tc.Want.Weakenings))
			}
			for i, w := range tc.Want.Weakenings {
				g := weak[i]
				if g.Clause.ID != w.Clause || g.Inherited.ID != w.Inherited || g.Kind != w.Kind || !strings.Contains(g.Message, w.Msg) {
					t.Errorf("weakening %d = %s of %s (%s): %q; want %s of %s (%s) containing %q",
						i, g.Clause.ID, g.Inherited.ID, g.Kind, g.Message, w.Clause, w.Inherited, w.Kind, w.Msg)
				}
			}
		})
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestInherited(t *testing.T) {
	t.Parallel()
	lib, err := ParseLibrary("1.0.0.yaml", []byte(`version: 1.0.0
clauses:
  - {id: fleet.a, tier: T1, section: 6, text: A.}
  - {id: executor.b, tier: T2, archetype: Executor, section: 6, text: B.}
  - {id: fleet.mcp, tier: T1, section: 8, resource: mcp-servers, text: MCP.}
  - {id: guardian.c, tier: T2, archetype: Guardian, section: 8, text: C.}
  - {id: executor.vector, tier: T2, archetype: Executor, section: 6, resource: vector-store, text: V.}
  - {id: fleet.d, tier: T1, section: 7, text: D.}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		archetypes []string
		resources  []string
		want       []string
	}{
		{"no archetype, no resource", nil, nil, []string{"fleet.a", "fleet.d"}},
		{"Advisor inherits only T1", []string{Advisor}, nil, []string{"fleet.a", "fleet.d"}},
		{"Executor", []string{Executor}, nil, []string{"fleet.a", "executor.b", "fleet.d"}},
		{"Guardian", []string{Guardian}, nil, []string{"fleet.a", "guardian.c", "fleet.d"}},
		{"composed Executor and Guardian", []string{Guardian, Executor}, nil, []string{"fleet.a", "executor.b", "guardian.c", "fleet.d"}},
		{"T1 resource", nil, []string{"mcp-servers"}, []string{"fleet.a", "fleet.mcp", "fleet.d"}},
		{"T2 resource needs the archetype", []string{Guardian}, []string{"vector-store"}, []string{"fleet.a", "guardian.c", "fleet.d"}},
		{"T2 resource with the archetype", []string{Executor}, []string{"vector-store", "mcp-servers"}, []string{"fleet.a", "executor.b", "fleet.mcp", "executor.vector", "fleet.d"}},
		{"unknown resource", []string{Executor}, []string{"printer"}, []string{"fleet.a", "executor.b", "fleet.d"}},
		{"archetype names are canonical", []string{"executor"}, nil, []string{"fleet.a", "fleet.d"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ids(lib.Inherited(tc.archetypes, tc.resources)); !slices.Equal(got, tc.want) {
				t.Errorf("Inherited(%v, %v) = %v, want %v", tc.archetypes, tc.resources, got, tc.want)
			}
		})
	}
}

func TestAllowMatch(t *testing.T) {
	t.Parallel()
	values := []string{"gpt-4o", "claude-sonnet-4-*", "fleet-demo-*"}
	tests := []struct {
		value string
		want  bool
	}{
		{"gpt-4o", true},
		{"gpt-4o-mini", false},
		{"claude-sonnet-4-5", true},
		{"claude-sonnet-4-", true},
		{"claude-sonnet-3", false},
		{"fleet-demo-small", true},
		{"", false},
	}
	for _, tc := range tests {
		if got := AllowMatch(values, tc.value); got != tc.want {
			t.Errorf("AllowMatch(%v, %q) = %v, want %v", values, tc.value, got, tc.want)
		}
	}
	if !AllowMatch([]string{"*"}, "anything") {
		t.Errorf(`AllowMatch(["*"], "anything") = false, want true`)
	}
	if AllowMatch(nil, "x") {
		t.Errorf(`AllowMatch(nil, "x") = true, want false`)
	}
}
