package constraint

import (
	"fmt"
	"slices"
	"strings"
)

// Inherited returns the library clauses a spec inherits: every T1 clause and
// the T2 clauses of the given archetypes, leaving out clauses scoped to a
// shared resource the spec does not declare. Order is the library's.
func (l *Library) Inherited(archetypes, resources []string) []*Clause {
	var out []*Clause
	for _, c := range l.Clauses {
		if c.Resource != "" && !slices.Contains(resources, c.Resource) {
			continue
		}
		if c.Tier == T2 && !slices.Contains(archetypes, c.Archetype) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// Weakening is a lower-tier clause that loosens an inherited one.
type Weakening struct {
	Clause    *Clause // the weakening clause
	Inherited *Clause // the clause it weakens
	Kind      string  // "limit" or "allow"
	Message   string
}

// weakenings finds every clause of lower that weakens a clause of higher:
// a limit of the same name with a higher ceiling, or an allow-list of the
// same name with a value the higher list does not cover.
func weakenings(higher, lower []*Clause) []Weakening {
	var out []Weakening
	for _, lc := range lower {
		for _, hc := range higher {
			switch {
			case lc.Limit != nil && hc.Limit != nil && lc.Limit.Name == hc.Limit.Name:
				if lc.Limit.Max > hc.Limit.Max {
					out = append(out, Weakening{Clause: lc, Inherited: hc, Kind: "limit",
						Message: fmt.Sprintf("weakens inherited %s clause %s: limit %s <= %s is above the inherited ceiling %s; a %s clause may only lower it",
							hc.Tier, hc.ID, lc.Limit.Name, formatNumber(lc.Limit.Max), formatNumber(hc.Limit.Max), lc.Tier)})
				}
			case lc.Allow != nil && hc.Allow != nil && lc.Allow.Name == hc.Allow.Name:
				if extra := uncovered(lc.Allow.Values, hc.Allow.Values); len(extra) > 0 {
					out = append(out, Weakening{Clause: lc, Inherited: hc, Kind: "allow",
						Message: fmt.Sprintf("widens inherited %s clause %s: allow-list %s adds %s, which the inherited list does not allow; a %s clause may only narrow it",
							hc.Tier, hc.ID, lc.Allow.Name, strings.Join(extra, ", "), lc.Tier)})
				}
			}
		}
	}
	return out
}

// matches reports whether value v is allowed by pattern p (exact, or a
// prefix when p ends in "*").
func matches(p, v string) bool {
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return strings.HasPrefix(v, prefix)
	}
	return p == v
}

// covers reports whether every value that pattern v admits, pattern p admits.
func covers(p, v string) bool {
	if vp, ok := strings.CutSuffix(v, "*"); ok {
		pp, ok := strings.CutSuffix(p, "*")
		return ok && strings.HasPrefix(vp, pp)
	}
	return matches(p, v)
}

// uncovered returns the values of list that no pattern of outer covers.
func uncovered(list, outer []string) []string {
	var out []string
	for _, v := range list {
		if !slices.ContainsFunc(outer, func(p string) bool { return covers(p, v) }) {
			out = append(out, v)
		}
	}
	return out
}

// meet returns the pattern admitting exactly what both a and b admit.
func meet(a, b string) (string, bool) {
	switch {
	case covers(a, b):
		return b, true
	case covers(b, a):
		return a, true
	}
	return "", false
}

// intersect returns the allow-list admitting what both lists admit.
func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		for _, y := range b {
			if m, ok := meet(x, y); ok && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// AllowMatch reports whether value is admitted by the allow-list values.
func AllowMatch(values []string, value string) bool {
	return slices.ContainsFunc(values, func(p string) bool { return matches(p, value) })
}

// Effective is an agent's effective constraint set: the union of its
// inherited clauses and its own, with limits and allow-lists combined.
type Effective struct {
	Clauses []*Clause        `json:"clauses"`
	Limits  []EffectiveLimit `json:"limits"`
	Allows  []EffectiveAllow `json:"allows"`
}

// EffectiveLimit is the minimum ceiling over every clause that sets a limit.
type EffectiveLimit struct {
	Name    string   `json:"name"`
	Max     float64  `json:"max"`
	From    string   `json:"from"`    // the clause setting the minimum
	Clauses []string `json:"clauses"` // every clause setting this limit
}

// EffectiveAllow is the intersection of every allow-list of one name.
type EffectiveAllow struct {
	Name    string   `json:"name"`
	Values  []string `json:"values"`
	Clauses []string `json:"clauses"`
}

// Resolve combines inherited clauses with a spec's own (T3) clauses into the
// effective set, and reports every own clause that weakens an inherited one.
// The effective set never loosens an inherited clause whatever the
// weakenings: limits take the minimum and allow-lists the intersection.
func Resolve(inherited, own []*Clause) (*Effective, []Weakening) {
	e := &Effective{Clauses: append(slices.Clone(inherited), own...)}
	slices.SortStableFunc(e.Clauses, func(a, b *Clause) int { return int(a.Tier) - int(b.Tier) })
	limits := map[string]*EffectiveLimit{}
	allows := map[string]*EffectiveAllow{}
	for _, c := range e.Clauses {
		switch {
		case c.Limit != nil:
			l, ok := limits[c.Limit.Name]
			if !ok {
				l = &EffectiveLimit{Name: c.Limit.Name, Max: c.Limit.Max, From: c.ID}
				limits[c.Limit.Name] = l
			} else if c.Limit.Max < l.Max {
				l.Max, l.From = c.Limit.Max, c.ID
			}
			l.Clauses = append(l.Clauses, c.ID)
		case c.Allow != nil:
			a, ok := allows[c.Allow.Name]
			if !ok {
				a = &EffectiveAllow{Name: c.Allow.Name, Values: slices.Clone(c.Allow.Values)}
				allows[c.Allow.Name] = a
			} else {
				a.Values = intersect(a.Values, c.Allow.Values)
			}
			a.Clauses = append(a.Clauses, c.ID)
		}
	}
	for _, l := range limits {
		e.Limits = append(e.Limits, *l)
	}
	for _, a := range allows {
		e.Allows = append(e.Allows, *a)
	}
	slices.SortFunc(e.Limits, func(a, b EffectiveLimit) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(e.Allows, func(a, b EffectiveAllow) int { return strings.Compare(a.Name, b.Name) })
	return e, weakenings(inherited, own)
}

// Rules returns the clauses of the set that carry a rule.
func (e *Effective) Rules() []*Clause {
	var out []*Clause
	for _, c := range e.Clauses {
		if c.Rule != nil {
			out = append(out, c)
		}
	}
	return out
}
