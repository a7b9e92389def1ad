package control

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/store"
)

// ListTenants lists the tenants the caller may see: all for the platform,
// its own for a tenant.
func (p *Plane) ListTenants(ctx context.Context, pr auth.Principal) ([]store.Tenant, error) {
	all, err := p.st.ListTenants(ctx)
	if err != nil {
		return nil, wrapStore("list tenants", err)
	}
	out := []store.Tenant{}
	for _, t := range all {
		if visible(pr, t.ID) {
			out = append(out, t)
		}
	}
	return out, nil
}

// GetTenant returns one tenant the caller may see.
func (p *Plane) GetTenant(ctx context.Context, pr auth.Principal, id string) (store.Tenant, error) {
	if !visible(pr, id) {
		return store.Tenant{}, notFound("tenant", id)
	}
	t, err := p.st.GetTenant(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Tenant{}, notFound("tenant", id)
	}
	if err != nil {
		return store.Tenant{}, wrapStore("get tenant", err)
	}
	return t, nil
}

// IssueTenantToken mints a tenant credential; the platform admin issues them.
// The secret is returned once.
func (p *Plane) IssueTenantToken(ctx context.Context, pr auth.Principal, tenant, label string) (store.Credential, string, error) {
	if err := requirePlatform(pr, "issuing a tenant token"); err != nil {
		return store.Credential{}, "", err
	}
	if len(label) > 200 {
		return store.Credential{}, "", invalid("label", "at most 200 characters")
	}
	t, err := p.GetTenant(ctx, pr, tenant)
	if err != nil {
		return store.Credential{}, "", err
	}
	if !t.RetiredAt.IsZero() {
		return store.Credential{}, "", invalid("tenant", "tenant %s is retired (no longer in fleet.yaml)", tenant)
	}
	now := p.now()
	m, err := auth.Mint(store.KindTenant, tenant, "", strings.TrimSpace(label), now)
	if err != nil {
		return store.Credential{}, "", err
	}
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.CreateCredential(ctx, m.Credential); err != nil {
			return err
		}
		return appendAudit(ctx, tx, tenant, now, actor(pr), "credential.issue", m.Credential.ID, "ok",
			map[string]any{"kind": string(store.KindTenant), "label": m.Credential.Label})
	})
	if err != nil {
		return store.Credential{}, "", wrapStore("issue tenant token", err)
	}
	c := m.Credential
	c.Hash = nil
	return c, m.Secret, nil
}

// ListCredentials lists a tenant's tenant tokens and agent keys, without
// their hashes.
func (p *Plane) ListCredentials(ctx context.Context, pr auth.Principal, tenant string) ([]store.Credential, error) {
	if err := requireNotAgent(pr, "listing credentials"); err != nil {
		return nil, err
	}
	if _, err := p.GetTenant(ctx, pr, tenant); err != nil {
		return nil, err
	}
	cs, err := p.st.ListCredentials(ctx, store.CredentialFilter{TenantID: tenant})
	if err != nil {
		return nil, wrapStore("list credentials", err)
	}
	out := make([]store.Credential, 0, len(cs))
	for _, c := range cs {
		c.Hash = nil
		out = append(out, c)
	}
	return out, nil
}

// RevokeCredential revokes a credential: the platform any, a tenant its own
// tenant's tokens and agent keys.
func (p *Plane) RevokeCredential(ctx context.Context, pr auth.Principal, id string) error {
	if err := requireNotAgent(pr, "revoking a credential"); err != nil {
		return err
	}
	var target store.Credential
	err := p.st.Atomic(ctx, func(tx store.Tx) error {
		cs, err := tx.ListCredentials(ctx, store.CredentialFilter{ID: id})
		if err != nil {
			return err
		}
		if len(cs) == 1 {
			target = cs[0]
		}
		if target.ID == "" || !visible(pr, target.TenantID) || (target.Kind == store.KindPlatformAdmin && !pr.IsPlatform()) {
			return notFound("credential", id)
		}
		if !target.RevokedAt.IsZero() {
			return invalid("credential", "credential %s is already revoked", id)
		}
		if target.ID == pr.CredentialID && pr.IsPlatform() {
			return invalid("credential", "the platform admin cannot revoke the credential it is using")
		}
		now := p.now()
		if err := tx.RevokeCredential(ctx, id, now); err != nil {
			return err
		}
		part := target.TenantID
		if part == "" {
			part = store.PlatformPartition
		}
		return appendAudit(ctx, tx, part, now, actor(pr), "credential.revoke", id, "ok", map[string]any{"kind": string(target.Kind)})
	})
	return wrapStore("revoke credential", err)
}

// IssueADCPCredential mints a credential an AdCP buyer or seller agent uses
// with the account's governance agent; agentURL is who it authenticates as.
// The platform admin or the account itself issues it. The secret is
// returned once.
func (p *Plane) IssueADCPCredential(ctx context.Context, pr auth.Principal, tenant, agentURL, label string) (store.Credential, string, error) {
	if err := requireNotAgent(pr, "issuing an AdCP credential"); err != nil {
		return store.Credential{}, "", err
	}
	t, err := p.GetTenant(ctx, pr, tenant)
	if err != nil {
		return store.Credential{}, "", err
	}
	if t.Kind != "advertising" {
		return store.Credential{}, "", invalid("tenant", "tenant %s is not an advertising account; AdCP credentials belong to advertising accounts", tenant)
	}
	u, err := url.Parse(agentURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Fragment != "" {
		return store.Credential{}, "", invalid("agent_url", "%q is not an absolute http(s) agent URL", agentURL)
	}
	if len(label) > 200 {
		return store.Credential{}, "", invalid("label", "at most 200 characters")
	}
	now := p.now()
	m, err := auth.Mint(store.KindADCPPrincipal, tenant, "", strings.TrimSpace(label), now)
	if err != nil {
		return store.Credential{}, "", err
	}
	m.Credential.AgentURL = agentURL
	err = p.st.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.CreateCredential(ctx, m.Credential); err != nil {
			return err
		}
		return appendAudit(ctx, tx, tenant, now, actor(pr), "credential.issue", m.Credential.ID, "ok",
			map[string]any{"kind": string(store.KindADCPPrincipal), "agent_url": agentURL, "label": m.Credential.Label})
	})
	if err != nil {
		return store.Credential{}, "", wrapStore("issue AdCP credential", err)
	}
	c := m.Credential
	c.Hash = nil
	return c, m.Secret, nil
}
