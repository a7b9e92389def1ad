// Package governance is fleetgov's AdCP campaign governance agent: exactly
// one per account (an advertising tenant), owning the whole lifecycle of a
// plan. Authorization, modification and delivery are phases of one
// evaluation; the specialist reviews (budget authority, geography,
// channels, flight, sellers, policies, audience, delivery drift, and the
// account's effective constraint clauses from the decision core) compose
// inside it and surface as categories_evaluated and findings.
//
// The agent speaks the AdCP tasks get_adcp_capabilities, sync_plans,
// check_governance (intent checks from buyers; execution checks from
// sellers in the phases purchase, modification and delivery),
// report_plan_outcome, get_plan_audit_logs, get_task_status and
// sync_governance, plus comply_test_controller and sync_accounts on
// sandbox accounts. Every request is validated against the official JSON
// schema of its task and wire version before it is handled; responses are
// shaped for the version the caller speaks (3.1 by default, 3.0 or 3.2 on
// request or by account setting) and are flat: envelope fields beside body
// fields.
//
// Approvals carry a signed governance_context (compact JWS, EdDSA, per
// account keys) bound to the plan_hash of the plan revision it approved.
// Budget is committed by report_plan_outcome from the agent's own state,
// never by a check. Every check, outcome and review is a record in the
// account's partition of the hash-chained audit log.
//
// The transport (MCP Streamable HTTP) is package governance/mcpserver.
package governance
