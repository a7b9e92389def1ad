// Package gateway is the only path from agents to the fleet's shared
// resources: the model providers (gateway/modelproxy), the MCP servers
// (gateway/mcpproxy), the vector store and the skill registry. It keeps the
// isolation contract (contract.yaml) on every call.
//
// This package holds what every proxy shares: who is calling (an agent key
// or a tenant token, never a tenant named in the request), the calling
// agent's effective constraints through the decision core, the credentials
// the platform holds (so that none is forwarded or leaked into tool
// arguments), and the audit record every call leaves, hash-chained in the
// caller's tenant partition and durable before the gateway answers. A
// cross-tenant attempt the gateway stops is also recorded at the platform
// tier as a Cat 4 event.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/secret"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Contract rows (contract.yaml resource ids) the gateway enforces.
const (
	ResourceModel  = "model-provider"
	ResourceMCP    = "mcp-servers"
	ResourceVector = "vector-store"
	ResourceSkill  = "skill-registry"
	ResourceAudit  = "audit-log"
)

// Errors.
var (
	// ErrUnauthenticated: no credential, or an unknown or revoked one.
	ErrUnauthenticated = errors.New("gateway: unauthenticated")
	// ErrAgentKeyRequired: the call needs an agent key, not a tenant token.
	ErrAgentKeyRequired = errors.New("gateway: an agent key is required")
)

// Log attribute keys.
const (
	logKeyErr    = "err"
	logKeyTenant = "tenant"
	logKeyAgent  = "agent"
)

// Caller is an authenticated gateway caller: an agent (agent key) or a
// tenant team (tenant token). Its tenant always comes from the credential.
type Caller struct {
	Principal auth.Principal
	// Agent is the calling agent's registry entry; zero for a tenant token.
	Agent store.Agent
}

// Tenant is the caller's tenant.
func (c Caller) Tenant() string { return c.Principal.TenantID }

// AgentID is the calling agent, empty for a tenant token.
func (c Caller) AgentID() string { return c.Agent.ID }

// Gateway holds what every proxy shares. It is safe for concurrent use.
type Gateway struct {
	plane *control.Plane
	st    store.Store
	log   *slog.Logger
	now   func() time.Time

	auth authCache

	mu       sync.Mutex
	digest   string            // the fleet digest the secrets below were read for
	held     []string          // secrets the platform holds (provider keys, upstream credentials)
	keys     map[string]string // provider ID → its key
	keyless  map[string]string // provider ID → why it has no key
	creds    map[string]string // server ID + "\x00" + tenant ID → upstream credential
	credless map[string]string // server ID + "\x00" + tenant ID → why it has none
}

// Options configures a Gateway.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
}

// New returns a gateway over the control plane.
func New(plane *control.Plane, opt Options) *Gateway {
	g := &Gateway{plane: plane, st: plane.Store(), log: opt.Logger, now: opt.Now}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g
}

// Plane returns the control plane.
func (g *Gateway) Plane() *control.Plane { return g.plane }

// Store returns the store.
func (g *Gateway) Store() store.Store { return g.st }

// Logger returns the gateway's logger.
func (g *Gateway) Logger() *slog.Logger { return g.log }

// Now returns the current time.
func (g *Gateway) Now() time.Time { return g.now() }

// Config returns the gateway section of the fleet repo in force.
func (g *Gateway) Config() *fleet.Gateway { return &g.plane.Repo().Config.Gateway }

