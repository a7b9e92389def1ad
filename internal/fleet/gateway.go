package fleet

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// BuiltinDemo is the URL of the gateway's built-in demo upstreams: an
// in-process OpenAI-compatible provider, or a small in-process MCP server.
// They let the gateway work with no internet; a fleet repo names them like
// any other upstream.
const BuiltinDemo = "builtin:demo"

// Model kinds.
const (
	ModelChat      = "chat"
	ModelEmbedding = "embedding"
)

// Gateway is fleet.yaml's gateway section: the shared resources the gateway
// fronts, the prices it meters with and the budgets it holds.
type Gateway struct {
	Providers  []Provider  `yaml:"providers" json:"providers"`
	Models     []Model     `yaml:"models" json:"models"`
	Budgets    Budgets     `yaml:"budgets" json:"budgets"`
	MCPServers []MCPServer `yaml:"mcp_servers" json:"mcp_servers"`
	// MaxRequestBytes bounds a request body through the gateway; default 1 MiB.
	MaxRequestBytes int64 `yaml:"max_request_bytes" json:"max_request_bytes"`
}

// Provider is an upstream model provider with an OpenAI-compatible API.
// Its key lives only in the gateway: read from the environment variable
// APIKeyEnv or the file APIKeyFile when the fleet repo loads, never from
// fleet.yaml itself.
type Provider struct {
	ID string `yaml:"id" json:"id"`
	// URL is the API base, up to and including /v1, or BuiltinDemo.
	URL        string `yaml:"url" json:"url"`
	APIKeyEnv  string `yaml:"api_key_env" json:"api_key_env,omitempty"`
	APIKeyFile string `yaml:"api_key_file" json:"api_key_file,omitempty"`
	// TimeoutSeconds bounds one upstream call; default 120.
	TimeoutSeconds int `yaml:"timeout_seconds" json:"timeout_seconds"`
}

// Model is a model agents may call through the gateway, with its price.
type Model struct {
	// ID is the name agents send; allow-lists (fleet.models) match it.
	ID       string `yaml:"id" json:"id"`
	Provider string `yaml:"provider" json:"provider"`
	// Upstream is the provider's name for the model; default ID.
	Upstream string `yaml:"upstream" json:"upstream,omitempty"`
	// Kind is chat (the default) or embedding.
	Kind string `yaml:"kind" json:"kind"`
	// Prices in USD per million tokens.
	InputUSDPerMTok  float64 `yaml:"input_usd_per_mtok" json:"input_usd_per_mtok"`
	OutputUSDPerMTok float64 `yaml:"output_usd_per_mtok" json:"output_usd_per_mtok"`
	// MaxOutputTokens is the output cap: a request asking for more is
	// refused, and one naming no cap is reserved at this many; default 4096
	// for chat models.
	MaxOutputTokens int64 `yaml:"max_output_tokens" json:"max_output_tokens"`
}

// Budgets are the model spend caps, in USD. The fleet's applies to every
// call; a tenant's and an agent's come from Tenants and Agents, or else
// from the Tenant and Agent defaults. Each cap holds per window.
type Budgets struct {
	Fleet   Limits            `yaml:"fleet" json:"fleet"`
	Tenant  Limits            `yaml:"tenant" json:"tenant"`
	Agent   Limits            `yaml:"agent" json:"agent"`
	Tenants map[string]Limits `yaml:"tenants" json:"tenants,omitempty"`
	Agents  map[string]Limits `yaml:"agents" json:"agents,omitempty"`
}

// Limits caps spend per window; a nil cap is no cap.
type Limits struct {
	Day   *float64 `yaml:"day" json:"day,omitempty"`
	Month *float64 `yaml:"month" json:"month,omitempty"`
	Total *float64 `yaml:"total" json:"total,omitempty"`
}

// ForTenant returns the caps of a tenant.
func (b *Budgets) ForTenant(id string) Limits {
	if l, ok := b.Tenants[id]; ok {
		return l
	}
	return b.Tenant
}

// ForAgent returns the caps of an agent ("<tenant>.<name>").
func (b *Budgets) ForAgent(id string) Limits {
	if l, ok := b.Agents[id]; ok {
		return l
	}
	return b.Agent
}

// MCPServer is an upstream MCP server (Streamable HTTP) the gateway proxies
// at /gateway/mcp/{id}. Only tenants listed in Tenants may use it.
type MCPServer struct {
	ID string `yaml:"id" json:"id"`
	// URL is the server's Streamable HTTP endpoint, or BuiltinDemo.
	URL     string               `yaml:"url" json:"url"`
	Tenants map[string]MCPTenant `yaml:"tenants" json:"-"`
	// TimeoutSeconds bounds one upstream call; default 60.
	TimeoutSeconds int `yaml:"timeout_seconds" json:"timeout_seconds"`
}

