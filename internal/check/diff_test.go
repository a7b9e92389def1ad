package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
)

func exampleSpecInfos(t *testing.T) []SpecInfo {
	t.Helper()
	specs, err := fleet.LoadSpecs(exampleSpecs)
	if err != nil {
		t.Fatal(err)
	}
	var out []SpecInfo
	for _, s := range specs {
		out = append(out, SpecInfo{SpecID: s.Front.ID, AgentID: s.AgentID(), Tenant: s.Front.Tenant, File: s.File,
			Pinned: s.Front.Library, Archetypes: s.Archetypes(), Resources: s.Front.SharedResources})
	}
	return out
}

func inheritorIDs(ch ClauseChange) []string {
	ids := []string{}
	for _, in := range ch.Inheritors {
		ids = append(ids, in.AgentID)
	}
	return ids
}

// TestDiffExample diffs the example library's two versions against the
// example specs.
func TestDiffExample(t *testing.T) {
	t.Parallel()
	r := repo(t)
	infos := exampleSpecInfos(t)
	d, err := Diff(r, "1.0.0", "1.1.0", infos)
	if err != nil {
		t.Fatal(err)
	}
	if d.From != "1.0.0" || d.To != "1.1.0" || len(d.Changes) != 2 {
		t.Fatalf("Diff = %s → %s with %d changes, want 1.0.0 → 1.1.0 with 2", d.From, d.To, len(d.Changes))
	}
	executors := []string{"adlab.test-buyer", "adsales.media-buyer", "payments.refund-executor", "support.reply-executor"}
	var all []string
	for _, in := range infos {
		all = append(all, in.AgentID)
	}
	tests := []struct {
		id, kind   string
		fields     []string
		inheritors []string
	}{
		{"executor.irreversible-preauth", "added", nil, executors},
		{"fleet.cost-per-call", "changed", []string{"text", "machine"}, all},
	}
	for i, tc := range tests {
		ch := d.Changes[i]
		if ch.ID != tc.id || ch.Kind != tc.kind || !slices.Equal(ch.Fields, tc.fields) {
			t.Errorf("change %d = %s %s %v, want %s %s %v", i, ch.ID, ch.Kind, ch.Fields, tc.id, tc.kind, tc.fields)
		}
		if got := inheritorIDs(ch); !slices.Equal(got, tc.inheritors) {
			t.Errorf("%s inheritors = %v, want %v", ch.ID, got, tc.inheritors)
		}
		if ch.Diff != ch.Change.Unified() || ch.Diff == "" {
			t.Errorf("%s Diff = %q, want the unified diff", ch.ID, ch.Diff)
		}
		for _, in := range ch.Inheritors {
			if in.Pinned != "1.1.0" || in.SpecID == "" || in.Tenant == "" || in.File == "" {
				t.Errorf("%s inheritor = %+v", ch.ID, in)
			}
		}
	}
	// The other way round, the added clause is removed.
	back, err := Diff(r, "1.1.0", "1.0.0", infos)
	if err != nil {
		t.Fatal(err)
	}
	if back.Changes[0].Kind != "removed" || !slices.Equal(inheritorIDs(back.Changes[0]), executors) {
		t.Errorf("Diff(1.1.0, 1.0.0) = %s %v, want removed, inherited by %v", back.Changes[0].Kind, inheritorIDs(back.Changes[0]), executors)
	}
	same, err := Diff(r, "1.1.0", "1.1.0", infos)
	if err != nil || same.Changes == nil || len(same.Changes) != 0 {
		t.Errorf("Diff(1.1.0, 1.1.0) = %+v, %v; want an empty, non-nil list", same.Changes, err)
	}
}

func TestDiffUnknownVersion(t *testing.T) {
	t.Parallel()
	r := repo(t)
	for _, v := range [][2]string{{"0.9.0", "1.1.0"}, {"1.0.0", "2.0.0"}} {
		if _, err := Diff(r, v[0], v[1], nil); err == nil || !strings.Contains(err.Error(), "no library version") || !strings.Contains(err.Error(), "[1.0.0 1.1.0]") {
			t.Errorf("Diff(%s, %s) = %v, want an error naming the versions there are", v[0], v[1], err)
		}
	}
}

