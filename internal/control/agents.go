package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
	"github.com/fleetgov/fleetgov/internal/store"
)

// MaxSpecBytes bounds a spec's size.
const MaxSpecBytes = 1 << 20

// RegisterResult is the outcome of registering an agent from its spec.
type RegisterResult struct {
	Agent    store.Agent     `json:"-"`
	Created  bool            `json:"created"`
	Check    check.Status    `json:"check"`
	Findings []check.Finding `json:"findings"`
	// AgentKey is the new agent's key, shown once, on first registration.
	AgentKey string `json:"agent_key,omitempty"`
}

// CheckSpec checks a spec against the fleet in force and the registry,
// without registering it. file names the spec in findings.
func (p *Plane) CheckSpec(ctx context.Context, pr auth.Principal, file string, src []byte) (check.Result, *spec.Spec, error) {
	if err := requireNotAgent(pr, "checking a spec"); err != nil {
		return check.Result{}, nil, err
	}
	if len(src) > MaxSpecBytes {
		return check.Result{}, nil, invalid("spec", "the spec is %d bytes; the limit is %d", len(src), MaxSpecBytes)
	}
	s, err := spec.Parse(file, src)
	if err != nil {
		return check.ParseErrors(file, err), nil, nil
	}
	if !pr.IsPlatform() && s.Front.Tenant != pr.TenantID {
		return check.Result{}, nil, fmt.Errorf("the spec is for tenant %q and your credential is for tenant %q: %w", s.Front.Tenant, pr.TenantID, ErrForbidden)
	}
	res := check.Spec(p.Repo(), s)
	agents, err := p.st.ListAgents(ctx, store.AgentFilter{TenantID: s.Front.Tenant})
	if err != nil {
		return check.Result{}, nil, fmt.Errorf("control: check spec: %w", err)
	}
	arch := map[string]string{}
	for _, a := range agents {
		arch[a.ID] = a.Archetype
	}
	results := []check.Result{res}
	check.CrossCheck(results, func(tenant, agent string) (string, bool) {
		if a, ok := arch[agent]; ok {
			return a, true
		}
		a, ok := arch[tenant+"."+agent]
		return a, ok
	})
	return results[0], s, nil
}

// Register registers an agent from its spec, or updates its registry entry
// with a new spec version. A spec that fails its check is refused with the
// check's findings (RejectedError) and nothing is written.
func (p *Plane) Register(ctx context.Context, pr auth.Principal, file string, src []byte) (RegisterResult, error) {
	if err := requireNotAgent(pr, "registering an agent"); err != nil {
		return RegisterResult{}, err
	}
	res, s, err := p.CheckSpec(ctx, pr, file, src)
	if err != nil {
		return RegisterResult{}, err
	}
	if res.Status == check.Violations || res.Status == check.BadInputStatus {
		return RegisterResult{}, &RejectedError{Msg: "the spec fails its check; nothing was registered", Findings: res.Findings}
	}
	now := p.now()
	a := agentFromSpec(s, now)
	out := RegisterResult{Agent: a, Check: res.Status, Findings: nonNilFindings(res.Findings)}
	rev := store.SpecRevision{AgentID: a.ID, SpecID: s.Front.ID, Version: s.Front.Version, Digest: s.Digest,
		Source: s.Source, RegisteredAt: now, RegisteredBy: pr.CredentialID}
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		prev, err := tx.GetAgent(ctx, a.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			out.Created = true
		case err != nil:
			return err
		default:
			a.RegisteredAt = prev.RegisteredAt
		}
		if err := tx.PutAgent(ctx, a, rev); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("spec version %s of agent %s is already registered with different content; bump the spec's version: %w", rev.Version, a.ID, ErrConflict)
			}
			return err
		}
		if out.Created {
			m, err := auth.Mint(store.KindAgent, a.TenantID, a.ID, "agent key", now)
			if err != nil {
				return err
			}
			if err := tx.CreateCredential(ctx, m.Credential); err != nil {
				return err
			}
			out.AgentKey = m.Secret
		}
		action := "agent.update"
		if out.Created {
			action = "agent.register"
		}
		return appendAudit(ctx, tx, a.TenantID, now, actor(pr), action, a.ID, "ok", map[string]any{
			"spec": rev.SpecID, "version": rev.Version, "digest": rev.Digest, "library": a.LibraryVersion, "check": string(res.Status)})
	})
	if err != nil {
		return RegisterResult{}, wrapStore("register agent", err)
	}
	p.policies.Delete(a.ID)
	stored, err := p.st.GetAgent(ctx, a.ID)
	if err != nil {
		return RegisterResult{}, wrapStore("register agent", err)
	}
	out.Agent = stored
	return out, nil
}

