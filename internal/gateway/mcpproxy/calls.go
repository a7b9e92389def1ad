package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/gateway"
)

// The library clauses the proxy cites when it stops a call on its own.
const (
	clauseScope   = "fleet.mcp-scope"
	clauseNoExfil = "fleet.no-token-exfil"
)

// Audit actions.
const (
	actionList = "mcp.tools/list"
	actionCall = "mcp.tools/call"
)

// Why a tools/call was not offered, as the caller's own audit record says.
// "Not offered" covers both an unknown tool and one outside the tenant's
// scope: the tenant's records must not tell another tenant's tools apart.
const (
	reasonNotOffered  = "not in the tenant's scope on this server, or unknown"
	reasonNotManifest = "not in the agent's §8 tool manifest"
	reasonUnknown     = "the upstream server has no such tool"
	reasonBadArgs     = "arguments are not a JSON object"
)

// maxToolName bounds the tool names the proxy looks up or records.
const maxToolName = 128

// metaKey is the _meta key of the gateway's decision on a tool result it
// answers itself.
const metaKey = "fleetgov/gateway"

// passThrough are the methods the SDK answers itself: the lifecycle.
var passThrough = map[string]bool{"initialize": true, "ping": true, "server/discover": true}

// middleware answers tools/list and tools/call for server id, per request,
// and refuses what the proxy does not offer.
func (p *Proxy) middleware(id string) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if passThrough[method] || strings.HasPrefix(method, "notifications/") {
				return next(ctx, method, req)
			}
			r, ok := requestOf(req)
			if !ok || r.server.ID != id {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "fleetgov gateway: unauthenticated request"}
			}
			switch method {
			case "tools/list":
				return p.listTools(ctx, r)
			case "tools/call":
				ct, ok := req.(*mcp.CallToolRequest)
				if !ok {
					return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "fleetgov gateway: malformed tools/call"}
				}
				return p.callTool(ctx, r, ct.Params)
			}
			return p.refuseMethod(ctx, r, method)
		}
	}
}

// unknownTool is the SDK's own answer to a tools/call for a tool the server
// does not have; every call the proxy does not offer gets exactly this.
func unknownTool(name string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", name)}
}

var errNotRecorded = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "fleetgov gateway: the call could not be recorded; try again"}

// refuseMethod refuses a method the proxy does not offer (resources,
// prompts, completions, logging, ...), audited.
func (p *Proxy) refuseMethod(ctx context.Context, r *request, method string) (mcp.Result, error) {
	method = clip(method, 64)
	rec := p.record(r, "mcp."+method, r.server.ID, "refused")
	rec.Contract = clauseScope
	rec.Detail["reason"] = "method not offered by the gateway"
	if err := p.g.Refuse(ctx, rec, false); err != nil {
		p.log.Error("gateway audit refusal", logKeyErr, err)
		return nil, errNotRecorded
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound,
		Message: fmt.Sprintf("method %q is not offered: the fleetgov gateway proxies MCP tools only", method)}
}

// record starts the audit record of a request.
func (p *Proxy) record(r *request, action, object, outcome string) gateway.Record {
	return gateway.Record{Caller: r.caller, Resource: gateway.ResourceMCP, Action: action, Object: object,
		Outcome: outcome, TraceID: r.trace, Detail: map[string]any{"server": r.server.ID}}
}

// listTools answers tools/list: the upstream's tools in the tenant's scope
// and the agent's manifest.
func (p *Proxy) listTools(ctx context.Context, r *request) (mcp.Result, error) {
	u, err := p.upstream(r.server, r.caller.Tenant())
	var tools []*mcp.Tool
	if err == nil {
		tools, err = u.listTools(ctx)
	}
	if err != nil {
		p.log.Warn("MCP upstream tools/list failed", logKeyServer, r.server.ID, logKeyTenant, r.caller.Tenant(), logKeyErr, err)
		rec := p.record(r, actionList, r.server.ID, "error")
		rec.Detail["error"] = upstreamErrorKind(err)
		if err := p.g.Finish(ctx, rec, nil); err != nil {
			p.log.Error("gateway audit", logKeyErr, err)
			return nil, errNotRecorded
		}
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: p.upstreamMessage(r.server, err)}
	}
	scope := r.server.Tenants[r.caller.Tenant()]
	visible := []*mcp.Tool{}
	for _, t := range tools {
		if inScope(scope, t.Name) && inManifest(r.caller, r.server.ID, t.Name) {
			visible = append(visible, t)
		}
	}
	rec := p.record(r, actionList, r.server.ID, string(decision.Allow))
	rec.Detail["tools"] = len(visible)
	if err := p.g.Finish(ctx, rec, nil); err != nil {
		p.log.Error("gateway audit", logKeyErr, err)
		return nil, errNotRecorded
	}
	return &mcp.ListToolsResult{Tools: visible}, nil
}

