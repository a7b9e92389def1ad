package check

import (
	"fmt"
	"os"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// Report is the check of several specs.
type Report struct {
	Status  Status `json:"status"`
	Fleet   string `json:"fleet,omitempty"`
	Library string `json:"library_current,omitempty"`
	// Contract is the isolation contract version in force.
	Contract string   `json:"contract_current,omitempty"`
	Results  []Result `json:"results"`
}

func (rep *Report) add(r Result) {
	rep.Results = append(rep.Results, r)
	rep.Status = Worse(rep.Status, r.Status)
}

// Files checks the spec files at paths against repo.
func Files(repo *fleet.Repo, paths []string) Report {
	rep := Report{Status: Pass, Fleet: repo.Config.Fleet, Library: repo.Library.Current().Version, Contract: repo.Contract.Version}
	var parsed []*spec.Spec
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			rep.add(ParseErrors(p, constraint.Errorf(constraint.Pos{File: p}, "", "cannot read spec: %v", unwrap(err))))
			continue
		}
		s, err := spec.Parse(p, src)
		if err != nil {
			rep.add(ParseErrors(p, err))
			continue
		}
		parsed = append(parsed, s)
	}
	results := make([]Result, len(parsed))
	for i, s := range parsed {
		results[i] = Spec(repo, s)
	}
	CrossCheck(results, SpecsLookup(parsed))
	for _, r := range results {
		rep.add(r)
	}
	return rep
}

func unwrap(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}

// Lookup finds an agent's archetype by tenant and name or ID.
type Lookup func(tenant, agent string) (archetype string, ok bool)

// SpecsLookup finds agents among specs.
func SpecsLookup(specs []*spec.Spec) Lookup {
	byID := map[string]string{}
	for _, s := range specs {
		byID[s.AgentID()] = s.Decl.Archetype
	}
	return func(tenant, agent string) (string, bool) {
		if a, ok := byID[agent]; ok {
			return a, true
		}
		a, ok := byID[tenant+"."+agent]
		return a, ok
	}
}

// CrossCheck compares each Orchestrator's Sub-Agent Inventory with the
// archetypes its sub-agents declare in their own specs, where known.
func CrossCheck(results []Result, lookup Lookup) {
	for i := range results {
		r := &results[i]
		if r.Spec == nil || r.Spec.Decl.Composition == nil {
			continue
		}
		for _, sa := range r.Spec.Decl.Composition.SubAgents {
			got, ok := lookup(r.Spec.Front.Tenant, sa.Agent)
			if !ok || got == "" || sa.Archetype == "" || got == sa.Archetype {
				continue
			}
			r.add(Finding{Code: "inventory-mismatch", Kind: Violation, Line: sa.Line,
				Message: fmt.Sprintf("Sub-Agent Inventory lists %s as %s, but its own spec declares %s", sa.Agent, sa.Archetype, got),
				Fix:     "every sub-agent has one archetype: correct the inventory or the sub-agent's §4"})
		}
	}
}
