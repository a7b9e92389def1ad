package api

import (
	"time"

	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/store"
)

// agentBody is an Agent Registry entry on the wire.
type agentBody struct {
	ID              string       `json:"id"`
	Tenant          string       `json:"tenant"`
	Name            string       `json:"name"`
	Archetype       string       `json:"archetype"`
	SpecID          string       `json:"spec"`
	SpecVersion     string       `json:"spec_version"`
	LibraryVersion  string       `json:"library_pinned"`
	Owner           string       `json:"owner"`
	Status          string       `json:"status"`
	LastReview      string       `json:"last_review,omitempty"`
	Tools           []store.Tool `json:"tools"`
	EffectClasses   []string     `json:"effect_classes"`
	EscalationPath  string       `json:"escalation_path,omitempty"`
	SharedResources []string     `json:"shared_resources"`
	RegisteredAt    time.Time    `json:"registered_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
}

func agentWire(a store.Agent) agentBody {
	b := agentBody{ID: a.ID, Tenant: a.TenantID, Name: a.Name, Archetype: a.Archetype, SpecID: a.SpecID, SpecVersion: a.SpecVersion,
		LibraryVersion: a.LibraryVersion, Owner: a.Owner, Status: string(a.Status), Tools: a.Tools, EffectClasses: []string{},
		EscalationPath: a.EscalationPath, SharedResources: a.SharedResources, RegisteredAt: a.RegisteredAt, UpdatedAt: a.UpdatedAt}
	if !a.LastReview.IsZero() {
		b.LastReview = a.LastReview.Format(time.DateOnly)
	}
	if b.Tools == nil {
		b.Tools = []store.Tool{}
	}
	if b.SharedResources == nil {
		b.SharedResources = []string{}
	}
	seen := map[string]bool{}
	for _, t := range a.Tools {
		if !seen[t.Effect] {
			seen[t.Effect] = true
			b.EffectClasses = append(b.EffectClasses, t.Effect)
		}
	}
	return b
}

func agentsWire(as []store.Agent) []agentBody {
	out := make([]agentBody, 0, len(as))
	for _, a := range as {
		out = append(out, agentWire(a))
	}
	return out
}

// exceptionBody is a constraint exception on the wire.
type exceptionBody struct {
	ID         string     `json:"id"`
	Clause     string     `json:"clause"`
	Tier       string     `json:"tier"`
	Tenant     string     `json:"tenant"`
	Agent      string     `json:"agent,omitempty"`
	Limit      *float64   `json:"limit,omitempty"`
	Allow      []string   `json:"allow,omitempty"`
	Waive      bool       `json:"waive,omitempty"`
	Reason     string     `json:"reason"`
	ApprovedBy string     `json:"approved_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	RevokedBy  string     `json:"revoked_by,omitempty"`
}

func exceptionWire(e store.Exception) exceptionBody {
	b := exceptionBody{ID: e.ID, Clause: e.ClauseID, Tier: e.Tier, Tenant: e.TenantID, Agent: e.AgentID, Limit: e.Limit,
		Allow: e.Allow, Waive: e.Waive, Reason: e.Reason, ApprovedBy: e.ApprovedBy, CreatedAt: e.CreatedAt, ExpiresAt: e.ExpiresAt,
		RevokedBy: e.RevokedBy}
	if !e.RevokedAt.IsZero() {
		b.RevokedAt = &e.RevokedAt
	}
	return b
}

func exceptionsWire(es []store.Exception) []exceptionBody {
	out := make([]exceptionBody, 0, len(es))
	for _, e := range es {
		out = append(out, exceptionWire(e))
	}
	return out
}

// constraintsBody is an agent's effective set on the wire.
type constraintsBody struct {
	*control.ConstraintsView
	Exceptions []exceptionBody `json:"exceptions"`
}

// registerBody is the answer to a registration.
type registerBody struct {
	Agent agentBody `json:"agent"`
	control.RegisterResult
}

// revisionBody is a spec revision on the wire.
type revisionBody struct {
	SpecID       string    `json:"spec"`
	Version      string    `json:"version"`
	Digest       string    `json:"digest"`
	RegisteredAt time.Time `json:"registered_at"`
	RegisteredBy string    `json:"registered_by"`
	Source       string    `json:"source,omitempty"`
}

func revisionWire(r store.SpecRevision, withSource bool) revisionBody {
	b := revisionBody{SpecID: r.SpecID, Version: r.Version, Digest: r.Digest, RegisteredAt: r.RegisteredAt, RegisteredBy: r.RegisteredBy}
	if withSource {
		b.Source = r.Source
	}
	return b
}