func nonNilFindings(f []check.Finding) []check.Finding {
	if f == nil {
		return []check.Finding{}
	}
	return f
}

// wrapStore passes control errors through and wraps store failures.
func wrapStore(op string, err error) error {
	var inv *InvalidError
	var rej *RejectedError
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrForbidden), errors.Is(err, ErrConflict),
		errors.As(err, &inv), errors.As(err, &rej):
		return err
	}
	return fmt.Errorf("control: %s: %w", op, err)
}

// agentFromSpec derives the registry entry from a spec.
func agentFromSpec(s *spec.Spec, now time.Time) store.Agent {
	status := store.StatusActive
	switch s.Front.Status {
	case "Draft":
		status = store.StatusStaging
	case "Superseded":
		status = store.StatusDeprecated
	}
	a := store.Agent{ID: s.AgentID(), TenantID: s.Front.Tenant, Name: s.Front.Agent, Archetype: s.Decl.Archetype,
		SpecID: s.Front.ID, SpecVersion: s.Front.Version, LibraryVersion: s.Front.Library, Owner: s.Front.Owner,
		Status: status, EscalationPath: s.Front.Escalation, SharedResources: s.Front.SharedResources,
		Tools: []store.Tool{}, RegisteredAt: now, UpdatedAt: now}
	if a.EscalationPath == "" {
		a.EscalationPath = s.Boundary.ExceptionGate
	}
	if a.SharedResources == nil {
		a.SharedResources = []string{}
	}
	if t, err := time.Parse(time.DateOnly, s.Front.LastReview); err == nil {
		a.LastReview = t
	}
	for _, t := range s.Boundary.Tools {
		a.Tools = append(a.Tools, store.Tool{Name: t.Name, Effect: t.Effect})
	}
	return a
}

// AgentFilter selects agents in ListAgents.
type AgentFilter struct {
	TenantID  string
	Archetype string
	Status    store.AgentStatus
}

// ListAgents lists the agents the caller may see.
func (p *Plane) ListAgents(ctx context.Context, pr auth.Principal, f AgentFilter) ([]store.Agent, error) {
	sf := store.AgentFilter{TenantID: f.TenantID, Archetype: f.Archetype, Status: f.Status}
	if !pr.IsPlatform() {
		if f.TenantID != "" && f.TenantID != pr.TenantID {
			return []store.Agent{}, nil
		}
		sf.TenantID = pr.TenantID
	}
	agents, err := p.st.ListAgents(ctx, sf)
	if err != nil {
		return nil, wrapStore("list agents", err)
	}
	out := []store.Agent{}
	for _, a := range agents {
		if pr.Kind == store.KindAgent && a.ID != pr.AgentID {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// GetAgent returns one agent the caller may see.
func (p *Plane) GetAgent(ctx context.Context, pr auth.Principal, id string) (store.Agent, error) {
	a, err := p.st.GetAgent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !canSeeAgent(pr, a)) {
		return store.Agent{}, notFound("agent", id)
	}
	if err != nil {
		return store.Agent{}, wrapStore("get agent", err)
	}
	return a, nil
}

func canSeeAgent(pr auth.Principal, a store.Agent) bool {
	if pr.Kind == store.KindAgent {
		return pr.AgentID == a.ID
	}
	return visible(pr, a.TenantID)
}

// SetAgentStatus changes an agent's registry status.
func (p *Plane) SetAgentStatus(ctx context.Context, pr auth.Principal, id string, status store.AgentStatus) (store.Agent, error) {
	if err := requireNotAgent(pr, "changing an agent's status"); err != nil {
		return store.Agent{}, err
	}
	switch status {
	case store.StatusActive, store.StatusStaging, store.StatusDeprecated:
	default:
		return store.Agent{}, invalid("status", "%q is not a status: want active, staging or deprecated", status)
	}
	a, err := p.GetAgent(ctx, pr, id)
	if err != nil {
		return store.Agent{}, err
	}
	now := p.now()
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.SetAgentStatus(ctx, id, status, now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a.TenantID, now, actor(pr), "agent.status", id, "ok",
			map[string]any{"from": string(a.Status), "to": string(status)})
	})
	if err != nil {
		return store.Agent{}, wrapStore("set agent status", err)
	}
	p.policies.Delete(id)
	return p.GetAgent(ctx, pr, id)
}