// callTool answers tools/call.
func (p *Proxy) callTool(ctx context.Context, r *request, params *mcp.CallToolParamsRaw) (mcp.Result, error) {
	tenant, id := r.caller.Tenant(), r.server.ID
	name := params.Name
	object := id + "." + name
	if _, leaked := p.g.CredentialIn(name); leaked || len(name) > maxToolName || name == "" {
		object = id + ".(invalid tool name)"
	}
	rec := p.record(r, actionCall, object, "refused")
	refuse := func(reason string, cross bool, fired []string) (mcp.Result, error) {
		rec.Detail["reason"] = reason
		rec.Fired = fired
		if len(fired) == 0 {
			rec.Contract = clauseScope
		}
		if err := p.g.Refuse(ctx, rec, cross); err != nil {
			p.log.Error("gateway audit refusal", logKeyErr, err)
			return nil, errNotRecorded
		}
		return nil, unknownTool(name)
	}
	if object != id+"."+name {
		return refuse(reasonNotOffered, false, nil)
	}

	// Scope: the tenant's, then the agent's §8. Nothing is asked upstream
	// for a tool the caller may not see.
	scope := r.server.Tenants[tenant]
	u, upErr := p.upstream(r.server, tenant)
	if !inScope(scope, name) {
		return refuse(reasonNotOffered, p.otherTenantScope(r, name), nil)
	}
	var args map[string]any
	if len(params.Arguments) > 0 && string(params.Arguments) != "null" {
		if err := json.Unmarshal(params.Arguments, &args); err != nil || args == nil {
			rec.Detail["reason"] = reasonBadArgs
			rec.Contract = clauseScope
			if err := p.g.Refuse(ctx, rec, false); err != nil {
				p.log.Error("gateway audit refusal", logKeyErr, err)
				return nil, errNotRecorded
			}
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "tools/call arguments must be a JSON object"}
		}
	}
	credKind, leaked := p.g.CredentialIn(args)
	effect := manifestEffect(r.caller, id, name)
	action := &constraint.Action{Kind: "tool_call", Tool: object, Server: id, Arguments: args, Effect: effect,
		CredentialDetected: leaked, TraceID: r.trace}
	dec, err := p.g.Decide(ctx, r.caller, action)
	if err != nil {
		p.log.Error("gateway decide", logKeyErr, err)
		rec.Outcome = "error"
		rec.Detail["error"] = "decision failed"
		if err := p.g.Finish(ctx, rec, nil); err != nil {
			p.log.Error("gateway audit", logKeyErr, err)
		}
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "fleetgov gateway: the call could not be decided; nothing was forwarded"}
	}
	fired := gateway.Fired(dec)
	if effect == "" {
		if dec.Outcome == decision.Deny {
			rec.Outcome = string(decision.Deny)
		}
		return refuse(reasonNotManifest, false, fired)
	}
	if upErr == nil {
		var known bool
		known, upErr = u.hasTool(ctx, name)
		if upErr == nil && !known {
			return refuse(reasonUnknown, false, nil)
		}
	}

	// The decision, and the platform's own credential check.
	if leaked {
		if !slices.Contains(fired, clauseNoExfil) {
			fired = append(fired, clauseNoExfil)
		}
		rec.Outcome, rec.Fired = string(decision.Deny), fired
		rec.Detail["credential_detected"] = credKind
		return p.answer(ctx, rec, toolError(rec, fmt.Sprintf(
			"fleetgov gateway: denied by %s: the arguments carry a credential (%s); no credential leaves through a tool call's arguments, and nothing was forwarded", clauseNoExfil, credKind)))
	}
	switch dec.Outcome {
	case decision.Deny:
		rec.Outcome, rec.Fired = string(decision.Deny), fired
		return p.answer(ctx, rec, toolError(rec, "fleetgov gateway: denied by "+explain(dec, constraint.Deny)+"; nothing was forwarded"))
	case decision.Escalate:
		rec.Outcome, rec.Fired = string(decision.Escalate), fired
		return p.answer(ctx, rec, toolError(rec, "fleetgov gateway: this call needs human review before it can run: "+
			explain(dec, constraint.Escalate)+"; nothing was forwarded"))
	}
	if w := warned(dec); len(w) > 0 {
		rec.Fired = fired
		rec.Detail["warned"] = w
	}

	// Forward, with the tenant's credential, within the server's timeout.
	if upErr != nil {
		return p.failed(ctx, rec, r.server, upErr)
	}
	res, err := u.callTool(ctx, name, params.Arguments)
	if err != nil {
		if ctx.Err() != nil {
			rec.Outcome = "error"
			rec.Detail["error"] = "canceled by the caller"
			if aerr := p.g.Finish(ctx, rec, nil); aerr != nil {
				p.log.Error("gateway audit", logKeyErr, aerr)
			}
			return nil, ctx.Err()
		}
		return p.failed(ctx, rec, r.server, err)
	}
	rec.Outcome = string(decision.Allow)
	if res.IsError {
		rec.Detail["upstream_is_error"] = true
	}
	return p.answer(ctx, rec, res)
}

