package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/governance"
	"github.com/fleetgov/fleetgov/internal/store"
)

// governanceRoutes are the operator and reviewer routes of the accounts'
// governance agents; the agents themselves speak MCP under /adcp/.
func (s *Server) governanceRoutes() []Route {
	return []Route{
		{Method: "POST", Path: "/v1/tenants/{tenant}/adcp/credentials", Access: Authenticated, TenantScoped: true, Summary: "issuing an AdCP agent credential", h: s.issueADCPCredential},
		{Method: "GET", Path: "/v1/tenants/{tenant}/adcp/binding", Access: Authenticated, TenantScoped: true, Summary: "an account's governance agent", h: s.getBinding},
		{Method: "PUT", Path: "/v1/tenants/{tenant}/adcp/binding", Access: Platform, TenantScoped: true, Summary: "binding an account's governance agent", h: s.putBinding},
		{Method: "DELETE", Path: "/v1/tenants/{tenant}/adcp/binding", Access: Platform, TenantScoped: true, Summary: "unbinding an account's governance agent", h: s.deleteBinding},
		{Method: "GET", Path: "/v1/tenants/{tenant}/adcp/reviews", Access: Authenticated, TenantScoped: true, Summary: "the human review queue", h: s.listReviews},
		{Method: "POST", Path: "/v1/tenants/{tenant}/adcp/reviews/{check}", Access: Authenticated, TenantScoped: true, Summary: "deciding a human review", h: s.decideReview},
		{Method: "POST", Path: "/v1/tenants/{tenant}/adcp/keys/rotate", Access: Platform, TenantScoped: true, Summary: "rotating an account's signing key", h: s.rotateSigningKey},
		{Method: "POST", Path: "/v1/tenants/{tenant}/adcp/tokens/{jti}/revoke", Access: Authenticated, TenantScoped: true, Summary: "revoking a governance token", h: s.revokeGovToken},
	}
}

// account checks that the caller may see the tenant and that it is an
// advertising account; another tenant's answers as a missing one.
func (s *Server) account(ctx context.Context, pr auth.Principal, tenant string) error {
	if pr.Kind == store.KindAgent || pr.Kind == store.KindADCPPrincipal {
		return &httpError{status: http.StatusForbidden, code: "forbidden", msg: "account administration needs a tenant or platform credential"}
	}
	if _, err := s.plane.GetTenant(ctx, pr, tenant); err != nil {
		return err
	}
	if s.gov == nil {
		return &httpError{status: http.StatusNotFound, code: "not_found", msg: "this server runs no governance agents"}
	}
	if _, ok := s.gov.Account(tenant); !ok {
		return &control.InvalidError{Field: "tenant", Msg: "tenant " + tenant + " is not an advertising account; no governance agent serves it"}
	}
	return nil
}

// govError maps governance errors to the API's.
func govError(err error) error {
	var ge *governance.Error
	if !errors.As(err, &ge) {
		return err
	}
	switch ge.Code {
	case governance.CodeConflict:
		return &httpError{status: http.StatusConflict, code: "conflict", msg: ge.Message, field: ge.Field}
	case governance.CodeReferenceNotFound:
		return &httpError{status: http.StatusNotFound, code: "not_found", msg: ge.Message, field: ge.Field}
	}
	return &httpError{status: http.StatusBadRequest, code: "invalid_field", msg: ge.Message, field: ge.Field}
}

func (s *Server) issueADCPCredential(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	var req struct {
		AgentURL string `json:"agent_url"`
		Label    string `json:"label"`
	}
	if err := decodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	if err := s.account(r.Context(), pr, r.PathValue("tenant")); err != nil {
		return err
	}
	c, secret, err := s.plane.IssueADCPCredential(r.Context(), pr, r.PathValue("tenant"), req.AgentURL, req.Label)
	if err != nil {
		return err
	}
	b := credBody(c, secret)
	writeJSON(w, http.StatusCreated, struct {
		credentialBody
		AgentURL string `json:"agent_url"`
		MCPURL   string `json:"mcp_url"`
	}{b, c.AgentURL, s.gov.Issuer(c.TenantID) + "/mcp"})
	return nil
}

type bindingBody struct {
	Account string    `json:"account"`
	URL     string    `json:"url"`
	Builtin bool      `json:"builtin"`
	BoundAt time.Time `json:"bound_at"`
}

func (s *Server) getBinding(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	t := r.PathValue("tenant")
	if err := s.account(r.Context(), pr, t); err != nil {
		return err
	}
	b, err := s.plane.Store().GovernanceBinding(r.Context(), t)
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, code: "not_found", msg: "account " + t + " binds no governance agent yet"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bindingBody{Account: b.Account, URL: b.URL, Builtin: b.Builtin, BoundAt: b.BoundAt})
	return nil
}