// Authenticate resolves the request's bearer credential. Agent keys and
// tenant tokens authenticate; the platform admin token does not (the
// gateway serves agents, and the platform has no tenant to act as).
//
// What a credential authenticates as is cached for authCacheTTL, keyed by
// the credential's hash. A change made through this process's store
// (a revoked credential, a changed or retired agent, a tenant sync) or a
// new fleet repo empties the cache at once; a change another process
// makes to a shared store takes effect within authCacheTTL. Unknown and
// revoked credentials are never cached.
func (g *Gateway) Authenticate(r *http.Request) (Caller, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok = r.Header.Get("X-Api-Key")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return Caller{}, ErrUnauthenticated
	}
	key := sha256.Sum256([]byte(tok))
	gen, repo, now := g.st.Generation(), g.plane.Repo(), g.now()
	if c, ok := g.auth.get(key, gen, repo, now); ok {
		return c, nil
	}
	c, err := g.authenticate(r.Context(), tok)
	if err != nil {
		return Caller{}, err
	}
	g.auth.put(key, c, gen, repo, now)
	return c, nil
}

// authenticate resolves a credential in the store.
func (g *Gateway) authenticate(ctx context.Context, tok string) (Caller, error) {
	pr, err := g.plane.Authenticate(ctx, tok)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return Caller{}, ErrUnauthenticated
	}
	if err != nil {
		return Caller{}, fmt.Errorf("gateway: authenticate: %w", err)
	}
	c := Caller{Principal: pr}
	switch pr.Kind {
	case store.KindAgent:
		a, err := g.st.GetAgent(ctx, pr.AgentID)
		if errors.Is(err, store.ErrNotFound) {
			return Caller{}, ErrUnauthenticated
		}
		if err != nil {
			return Caller{}, fmt.Errorf("gateway: authenticate: agent: %w", err)
		}
		c.Agent = a
	case store.KindTenant:
	default:
		return Caller{}, ErrUnauthenticated
	}
	return c, nil
}

// Decide decides an action of the calling agent through the decision core.
// A tenant token acts as no agent; its calls are decided by the contract
// alone and Decide allows them.
func (g *Gateway) Decide(ctx context.Context, c Caller, a *constraint.Action) (decision.Decision, error) {
	if c.Agent.ID == "" {
		return decision.Decision{Outcome: decision.Allow}, nil
	}
	d, err := g.plane.DecideFor(ctx, c.Agent, a)
	if err != nil {
		return decision.Decision{}, fmt.Errorf("gateway: decide: %w", err)
	}
	return d, nil
}

// Record is what one gateway call leaves in the audit log. It holds what
// was decided and why, never the payload: prompts, tool arguments and
// vectors stay out.
type Record struct {
	Caller   Caller
	Resource string // the contract row, e.g. ResourceModel
	Action   string // e.g. "model.chat", "mcp.tools/call", "vector.query"
	Object   string // what the action was about: a model, server/tool, collection, skill
	// Outcome is the decision: allow, deny, escalate, or refused (the
	// contract stopped the call before any clause was asked), error (the
	// upstream failed).
	Outcome string
	// Fired lists the clauses that fired; Contract names the contract
	// invariant or row that stopped the call when no clause did.
	Fired    []string
	Contract string
	Cost     int64 // micro-USD
	TraceID  string
	Detail   map[string]any
	// Actor overrides the caller as the record's actor, for the gateway's
	// own work (e.g. "gateway.sweeper").
	Actor string
}

// Audit appends rec to the caller's tenant partition within tx.
func (g *Gateway) Audit(ctx context.Context, tx store.Tx, rec Record) error {
	detail := map[string]any{}
	for k, v := range rec.Detail {
		detail[k] = v
	}
	if len(rec.Fired) > 0 {
		detail["fired"] = rec.Fired
	}
	if rec.Contract != "" {
		detail["contract"] = rec.Contract
	}
	if rec.Caller.Agent.ID != "" {
		detail["spec_version"] = rec.Caller.Agent.SpecVersion
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("gateway: audit detail: %w", err)
	}
	act := rec.Actor
	if act == "" {
		act = rec.Caller.Principal.String()
	}
	_, err = tx.AppendAudit(ctx, store.AuditRecord{
		Partition: rec.Caller.Tenant(), Time: g.now(), Actor: act,
		Agent: rec.Caller.Agent.ID, Resource: rec.Resource, CostMicros: rec.Cost,
		Action: "gateway." + rec.Action, Object: rec.Object, Outcome: rec.Outcome, TraceID: rec.TraceID, Detail: b})
	if err != nil {
		return fmt.Errorf("gateway: audit: %w", err)
	}
	return nil
}