// answer audits rec and then answers res.
func (p *Proxy) answer(ctx context.Context, rec gateway.Record, res *mcp.CallToolResult) (mcp.Result, error) {
	if err := p.g.Finish(ctx, rec, nil); err != nil {
		p.log.Error("gateway audit", logKeyErr, err)
		return nil, errNotRecorded
	}
	return res, nil
}

// failed audits and answers an upstream failure: a JSON-RPC error the
// upstream sent is passed on as one; a timeout or an unreachable upstream
// is a tool error.
func (p *Proxy) failed(ctx context.Context, rec gateway.Record, srv fleet.MCPServer, cause error) (mcp.Result, error) {
	p.log.Warn("MCP upstream call failed", logKeyServer, srv.ID, logKeyTenant, rec.Caller.Tenant(), logKeyTool, rec.Object, logKeyErr, cause)
	rec.Outcome = "error"
	rec.Detail["error"] = upstreamErrorKind(cause)
	if err := p.g.Finish(ctx, rec, nil); err != nil {
		p.log.Error("gateway audit", logKeyErr, err)
		return nil, errNotRecorded
	}
	if rpc, ok := answered(cause); ok {
		return nil, &jsonrpc.Error{Code: rpc.Code, Message: fmt.Sprintf("upstream MCP server %s: %s", srv.ID, rpc.Message)}
	}
	return toolError(rec, p.upstreamMessage(srv, cause)), nil
}

// upstreamMessage says what went wrong upstream, for the caller.
func (p *Proxy) upstreamMessage(srv fleet.MCPServer, err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("fleetgov gateway: upstream MCP server %s did not answer within %ds (its timeout_seconds); the call's outcome upstream is unknown", srv.ID, srv.TimeoutSeconds)
	}
	if errors.Is(err, errShutdown) {
		return "fleetgov gateway: shutting down; try again"
	}
	return fmt.Sprintf("fleetgov gateway: upstream MCP server %s is unavailable; try again later", srv.ID)
}

// upstreamErrorKind is what the audit record says of an upstream failure.
func upstreamErrorKind(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "upstream timeout"
	}
	if rpc, ok := answered(err); ok {
		return fmt.Sprintf("upstream error %d", rpc.Code)
	}
	return "upstream unavailable"
}

// toolError is a tool result with isError set, carrying the gateway's
// decision in _meta.
func toolError(rec gateway.Record, msg string) *mcp.CallToolResult {
	meta := map[string]any{"outcome": rec.Outcome, "trace_id": rec.TraceID}
	if len(rec.Fired) > 0 {
		meta["clauses"] = rec.Fired
	}
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}, Meta: mcp.Meta{metaKey: meta}}
}

// explain names the clauses of d with the given effect and why they fired.
func explain(d decision.Decision, effect constraint.Effect) string {
	var parts []string
	for _, f := range d.Fired {
		if f.Effect != effect {
			continue
		}
		s := f.Clause
		if f.Text != "" {
			s += " (" + f.Text + ")"
		}
		if f.Reason != "" {
			s += ": " + f.Reason
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "the agent's effective constraints"
	}
	return strings.Join(parts, "; ")
}

// warned lists the warn clauses that fired on an allowed call.
func warned(d decision.Decision) []string {
	var out []string
	for _, f := range d.Fired {
		if f.Effect == constraint.Warn {
			out = append(out, f.Clause)
		}
	}
	return out
}

// inScope reports whether a tenant's scope on a server holds tool.
func inScope(t fleet.MCPTenant, tool string) bool {
	return slices.Contains(t.Tools, "*") || slices.Contains(t.Tools, tool)
}

// inManifest reports whether the agent's §8 manifest holds server.tool.
func inManifest(c gateway.Caller, server, tool string) bool {
	return manifestEffect(c, server, tool) != ""
}

// manifestEffect is the effect class the agent's §8 gives server.tool, or
// "" when the manifest does not hold it.
func manifestEffect(c gateway.Caller, server, tool string) string {
	name := server + "." + tool
	for _, t := range c.Agent.Tools {
		if t.Name == name {
			return t.Effect
		}
	}
	return ""
}

// otherTenantScope reports whether a tool outside the caller's scope is in
// another tenant's scope on the same server: a cross-tenant attempt. A "*"
// scope holds the tools the upstream has, as the other tenant's session
// last listed them (nothing is asked upstream with its credential here).
func (p *Proxy) otherTenantScope(r *request, tool string) bool {
	for tid, t := range r.server.Tenants {
		if tid == r.caller.Tenant() {
			continue
		}
		if slices.Contains(t.Tools, tool) {
			return true
		}
		if slices.Contains(t.Tools, "*") && p.knownTool(r.server, tid, tool) {
			return true
		}
	}
	return false
}