// TestDiffInheritors computes inheritors by tier, archetype and resource.
func TestDiffInheritors(t *testing.T) {
	t.Parallel()
	parse := func(version, clauses string) *constraint.Library {
		l, err := constraint.ParseLibrary(version+".yaml", []byte("version: "+version+"\nclauses:\n"+clauses))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := parse("1.0.0", `  - {id: fleet.all, tier: T1, section: 6, text: Old.}
  - {id: fleet.vectors, tier: T1, section: 6, resource: vector-store, text: Old.}
  - {id: guardian.veto, tier: T2, archetype: Guardian, section: 6, text: Old.}
  - {id: synthesizer.gone, tier: T2, archetype: Synthesizer, section: 6, text: Old.}
  - {id: executor.moved, tier: T2, archetype: Executor, section: 8, text: Same.}
  - {id: executor.mcp, tier: T2, archetype: Executor, section: 8, resource: mcp-servers, text: Old.}
  - {id: fleet.unchanged, tier: T1, section: 7, text: Same.}
`)
	b := parse("2.0.0", `  - {id: fleet.all, tier: T1, section: 6, text: New.}
  - {id: fleet.vectors, tier: T1, section: 6, resource: vector-store, text: New.}
  - {id: guardian.veto, tier: T2, archetype: Guardian, section: 6, text: New.}
  - {id: executor.moved, tier: T2, archetype: Guardian, section: 8, text: Same.}
  - {id: executor.mcp, tier: T2, archetype: Executor, section: 8, resource: mcp-servers, text: New.}
  - {id: fleet.unchanged, tier: T1, section: 7, text: Same.}
  - {id: advisor.new, tier: T2, archetype: Advisor, section: 8, text: New.}
`)
	cat, err := constraint.NewCatalog([]*constraint.Library{a, b}, "")
	if err != nil {
		t.Fatal(err)
	}
	r := &fleet.Repo{Library: cat}
	specs := []SpecInfo{
		{AgentID: "t.advisor", Archetypes: []string{constraint.Advisor}},
		{AgentID: "t.executor", Archetypes: []string{constraint.Executor}, Resources: []string{"mcp-servers"}},
		{AgentID: "t.executor-no-mcp", Archetypes: []string{constraint.Executor}},
		{AgentID: "t.guardian", Archetypes: []string{constraint.Guardian}, Resources: []string{"vector-store"}},
		{AgentID: "t.composed", Archetypes: []string{constraint.Executor, constraint.Guardian}},
		{AgentID: "t.synthesizer", Archetypes: []string{constraint.Synthesizer}, Resources: []string{"vector-store", "mcp-servers"}},
		{AgentID: "t.none"},
	}
	d, err := Diff(r, "1.0.0", "2.0.0", specs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"advisor.new":      {"t.advisor"},
		"executor.mcp":     {"t.executor"},
		"executor.moved":   {"t.executor", "t.executor-no-mcp", "t.guardian", "t.composed"},
		"fleet.all":        {"t.advisor", "t.executor", "t.executor-no-mcp", "t.guardian", "t.composed", "t.synthesizer", "t.none"},
		"fleet.vectors":    {"t.guardian", "t.synthesizer"},
		"guardian.veto":    {"t.guardian", "t.composed"},
		"synthesizer.gone": {"t.synthesizer"},
	}
	var ids []string
	for _, ch := range d.Changes {
		ids = append(ids, ch.ID)
		if got := inheritorIDs(ch); !slices.Equal(got, want[ch.ID]) {
			t.Errorf("%s (%s) inheritors = %v, want %v", ch.ID, ch.Kind, got, want[ch.ID])
		}
	}
	if wantIDs := []string{"advisor.new", "executor.mcp", "executor.moved", "fleet.all", "fleet.vectors", "guardian.veto", "synthesizer.gone"}; !slices.Equal(ids, wantIDs) {
		t.Errorf("changes = %v, want %v (fleet.unchanged left out)", ids, wantIDs)
	}
}