// Finish makes rec durable, together with whatever also writes, in one
// transaction; the gateway answers only after Finish returns.
//
// Finish goes on when ctx is cancelled (a client that hung up still gets
// its call recorded); also should use the context it is given by closure
// with the same care.
func (g *Gateway) Finish(ctx context.Context, rec Record, also func(tx store.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	return g.st.Atomic(ctx, func(tx store.Tx) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		return g.Audit(ctx, tx, rec)
	})
}

// Refuse audits a call the gateway stopped. When crossTenant is set the
// call reached for another tenant's resource: it is also recorded at the
// platform tier as a Cat 4 event, in the same transaction. The refusal
// answer itself must not say whether the other tenant's object exists.
func (g *Gateway) Refuse(ctx context.Context, rec Record, crossTenant bool) error {
	if rec.Outcome == "" {
		rec.Outcome = "refused"
	}
	return g.Finish(ctx, rec, func(tx store.Tx) error {
		if !crossTenant {
			return nil
		}
		return g.crossTenant(ctx, tx, rec)
	})
}

// crossTenant appends the Cat 4 platform-tier event of a stopped
// cross-tenant attempt.
func (g *Gateway) crossTenant(ctx context.Context, tx store.Tx, rec Record) error {
	detail, err := json.Marshal(map[string]any{
		"cat": 4, "tier": "platform", "category": "cross-tenant attempt",
		"tenant": rec.Caller.Tenant(), "agent": rec.Caller.Agent.ID, "resource": rec.Resource,
		"action": rec.Action, "contract": rec.Contract,
	})
	if err != nil {
		return err
	}
	_, err = tx.AppendAudit(ctx, store.AuditRecord{
		Partition: store.PlatformPartition, Time: g.now(), Actor: rec.Caller.Principal.String(),
		Agent: rec.Caller.Agent.ID, Resource: rec.Resource,
		Action: "isolation.cross_tenant", Object: rec.Object, Outcome: "refused", TraceID: rec.TraceID, Detail: detail})
	if err != nil {
		return fmt.Errorf("gateway: cat 4 event: %w", err)
	}
	g.log.Warn("cross-tenant attempt stopped", logKeyTenant, rec.Caller.Tenant(), logKeyAgent, rec.Caller.Agent.ID, "resource", rec.Resource)
	return nil
}

// namespaceHeaders are the request headers a caller might name a tenant or
// a namespace to act as in. None is needed: that is the credential's tenant.
var namespaceHeaders = []string{"X-Fleetgov-Namespace", "X-Fleetgov-Tenant", "X-Namespace", "X-Tenant", "X-Tenant-Id"}

// RequestNamespaces returns the namespaces and tenants a request names in
// its headers and query. A proxy refuses any that is not the caller's own
// tenant as a cross-tenant attempt.
func RequestNamespaces(r *http.Request) []string {
	var out []string
	for _, h := range namespaceHeaders {
		out = append(out, r.Header.Values(h)...)
	}
	q := r.URL.Query()
	out = append(out, q["namespace"]...)
	return append(out, q["tenant"]...)
}

// Fired returns the IDs of the clauses of d that fired.
func Fired(d decision.Decision) []string {
	out := make([]string, 0, len(d.Fired))
	for _, f := range d.Fired {
		out = append(out, f.Clause)
	}
	return out
}

