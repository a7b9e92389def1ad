package constraint

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDiffClauses(t *testing.T) {
	t.Parallel()
	base := func() *Clause {
		return &Clause{ID: "fleet.cost", Tier: T1, Section: 7, Text: "At most $0.50.",
			Limit: &Limit{Name: "cost.per_call_usd", Max: 0.5, Effect: Deny},
			Pos:   Pos{File: "1.0.0.yaml", Line: 10}, Provenance: &Provenance{Cat: 4, Incidents: []string{"INC-1"}}}
	}
	with := func(f func(c *Clause)) *Clause {
		c := base()
		f(c)
		return c
	}
	tests := []struct {
		name       string
		old, new   *Clause
		wantKind   string
		wantFields []string
	}{
		{"same", base(), base(), "", nil},
		{"provenance and position are not behaviour", base(), with(func(c *Clause) {
			c.Provenance = &Provenance{Cat: 6, Note: "other"}
			c.Pos = Pos{File: "1.1.0.yaml", Line: 99}
		}), "", nil},
		{"text", base(), with(func(c *Clause) { c.Text = "At most $0.25." }), "changed", []string{"text"}},
		{"limit value", base(), with(func(c *Clause) { c.Limit = &Limit{Name: "cost.per_call_usd", Max: 0.25, Effect: Deny} }), "changed", []string{"machine"}},
		{"effect", base(), with(func(c *Clause) { c.Limit = &Limit{Name: "cost.per_call_usd", Max: 0.5, Effect: Warn} }), "changed", []string{"machine"}},
		{"machine form removed", base(), with(func(c *Clause) { c.Limit = nil }), "changed", []string{"machine"}},
		{"machine form kind", base(), with(func(c *Clause) {
			c.Limit = nil
			c.Rule = &Rule{When: "action.estimated_cost_usd > 0.5", Effect: Deny}
		}), "changed", []string{"machine"}},
		{"tier and archetype", base(), with(func(c *Clause) { c.Tier, c.Archetype = T2, Executor }), "changed", []string{"tier", "archetype"}},
		{"section", base(), with(func(c *Clause) { c.Section = 6 }), "changed", []string{"section"}},
		{"resource", base(), with(func(c *Clause) { c.Resource = "model-provider" }), "changed", []string{"resource"}},
		{"everything", base(), with(func(c *Clause) {
			c.Text, c.Limit, c.Check, c.Tier, c.Archetype, c.Section, c.Resource = "x", nil, "tool-manifest", T2, Guardian, 8, "mcp-servers"
		}), "changed", []string{"text", "machine", "tier", "archetype", "section", "resource"}},
		{"added", nil, base(), "added", nil},
		{"removed", base(), nil, "removed", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var a, b []*Clause
			if tc.old != nil {
				a = append(a, tc.old)
			}
			if tc.new != nil {
				b = append(b, tc.new)
			}
			got := DiffClauses(a, b)
			if tc.wantKind == "" {
				if len(got) != 0 {
					t.Fatalf("DiffClauses = %+v, want no change", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("DiffClauses = %d changes, want 1", len(got))
			}
			ch := got[0]
			if ch.ID != "fleet.cost" || ch.Kind != tc.wantKind || !slices.Equal(ch.Fields, tc.wantFields) {
				t.Errorf("DiffClauses = %s %s %v, want fleet.cost %s %v", ch.ID, ch.Kind, ch.Fields, tc.wantKind, tc.wantFields)
			}
			if ch.Old != tc.old || ch.New != tc.new {
				t.Errorf("DiffClauses: Old, New = %p, %p; want %p, %p", ch.Old, ch.New, tc.old, tc.new)
			}
			want := tc.new
			if want == nil {
				want = tc.old
			}
			if ch.Clause() != want {
				t.Errorf("Change.Clause() = %v, want the newest form", ch.Clause())
			}
		})
	}
}

func TestDiffOrder(t *testing.T) {
	t.Parallel()
	c := func(id, text string) *Clause { return &Clause{ID: id, Tier: T1, Section: 6, Text: text} }
	a := []*Clause{c("z.removed", "Z."), c("m.changed", "M."), c("b.same", "B.")}
	b := []*Clause{c("b.same", "B."), c("m.changed", "M2."), c("a.added", "A."), c("y.added", "Y.")}
	var got []string
	for _, ch := range DiffClauses(a, b) {
		got = append(got, ch.Kind+" "+ch.ID)
	}
	want := []string{"added a.added", "changed m.changed", "added y.added", "removed z.removed"}
	if !slices.Equal(got, want) {
		t.Errorf("DiffClauses = %v, want %v (by id)", got, want)
	}
}

func TestDiffExample(t *testing.T) {
	t.Parallel()
	load := func(v string) *Library {
		file := filepath.Join(exampleLibrary, v+".yaml")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lib, err := ParseLibrary(file, data)
		if err != nil {
			t.Fatal(err)
		}
		return lib
	}
	a, b := load("1.0.0"), load("1.1.0")
	got := Diff(a, b)
	if len(got) != 2 {
		t.Fatalf("Diff(1.0.0, 1.1.0) = %d changes, want 2: %+v", len(got), got)
	}
	if got[0].ID != "executor.irreversible-preauth" || got[0].Kind != "added" {
		t.Errorf("change 0 = %s %s, want executor.irreversible-preauth added", got[0].ID, got[0].Kind)
	}
	// The provenance of fleet.cost-per-call changed too; only text and
	// machine form are behaviour.
	if got[1].ID != "fleet.cost-per-call" || got[1].Kind != "changed" || !slices.Equal(got[1].Fields, []string{"text", "machine"}) {
		t.Errorf("change 1 = %s %s %v, want fleet.cost-per-call changed [text machine]", got[1].ID, got[1].Kind, got[1].Fields)
	}
	if back := Diff(b, a); len(back) != 2 || back[0].Kind != "removed" {
		t.Errorf("Diff(1.1.0, 1.0.0) = %+v, want executor.irreversible-preauth removed first", back)
	}
	if none := Diff(a, a); len(none) != 0 {
		t.Errorf("Diff(1.0.0, 1.0.0) = %+v, want none", none)
	}
}

func TestChangeUnified(t *testing.T) {
	t.Parallel()
	old := &Clause{ID: "fleet.cost", Tier: T1, Section: 7, Text: "At most $0.50.", Limit: &Limit{Name: "cost.per_call_usd", Max: 0.5, Effect: Deny}}
	cur := &Clause{ID: "fleet.cost", Tier: T1, Section: 7, Text: "At most $0.25.", Limit: &Limit{Name: "cost.per_call_usd", Max: 0.25, Effect: Deny}}
	text := &Clause{ID: "executor.x", Tier: T2, Archetype: Executor, Section: 8, Text: "X."}
	tests := []struct {
		name string
		ch   Change
		want string
	}{
		{"changed", Change{ID: "fleet.cost", Kind: "changed", Old: old, New: cur},
			"- - (Fleet, T1) [fleet.cost] At most $0.50.\n-     `limit cost.per_call_usd <= 0.5`\n" +
				"+ - (Fleet, T1) [fleet.cost] At most $0.25.\n+     `limit cost.per_call_usd <= 0.25`\n"},
		{"added", Change{ID: "executor.x", Kind: "added", New: text}, "+ - (Archetype: Executor, T2) [executor.x] X.\n"},
		{"removed", Change{ID: "executor.x", Kind: "removed", Old: text}, "- - (Archetype: Executor, T2) [executor.x] X.\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.ch.Unified(); got != tc.want {
				t.Errorf("Unified() =\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Count(tc.ch.Unified(), "\n") == 0 {
				t.Errorf("Unified() has no lines")
			}
		})
	}
}
