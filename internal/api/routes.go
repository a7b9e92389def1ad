package api

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Body size limits.
const (
	maxBody   = 64 << 10
	maxAction = control.MaxActionBytes
)

func (s *Server) table() []Route {
	return []Route{
		{Method: "GET", Path: "/healthz", Access: Public, Summary: "liveness", h: s.healthz},
		{Method: "GET", Path: "/readyz", Access: Public, Summary: "readiness", h: s.readyz},

		{Method: "GET", Path: "/v1/fleet", Access: Authenticated, Summary: "the fleet in force", h: s.getFleet},
		{Method: "POST", Path: "/v1/fleet/reload", Access: Platform, Summary: "reloading the fleet repo", h: s.reload},
		{Method: "GET", Path: "/v1/fleet/loads", Access: Platform, Summary: "the fleet load history", h: s.fleetLoads},
		{Method: "GET", Path: "/v1/library", Access: Authenticated, Summary: "library versions", h: s.libraryVersions},
		{Method: "GET", Path: "/v1/library/diff", Access: Authenticated, Summary: "diffing library versions", h: s.libraryDiff},
		{Method: "GET", Path: "/v1/library/lint", Access: Platform, Summary: "linting the library", h: s.libraryLint},
		{Method: "GET", Path: "/v1/library/{version}", Access: Authenticated, Summary: "one library version", h: s.libraryVersion},
		{Method: "GET", Path: "/v1/contract", Access: Authenticated, Summary: "the isolation contract", h: s.contract},

		{Method: "GET", Path: "/v1/tenants", Access: Authenticated, Summary: "listing tenants", h: s.listTenants},
		{Method: "GET", Path: "/v1/tenants/{tenant}", Access: Authenticated, TenantScoped: true, Summary: "one tenant", h: s.getTenant},
		{Method: "GET", Path: "/v1/tenants/{tenant}/credentials", Access: Authenticated, TenantScoped: true, Summary: "a tenant's credentials", h: s.listCredentials},
		{Method: "POST", Path: "/v1/tenants/{tenant}/tokens", Access: Platform, TenantScoped: true, Summary: "issuing a tenant token", h: s.issueTenantToken},
		{Method: "POST", Path: "/v1/credentials/{id}/revoke", Access: Authenticated, TenantScoped: true, Summary: "revoking a credential", h: s.revokeCredential},

		{Method: "POST", Path: "/v1/specs/check", Access: Authenticated, Summary: "checking a spec", h: s.checkSpec},
		{Method: "POST", Path: "/v1/agents", Access: Authenticated, Summary: "registering an agent", h: s.register},
		{Method: "GET", Path: "/v1/agents", Access: Authenticated, Summary: "listing agents", h: s.listAgents},
		{Method: "GET", Path: "/v1/agents/{id}", Access: Authenticated, TenantScoped: true, Summary: "one agent", h: s.getAgent},
		{Method: "PATCH", Path: "/v1/agents/{id}", Access: Authenticated, TenantScoped: true, Summary: "changing an agent's status", h: s.patchAgent},
		{Method: "GET", Path: "/v1/agents/{id}/spec", Access: Authenticated, TenantScoped: true, Summary: "an agent's spec", h: s.getSpec},
		{Method: "GET", Path: "/v1/agents/{id}/spec/revisions", Access: Authenticated, TenantScoped: true, Summary: "an agent's spec revisions", h: s.specRevisions},
		{Method: "GET", Path: "/v1/agents/{id}/constraints", Access: Authenticated, TenantScoped: true, Summary: "an agent's effective constraints", h: s.constraints},
		{Method: "POST", Path: "/v1/agents/{id}/evaluate", Access: Authenticated, TenantScoped: true, Summary: "evaluating an action", h: s.evaluate},
		{Method: "POST", Path: "/v1/agents/{id}/keys", Access: Authenticated, TenantScoped: true, Summary: "rotating an agent key", h: s.rotateKey},

		{Method: "GET", Path: "/v1/exceptions", Access: Authenticated, Summary: "listing exceptions", h: s.listExceptions},
		{Method: "POST", Path: "/v1/exceptions", Access: Authenticated, TenantScoped: true, Summary: "creating an exception", h: s.createException},
		{Method: "GET", Path: "/v1/exceptions/{id}", Access: Authenticated, TenantScoped: true, Summary: "one exception", h: s.getException},
		{Method: "POST", Path: "/v1/exceptions/{id}/revoke", Access: Authenticated, TenantScoped: true, Summary: "revoking an exception", h: s.revokeException},

		{Method: "GET", Path: "/v1/audit", Access: Authenticated, TenantScoped: true, Summary: "reading the audit log", h: s.audit},
		{Method: "GET", Path: "/v1/audit/export", Access: Authenticated, TenantScoped: true, Summary: "exporting the audit log", h: s.auditExport},
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	if s.ready != nil {
		if err := s.ready(r.Context()); err != nil {
			s.log.Warn("not ready", logKeyErr, err)
			return &httpError{status: http.StatusServiceUnavailable, code: "not_ready", msg: "not ready: " + err.Error()}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "fleet": s.plane.Repo().Digest})
	return nil
}

type fleetBody struct {
	Fleet      string               `json:"fleet"`
	Name       string               `json:"name"`
	Owner      string               `json:"owner"`
	Digest     string               `json:"digest"`
	LoadedAt   time.Time            `json:"loaded_at"`
	Library    libraryIndex         `json:"library"`
	Contract   string               `json:"contract_version"`
	Escalation fleet.EscalationRule `json:"escalation"`
	Exceptions map[string]int       `json:"exceptions"`
	Tenants    int                  `json:"tenants"`
}

type libraryIndex struct {
	Current  string         `json:"current"`
	Versions []libraryEntry `json:"versions"`
}

type libraryEntry struct {
	Version       string `json:"version"`
	Digest        string `json:"digest"`
	EffectiveDate string `json:"effective_date,omitempty"`
	Clauses       int    `json:"clauses"`
}

func (s *Server) index() libraryIndex {
	repo := s.plane.Repo()
	idx := libraryIndex{Current: repo.Library.Current().Version}
	for _, l := range repo.Library.Versions() {
		idx.Versions = append(idx.Versions, libraryEntry{Version: l.Version, Digest: l.Digest, EffectiveDate: l.EffectiveDate, Clauses: len(l.Clauses)})
	}
	return idx
}

func (s *Server) getFleet(w http.ResponseWriter, _ *http.Request, pr auth.Principal) error {
	repo := s.plane.Repo()
	b := fleetBody{Fleet: repo.Config.Fleet, Name: repo.Config.Name, Owner: repo.Config.Owner,
		Digest: repo.Digest, LoadedAt: s.plane.LoadedAt(), Library: s.index(), Contract: repo.Contract.Version,
		Escalation: repo.Config.Escalation, Exceptions: map[string]int{"max_days": repo.Config.Exceptions.MaxDays}}
	if pr.IsPlatform() {
		b.Tenants = len(repo.Config.Tenants)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	res, err := s.plane.Reload(r.Context(), pr.String())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) fleetLoads(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	loads, err := s.plane.FleetLoads(r.Context(), pr, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"loads": loads})
	return nil
}

func (s *Server) libraryVersions(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, s.index())
	return nil
}