// MCPTenant is one tenant's scope on an MCP server and the upstream
// credential the gateway injects for it.
type MCPTenant struct {
	// Tools are the upstream tool names the tenant may see and call; "*"
	// is every tool. The agent's §8 narrows them further.
	Tools []string `yaml:"tools" json:"tools"`
	// Credential is injected upstream on the tenant's calls; never the
	// caller's own.
	Credential *Credential `yaml:"credential" json:"-"`
}

// Credential names where a secret lives: an environment variable or a file.
// Header is the HTTP header it is sent in (default Authorization, with
// "Bearer " before it).
type Credential struct {
	Env    string `yaml:"env" json:"-"`
	File   string `yaml:"file" json:"-"`
	Header string `yaml:"header" json:"-"`
}

// Model returns a model by ID.
func (g *Gateway) Model(id string) (Model, bool) {
	for _, m := range g.Models {
		if m.ID == id {
			return m, true
		}
	}
	return Model{}, false
}

// Provider returns a provider by ID.
func (g *Gateway) Provider(id string) (Provider, bool) {
	for _, p := range g.Providers {
		if p.ID == id {
			return p, true
		}
	}
	return Provider{}, false
}

// MCPServer returns an MCP server by ID.
func (g *Gateway) MCPServer(id string) (MCPServer, bool) {
	for _, s := range g.MCPServers {
		if s.ID == id {
			return s, true
		}
	}
	return MCPServer{}, false
}

