// Package spec parses agent specs: Markdown in the canonical template (§1 to
// §14) with YAML front matter, whose §6, §7 and §8 clauses carry a tier
// annotation:
//
//   - (Fleet, T1) [fleet.no-token-exfil] No exfiltration of session tokens across tool calls.
//   - (Archetype: Executor, T2) [executor.not-authorized-enforced] NOT-authorized scope ...
//   - (Tenant, T3) [acme.refund-review] Refunds above $200 go to a human reviewer.
//     `rule escalate: action.tool == "payments.refund" && action.arguments.amount > 200`
//
// Inherited (T1, T2) clauses name their library ID in brackets; tenant (T3)
// clauses may. A clause's machine form, if any, is a continuation line that
// holds only a code span in the compact syntax of constraint.ParseMachine.
//
// Parse reports malformed input (front matter, headings, annotations, machine
// forms, §4 values) as constraint errors with file, line and clause ID; it
// does not judge the spec against the library, which is package check's job.
package spec
