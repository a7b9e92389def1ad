package control

import (
	"context"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/store"
)

// DecideFor decides an action for an agent whose registry entry the caller
// has already read (the gateway, which read it to authenticate the key).
func (p *Plane) DecideFor(ctx context.Context, ag store.Agent, a *constraint.Action) (decision.Decision, error) {
	c, err := p.policyFor(ctx, ag)
	if err != nil {
		return decision.Decision{}, err
	}
	return c.policy.Decide(a, p.now()), nil
}
