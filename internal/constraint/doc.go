// Package constraint is fleetgov's constraint library: clauses in three tiers
// (T1 fleet-wide, T2 archetype-wide, T3 per tenant), their machine forms, the
// versioned library that holds T1 and T2, and resolution of an agent's
// effective set.
//
// A clause is text that a spec carries verbatim, and optionally a machine
// form that makes "cannot weaken" checkable and lets the decision core
// enforce it:
//
//   - rule: a CEL expression over the action being checked (variables
//     action, agent and now) that fires when true, with an effect deny,
//     escalate or warn. Rules add up across tiers; any deny denies.
//   - limit: a named numeric ceiling such as cost.per_call_usd <= 0.50.
//     The effective ceiling is the minimum over tiers; a lower tier that sets
//     a higher value weakens an inherited clause, which is an error.
//   - allow: a named allow-list such as tools or countries. The effective list
//     is the intersection over tiers; a lower tier that lists a value outside an
//     inherited list widens it, which is an error.
//   - check: a named structural check on the spec itself, such as
//     not-authorized-scope, run by spec check.
//
// CEL rules are type-checked and their worst-case cost estimated when they
// are loaded; a rule that does not type-check or may cost more than
// MaxRuleCost is refused. The package does no I/O beyond reading library
// files and imports neither net/http nor database/sql.
package constraint
