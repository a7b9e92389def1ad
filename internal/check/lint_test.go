package check

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// TestLintExample: on the example fleet, lint reports exactly the clause
// without provenance and the one cluster of near-identical T3 clauses.
func TestLintExample(t *testing.T) {
	t.Parallel()
	r := repo(t)
	specs, err := fleet.LoadSpecs(exampleSpecs)
	if err != nil {
		t.Fatal(err)
	}
	got := Lint(r, specs)
	if len(got) != 2 {
		t.Fatalf("Lint(example) = %d findings, want 2: %+v", len(got), got)
	}
	lib := filepath.Join(exampleFleet, "constraints", "1.1.0.yaml")
	libData, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	libSrc := string(libData)
	inflation := got[0]
	if inflation.Code != "constraint-inflation" || inflation.Kind != Warning || inflation.Clause != "fleet.response-language" ||
		inflation.File != lib || inflation.Line != lineOf(t, libSrc, "- id: fleet.response-language", 1) ||
		!strings.Contains(inflation.Message, "T1 clause fleet.response-language has no provenance") {
		t.Errorf("finding 0 = %+v, want constraint-inflation of fleet.response-language at its library line", inflation)
	}
	refund, refundSrc := readSpec(t, "payments/refund-executor.md")
	promo := got[1]
	if promo.Code != "promotion-candidate" || promo.Kind != Warning || promo.Clause != "payments.pii-redaction" ||
		promo.File != refund || promo.Line != lineOf(t, refundSrc, "[payments.pii-redaction]", 1) {
		t.Errorf("finding 1 = %+v, want promotion-candidate payments.pii-redaction at %s", promo, refund)
	}
	for _, s := range []string{"in 3 tenants (payments, research, support)", "market-synthesizer.md:77 (research)", "ticket-triage.md:74 (support)", "refund-executor.md:76 (payments)"} {
		if !strings.Contains(promo.Message, s) {
			t.Errorf("promotion message = %q, want it to contain %q", promo.Message, s)
		}
	}
}

