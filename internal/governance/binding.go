package governance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// bindingTTL is how long the agent trusts a read of an account's binding.
// A change made through this replica shows at once; one made through
// another replica, within bindingTTL.
const bindingTTL = 2 * time.Second

// bindings caches which governance agent each account binds.
type bindings struct {
	mu sync.Mutex
	m  map[string]boundTo
}

type boundTo struct {
	url  string // "" when the account binds none
	read time.Time
}

// boundURL returns the URL of the governance agent the account binds, ""
// if none.
func (a *Agent) boundURL(ctx context.Context, account string) (string, error) {
	a.bound.mu.Lock()
	b, ok := a.bound.m[account]
	a.bound.mu.Unlock()
	if ok && time.Since(b.read) < bindingTTL {
		return b.url, nil
	}
	cur, err := a.st.GovernanceBinding(ctx, account)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cur.URL = ""
	case err != nil:
		return "", fmt.Errorf("governance: binding of %s: %w", account, err)
	}
	a.bound.mu.Lock()
	if a.bound.m == nil {
		a.bound.m = map[string]boundTo{}
	}
	a.bound.m[account] = boundTo{url: cur.URL, read: time.Now()}
	a.bound.mu.Unlock()
	return cur.URL, nil
}

// forget drops an account's cached binding.
func (a *Agent) forget(account string) {
	a.bound.mu.Lock()
	delete(a.bound.m, account)
	a.bound.mu.Unlock()
}

// governs refuses a task on a production account that binds another
// governance agent: its plans and actions are that agent's to check. An
// account that binds none is served (the platform binds fleetgov's own
// agent at start); sandbox accounts are always served, since conformance
// runs register other agents' URLs with them. Capabilities and the
// registration itself (sync_governance, which answers the binding in
// force) are served whatever the binding.
func (a *Agent) governs(ctx context.Context, r *request) error {
	if r.tenant.Sandbox || r.task == TaskCapabilities || r.task == TaskSyncGov {
		return nil
	}
	url, err := a.boundURL(ctx, r.caller.Account)
	if err != nil {
		return err
	}
	if url != "" && url != a.Issuer(r.caller.Account) {
		return newError(CodePermissionDenied, Terminal, "",
			"account %s binds governance agent %s; this agent (%s) does not govern it: send its checks there, or have the platform team rebind the account",
			r.caller.Account, url, a.Issuer(r.caller.Account))
	}
	return nil
}

// Unbind removes an account's binding (store.ErrNotFound if it has none).
func (a *Agent) Unbind(ctx context.Context, account string) error {
	defer a.forget(account)
	return a.st.UnbindGovernanceAgent(ctx, account)
}