// SpecRevision returns a registered spec revision of an agent; an empty
// version means the current one.
func (p *Plane) SpecRevision(ctx context.Context, pr auth.Principal, id, version string) (store.SpecRevision, error) {
	if _, err := p.GetAgent(ctx, pr, id); err != nil {
		return store.SpecRevision{}, err
	}
	rev, err := p.st.GetSpecRevision(ctx, id, version)
	if errors.Is(err, store.ErrNotFound) {
		return store.SpecRevision{}, notFound("spec version", version)
	}
	if err != nil {
		return store.SpecRevision{}, wrapStore("get spec", err)
	}
	return rev, nil
}

// SpecRevisions lists an agent's registered spec revisions, oldest first.
func (p *Plane) SpecRevisions(ctx context.Context, pr auth.Principal, id string) ([]store.SpecRevision, error) {
	if _, err := p.GetAgent(ctx, pr, id); err != nil {
		return nil, err
	}
	revs, err := p.st.ListSpecRevisions(ctx, id)
	if err != nil {
		return nil, wrapStore("list spec revisions", err)
	}
	if revs == nil {
		revs = []store.SpecRevision{}
	}
	return revs, nil
}

// RotateAgentKey mints a new key for an agent and revokes its previous ones.
// The secret is returned once.
func (p *Plane) RotateAgentKey(ctx context.Context, pr auth.Principal, id string) (store.Credential, string, error) {
	if err := requireNotAgent(pr, "rotating an agent key"); err != nil {
		return store.Credential{}, "", err
	}
	a, err := p.GetAgent(ctx, pr, id)
	if err != nil {
		return store.Credential{}, "", err
	}
	now := p.now()
	m, err := auth.Mint(store.KindAgent, a.TenantID, a.ID, "agent key", now)
	if err != nil {
		return store.Credential{}, "", err
	}
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		old, err := tx.ListCredentials(ctx, store.CredentialFilter{Kind: store.KindAgent, AgentID: a.ID})
		if err != nil {
			return err
		}
		for _, c := range old {
			if c.RevokedAt.IsZero() {
				if err := tx.RevokeCredential(ctx, c.ID, now); err != nil {
					return err
				}
			}
		}
		if err := tx.CreateCredential(ctx, m.Credential); err != nil {
			return err
		}
		return appendAudit(ctx, tx, a.TenantID, now, actor(pr), "agent.key_rotate", a.ID, "ok", map[string]any{"credential": m.Credential.ID})
	})
	if err != nil {
		return store.Credential{}, "", wrapStore("rotate agent key", err)
	}
	c := m.Credential
	c.Hash = nil
	return c, m.Secret, nil
}

// specOf parses an agent's current spec revision.
func (p *Plane) specOf(ctx context.Context, a store.Agent) (*spec.Spec, error) {
	rev, err := p.st.GetSpecRevision(ctx, a.ID, a.SpecVersion)
	if err != nil {
		return nil, fmt.Errorf("control: spec of %s: %w", a.ID, err)
	}
	s, err := spec.Parse(a.ID+".md", []byte(rev.Source))
	if err != nil {
		return nil, fmt.Errorf("control: spec of %s no longer parses: %w", a.ID, err)
	}
	return s, nil
}

// pendingChanges returns the inherited clauses of spec s that changed
// between its pinned library version and the one in force.
func pendingChanges(repo *fleet.Repo, pinnedVersion string, s *spec.Spec) []constraint.Change {
	pinned, ok := repo.Library.Get(pinnedVersion)
	cur := repo.Library.Current()
	if !ok || pinned == cur {
		return nil
	}
	arch, res := s.Archetypes(), s.Front.SharedResources
	return constraint.DiffClauses(pinned.Inherited(arch, res), cur.Inherited(arch, res))
}
