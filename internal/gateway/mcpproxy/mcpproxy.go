package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/gateway/demomcp"
)

// Prefix is where the proxy is mounted; a server is served at Prefix + its
// fleet.yaml id.
const Prefix = "/gateway/mcp/"

// Log attribute keys.
const (
	logKeyErr    = "err"
	logKeyServer = "server"
	logKeyTenant = "tenant"
	logKeyTool   = "tool"
)

// Options configures a Proxy.
type Options struct {
	// Demo returns the handler that stands in for a server whose URL is
	// fleet.BuiltinDemo, by server id; demomcp.New if nil. It is called
	// once per id.
	Demo func(server string) http.Handler
	// Transport reaches real upstream servers; http.DefaultTransport's
	// settings if nil.
	Transport http.RoundTripper
}

// Proxy is the MCP proxy. It is safe for concurrent use.
type Proxy struct {
	g       *gateway.Gateway
	log     *slog.Logger
	opt     Options
	handler http.Handler // the SDK's Streamable HTTP handler behind the bearer check

	mu       sync.Mutex
	servers  map[string]*mcp.Server // downstream, by server id
	pool     map[poolKey]*upstream
	demos    map[string]http.Handler
	shutdown bool
}

// New returns a proxy for g.
func New(g *gateway.Gateway, opt Options) *Proxy {
	if opt.Demo == nil {
		opt.Demo = func(id string) http.Handler { return demomcp.New(id, demomcp.Options{Now: g.Now}) }
	}
	if opt.Transport == nil {
		opt.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	p := &Proxy{g: g, log: g.Logger(), opt: opt, servers: map[string]*mcp.Server{}, pool: map[poolKey]*upstream{},
		demos: map[string]http.Handler{}}
	// Stateless: every HTTP request is authenticated and decided on its own,
	// so there is no session to hijack or to outlive a revoked key, and
	// clients of both protocol eras (initialize, and 2026-07-28) are served.
	sdk := mcp.NewStreamableHTTPHandler(p.serverFor, &mcp.StreamableHTTPOptions{
		Stateless: true, Logger: p.log,
		// DNS-rebinding protection stands in for authentication on local
		// servers; every request here carries an agent key.
		DisableLocalhostProtection: true,
	})
	p.handler = mcpauth.RequireBearerToken(p.verify, &mcpauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(sdk)
	return p
}

// Handler serves the proxy under Prefix.
func (p *Proxy) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(Prefix+"{server}", p.serve)
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", "no MCP server here: the gateway serves each server fleet.yaml names at "+Prefix+"{server}")
	})
	return mux
}

// Shutdown closes the upstream sessions. Calls after it fail.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.shutdown = true
	ups := make([]*upstream, 0, len(p.pool))
	for k, u := range p.pool {
		ups = append(ups, u)
		delete(p.pool, k)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, u := range ups {
			u.close()
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request is what the HTTP layer learned about one request, handed to the
// MCP layer in the bearer token's info.
type request struct {
	caller gateway.Caller
	server fleet.MCPServer // the server's configuration in force
	trace  string
}

type requestKey struct{}

const tokenExtraKey = "fleetgov.request"

// serve authenticates the caller and checks the server and the tenant's
// scope on it before any MCP session; then the SDK's handler takes over.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if _, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok {
		unauthorized(w, r, "unauthenticated", "send the agent key as a bearer token (Authorization: Bearer <agent key>)")
		return
	}
	c, err := p.g.Authenticate(r)
	switch {
	case errors.Is(err, gateway.ErrUnauthenticated):
		unauthorized(w, r, "unauthenticated", "unknown or revoked key: the MCP gateway takes an agent key as a bearer token")
		return
	case err != nil:
		p.log.Error("gateway authenticate", logKeyErr, err)
		writeError(w, r, http.StatusInternalServerError, "internal", "the gateway could not check the key; try again")
		return
	case c.Agent.ID == "":
		unauthorized(w, r, "agent_key_required", "the MCP gateway takes an agent key, not a tenant token: tool calls are decided by the calling agent's spec")
		return
	}
	id := r.PathValue("server")
	srv, ok := p.g.Config().MCPServer(id)
	if !ok {
		writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("no MCP server %q in this fleet's gateway", clip(id, 64)))
		return
	}
	trace := gateway.TraceID(r)
	w.Header().Set("X-Fleetgov-Trace-Id", trace)
	if _, ok := srv.Tenants[c.Tenant()]; !ok {
		rec := gateway.Record{Caller: c, Resource: gateway.ResourceMCP, Action: "mcp.connect", Object: id,
			Outcome: "refused", Contract: clauseScope, TraceID: trace, Detail: map[string]any{"reason": "the tenant has no scope on this server"}}
		if err := p.g.Refuse(r.Context(), rec, false); err != nil {
			p.log.Error("gateway audit refusal", logKeyErr, err)
			writeError(w, r, http.StatusInternalServerError, "internal", "the gateway could not record the call; try again")
			return
		}
		writeError(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf("tenant %s has no scope on MCP server %s", c.Tenant(), id))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, p.g.Config().MaxRequestBytes)
	ctx := context.WithValue(r.Context(), requestKey{}, &request{caller: c, server: srv, trace: trace})
	p.handler.ServeHTTP(w, r.WithContext(ctx))
}

