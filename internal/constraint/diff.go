package constraint

import (
	"fmt"
	"slices"
	"strings"
)

// Change is one clause that differs between two library versions.
type Change struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`             // added, removed or changed
	Fields []string `json:"fields,omitempty"` // for changed: text, machine, tier, archetype, section, resource
	Old    *Clause  `json:"old,omitempty"`
	New    *Clause  `json:"new,omitempty"`
}

// Clause returns the newest form of the changed clause.
func (c Change) Clause() *Clause {
	if c.New != nil {
		return c.New
	}
	return c.Old
}

// Diff returns the clauses that differ between versions a and b, by ID.
// Provenance and position are not behaviour and are not compared.
func Diff(a, b *Library) []Change {
	return DiffClauses(a.Clauses, b.Clauses)
}

// DiffClauses compares two clause sets by ID.
func DiffClauses(a, b []*Clause) []Change {
	old := make(map[string]*Clause, len(a))
	for _, c := range a {
		old[c.ID] = c
	}
	var out []Change
	seen := map[string]bool{}
	for _, n := range b {
		seen[n.ID] = true
		o, ok := old[n.ID]
		if !ok {
			out = append(out, Change{ID: n.ID, Kind: "added", New: n})
			continue
		}
		if f := changedFields(o, n); len(f) > 0 {
			out = append(out, Change{ID: n.ID, Kind: "changed", Fields: f, Old: o, New: n})
		}
	}
	for _, o := range a {
		if !seen[o.ID] {
			out = append(out, Change{ID: o.ID, Kind: "removed", Old: o})
		}
	}
	slices.SortFunc(out, func(x, y Change) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func changedFields(o, n *Clause) []string {
	var f []string
	if o.Text != n.Text {
		f = append(f, "text")
	}
	if o.MachineForm() != n.MachineForm() {
		f = append(f, "machine")
	}
	if o.Tier != n.Tier {
		f = append(f, "tier")
	}
	if o.Archetype != n.Archetype {
		f = append(f, "archetype")
	}
	if o.Section != n.Section {
		f = append(f, "section")
	}
	if o.Resource != n.Resource {
		f = append(f, "resource")
	}
	return f
}

// Unified renders the change as diff lines: "-" for the old form, "+" for the new.
func (c Change) Unified() string {
	var b strings.Builder
	line := func(sign string, cl *Clause) {
		fmt.Fprintf(&b, "%s %s\n", sign, cl.SpecLine())
		if m := cl.MachineForm(); m != "" {
			fmt.Fprintf(&b, "%s     `%s`\n", sign, m)
		}
	}
	if c.Old != nil {
		line("-", c.Old)
	}
	if c.New != nil {
		line("+", c.New)
	}
	return b.String()
}
