package check

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// PromotionMinTenants is how many tenants must carry near-identical T3
// clauses for them to be reported as a library candidate.
const PromotionMinTenants = 3

// promotionSimilarity is the Jaccard similarity of two clauses' word sets
// above which they count as near-identical.
const promotionSimilarity = 0.6

// Lint reports library hygiene problems: T1 and T2 clauses of the version in
// force without provenance (constraint inflation), and near-identical T3
// clauses in PromotionMinTenants or more tenants' specs (promotion candidates).
func Lint(repo *fleet.Repo, specs []*spec.Spec) []Finding {
	out := []Finding{}
	lib := repo.Library.Current()
	for _, c := range lib.Clauses {
		if c.Provenance.Justified() {
			continue
		}
		out = append(out, Finding{Code: "constraint-inflation", Kind: Warning, File: c.Pos.File, Line: c.Pos.Line, Clause: c.ID,
			Message: fmt.Sprintf("%s clause %s has no provenance: a %s clause must be justified by a real failure (the Cat that produced it and its incidents), not proposed into existence", c.Tier, c.ID, c.Tier),
			Fix:     "record provenance: {cat: <1-7>, incidents: [...]} or retire the clause"})
	}
	return append(out, promotionCandidates(specs)...)
}

type t3 struct {
	tenant string
	file   string
	clause *constraint.Clause
	words  map[string]bool
}

var stopwords = map[string]bool{"the": true, "and": true, "for": true, "are": true, "any": true, "all": true,
	"not": false, "with": true, "that": true, "this": true, "from": true, "into": true, "its": true,
	"our": true, "their": true, "must": true, "may": true, "be": true, "is": true, "of": true, "to": true,
	"in": true, "a": true, "an": true, "or": true, "on": true, "by": true, "no": false, "every": true}

func words(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(w) < 2 || stopwords[w] {
			continue
		}
		out[w] = true
	}
	return out
}

func jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	n := 0
	for w := range a {
		if b[w] {
			n++
		}
	}
	return float64(n) / float64(len(a)+len(b)-n)
}

// promotionCandidates clusters near-identical T3 clauses across tenants.
func promotionCandidates(specs []*spec.Spec) []Finding {
	var all []t3
	for _, s := range specs {
		for _, c := range s.OwnClauses() {
			all = append(all, t3{tenant: s.Front.Tenant, file: s.File, clause: c, words: words(c.Text)})
		}
	}
	parent := make([]int, len(all))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	// Compare only clauses that share a word or a machine form, through an
	// inverted index.
	keys := make([][]string, len(all))
	index := map[string][]int{}
	for i, c := range all {
		for w := range c.words {
			keys[i] = append(keys[i], w)
		}
		if m := c.clause.MachineForm(); m != "" {
			keys[i] = append(keys[i], "\x00"+m) // cannot clash with a word
		}
		for _, k := range keys[i] {
			index[k] = append(index[k], i)
		}
	}
	compared := map[[2]int]bool{}
	for i, c := range all {
		for _, k := range keys[i] {
			for _, j := range index[k] {
				if j <= i || all[j].tenant == c.tenant || compared[[2]int{i, j}] {
					continue
				}
				compared[[2]int{i, j}] = true
				same := c.clause.HasMachineForm() && c.clause.MachineForm() == all[j].clause.MachineForm()
				if same || jaccard(c.words, all[j].words) >= promotionSimilarity {
					parent[find(j)] = find(i)
				}
			}
		}
	}
	groups := map[int][]int{}
	for i := range all {
		groups[find(i)] = append(groups[find(i)], i)
	}
	var out []Finding
	for _, g := range groups {
		tenants := map[string]bool{}
		for _, i := range g {
			tenants[all[i].tenant] = true
		}
		if len(tenants) < PromotionMinTenants {
			continue
		}
		first := all[g[0]]
		var where []string
		for _, i := range g {
			where = append(where, fmt.Sprintf("%s:%d (%s)", all[i].file, all[i].clause.Pos.Line, all[i].tenant))
		}
		names := slices.Sorted(func(yield func(string) bool) {
			for t := range tenants {
				if !yield(t) {
					return
				}
			}
		})
		out = append(out, Finding{Code: "promotion-candidate", Kind: Warning, File: first.file, Line: first.clause.Pos.Line, Clause: first.clause.ID,
			Message: fmt.Sprintf("near-identical T3 clause in %d tenants (%s): %q; found at %s", len(tenants), strings.Join(names, ", "), clip(first.clause.Text, 100), strings.Join(where, ", ")),
			Fix:     "promote it to the library as one T1 or T2 clause (record the incidents that justify it) and have the tenants inherit it"})
	}
	slices.SortFunc(out, func(a, b Finding) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return out
}
