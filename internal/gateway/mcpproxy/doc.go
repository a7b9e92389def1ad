// Package mcpproxy is the gateway's MCP proxy: it serves each upstream MCP
// server that fleet.yaml names (gateway.mcp_servers) at
// /gateway/mcp/{server}, over MCP Streamable HTTP, with the official MCP Go
// SDK on both sides. It keeps the isolation contract's mcp-servers row:
// per-tenant capability scope, credentials never crossed.
//
// Agents connect with their agent key as a bearer token; a tenant token,
// an unknown or a revoked key is answered 401 before any MCP session, an
// unknown server 404, and a tenant with no scope on the server 403 (audited;
// the answer says nothing about other tenants). The proxy is stateless:
// every HTTP request is authenticated and decided on its own.
//
// tools/list shows the upstream tools that are both in the caller's tenant
// scope on the server and in the calling agent's §8 tool manifest (as
// "<server>.<tool>"). A tools/call for any other tool, whether outside the
// scope, outside §8 or unknown upstream, is answered with the very error an
// unknown tool gets, so nothing of another tenant's scope shows; a call
// naming a tool that another tenant's scope holds and the caller's does not
// is a cross-tenant attempt, recorded at the platform tier as a Cat 4
// event. Every call in scope is decided by the agent's effective clauses
// (deny and escalate are enforced, warn is recorded), and a call whose
// arguments carry a credential the platform issued or holds is blocked
// under fleet.no-token-exfil whatever the library says. Resources, prompts
// and other methods are not offered.
//
// Upstream, the gateway holds one client session per (server, tenant),
// opened with that tenant's credential (fleet.yaml's credential: an
// environment variable or a file, sent in its header, "Bearer " before it
// in Authorization). The caller's own headers never go upstream, and no
// session or credential is shared between tenants. An upstream JSON-RPC
// error is passed on; a timeout (timeout_seconds) or an unreachable
// upstream answers a tool error that says so. Every tools/list and
// tools/call, allowed or refused, is audited, durably, before the answer is
// sent; arguments and results never enter the audit log.
package mcpproxy
