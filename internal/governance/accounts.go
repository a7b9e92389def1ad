package governance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fleetgov/fleetgov/internal/store"
)

// ErrSecondAgent explains why an account cannot bind a second governance
// agent, and how to collapse to one.
const secondAgent = "an account binds exactly one governance agent (AdCP 3.1, adcontextprotocol/adcp#3010): " +
	"authorization, delivery monitoring, brand safety and regulatory review are phases and facets of one evaluation over one plan, " +
	"so they compose inside the one agent (surfacing as categories_evaluated and findings) rather than as separate agents"

// Bind binds an account's one governance agent. A different agent already
// bound is refused with ErrConflict and a message saying how to collapse to
// one; it is never replaced silently.
func (a *Agent) Bind(ctx context.Context, account, url, by string, builtin bool) (store.GovernanceBinding, error) {
	defer a.forget(account)
	b, err := a.st.BindGovernanceAgent(ctx, store.GovernanceBinding{Account: account, URL: url, Builtin: builtin,
		BoundAt: a.now().UTC(), BoundBy: by})
	if errors.Is(err, store.ErrConflict) {
		cur, gerr := a.st.GovernanceBinding(ctx, account)
		if gerr != nil {
			return store.GovernanceBinding{}, gerr
		}
		return cur, &Error{Code: CodeConflict, Recovery: Correctable, Field: "governance_agents[0].url",
			Message: fmt.Sprintf("account %s already binds governance agent %s; binding %s as well is refused: %s. "+
				"To use %s instead, the platform team unbinds the current agent first (DELETE /v1/tenants/%s/adcp/binding); "+
				"to keep %s, route the other agent's reviews through it.",
				account, cur.URL, url, secondAgent, url, account, cur.URL)}
	}
	return b, err
}

// tooManyAgents refuses a registration that names other than one
// governance agent, saying why and how to collapse to one.
func tooManyAgents(field string, agents []any) *Error {
	var urls []string
	for _, g := range agents {
		gm, _ := g.(map[string]any)
		urls = append(urls, str(gm["url"]))
	}
	return invalidRequest(field, "the registration names %d governance agents (%s); %s. Collapse them to one: keep the agent that owns the plans and move the others' reviews inside it as specialist categories.",
		len(agents), strings.Join(urls, ", "), secondAgent)
}

// oneAgentEach refuses a sync_governance request naming several agents for
// an account with the explanation, before the schema's bare maxItems
// (AdCP 3.1 and later) would.
func oneAgentEach(args map[string]any) error {
	accounts, _ := args["accounts"].([]any)
	for i, x := range accounts {
		m, _ := x.(map[string]any)
		if agents, ok := m["governance_agents"].([]any); ok && len(agents) > 1 {
			return tooManyAgents(fmt.Sprintf("accounts[%d].governance_agents", i), agents)
		}
	}
	return nil
}

// syncGovernance registers the account's governance agent: exactly one.
func (a *Agent) syncGovernance(ctx context.Context, r *request) (map[string]any, error) {
	cached, hash, err := a.idempotent(ctx, r)
	if err != nil || cached != nil {
		return cached, err
	}
	accounts, _ := r.args["accounts"].([]any)
	// Every entry binds this account's agent: all must name the same one,
	// checked before any is bound so that a refusal writes nothing.
	var named []any
	for i, x := range accounts {
		m, _ := x.(map[string]any)
		// An entry binds the account the credential belongs to; one naming
		// another account by ID is refused, the same whether that account
		// exists or not.
		if ref, _ := m["account"].(map[string]any); ref != nil {
			if id := str(ref["account_id"]); id != "" && id != r.caller.Account {
				return nil, newError(CodeAccountNotFound, Correctable, fmt.Sprintf("accounts[%d].account.account_id", i),
					"this credential registers governance for its own account only")
			}
		}
		agents, _ := m["governance_agents"].([]any)
		if len(agents) != 1 {
			return nil, tooManyAgents(fmt.Sprintf("accounts[%d].governance_agents", i), agents)
		}
		gm, _ := agents[0].(map[string]any)
		if len(named) == 0 || str(named[0].(map[string]any)["url"]) != str(gm["url"]) {
			named = append(named, gm)
		}
		if len(named) > 1 {
			return nil, tooManyAgents(fmt.Sprintf("accounts[%d].governance_agents[0].url", i), named)
		}
	}
	results := make([]any, 0, len(accounts))
	for i, x := range accounts {
		m, _ := x.(map[string]any)
		agents, _ := m["governance_agents"].([]any)
		field := fmt.Sprintf("accounts[%d].governance_agents", i)
		if len(agents) != 1 {
			return nil, tooManyAgents(field, agents)
		}
		gm, _ := agents[0].(map[string]any)
		url := str(gm["url"])
		if url == "" {
			return nil, invalidRequest(field+"[0].url", "the governance agent needs a url")
		}
		b, err := a.Bind(ctx, r.caller.Account, url, r.caller.CredentialID, url == a.Issuer(r.caller.Account))
		if err != nil {
			if ae, ok := asError(err); ok {
				ae.Field = field + "[0].url"
				return nil, ae
			}
			return nil, fmt.Errorf("governance: bind: %w", err)
		}
		res := map[string]any{"account": m["account"], "status": "synced", "governance_agents": []any{map[string]any{"url": b.URL}}}
		results = append(results, res)
	}
	body := map[string]any{"accounts": results}
	if err := a.st.Atomic(ctx, func(tx store.Tx) error {
		if err := appendRecord(ctx, tx, r, "sync_governance", r.caller.Account, "ok", map[string]any{"accounts": len(results)}); err != nil {
			return err
		}
		return a.remember(ctx, tx, r, hash, body)
	}); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("governance: sync governance: %w", err)
	}
	return body, nil
}

// syncAccounts is the sandbox's stand-in for a seller's sync_accounts, so
// that conformance storyboards that set up an account first can run
// against the governance agent alone.
func (a *Agent) syncAccounts(_ context.Context, r *request) (map[string]any, error) {
	accounts, _ := r.args["accounts"].([]any)
	out := make([]any, 0, len(accounts))
	for _, x := range accounts {
		m, _ := x.(map[string]any)
		res := map[string]any{"account_id": r.caller.Account, "status": "active", "action": "unchanged"}
		for _, k := range []string{"brand", "operator", "billing"} {
			if v, ok := m[k]; ok {
				res[k] = v
			}
		}
		out = append(out, res)
	}
	return map[string]any{"accounts": out}, nil
}