func (s *Server) putBinding(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	var req struct {
		GovernanceAgents []struct {
			URL string `json:"url"`
		} `json:"governance_agents"`
	}
	if err := decodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	t := r.PathValue("tenant")
	if err := s.account(r.Context(), pr, t); err != nil {
		return err
	}
	if len(req.GovernanceAgents) != 1 {
		return &control.InvalidError{Field: "governance_agents",
			Msg: "an account binds exactly one governance agent (AdCP 3.1, adcontextprotocol/adcp#3010); this registration names " +
				strconv.Itoa(len(req.GovernanceAgents)) + ": collapse them to one, keeping the agent that owns the plans and composing the others' reviews inside it"}
	}
	b, err := s.gov.Bind(r.Context(), t, req.GovernanceAgents[0].URL, pr.CredentialID, req.GovernanceAgents[0].URL == s.gov.Issuer(t))
	if err != nil {
		return govError(err)
	}
	writeJSON(w, http.StatusOK, bindingBody{Account: b.Account, URL: b.URL, Builtin: b.Builtin, BoundAt: b.BoundAt})
	return nil
}

func (s *Server) deleteBinding(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	t := r.PathValue("tenant")
	if err := s.account(r.Context(), pr, t); err != nil {
		return err
	}
	if err := s.gov.Unbind(r.Context(), t); errors.Is(err, store.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, code: "not_found", msg: "account " + t + " binds no governance agent"}
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": t, "unbound": true})
	return nil
}

type reviewBody struct {
	CheckID   string    `json:"check_id"`
	PlanID    string    `json:"plan_id"`
	Caller    string    `json:"caller"`
	Tool      string    `json:"tool,omitempty"`
	Amount    *float64  `json:"amount,omitempty"`
	Currency  string    `json:"currency,omitempty"`
	Reason    string    `json:"reason"`
	State     string    `json:"state"`
	Verdict   string    `json:"verdict,omitempty"`
	Reviewer  string    `json:"reviewer,omitempty"`
	Authority string    `json:"authority,omitempty"`
	Minutes   float64   `json:"minutes,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func reviewWire(c store.GovCheck) reviewBody {
	b := reviewBody{CheckID: c.ID, PlanID: c.PlanID, Caller: c.Caller, Tool: c.Tool, Amount: c.Amount, Currency: c.Currency,
		Verdict: c.Verdict, CreatedAt: c.CreatedAt}
	if c.Review != nil {
		b.Reason, b.State, b.Reviewer, b.Authority, b.Minutes = c.Review.Reason, c.Review.State, c.Review.Reviewer, c.Review.Authority, c.Review.Minutes
	}
	return b
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	t := r.PathValue("tenant")
	if err := s.account(r.Context(), pr, t); err != nil {
		return err
	}
	cs, err := s.gov.Pending(r.Context(), t)
	if err != nil {
		return err
	}
	out := make([]reviewBody, 0, len(cs))
	for _, c := range cs {
		out = append(out, reviewWire(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"reviews": out})
	return nil
}

func (s *Server) decideReview(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	var req struct {
		Decision  string  `json:"decision"`
		Reviewer  string  `json:"reviewer"`
		Authority string  `json:"authority"`
		Minutes   float64 `json:"minutes"`
		Note      string  `json:"note"`
	}
	if err := decodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	t := r.PathValue("tenant")
	if err := s.account(r.Context(), pr, t); err != nil {
		return err
	}
	if req.Decision != "approve" && req.Decision != "deny" {
		return &control.InvalidError{Field: "decision", Msg: "want approve or deny"}
	}
	c, err := s.gov.Decide(r.Context(), t, r.PathValue("check"), governance.ReviewDecision{Approve: req.Decision == "approve",
		Reviewer: req.Reviewer, Authority: req.Authority, Minutes: req.Minutes, Note: req.Note})
	if err != nil {
		return govError(err)
	}
	writeJSON(w, http.StatusOK, reviewWire(c))
	return nil
}

func (s *Server) rotateSigningKey(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	t := r.PathValue("tenant")
	if err := s.account(r.Context(), pr, t); err != nil {
		return err
	}
	k, err := s.gov.RotateKey(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": t, "kid": k.KID, "jwks_uri": s.gov.Issuer(t) + "/.well-known/jwks.json"})
	return nil
}

func (s *Server) revokeGovToken(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	t := r.PathValue("tenant")
	if err := s.account(r.Context(), pr, t); err != nil {
		return err
	}
	if err := s.gov.RevokeToken(r.Context(), t, r.PathValue("jti")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": t, "jti": r.PathValue("jti"), "revoked": true})
	return nil
}