// verify hands the request the HTTP layer authenticated to the MCP layer.
func (p *Proxy) verify(ctx context.Context, _ string, _ *http.Request) (*mcpauth.TokenInfo, error) {
	req, ok := ctx.Value(requestKey{}).(*request)
	if !ok {
		return nil, mcpauth.ErrInvalidToken
	}
	return &mcpauth.TokenInfo{UserID: req.caller.Principal.CredentialID, Extra: map[string]any{tokenExtraKey: req}}, nil
}

// serverFor returns the downstream MCP server of the request's server id:
// a shell that offers tools and answers everything through the proxy's
// middleware, per request and per caller.
func (p *Proxy) serverFor(r *http.Request) *mcp.Server {
	id := r.PathValue("server")
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.servers[id]; ok {
		return s
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "fleetgov-gateway", Title: "fleetgov gateway: MCP server " + id, Version: "1.0.0"},
		&mcp.ServerOptions{
			Instructions: "The tools of MCP server " + id + " that your tenant's scope and your spec's tool manifest allow, through the fleetgov gateway.",
			Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}},
			Logger:       p.log,
		})
	s.AddReceivingMiddleware(p.middleware(id))
	p.servers[id] = s
	return s
}

// requestOf returns what the HTTP layer learned about an MCP request.
func requestOf(req mcp.Request) (*request, bool) {
	ex := req.GetExtra()
	if ex == nil || ex.TokenInfo == nil {
		return nil, false
	}
	r, ok := ex.TokenInfo.Extra[tokenExtraKey].(*request)
	return r, ok
}

// writeError answers an HTTP-level refusal as a JSON-RPC error response to
// the request's call (the shape MCP clients read), with a stable
// snake_case code in its data.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	data, _ := json.Marshal(map[string]string{"code": code})
	body, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: callID(r), Error: &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: msg, Data: data}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func unauthorized(w http.ResponseWriter, r *http.Request, code, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="fleetgov-gateway"`)
	writeError(w, r, http.StatusUnauthorized, code, msg)
}

// maxIDScan bounds how much of a refused request's body is read to find
// its JSON-RPC id.
const maxIDScan = 64 << 10

// callID is the JSON-RPC id of the request's call, or the zero id.
func callID(r *http.Request) jsonrpc.ID {
	if r.Method != http.MethodPost || r.Body == nil {
		return jsonrpc.ID{}
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxIDScan))
	var msg struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(b, &msg) != nil {
		return jsonrpc.ID{}
	}
	id, err := jsonrpc.MakeID(msg.ID)
	if err != nil {
		return jsonrpc.ID{}
	}
	return id
}

// clip shortens s for an answer or an audit record.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
