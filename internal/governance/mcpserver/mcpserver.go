// Package mcpserver serves each account's governance agent over MCP
// Streamable HTTP, with the official MCP Go SDK, at /adcp/{account}/mcp,
// and publishes the account's JWKS (/adcp/{account}/.well-known/jwks.json)
// and signed revocation list
// (/adcp/{account}/.well-known/governance-revocations.json).
//
// Tool results are flat as AdCP requires: envelope fields beside body
// fields in structuredContent, the same JSON as text content. An AdCP error
// is a result with isError set and adcp_error beside errors[].
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	mcpauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Authenticator resolves bearer tokens.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (auth.Principal, error)
}

// Log attribute keys.
const (
	logKeyAccount = "account"
	logKeyTool    = "tool"
	logKeyErr     = "err"
)

// Server serves every account's governance agent.
type Server struct {
	agent *governance.Agent
	authn Authenticator
	log   *slog.Logger

	mu      sync.Mutex
	servers map[string]*mcp.Server // by account and sandbox flag
	mux     *http.ServeMux
}

// New returns the transport over agent.
func New(agent *governance.Agent, authn Authenticator, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{agent: agent, authn: authn, log: log, servers: map[string]*mcp.Server{}, mux: http.NewServeMux()}
	mcpHandler := mcp.NewStreamableHTTPHandler(s.serverFor, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: log})
	s.mux.Handle("/adcp/{account}/mcp", s.requireAccount(mcpauth.RequireBearerToken(s.verify,
		&mcpauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(mcpHandler)))
	s.mux.HandleFunc("GET /adcp/{account}/.well-known/jwks.json", s.jwks)
	s.mux.HandleFunc("GET /adcp/{account}/.well-known/governance-revocations.json", s.revocations)
	return s
}

// Handler returns the HTTP handler for /adcp/.
func (s *Server) Handler() http.Handler { return s.mux }

// requireAccount answers 404 for a path that names no advertising account.
func (s *Server) requireAccount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.agent.Account(r.PathValue("account")); !ok {
			http.Error(w, `{"code":"not_found","message":"no governance agent serves this account"}`, http.StatusNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// verify maps a bearer token to the account's caller: an AdCP principal
// credential of the account, or a tenant credential of it.
func (s *Server) verify(ctx context.Context, token string, r *http.Request) (*mcpauth.TokenInfo, error) {
	pr, err := s.authn.Authenticate(ctx, token)
	if err != nil {
		return nil, mcpauth.ErrInvalidToken
	}
	account := r.PathValue("account")
	if pr.TenantID != account || (pr.Kind != store.KindADCPPrincipal && pr.Kind != store.KindTenant) {
		return nil, mcpauth.ErrInvalidToken
	}
	c := governance.Caller{Account: account, CredentialID: pr.CredentialID, Kind: pr.Kind, AgentURL: pr.AgentURL}
	return &mcpauth.TokenInfo{UserID: pr.CredentialID, Extra: map[string]any{"caller": c}}, nil
}

// serverFor returns the MCP server of the account a request names.
func (s *Server) serverFor(r *http.Request) *mcp.Server {
	account := r.PathValue("account")
	t, ok := s.agent.Account(account)
	if !ok {
		return nil
	}
	key := account
	if t.Sandbox {
		key += "|sandbox"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if srv, ok := s.servers[key]; ok {
		return srv
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "fleetgov-governance", Title: "fleetgov governance agent for " + account, Version: "1.0.0"}, nil)
	tasks := append([]string(nil), governance.Tasks...)
	if t.Sandbox {
		tasks = append(tasks, governance.SandboxTasks...)
	}
	for _, task := range tasks {
		srv.AddTool(&mcp.Tool{Name: task, Description: descriptions[task],
			InputSchema: json.RawMessage(`{"type":"object","additionalProperties":true}`)}, s.tool(task))
	}
	s.servers[key] = srv
	return srv
}

var descriptions = map[string]string{
	governance.TaskCapabilities: "AdCP capabilities of this account's governance agent.",
	governance.TaskSyncPlans:    "Register or update governance plans (the source of truth for every check).",
	governance.TaskCheck:        "Check an intended action (buyer: tool + payload) or an execution (seller: governance_context + planned_delivery / delivery_metrics) against the plan.",
	governance.TaskOutcome:      "Report the outcome of an approved action; settles the budget ledger.",
	governance.TaskAuditLogs:    "The audit trail of plans: checks, outcomes, budget and governed actions.",
	governance.TaskTaskStatus:   "Status of an asynchronous check (human review).",
	governance.TaskSyncGov:      "Register the account's one governance agent.",
	governance.TaskComply:       "Sandbox only: seed test fixtures.",
	governance.TaskSyncAccounts: "Sandbox only: stand-in for a seller's account set-up.",
}

func (s *Server) tool(task string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var c governance.Caller
		if req.Extra != nil && req.Extra.TokenInfo != nil {
			c, _ = req.Extra.TokenInfo.Extra["caller"].(governance.Caller)
		}
		if c.Account == "" {
			return errorResult(&governance.Error{Code: governance.CodePermissionDenied, Recovery: governance.Correctable,
				Message: "authenticate with a credential of this account"}), nil
		}
		body, err := s.agent.Handle(ctx, c, task, req.Params.Arguments)
		if err != nil {
			var ae *governance.Error
			if !errors.As(err, &ae) {
				s.log.Error("governance task failed", logKeyAccount, c.Account, logKeyTool, task, logKeyErr, err)
				ae = &governance.Error{Code: governance.CodeServiceUnavailable, Recovery: governance.Transient,
					Message: "the governance agent could not complete the task; retry"}
			}
			return errorResult(ae), nil
		}
		return result(body), nil
	}
}

// result is a flat success: the body as structured content and as text.
func result(body map[string]any) *mcp.CallToolResult {
	b, _ := json.Marshal(body) // bodies are maps of JSON values
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}, StructuredContent: json.RawMessage(b)}
}

// errorResult is an AdCP error as a tool result.
func errorResult(e *governance.Error) *mcp.CallToolResult {
	body := map[string]any{"adcp_error": e, "errors": []any{e}, "status": "failed"}
	b, _ := json.Marshal(body)
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}, StructuredContent: json.RawMessage(b)}
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := s.agent.JWKS(r.Context(), r.PathValue("account"))
	s.write(w, b, err, "application/jwk-set+json")
}

func (s *Server) revocations(w http.ResponseWriter, r *http.Request) {
	b, err := s.agent.RevocationList(r.Context(), r.PathValue("account"))
	s.write(w, b, err, "application/json")
}

func (s *Server) write(w http.ResponseWriter, b []byte, err error, ctype string) {
	switch {
	case errors.Is(err, governance.ErrNoAccount):
		http.Error(w, `{"code":"not_found","message":"no governance agent serves this account"}`, http.StatusNotFound)
	case err != nil:
		s.log.Error("publish keys", logKeyErr, err)
		http.Error(w, `{"code":"internal","message":"internal error"}`, http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(b)
	}
}
