package check

import (
	"fmt"
	"slices"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
)

// Inheritor is a spec that inherits a clause, as the library diff reports it.
type Inheritor struct {
	SpecID  string `json:"spec"`
	AgentID string `json:"agent"`
	Tenant  string `json:"tenant"`
	File    string `json:"file,omitempty"`
	Pinned  string `json:"library_pinned"`
}

// ClauseChange is one changed clause and every spec that inherits it.
type ClauseChange struct {
	constraint.Change
	Diff       string      `json:"diff"`
	Inheritors []Inheritor `json:"inheritors"`
}

// LibraryDiff is what changed between two library versions.
type LibraryDiff struct {
	From    string         `json:"from"`
	To      string         `json:"to"`
	Changes []ClauseChange `json:"changes"`
}

// SpecInfo is what the diff needs of a registered spec.
type SpecInfo struct {
	SpecID, AgentID, Tenant, File, Pinned string
	Archetypes, Resources                 []string
}

// Diff compares library versions from and to and lists, for each changed
// clause, every spec among specs that inherits it (in either version).
func Diff(repo *fleet.Repo, from, to string, specs []SpecInfo) (LibraryDiff, error) {
	a, ok := repo.Library.Get(from)
	if !ok {
		return LibraryDiff{}, fmt.Errorf("check: no library version %s (have %v)", from, repo.Library.VersionNames())
	}
	b, ok := repo.Library.Get(to)
	if !ok {
		return LibraryDiff{}, fmt.Errorf("check: no library version %s (have %v)", to, repo.Library.VersionNames())
	}
	d := LibraryDiff{From: from, To: to, Changes: []ClauseChange{}}
	for _, ch := range constraint.Diff(a, b) {
		cc := ClauseChange{Change: ch, Diff: ch.Unified(), Inheritors: []Inheritor{}}
		for _, s := range specs {
			if inherits(ch.Old, s) || inherits(ch.New, s) {
				cc.Inheritors = append(cc.Inheritors, Inheritor{SpecID: s.SpecID, AgentID: s.AgentID, Tenant: s.Tenant, File: s.File, Pinned: s.Pinned})
			}
		}
		d.Changes = append(d.Changes, cc)
	}
	return d, nil
}

func inherits(c *constraint.Clause, s SpecInfo) bool {
	if c == nil {
		return false
	}
	if c.Resource != "" && !slices.Contains(s.Resources, c.Resource) {
		return false
	}
	return c.Tier == constraint.T1 || slices.Contains(s.Archetypes, c.Archetype)
}