func validateGateway(file string, root *yaml.Node, c *Config) constraint.ErrorList {
	var errs constraint.ErrorList
	g := &c.Gateway
	gw := constraint.Lookup(root, "gateway")
	bad := func(n *yaml.Node, format string, args ...any) {
		if n == nil {
			n = gw
		}
		if n == nil {
			n = root
		}
		errs = append(errs, constraint.Errorf(pos(file, n), "", format, args...))
	}
	switch {
	case g.MaxRequestBytes == 0:
		g.MaxRequestBytes = 1 << 20
	case g.MaxRequestBytes < 1024 || g.MaxRequestBytes > 64<<20:
		bad(constraint.Lookup(gw, "max_request_bytes"), "gateway.max_request_bytes %d: between 1024 and 67108864", g.MaxRequestBytes)
	}
	providers := map[string]bool{}
	for i := range g.Providers {
		p := &g.Providers[i]
		n := item(gw, "providers", i)
		if !spec.ValidName(p.ID) {
			bad(n, "gateway provider id %q: use lower-case letters, digits and dashes", p.ID)
		} else if providers[p.ID] {
			bad(n, "gateway provider %s is listed twice", p.ID)
		}
		providers[p.ID] = true
		if err := validUpstream(p.URL); err != nil {
			bad(n, "gateway provider %s: url: %v", p.ID, err)
		}
		if p.APIKeyEnv != "" && p.APIKeyFile != "" {
			bad(n, "gateway provider %s: set api_key_env or api_key_file, not both", p.ID)
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 120
		} else if p.TimeoutSeconds < 1 || p.TimeoutSeconds > 3600 {
			bad(n, "gateway provider %s: timeout_seconds %d: between 1 and 3600", p.ID, p.TimeoutSeconds)
		}
	}
	models := map[string]bool{}
	for i := range g.Models {
		m := &g.Models[i]
		n := item(gw, "models", i)
		switch {
		case m.ID == "" || strings.ContainsAny(m.ID, " \t\n*"):
			bad(n, "gateway model id %q: a model name without spaces or *", m.ID)
		case models[m.ID]:
			bad(n, "gateway model %s is listed twice", m.ID)
		}
		models[m.ID] = true
		if !providers[m.Provider] {
			bad(n, "gateway model %s: provider %q is not in gateway.providers", m.ID, m.Provider)
		}
		if m.Upstream == "" {
			m.Upstream = m.ID
		}
		switch m.Kind {
		case "":
			m.Kind = ModelChat
		case ModelChat, ModelEmbedding:
		default:
			bad(n, "gateway model %s: kind %q: want %s or %s", m.ID, m.Kind, ModelChat, ModelEmbedding)
		}
		if !price(m.InputUSDPerMTok) || !price(m.OutputUSDPerMTok) {
			bad(n, "gateway model %s: prices are USD per million tokens, at least 0 and at most 10000", m.ID)
		}
		switch {
		case m.MaxOutputTokens == 0 && m.Kind == ModelChat:
			m.MaxOutputTokens = 4096
		case m.MaxOutputTokens < 0 || m.MaxOutputTokens > 10_000_000:
			bad(n, "gateway model %s: max_output_tokens %d: between 1 and 10000000", m.ID, m.MaxOutputTokens)
		}
	}
	tenants := map[string]bool{}
	for _, t := range c.Tenants {
		tenants[t.ID] = true
	}
	bn := constraint.Lookup(gw, "budgets")
	checkLimits := func(n *yaml.Node, what string, l Limits) {
		for _, w := range []struct {
			name string
			v    *float64
		}{{"day", l.Day}, {"month", l.Month}, {"total", l.Total}} {
			if w.v != nil && (*w.v < 0 || *w.v > 1e9 || math.IsNaN(*w.v)) {
				bad(n, "gateway budget %s: %s %v: a USD amount, at least 0", what, w.name, *w.v)
			}
		}
	}
	checkLimits(constraint.Lookup(bn, "fleet"), "fleet", g.Budgets.Fleet)
	checkLimits(constraint.Lookup(bn, "tenant"), "tenant (default)", g.Budgets.Tenant)
	checkLimits(constraint.Lookup(bn, "agent"), "agent (default)", g.Budgets.Agent)
	for _, id := range slices.Sorted(maps.Keys(g.Budgets.Tenants)) {
		n := constraint.Lookup(constraint.Lookup(bn, "tenants"), id)
		if !tenants[id] {
			bad(n, "gateway budget for tenant %q: no such tenant in tenants", id)
		}
		checkLimits(n, "tenant "+id, g.Budgets.Tenants[id])
	}
	for _, id := range slices.Sorted(maps.Keys(g.Budgets.Agents)) {
		n := constraint.Lookup(constraint.Lookup(bn, "agents"), id)
		tenant, _, ok := strings.Cut(id, ".")
		if !ok || !tenants[tenant] {
			bad(n, "gateway budget for agent %q: name an agent as <tenant>.<name> of a tenant in tenants", id)
		}
		checkLimits(n, "agent "+id, g.Budgets.Agents[id])
	}
	servers := map[string]bool{}
	for i := range g.MCPServers {
		s := &g.MCPServers[i]
		n := item(gw, "mcp_servers", i)
		if !spec.ValidName(s.ID) {
			bad(n, "gateway MCP server id %q: use lower-case letters, digits and dashes", s.ID)
		} else if servers[s.ID] {
			bad(n, "gateway MCP server %s is listed twice", s.ID)
		}
		servers[s.ID] = true
		if err := validUpstream(s.URL); err != nil {
			bad(n, "gateway MCP server %s: url: %v", s.ID, err)
		}
		if s.TimeoutSeconds == 0 {
			s.TimeoutSeconds = 60
		} else if s.TimeoutSeconds < 1 || s.TimeoutSeconds > 3600 {
			bad(n, "gateway MCP server %s: timeout_seconds %d: between 1 and 3600", s.ID, s.TimeoutSeconds)
		}
		for _, tid := range slices.Sorted(maps.Keys(s.Tenants)) {
			st := s.Tenants[tid]
			if !tenants[tid] {
				bad(n, "gateway MCP server %s: tenant %q is not in tenants", s.ID, tid)
			}
			if len(st.Tools) == 0 {
				bad(n, "gateway MCP server %s: tenant %s: list the tools in its scope (or \"*\")", s.ID, tid)
			}
			if cr := st.Credential; cr != nil {
				if (cr.Env == "") == (cr.File == "") {
					bad(n, "gateway MCP server %s: tenant %s: credential names env or file, exactly one", s.ID, tid)
				}
				if cr.Header == "" {
					cr.Header = "Authorization"
				}
			}
		}
	}
	return errs
}

func price(v float64) bool { return v >= 0 && v <= 10000 && !math.IsNaN(v) }

// validUpstream checks an upstream URL: BuiltinDemo, or http(s) with a host.
func validUpstream(raw string) error {
	if raw == BuiltinDemo {
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fmt.Errorf("missing: an http(s) URL or %s", BuiltinDemo)
	case err != nil:
		return fmt.Errorf("%q does not parse", raw)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("%q: want an http(s) URL with a host, or %s", raw, BuiltinDemo)
	case u.User != nil:
		return fmt.Errorf("%q: credentials do not belong in the URL; use api_key_env or api_key_file", u.Redacted())
	}
	return nil
}
