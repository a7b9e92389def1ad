package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/spec"
	"github.com/fleetgov/fleetgov/internal/store"
)

// cachedPolicy is an agent's compiled policy, valid while its fingerprint
// (fleet digest, spec revision, status, active exceptions) is unchanged.
type cachedPolicy struct {
	fingerprint string
	policy      *decision.Policy
	view        *ConstraintsView
}

// ConstraintsView is an agent's effective constraint set as the API shows it.
type ConstraintsView struct {
	Agent           string `json:"agent"`
	SpecVersion     string `json:"spec_version"`
	LibraryPinned   string `json:"library_pinned"`
	LibraryEnforced string `json:"library_enforced"`
	// ContractPinned is the contract version the spec pins ("" for none)
	// and ContractEnforced the version in force.
	ContractPinned   string `json:"contract_pinned,omitempty"`
	ContractEnforced string `json:"contract_enforced"`
	// AmendmentRequired is true when the pinned library version is behind a
	// change to a clause the agent inherits, or the pinned contract version
	// behind a change to a row it declares in shared_resources (a spec that
	// pins none counts from the oldest version); Changes lists them. The
	// clauses and the contract in force apply meanwhile: tenants cannot opt
	// out of a fleet-wide clause by keeping an old pin.
	AmendmentRequired bool                        `json:"amendment_required"`
	Changes           []ChangeView                `json:"changes"`
	Clauses           []ClauseView                `json:"clauses"`
	Limits            []constraint.EffectiveLimit `json:"limits"`
	Allows            []constraint.EffectiveAllow `json:"allows"`
	Exceptions        []store.Exception           `json:"-"`
}