// TraceID returns the request's W3C trace id (from traceparent) or a new
// random one.
func TraceID(r *http.Request) string {
	if tp := r.Header.Get("Traceparent"); len(tp) >= 55 && tp[2] == '-' && tp[35] == '-' {
		id := tp[3:35]
		if _, err := hex.DecodeString(id); err == nil && id != strings.Repeat("0", 32) {
			return strings.ToLower(id)
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ReadSecret reads a secret from an environment variable or a file; the
// value is trimmed of surrounding white space.
func ReadSecret(env, file string) (string, error) {
	switch {
	case env != "":
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", file, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return v, nil
	}
	return "", nil
}

// readSecrets reads, once per fleet repo, the secrets fleet.yaml names:
// provider keys and upstream MCP credentials. g.mu must be held.
func (g *Gateway) readSecrets() {
	repo := g.plane.Repo()
	if g.digest == repo.Digest {
		return
	}
	var held []string
	keys, keyless := map[string]string{}, map[string]string{}
	creds, credless := map[string]string{}, map[string]string{}
	gw := &repo.Config.Gateway
	for _, p := range gw.Providers {
		if p.URL == fleet.BuiltinDemo {
			continue
		}
		v, err := ReadSecret(p.APIKeyEnv, p.APIKeyFile)
		switch {
		case err != nil:
			keyless[p.ID] = err.Error()
			g.log.Warn("gateway provider key unavailable", "provider", p.ID, logKeyErr, err)
		case v != "":
			keys[p.ID] = v
			held = append(held, v)
		}
	}
	for _, s := range gw.MCPServers {
		for tid, t := range s.Tenants {
			if t.Credential == nil {
				continue
			}
			k := s.ID + "\x00" + tid
			switch v, err := ReadSecret(t.Credential.Env, t.Credential.File); {
			case err != nil:
				credless[k] = err.Error()
				g.log.Warn("gateway upstream credential unavailable: calls go upstream without one", "server", s.ID, logKeyTenant, tid, logKeyErr, err)
			case v == "":
				credless[k] = "empty"
				g.log.Warn("gateway upstream credential unavailable: calls go upstream without one", "server", s.ID, logKeyTenant, tid, logKeyErr, "empty")
			default:
				creds[k] = v
				held = append(held, v)
			}
		}
	}
	g.digest, g.held, g.keys, g.keyless, g.creds, g.credless = repo.Digest, held, keys, keyless, creds, credless
}

// UpstreamCredential returns the credential the gateway injects for tenant
// on MCP server; why says why one that fleet.yaml names is unavailable.
// Both are empty where fleet.yaml names none.
func (g *Gateway) UpstreamCredential(server, tenant string) (value, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.readSecrets()
	k := server + "\x00" + tenant
	return g.creds[k], g.credless[k]
}

// heldSecrets returns the secrets the platform holds for the fleet repo in
// force.
func (g *Gateway) heldSecrets() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.readSecrets()
	return g.held
}

// ProviderKey returns a provider's key; why says why a provider that needs
// one has none. The built-in demo provider needs none.
func (g *Gateway) ProviderKey(id string) (key, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.readSecrets()
	return g.keys[id], g.keyless[id]
}

// CredentialIn reports whether v (a JSON-like value: maps, slices, strings)
// carries a credential the platform issued or holds: a fleetgov token or
// agent key, a signed token, a provider key or an upstream credential, or
// anything else shaped like a credential. It never returns the credential.
func (g *Gateway) CredentialIn(v any) (kind string, found bool) {
	if kind, found, _ := secret.Scan(v); found {
		return kind, true
	}
	held := g.heldSecrets()
	if len(held) == 0 {
		return "", false
	}
	found = walkStrings(v, 0, func(s string) bool {
		for _, h := range held {
			if len(h) >= 8 && strings.Contains(s, h) {
				return true
			}
		}
		return false
	})
	if found {
		return "platform-held credential", true
	}
	return "", false
}

func walkStrings(v any, depth int, f func(string) bool) bool {
	if depth > 64 {
		return false
	}
	switch t := v.(type) {
	case string:
		return f(t)
	case map[string]any:
		for k, e := range t {
			if f(k) || walkStrings(e, depth+1, f) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if walkStrings(e, depth+1, f) {
				return true
			}
		}
	}
	return false
}