func (s *Server) libraryVersion(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	v := r.PathValue("version")
	if v == "current" {
		v = s.plane.Repo().Library.Current().Version
	}
	lib, ok := s.plane.Repo().Library.Get(v)
	if !ok {
		return &httpError{status: http.StatusNotFound, code: "not_found", msg: "library version " + v + " does not exist"}
	}
	type clause struct {
		*constraint.Clause
		Machine string `json:"machine,omitempty"`
	}
	clauses := make([]clause, 0, len(lib.Clauses))
	for _, c := range lib.Clauses {
		clauses = append(clauses, clause{Clause: c, Machine: c.MachineForm()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": lib.Version, "digest": lib.Digest, "effective_date": lib.EffectiveDate,
		"owner": lib.Owner, "description": lib.Description, "changelog": lib.Changelog, "clauses": clauses})
	return nil
}

func (s *Server) libraryDiff(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	d, err := s.plane.LibraryDiff(r.Context(), pr, r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) libraryLint(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	f, err := s.plane.Lint(r.Context(), pr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"findings": f})
	return nil
}

func (s *Server) contract(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	writeJSON(w, http.StatusOK, s.plane.Repo().Contract)
	return nil
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	ts, err := s.plane.ListTenants(r.Context(), pr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": tenantBodies(ts)})
	return nil
}

type tenantBody struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Team      string     `json:"team,omitempty"`
	Owner     string     `json:"owner,omitempty"`
	Kind      string     `json:"kind"`
	Sandbox   bool       `json:"sandbox"`
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

func tenantBodies(ts []store.Tenant) []tenantBody {
	out := make([]tenantBody, 0, len(ts))
	for _, t := range ts {
		b := tenantBody{ID: t.ID, Name: t.Name, Team: t.Team, Owner: t.Owner, Kind: t.Kind, Sandbox: t.Sandbox, CreatedAt: t.CreatedAt}
		if !t.RetiredAt.IsZero() {
			b.RetiredAt = &t.RetiredAt
		}
		out = append(out, b)
	}
	return out
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	t, err := s.plane.GetTenant(r.Context(), pr, r.PathValue("tenant"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantBodies([]store.Tenant{t})[0])
	return nil
}

type credentialBody struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Tenant    string     `json:"tenant,omitempty"`
	Agent     string     `json:"agent,omitempty"`
	Prefix    string     `json:"prefix"`
	Label     string     `json:"label,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Secret is present only in the answer that mints the credential.
	Secret string `json:"secret,omitempty"`
}

func credBody(c store.Credential, secret string) credentialBody {
	b := credentialBody{ID: c.ID, Kind: string(c.Kind), Tenant: c.TenantID, Agent: c.AgentID, Prefix: c.Prefix, Label: c.Label,
		CreatedAt: c.CreatedAt, Secret: secret}
	if !c.RevokedAt.IsZero() {
		b.RevokedAt = &c.RevokedAt
	}
	return b
}

func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	cs, err := s.plane.ListCredentials(r.Context(), pr, r.PathValue("tenant"))
	if err != nil {
		return err
	}
	out := make([]credentialBody, 0, len(cs))
	for _, c := range cs {
		out = append(out, credBody(c, ""))
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
	return nil
}

func (s *Server) issueTenantToken(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	var req struct {
		Label string `json:"label"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, maxBody, &req); err != nil {
			return err
		}
	}
	c, secret, err := s.plane.IssueTenantToken(r.Context(), pr, r.PathValue("tenant"), req.Label)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, credBody(c, secret))
	return nil
}

