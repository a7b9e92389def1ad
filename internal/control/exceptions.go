package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/store"
)

// ExceptionRequest asks for an exception to one clause.
type ExceptionRequest struct {
	Clause string `json:"clause"`
	Tenant string `json:"tenant"`
	// Agent, if set, limits the exception to one agent of the tenant.
	Agent     string    `json:"agent,omitempty"`
	Limit     *float64  `json:"limit,omitempty"`
	Allow     []string  `json:"allow,omitempty"`
	Waive     bool      `json:"waive,omitempty"`
	Reason    string    `json:"reason"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateException records an exception. It is approved at the tier that owns
// the clause: the platform admin for T1 and T2 clauses, the tenant (or the
// platform) for the tenant's own T3 clauses. It must expire within the
// fleet's exceptions.max_days and relax the clause in the clause's own terms.
func (p *Plane) CreateException(ctx context.Context, pr auth.Principal, req ExceptionRequest) (store.Exception, error) {
	if err := requireNotAgent(pr, "creating an exception"); err != nil {
		return store.Exception{}, err
	}
	if req.Tenant == "" {
		return store.Exception{}, invalid("tenant", "name the tenant the exception applies to")
	}
	if _, err := p.GetTenant(ctx, pr, req.Tenant); err != nil {
		return store.Exception{}, err
	}
	var scope []store.Agent
	if req.Agent != "" {
		a, err := p.GetAgent(ctx, pr, req.Agent)
		if err != nil || a.TenantID != req.Tenant {
			return store.Exception{}, notFound("agent", req.Agent)
		}
		scope = []store.Agent{a}
	} else {
		var err error
		if scope, err = p.ListAgents(ctx, pr, AgentFilter{TenantID: req.Tenant}); err != nil {
			return store.Exception{}, err
		}
	}
	clause, err := p.findClause(ctx, req.Clause, scope)
	if err != nil {
		return store.Exception{}, err
	}
	if clause.Tier != constraint.T3 && !pr.IsPlatform() {
		return store.Exception{}, fmt.Errorf("clause %s is a %s clause: an exception to it is approved by the platform team (the platform admin credential): %w", clause.ID, clause.Tier, ErrForbidden)
	}
	if err := relaxes(clause, req); err != nil {
		return store.Exception{}, err
	}
	now := p.now()
	if len(strings.TrimSpace(req.Reason)) < 10 {
		return store.Exception{}, invalid("reason", "say why the exception is needed (at least 10 characters); it is audited")
	}
	maxDays := p.Repo().Config.Exceptions.MaxDays
	switch {
	case req.ExpiresAt.IsZero():
		return store.Exception{}, invalid("expires_at", "an exception is time-boxed: set expires_at (RFC 3339), at most %d days ahead", maxDays)
	case !req.ExpiresAt.After(now):
		return store.Exception{}, invalid("expires_at", "%s is not in the future", req.ExpiresAt.Format(time.RFC3339))
	case req.ExpiresAt.After(now.AddDate(0, 0, maxDays)):
		return store.Exception{}, invalid("expires_at", "at most %d days ahead (fleet.yaml exceptions.max_days)", maxDays)
	}
	id, err := auth.NewID("exc")
	if err != nil {
		return store.Exception{}, err
	}
	e := store.Exception{ID: id, ClauseID: clause.ID, Tier: clause.Tier.String(), TenantID: req.Tenant, AgentID: req.Agent,
		Limit: req.Limit, Allow: req.Allow, Waive: req.Waive, Reason: strings.TrimSpace(req.Reason),
		ApprovedBy: pr.CredentialID, CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC()}
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.CreateException(ctx, e); err != nil {
			return err
		}
		return appendAudit(ctx, tx, e.TenantID, now, actor(pr), "exception.create", e.ID, "ok", map[string]any{
			"clause": e.ClauseID, "tier": e.Tier, "agent": e.AgentID, "reason": e.Reason,
			"expires_at": e.ExpiresAt.Format(time.RFC3339), "relaxation": relaxation(clause, e)})
	})
	if err != nil {
		return store.Exception{}, wrapStore("create exception", err)
	}
	return p.GetException(ctx, pr, id)
}

// findClause finds a clause by ID in the library in force or in the specs
// of the agents in scope.
func (p *Plane) findClause(ctx context.Context, id string, scope []store.Agent) (*constraint.Clause, error) {
	if id == "" {
		return nil, invalid("clause", "name the clause to relax")
	}
	if c, ok := p.Repo().Library.Current().Clause(id); ok {
		return c, nil
	}
	for _, a := range scope {
		s, err := p.specOf(ctx, a)
		if err != nil {
			return nil, err
		}
		for _, c := range s.OwnClauses() {
			if c.ID == id {
				return c, nil
			}
		}
	}
	return nil, invalid("clause", "%s is neither a clause of library %s nor a tenant clause of the agents in scope", id, p.Repo().Library.Current().Version)
}

// relaxes checks that the request relaxes the clause in the clause's terms.
func relaxes(c *constraint.Clause, req ExceptionRequest) error {
	n := 0
	for _, set := range []bool{req.Limit != nil, len(req.Allow) > 0, req.Waive} {
		if set {
			n++
		}
	}
	if n != 1 {
		return invalid("limit", "set exactly one of limit (for a limit clause), allow (for an allow-list) or waive (for a rule)")
	}
	switch {
	case c.Limit != nil:
		if req.Limit == nil {
			return invalid("limit", "clause %s is a limit (%s): set limit to the relaxed ceiling", c.ID, c.MachineForm())
		}
		if *req.Limit <= c.Limit.Max {
			return invalid("limit", "%v does not relax %s: it must be above %v", *req.Limit, c.MachineForm(), c.Limit.Max)
		}
	case c.Allow != nil:
		if len(req.Allow) == 0 {
			return invalid("allow", "clause %s is an allow-list (%s): set allow to the values to admit", c.ID, c.MachineForm())
		}
		for _, v := range req.Allow {
			if constraint.AllowMatch(c.Allow.Values, v) {
				return invalid("allow", "%q is already admitted by %s", v, c.ID)
			}
		}
	case c.Rule != nil:
		if !req.Waive {
			return invalid("waive", "clause %s is a rule: set waive to true", c.ID)
		}
	default:
		return invalid("clause", "clause %s has no runtime form to relax; amend the spec or the library instead", c.ID)
	}
	return nil
}

func relaxation(c *constraint.Clause, e store.Exception) string {
	switch {
	case e.Limit != nil:
		return fmt.Sprintf("%s <= %v instead of %v", c.Limit.Name, *e.Limit, c.Limit.Max)
	case len(e.Allow) > 0:
		return fmt.Sprintf("%s also admits %s", c.Allow.Name, strings.Join(e.Allow, ", "))
	}
	return "rule waived"
}

// GetException returns one exception the caller may see.
func (p *Plane) GetException(ctx context.Context, pr auth.Principal, id string) (store.Exception, error) {
	e, err := p.st.GetException(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !canSeeException(pr, e)) {
		return store.Exception{}, notFound("exception", id)
	}
	if err != nil {
		return store.Exception{}, wrapStore("get exception", err)
	}
	return e, nil
}

func canSeeException(pr auth.Principal, e store.Exception) bool {
	if pr.Kind == store.KindAgent {
		return pr.TenantID == e.TenantID && (e.AgentID == "" || e.AgentID == pr.AgentID)
	}
	return visible(pr, e.TenantID)
}

// ExceptionFilter selects exceptions to list.
type ExceptionFilter struct {
	TenantID string
	AgentID  string
	Active   bool
}

// ListExceptions lists the exceptions the caller may see.
func (p *Plane) ListExceptions(ctx context.Context, pr auth.Principal, f ExceptionFilter) ([]store.Exception, error) {
	sf := store.ExceptionFilter{TenantID: f.TenantID, AgentID: f.AgentID}
	if !pr.IsPlatform() {
		if f.TenantID != "" && f.TenantID != pr.TenantID {
			return []store.Exception{}, nil
		}
		sf.TenantID = pr.TenantID
	}
	if f.Active {
		sf.ActiveAt = p.now()
	}
	es, err := p.st.ListExceptions(ctx, sf)
	if err != nil {
		return nil, wrapStore("list exceptions", err)
	}
	out := []store.Exception{}
	for _, e := range es {
		if canSeeException(pr, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// RevokeException ends an exception early, by the tier that could approve it.
func (p *Plane) RevokeException(ctx context.Context, pr auth.Principal, id string) (store.Exception, error) {
	if err := requireNotAgent(pr, "revoking an exception"); err != nil {
		return store.Exception{}, err
	}
	e, err := p.GetException(ctx, pr, id)
	if err != nil {
		return store.Exception{}, err
	}
	if e.Tier != constraint.T3.String() && !pr.IsPlatform() {
		return store.Exception{}, fmt.Errorf("exception %s relaxes a %s clause: the platform team revokes it: %w", id, e.Tier, ErrForbidden)
	}
	if !e.RevokedAt.IsZero() {
		return store.Exception{}, invalid("exception", "exception %s is already revoked", id)
	}
	now := p.now()
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.RevokeException(ctx, id, pr.CredentialID, now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, e.TenantID, now, actor(pr), "exception.revoke", id, "ok", map[string]any{"clause": e.ClauseID})
	})
	if err != nil {
		return store.Exception{}, wrapStore("revoke exception", err)
	}
	return p.GetException(ctx, pr, id)
}