// TestLintInflation lints a library of the version in force only.
func TestLintInflation(t *testing.T) {
	t.Parallel()
	parse := func(version, clauses string) *constraint.Library {
		l, err := constraint.ParseLibrary(version+".yaml", []byte("version: "+version+"\nclauses:\n"+clauses))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	old := parse("1.0.0", "  - {id: fleet.old, tier: T1, section: 6, text: Old.}\n")
	cur := parse("2.0.0", `  - {id: fleet.incidents, tier: T1, section: 6, text: A., provenance: {cat: 4, incidents: [INC-1]}}
  - {id: fleet.note, tier: T1, section: 6, text: B., provenance: {cat: 1, note: "a cross-tenant failure"}}
  - {id: fleet.bare, tier: T1, section: 6, text: C.}
  - {id: fleet.no-cat, tier: T1, section: 6, text: D., provenance: {incidents: [INC-2]}}
  - {id: fleet.no-evidence, tier: T1, section: 6, text: E., provenance: {cat: 3}}
  - {id: executor.bare, tier: T2, archetype: Executor, section: 8, text: F.}
`)
	cat, err := constraint.NewCatalog([]*constraint.Library{old, cur}, "")
	if err != nil {
		t.Fatal(err)
	}
	got := Lint(&fleet.Repo{Library: cat}, nil)
	var ids []string
	for _, f := range got {
		ids = append(ids, f.Clause)
		if f.Code != "constraint-inflation" || f.Kind != Warning || f.File != "2.0.0.yaml" || f.Line == 0 {
			t.Errorf("finding = %+v, want a positioned constraint-inflation warning", f)
		}
	}
	if want := []string{"fleet.bare", "fleet.no-cat", "fleet.no-evidence", "executor.bare"}; !slices.Equal(ids, want) {
		t.Errorf("Lint = %v, want %v", ids, want)
	}
	if got[len(got)-1].Message != "T2 clause executor.bare has no provenance: a T2 clause must be justified by a real failure (the Cat that produced it and its incidents), not proposed into existence" {
		t.Errorf("T2 message = %q", got[len(got)-1].Message)
	}
}

// t3Spec builds a parsed spec of tenant with the given T3 clauses (text, or
// text and machine form separated by " | ").
func t3Spec(t *testing.T, tenant, agent string, clauses ...string) *spec.Spec {
	t.Helper()
	s := &spec.Spec{File: tenant + "/" + agent + ".md", Front: spec.FrontMatter{Tenant: tenant, Agent: agent}}
	for i, c := range clauses {
		text, machine, _ := strings.Cut(c, " | ")
		cl := &constraint.Clause{ID: tenant + "." + agent + ".c" + strconv.Itoa(i+1), Tier: constraint.T3, Section: 6,
			Text: text, Pos: constraint.Pos{File: s.File, Line: 10 + i}}
		if machine != "" {
			m, err := constraint.ParseMachine(machine)
			if err != nil {
				t.Fatal(err)
			}
			cl.SetMachine(m)
		}
		s.Clauses = append(s.Clauses, &spec.Clause{Line: 10 + i, Section: 6, Tier: constraint.T3, ID: cl.ID, Text: text, Own: cl})
	}
	return s
}

func TestPromotionCandidates(t *testing.T) {
	t.Parallel()
	const (
		pii1 = "Customer personal data is redacted from logs and traces before they are written."
		pii2 = "Personal data of customers is redacted from logs and traces before they are written."
		pii3 = "Customer personal data is redacted from logs and traces before anything is written."
		pii4 = "Customers' personal data is redacted from all logs and traces before they are written."
		ref  = "Refunds above $200 go to a human reviewer before they are issued."
		card = "A card is short enough to read in ten seconds."
		geo  = "Buys target only the markets where Northwind holds clearance."
	)
	tests := []struct {
		name  string
		specs func(t *testing.T) []*spec.Spec
		want  [][]string // per finding, the tenants it names
	}{
		{"two tenants are not enough", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{t3Spec(t, "payments", "a", pii1), t3Spec(t, "research", "b", pii2)}
		}, nil},
		{"three tenants make one cluster", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{t3Spec(t, "payments", "a", pii1, ref), t3Spec(t, "research", "b", pii2), t3Spec(t, "support", "c", card, pii3)}
		}, [][]string{{"payments", "research", "support"}}},
		{"three specs of two tenants are not enough", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{t3Spec(t, "payments", "a", pii1), t3Spec(t, "payments", "b", pii2), t3Spec(t, "support", "c", pii3)}
		}, nil},
		{"one tenant three times is not enough", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{t3Spec(t, "payments", "a", pii1, pii2, pii3)}
		}, nil},
		{"four tenants in one cluster", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{t3Spec(t, "payments", "a", pii1), t3Spec(t, "research", "b", pii2), t3Spec(t, "support", "c", pii3), t3Spec(t, "adsales", "d", pii4)}
		}, [][]string{{"adsales", "payments", "research", "support"}}},
		{"dissimilar clauses", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{t3Spec(t, "payments", "a", ref), t3Spec(t, "research", "b", card), t3Spec(t, "support", "c", geo)}
		}, nil},
		{"same machine form, different words", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{
				t3Spec(t, "payments", "a", "Only the small model. | allow models: gpt-4o-mini"),
				t3Spec(t, "research", "b", "Research runs cheap. | allow models: gpt-4o-mini"),
				t3Spec(t, "support", "c", "Tickets use the mini tier. | allow models: gpt-4o-mini"),
			}
		}, [][]string{{"payments", "research", "support"}}},
		{"two clusters", func(t *testing.T) []*spec.Spec {
			return []*spec.Spec{
				t3Spec(t, "payments", "a", pii1, "Cheap. | limit cost.per_call_usd <= 0.01"),
				t3Spec(t, "research", "b", pii2, "Also cheap. | limit cost.per_call_usd <= 0.01"),
				t3Spec(t, "support", "c", pii3, "Very cheap. | limit cost.per_call_usd <= 0.01"),
			}
		}, [][]string{{"payments", "research", "support"}, {"payments", "research", "support"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := promotionCandidates(tc.specs(t))
			if len(got) != len(tc.want) {
				t.Fatalf("promotionCandidates = %d findings, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, f := range got {
				if f.Code != "promotion-candidate" || f.Kind != Warning || f.File == "" || f.Line == 0 || f.Clause == "" {
					t.Errorf("finding %d = %+v, want a positioned promotion-candidate warning", i, f)
				}
				names := "(" + strings.Join(tc.want[i], ", ") + ")"
				if !strings.Contains(f.Message, names) || !strings.Contains(f.Message, "in "+strconv.Itoa(len(tc.want[i]))+" tenants") {
					t.Errorf("finding %d message = %q, want the tenants %s", i, f.Message, names)
				}
			}
		})
	}
}
