package control

import (
	"context"
	"strings"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/spec"
	"github.com/fleetgov/fleetgov/internal/store"
)

// registeredSpecs parses the current spec of every agent the caller may see.
func (p *Plane) registeredSpecs(ctx context.Context, pr auth.Principal) ([]*spec.Spec, error) {
	agents, err := p.ListAgents(ctx, pr, AgentFilter{})
	if err != nil {
		return nil, err
	}
	specs := make([]*spec.Spec, 0, len(agents))
	for _, a := range agents {
		s, err := p.specOf(ctx, a)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// LibraryDiff compares two library versions and lists, for each changed
// clause, the registered specs that inherit it (a tenant sees its own).
func (p *Plane) LibraryDiff(ctx context.Context, pr auth.Principal, from, to string) (check.LibraryDiff, error) {
	if from == "" || to == "" {
		return check.LibraryDiff{}, invalid("from", "name two library versions: ?from=1.0.0&to=1.1.0")
	}
	specs, err := p.registeredSpecs(ctx, pr)
	if err != nil {
		return check.LibraryDiff{}, err
	}
	infos := make([]check.SpecInfo, 0, len(specs))
	for _, s := range specs {
		infos = append(infos, check.SpecInfo{SpecID: s.Front.ID, AgentID: s.AgentID(), Tenant: s.Front.Tenant,
			Pinned: s.Front.Library, Archetypes: s.Archetypes(), Resources: s.Front.SharedResources})
	}
	d, err := check.Diff(p.Repo(), from, to, infos)
	if err != nil {
		return check.LibraryDiff{}, invalid("from", "%s", strings.TrimPrefix(err.Error(), "check: "))
	}
	return d, nil
}

// Lint reports constraint inflation in the library in force and promotion
// candidates among the registered specs. It reads every tenant's clauses, so
// it is the platform team's.
func (p *Plane) Lint(ctx context.Context, pr auth.Principal) ([]check.Finding, error) {
	if err := requirePlatform(pr, "linting the library"); err != nil {
		return nil, err
	}
	specs, err := p.registeredSpecs(ctx, pr)
	if err != nil {
		return nil, err
	}
	f := check.Lint(p.Repo(), specs)
	if f == nil {
		f = []check.Finding{}
	}
	return f, nil
}

// FleetLoads lists the recorded loads of the fleet repo, newest first.
func (p *Plane) FleetLoads(ctx context.Context, pr auth.Principal, limit int) ([]store.FleetLoad, error) {
	if err := requirePlatform(pr, "reading the fleet load history"); err != nil {
		return nil, err
	}
	loads, err := p.st.ListFleetLoads(ctx, limit)
	if err != nil {
		return nil, wrapStore("list fleet loads", err)
	}
	if loads == nil {
		loads = []store.FleetLoad{}
	}
	return loads, nil
}