// ClauseView is one clause of an effective set.
type ClauseView struct {
	ID        string `json:"id"`
	Tier      string `json:"tier"`
	Archetype string `json:"archetype,omitempty"`
	Section   int    `json:"section"`
	Text      string `json:"text"`
	Machine   string `json:"machine,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Source    string `json:"source"` // "library <version>" or "spec <version>"
}

// ChangeView is an inherited clause, or a contract row the agent declares,
// that changed since the pinned version.
type ChangeView struct {
	// Clause is the inherited clause, for a change of the library.
	Clause string `json:"clause,omitempty"`
	// Resource is the contract row, for a change of the contract.
	Resource string `json:"resource,omitempty"`
	Kind     string `json:"kind"` // added, removed or changed
	Diff     string `json:"diff,omitempty"`
	// ContractVersions are the contract versions that changed the row,
	// newest first, and Summary their changelog summaries.
	ContractVersions []string `json:"contract_versions,omitempty"`
	Summary          string   `json:"summary,omitempty"`
}

// policyFor returns an agent's compiled policy, from the cache when valid.
func (p *Plane) policyFor(ctx context.Context, a store.Agent) (*cachedPolicy, error) {
	now := p.now()
	repo := p.Repo()
	excs, err := p.activeExceptions(ctx, a, now)
	if err != nil {
		return nil, err
	}
	var fp strings.Builder
	fmt.Fprintf(&fp, "%s|%s|%s|%s|%d", repo.Digest, a.SpecVersion, a.Status, a.UpdatedAt.Format(time.RFC3339Nano), len(excs))
	for _, e := range excs {
		fmt.Fprintf(&fp, "|%s@%d", e.ID, e.ExpiresAt.UnixNano())
	}
	if c, ok := p.policies.Load(a.ID); ok && c.(*cachedPolicy).fingerprint == fp.String() {
		return c.(*cachedPolicy), nil
	}
	s, err := p.specOf(ctx, a)
	if err != nil {
		return nil, err
	}
	cur := repo.Library.Current()
	eff, _ := constraint.Resolve(cur.Inherited(s.Archetypes(), s.Front.SharedResources), s.OwnClauses())
	tenant, _ := repo.Tenant(a.TenantID)
	facts := constraint.Agent{ID: a.ID, Tenant: a.TenantID, Archetype: a.Archetype, Agency: int64(s.Decl.Agency),
		Risk: s.Decl.Risk, Oversight: s.Decl.Oversight, Reversibility: s.Decl.Reversibility, Status: string(a.Status),
		Sandbox: tenant.Sandbox, NotAuthorized: s.Boundary.NotAuthorizedTools, SharedResources: s.Front.SharedResources}
	for _, t := range s.Boundary.Tools {
		facts.Tools = append(facts.Tools, t.Name)
	}
	inSet := map[string]bool{}
	for _, c := range eff.Clauses {
		inSet[c.ID] = true
	}
	var dexc []decision.Exception
	for _, e := range excs {
		if !inSet[e.ClauseID] {
			continue // a tenant-wide exception to a clause this agent does not carry
		}
		dexc = append(dexc, decision.Exception{ID: e.ID, ClauseID: e.ClauseID, Limit: e.Limit, Allow: e.Allow, Waive: e.Waive, ExpiresAt: e.ExpiresAt})
	}
	pol, err := decision.New(eff, facts, dexc)
	if err != nil {
		return nil, fmt.Errorf("control: policy of %s: %w", a.ID, err)
	}
	c := &cachedPolicy{fingerprint: fp.String(), policy: pol, view: p.view(a, s, eff, excs)}
	p.policies.Store(a.ID, c)
	return c, nil
}

// activeExceptions returns the exceptions in force for an agent: its own and
// its tenant's tenant-wide ones.
func (p *Plane) activeExceptions(ctx context.Context, a store.Agent, now time.Time) ([]store.Exception, error) {
	all, err := p.tenantExceptions(ctx, a.TenantID, now)
	if err != nil {
		return nil, err
	}
	out := []store.Exception{}
	for _, e := range all {
		if (e.AgentID == "" || e.AgentID == a.ID) && exceptionActive(e, now) {
			out = append(out, e)
		}
	}
	return out, nil
}

// exceptionCacheTTL bounds how long a tenant's exceptions are used without
// a look at the store: how late an exception granted or revoked by another
// process sharing the store takes effect here. Changes through this
// process's store take effect at once, and expiries at their instant.
const exceptionCacheTTL = time.Second

// exceptionCache holds each tenant's exceptions that were active when read.
type exceptionCache struct {
	mu sync.Mutex
	m  map[string]cachedExceptions
}

type cachedExceptions struct {
	gen  uint64    // the store's Generation before the read
	read time.Time // the instant they were active at
	list []store.Exception
}

// tenantExceptions returns the tenant's exceptions active at now, and
// perhaps some that ended since (exceptionActive tells), from the cache
// when current. An exception active at now was active when the cache was
// read unless it was granted since, which moves the generation on.
func (p *Plane) tenantExceptions(ctx context.Context, tenant string, now time.Time) ([]store.Exception, error) {
	gen := p.st.Generation()
	p.excs.mu.Lock()
	c, ok := p.excs.m[tenant]
	p.excs.mu.Unlock()
	if ok && c.gen == gen && !now.Before(c.read) && now.Sub(c.read) < exceptionCacheTTL {
		return c.list, nil
	}
	all, err := p.st.ListExceptions(ctx, store.ExceptionFilter{TenantID: tenant, ActiveAt: now})
	if err != nil {
		return nil, wrapStore("list exceptions", err)
	}
	p.excs.mu.Lock()
	if p.excs.m == nil {
		p.excs.m = map[string]cachedExceptions{}
	}
	p.excs.m[tenant] = cachedExceptions{gen: gen, read: now, list: all}
	p.excs.mu.Unlock()
	return all, nil
}

// exceptionActive reports whether e is in force at t: not revoked at or
// before t, and not expired at t (store.ExceptionFilter.ActiveAt).
func exceptionActive(e store.Exception, t time.Time) bool {
	return (e.RevokedAt.IsZero() || e.RevokedAt.After(t)) && (e.ExpiresAt.IsZero() || e.ExpiresAt.After(t))
}

func (p *Plane) view(a store.Agent, s *spec.Spec, eff *constraint.Effective, excs []store.Exception) *ConstraintsView {
	repo := p.Repo()
	cur := repo.Library.Current()
	v := &ConstraintsView{Agent: a.ID, SpecVersion: a.SpecVersion, LibraryPinned: a.LibraryVersion, LibraryEnforced: cur.Version,
		ContractPinned: s.Front.Contract, ContractEnforced: repo.Contract.Version,
		Changes: []ChangeView{}, Clauses: []ClauseView{}, Limits: eff.Limits, Allows: eff.Allows, Exceptions: excs}
	if v.Limits == nil {
		v.Limits = []constraint.EffectiveLimit{}
	}
	if v.Allows == nil {
		v.Allows = []constraint.EffectiveAllow{}
	}
	for _, c := range eff.Clauses {
		src := "library " + cur.Version
		if c.Tier == constraint.T3 {
			src = "spec " + a.SpecVersion
		}
		v.Clauses = append(v.Clauses, ClauseView{ID: c.ID, Tier: c.Tier.String(), Archetype: c.Archetype, Section: c.Section,
			Text: c.Text, Machine: c.MachineForm(), Resource: c.Resource, Source: src})
	}
	for _, ch := range pendingChanges(repo, a.LibraryVersion, s) {
		v.Changes = append(v.Changes, ChangeView{Clause: ch.ID, Kind: ch.Kind, Diff: ch.Unified()})
	}
	for _, rc := range pendingContractChanges(repo, s) {
		cv := ChangeView{Resource: rc.Resource, Kind: "changed"}
		if rc.Removed {
			cv.Kind = "removed"
		}
		var summaries []string
		for _, e := range rc.Entries {
			cv.ContractVersions = append(cv.ContractVersions, e.Version)
			summaries = append(summaries, e.Version+": "+strings.Join(strings.Fields(e.Summary), " "))
		}
		cv.Summary = strings.Join(summaries, "; ")
		v.Changes = append(v.Changes, cv)
	}
	v.AmendmentRequired = len(v.Changes) > 0
	return v
}

// Constraints returns an agent's effective constraint set.
func (p *Plane) Constraints(ctx context.Context, pr auth.Principal, id string) (*ConstraintsView, error) {
	a, err := p.GetAgent(ctx, pr, id)
	if err != nil {
		return nil, err
	}
	c, err := p.policyFor(ctx, a)
	if err != nil {
		return nil, err
	}
	return c.view, nil
}

// MaxActionBytes bounds the JSON size of an action to evaluate.
const MaxActionBytes = 256 << 10

// Evaluation is the answer to an evaluate request.
type Evaluation struct {
	Agent string `json:"agent"`
	decision.Decision
	EvaluatedAt time.Time `json:"evaluated_at"`
	Library     string    `json:"library"`
}

// Evaluate decides an action of an agent and records the decision in the
// agent's tenant's audit partition. Agent keys may evaluate only their own
// agent's actions.
func (p *Plane) Evaluate(ctx context.Context, pr auth.Principal, id string, a *constraint.Action) (Evaluation, error) {
	if err := validateAction(a); err != nil {
		return Evaluation{}, err
	}
	ag, err := p.GetAgent(ctx, pr, id)
	if err != nil {
		return Evaluation{}, err
	}
	c, err := p.policyFor(ctx, ag)
	if err != nil {
		return Evaluation{}, err
	}
	now := p.now()
	d := c.policy.Decide(a, now)
	ev := Evaluation{Agent: ag.ID, Decision: d, EvaluatedAt: now, Library: p.Repo().Library.Current().Version}
	if ev.Fired == nil {
		ev.Fired = []decision.Fired{}
	}
	if ev.ExceptionsApplied == nil {
		ev.ExceptionsApplied = []decision.Applied{}
	}
	fired := make([]string, 0, len(d.Fired))
	for _, f := range d.Fired {
		fired = append(fired, f.Clause)
	}
	applied := make([]string, 0, len(d.ExceptionsApplied))
	for _, e := range d.ExceptionsApplied {
		applied = append(applied, e.Exception)
	}
	// The record holds what was decided and why, not the action's payload:
	// arguments may carry personal data or the very secrets a rule caught.
	detail := map[string]any{"kind": a.Kind, "fired": fired, "exceptions_applied": applied, "library": ev.Library}
	for k, v := range map[string]string{"tool": a.Tool, "server": a.Server, "model": a.Model, "resource": a.Resource, "effect": a.Effect} {
		if v != "" {
			detail[k] = v
		}
	}
	if a.EstimatedCostUSD > 0 {
		detail["estimated_cost_usd"] = a.EstimatedCostUSD
	}
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		_, err := tx.AppendAudit(ctx, auditRecord(ag.TenantID, now, actor(pr), "decision", ag.ID, string(d.Outcome), a.TraceID, detail))
		return err
	})
	if err != nil {
		return Evaluation{}, wrapStore("audit decision", err)
	}
	return ev, nil
}

// Decide decides an action for an agent in-process, for the gateway and the
// governance agent, which audit the call themselves.
func (p *Plane) Decide(ctx context.Context, agentID string, a *constraint.Action) (decision.Decision, error) {
	ag, err := p.st.GetAgent(ctx, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return decision.Decision{}, notFound("agent", agentID)
	}
	if err != nil {
		return decision.Decision{}, wrapStore("decide", err)
	}
	c, err := p.policyFor(ctx, ag)
	if err != nil {
		return decision.Decision{}, err
	}
	return c.policy.Decide(a, p.now()), nil
}

// validateAction checks an action's shape before it is decided.
func validateAction(a *constraint.Action) error {
	if a == nil || strings.TrimSpace(a.Kind) == "" {
		return invalid("kind", "an action needs a kind, e.g. tool_call or model_call")
	}
	for field, v := range map[string]float64{"estimated_cost_usd": a.EstimatedCostUSD} {
		if v < 0 {
			return invalid(field, "must not be negative")
		}
	}
	if a.InputTokens < 0 {
		return invalid("input_tokens", "must not be negative")
	}
	if a.OutputTokens < 0 {
		return invalid("output_tokens", "must not be negative")
	}
	if a.Effect != "" && !slices.Contains([]string{"read", "write", "delete", "transmit"}, a.Effect) {
		return invalid("effect", "%q: want read, write, delete or transmit", a.Effect)
	}
	return nil
}