func (s *Server) revokeCredential(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	if err := s.plane.RevokeCredential(r.Context(), pr, r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "revoked": true})
	return nil
}

// readSpec reads a spec body: raw Markdown, or JSON {"spec": "...", "file": "..."}.
func readSpec(w http.ResponseWriter, r *http.Request) (file string, src []byte, err error) {
	file = r.URL.Query().Get("file")
	if file == "" {
		file = "spec.md"
	}
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/json") {
		var req struct {
			Spec string `json:"spec"`
			File string `json:"file"`
		}
		if err := decodeJSON(w, r, control.MaxSpecBytes*2, &req); err != nil {
			return "", nil, err
		}
		if req.File != "" {
			file = req.File
		}
		if strings.TrimSpace(req.Spec) == "" {
			return "", nil, &control.InvalidError{Field: "spec", Msg: "the spec's Markdown is empty"}
		}
		return file, []byte(req.Spec), nil
	}
	if ct != "" && !strings.HasPrefix(ct, "text/markdown") && !strings.HasPrefix(ct, "text/plain") {
		return "", nil, &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: "send the spec as text/markdown, or as application/json {\"spec\": \"...\"}"}
	}
	src, err = io.ReadAll(http.MaxBytesReader(w, r.Body, control.MaxSpecBytes))
	if err != nil {
		return "", nil, err
	}
	if len(strings.TrimSpace(string(src))) == 0 {
		return "", nil, &control.InvalidError{Field: "spec", Msg: "the body is empty; send the spec's Markdown"}
	}
	return file, src, nil
}

