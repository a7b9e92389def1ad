# The benchmark policy in Rego: the same 50 clauses as testdata/library plus
# the payments.refunds agent's own clauses in testdata/agents.yaml (20 rules,
# 10 limits, 10 allow-lists; textual clauses have no runtime form). Written
# the way OPA is fastest: direct input references (so the rule index applies),
# undefined instead of defaults, sets for membership.
# TestOPAEquivalence checks that it decides every case as fleetgov does.
package fleetgov

import rego.v1

# ---- 20 rules ----
fired contains "fleet.no-token-exfil" if {
	input.action.kind == "tool_call"
	input.action.credential_detected == true
}

# fleetgov.contains_credential is a custom built-in backed by the same Go
# scanner (internal/secret) as fleetgov's CEL function contains_credential,
# registered with rego.Function1: both engines get the same native helper.
fired contains "fleet.no-token-exfil" if {
	input.action.kind == "tool_call"
	fleetgov.contains_credential(input.action.arguments)
}

fired contains "fleet.no-cross-tenant" if {
	input.action.target_tenant != ""
	input.action.target_tenant != input.agent.tenant
}

fired contains "fleet.prompt-extraction-defense" if {
	input.action.kind == "model_call"
	input.action.attributes.prompt_defense == "off"
}

fired contains "fleet.vector-namespace" if {
	startswith(input.action.kind, "vector_")
	input.action.attributes.namespace != input.agent.tenant
}

fired contains "fleet.sanctioned-countries" if {
	input.action.attributes.country in {"KP", "IR", "SY", "CU"}
}

fired contains "fleet.staging-writes" if {
	input.agent.status == "staging"
	input.action.effect == "write"
}

fired contains "executor.not-authorized-enforced" if {
	input.action.kind == "tool_call"
	input.action.tool in input.agent.not_authorized
}

fired contains "executor.not-authorized-enforced" if {
	input.action.kind == "tool_call"
	not input.action.tool in input.agent.tools
}

fired contains "executor.irreversible-preauth" if {
	input.action.kind == "tool_call"
	input.action.effect in {"delete", "transmit"}
}

fired contains "payments.refund-review" if {
	input.action.tool == "payments.refund"
	input.action.arguments.amount > 200
}

fired contains "payments.refund-currency" if {
	input.action.tool == "payments.refund"
	c := input.action.arguments.currency
	not c in {"USD", "EUR", "GBP"}
}

fired contains "payments.note-size" if {
	input.action.tool == "crm.add_case_note"
	count(input.action.arguments.note) > 2000
}

fired contains "payments.night-refunds" if {
	input.action.tool == "payments.refund"
	not hour_in_day
}

hour_in_day if {
	[hour, _, _] := time.clock([input.now_ns, "UTC"])
	hour >= 6
	hour < 22
}

fired contains "payments.long-answers" if {
	input.action.kind == "model_call"
	input.action.output_tokens > 4000
}

fired contains "payments.order-ids" if {
	input.action.tool == "orders.get_order"
	not startswith(input.action.arguments.order_id, "ORD-")
	input.action.arguments.order_id
}

fired contains "payments.order-age" if {
	input.action.tool == "payments.refund"
	input.action.arguments.order_age_days > 180
}

fired contains "payments.disposable-email" if {
	input.action.kind == "tool_call"
	regex.match(`@(mailinator|tempmail)\.`, input.action.arguments.email)
}

fired contains "payments.buckets" if {
	startswith(input.action.resource, "s3://")
	not startswith(input.action.resource, "s3://payments-")
}

fired contains "payments.big-prompts" if {
	input.action.kind == "model_call"
	startswith(input.action.model, "gpt-4o")
	input.action.input_tokens > 100000
}

fired contains "payments.retries" if {
	input.action.tool == "payments.refund"
	input.action.arguments.retry > 1
}

fired contains "payments.mail-domains" if {
	input.action.tool == "mail.send"
	to := input.action.arguments.to
	not endswith(to, concat("", ["@", input.action.arguments.customer_domain]))
}

# ---- 10 limits: a measure applies when the action carries it ----
cost := input.action.estimated_cost_usd

cost := 0 if {
	not input.action.estimated_cost_usd
	input.action.kind == "model_call"
}

tokens := t if {
	t := object.get(input.action, "input_tokens", 0) + object.get(input.action, "output_tokens", 0)
	t > 0
}

fired contains "fleet.cost-per-call" if cost > 0.25

fired contains "payments.cost-per-claim" if cost > 0.05

fired contains "fleet.tokens-per-call" if tokens > 128000

fired contains "payments.tokens" if tokens > 32000

fired contains "fleet.output-tokens" if input.action.output_tokens > 8000

fired contains "fleet.central-audit" if input.action.measures["audit.delay_seconds"] > 5

fired contains "payments.audit-fast" if input.action.measures["audit.delay_seconds"] > 2

fired contains "fleet.tool-calls-per-run" if input.action.measures["tool_calls.per_run"] > 50

fired contains "payments.refund-cap" if input.action.measures["refund.amount_usd"] > 500

fired contains "payments.refund-rate" if input.action.measures["refunds.per_hour"] > 20

# ---- 10 allow-lists: sets, prefix patterns apart ----
# attr(name) holds the strings an attribute carries, alone or in a list.
attr(name) := {v} if {
	v := input.action.attributes[name]
	is_string(v)
}

attr(name) := {v | some v in input.action.attributes[name]; is_string(v)} if is_array(input.action.attributes[name])

fired contains "fleet.models" if {
	m := input.action.model
	m != ""
	not m in {"gpt-4o", "gpt-4o-mini"}
	not startswith(m, "claude-sonnet-4-")
	not startswith(m, "fleet-demo-")
}

fired contains "payments.models" if {
	m := input.action.model
	m != ""
	m != "gpt-4o-mini"
	not startswith(m, "fleet-demo-")
}

fired contains "fleet.servers" if {
	s := input.action.server
	s != ""
	not s in {"crm", "payments", "orders", "carrier", "kb"}
}

fired contains "payments.servers" if {
	s := input.action.server
	s != ""
	not s in {"payments", "orders", "carrier", "crm"}
}

fired contains "fleet.kinds" if {
	k := input.action.kind
	k != ""
	not k in {"model_call", "tool_call", "resource_access", "vector_query", "vector_upsert", "skill_read", "veto", "plan"}
}

fired contains "fleet.currencies" if {
	some v in attr("currencies")
	not v in {"USD", "EUR", "GBP", "CAD", "JPY"}
}

fired contains "payments.currencies" if {
	some v in attr("currencies")
	not v in {"USD", "EUR", "GBP"}
}

fired contains "executor.effects" if {
	some v in attr("effects")
	not v in {"read", "write", "delete", "transmit"}
}

fired contains "payments.countries" if {
	some v in attr("countries")
	not v in {"US", "CA", "GB", "DE", "FR", "NL"}
}

fired contains "payments.channels" if {
	some v in attr("channels")
	not v in {"web", "app"}
}

# ---- the decision ----
escalations := {
	"payments.refund-review", "payments.night-refunds", "payments.disposable-email",
	"payments.refund-rate", "executor.irreversible-preauth", "fleet.staging-writes",
}

warnings := {"payments.long-answers"}

decision := "deny" if {
	some id in fired
	not id in escalations
	not id in warnings
} else := "escalate" if {
	some id in fired
	id in escalations
} else := "allow"

result := {"decision": decision, "fired": fired}
