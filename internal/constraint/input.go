package constraint

import (
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Action is what an agent is about to do, as the decision core sees it: a
// model call, a tool call, a resource access, a plan. The gateway and the
// governance agent fill it in; rules see it as the CEL variable action.
type Action struct {
	// Kind is what sort of action this is: model_call, tool_call,
	// resource_access, vector_query, vector_upsert, skill_read, plan, veto, ...
	Kind      string         `json:"kind"`
	Tool      string         `json:"tool,omitempty"`
	Server    string         `json:"server,omitempty"` // MCP server of a tool call
	Arguments map[string]any `json:"arguments,omitempty"`
	Resource  string         `json:"resource,omitempty"`
	Model     string         `json:"model,omitempty"`
	// Effect is the effect class: read, write, delete or transmit.
	Effect           string  `json:"effect,omitempty"`
	EstimatedCostUSD float64 `json:"estimated_cost_usd,omitempty"`
	InputTokens      int64   `json:"input_tokens,omitempty"`
	OutputTokens     int64   `json:"output_tokens,omitempty"`
	// TargetTenant is the tenant that owns the resource acted on, when the
	// caller knows it; a value other than the agent's tenant is cross-tenant.
	TargetTenant string `json:"target_tenant,omitempty"`
	// CredentialDetected is set by a caller that found a credential it holds
	// (a provider key, an upstream secret) in the arguments.
	CredentialDetected bool `json:"credential_detected,omitempty"`
	// Measures are further numbers that limits may name, e.g. refund.amount_usd.
	Measures map[string]float64 `json:"measures,omitempty"`
	// Attributes are further facts that rules and allow-lists may use, e.g.
	// countries or channels of a plan.
	Attributes map[string]any `json:"attributes,omitempty"`
	TraceID    string         `json:"trace_id,omitempty"`
}

// Agent is what rules know of the acting agent, the CEL variable agent.
// Build it with NewAgent, which prepares its lists for CEL once.
type Agent struct {
	ID              string
	Tenant          string
	Archetype       string
	Agency          int64
	Risk            string
	Oversight       string
	Reversibility   string
	Status          string
	Sandbox         bool
	Tools           []string
	NotAuthorized   []string
	SharedResources []string

	tools, notAuthorized, sharedResources ref.Val
}

// NewAgent returns a copy of a with its lists converted for CEL.
func NewAgent(a Agent) *Agent {
	a.tools = types.NewStringList(types.DefaultTypeAdapter, nonNil(a.Tools))
	a.notAuthorized = types.NewStringList(types.DefaultTypeAdapter, nonNil(a.NotAuthorized))
	a.sharedResources = types.NewStringList(types.DefaultTypeAdapter, nonNil(a.SharedResources))
	return &a
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// measure returns the value a limit named name constrains, and whether the
// action carries one.
func (a *Action) measure(name string) (float64, bool) {
	switch name {
	case "cost.per_call_usd":
		return a.EstimatedCostUSD, a.EstimatedCostUSD > 0 || a.Kind == "model_call"
	case "tokens.per_call":
		n := a.InputTokens + a.OutputTokens
		return float64(n), n > 0
	case "tokens.input_per_call":
		return float64(a.InputTokens), a.InputTokens > 0
	case "tokens.output_per_call":
		return float64(a.OutputTokens), a.OutputTokens > 0
	}
	v, ok := a.Measures[name]
	return v, ok
}

// Measure is the exported form of measure, for callers that explain decisions.
func (a *Action) Measure(name string) (float64, bool) { return a.measure(name) }

// Values returns the values an allow-list named name constrains: the tool,
// model, resource, server or kind for those names, otherwise the attribute of
// that name (a string or a list of strings).
func (a *Action) Values(name string, buf []string) []string {
	buf = buf[:0]
	one := func(s string) []string {
		if s == "" {
			return buf
		}
		return append(buf, s)
	}
	switch name {
	case "tools":
		return one(a.Tool)
	case "models":
		return one(a.Model)
	case "resources":
		return one(a.Resource)
	case "servers":
		return one(a.Server)
	case "kinds":
		return one(a.Kind)
	}
	switch v := a.Attributes[name].(type) {
	case string:
		return one(v)
	case []string:
		return append(buf, v...)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				buf = append(buf, s)
			}
		}
	}
	return buf
}

// withinHints reports whether every part of the action is within the size
// hints that rule costs are estimated over.
func (a *Action) withinHints() bool {
	if len(a.Measures) > hintMap {
		return false
	}
	for _, s := range []string{a.Kind, a.Tool, a.Server, a.Resource, a.Model, a.Effect, a.TargetTenant} {
		if len(s) > hintString {
			return false
		}
	}
	return withinHints(a.Arguments, 0) && withinHints(a.Attributes, 0)
}

func withinHints(v any, depth int) bool {
	if depth > 16 {
		return false
	}
	switch t := v.(type) {
	case string:
		return len(t) <= hintString
	case map[string]any:
		if len(t) > hintMap {
			return false
		}
		for k, e := range t {
			if len(k) > hintString || !withinHints(e, depth+1) {
				return false
			}
		}
	case []any:
		if len(t) > hintList {
			return false
		}
		for _, e := range t {
			if !withinHints(e, depth+1) {
				return false
			}
		}
	case []string:
		if len(t) > hintList {
			return false
		}
		for _, e := range t {
			if len(e) > hintString {
				return false
			}
		}
	}
	return true
}

// withinHints reports whether the agent's lists are within the size hints.
func (a *Agent) withinHints() bool {
	for _, l := range [][]string{a.Tools, a.NotAuthorized, a.SharedResources} {
		if len(l) > hintList {
			return false
		}
		for _, s := range l {
			if len(s) > hintString {
				return false
			}
		}
	}
	return true
}