func (s *Server) checkSpec(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	file, src, err := readSpec(w, r)
	if err != nil {
		return err
	}
	res, _, err := s.plane.CheckSpec(r.Context(), pr, file, src)
	if err != nil {
		return err
	}
	if res.Findings == nil {
		res.Findings = []check.Finding{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": res.Status, "exit_code": res.Status.ExitCode(), "result": res})
	return nil
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	file, src, err := readSpec(w, r)
	if err != nil {
		return err
	}
	res, err := s.plane.Register(r.Context(), pr, file, src)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, registerBody{Agent: agentWire(res.Agent), RegisterResult: res})
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	q := r.URL.Query()
	f := control.AgentFilter{TenantID: q.Get("tenant"), Archetype: q.Get("archetype"), Status: store.AgentStatus(q.Get("status"))}
	if f.Archetype != "" {
		a, err := constraint.ParseArchetype(f.Archetype)
		if err != nil {
			return &control.InvalidError{Field: "archetype", Msg: err.Error()}
		}
		f.Archetype = a
	}
	switch f.Status {
	case "", store.StatusActive, store.StatusStaging, store.StatusDeprecated:
	default:
		return &control.InvalidError{Field: "status", Msg: "want active, staging or deprecated"}
	}
	as, err := s.plane.ListAgents(r.Context(), pr, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": agentsWire(as)})
	return nil
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	a, err := s.plane.GetAgent(r.Context(), pr, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentWire(a))
	return nil
}

func (s *Server) patchAgent(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	var req struct {
		Status store.AgentStatus `json:"status"`
	}
	if err := decodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	a, err := s.plane.SetAgentStatus(r.Context(), pr, r.PathValue("id"), req.Status)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agentWire(a))
	return nil
}

func (s *Server) getSpec(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	rev, err := s.plane.SpecRevision(r.Context(), pr, r.PathValue("id"), r.URL.Query().Get("version"))
	if err != nil {
		return err
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, revisionWire(rev, true))
		return nil
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Header().Set("X-Spec-Version", rev.Version)
	w.Header().Set("X-Spec-Digest", rev.Digest)
	_, _ = io.WriteString(w, rev.Source)
	return nil
}

func (s *Server) specRevisions(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	revs, err := s.plane.SpecRevisions(r.Context(), pr, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]revisionBody, 0, len(revs))
	for _, rv := range revs {
		out = append(out, revisionWire(rv, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"revisions": out})
	return nil
}

func (s *Server) constraints(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	v, err := s.plane.Constraints(r.Context(), pr, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, constraintsBody{ConstraintsView: v, Exceptions: exceptionsWire(v.Exceptions)})
	return nil
}

func (s *Server) evaluate(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	var a constraint.Action
	if err := decodeJSON(w, r, maxAction, &a); err != nil {
		return err
	}
	ev, err := s.plane.Evaluate(r.Context(), pr, r.PathValue("id"), &a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ev)
	return nil
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	c, secret, err := s.plane.RotateAgentKey(r.Context(), pr, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, credBody(c, secret))
	return nil
}

func (s *Server) listExceptions(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	q := r.URL.Query()
	es, err := s.plane.ListExceptions(r.Context(), pr, control.ExceptionFilter{TenantID: q.Get("tenant"), AgentID: q.Get("agent"), Active: q.Get("active") == "true"})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"exceptions": exceptionsWire(es)})
	return nil
}

func (s *Server) createException(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	var req control.ExceptionRequest
	if err := decodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	e, err := s.plane.CreateException(r.Context(), pr, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, exceptionWire(e))
	return nil
}

func (s *Server) getException(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	e, err := s.plane.GetException(r.Context(), pr, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, exceptionWire(e))
	return nil
}

func (s *Server) revokeException(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	e, err := s.plane.RevokeException(r.Context(), pr, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, exceptionWire(e))
	return nil
}
