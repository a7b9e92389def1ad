package check

import (
	"fmt"
	"strings"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// structural runs a named structural check and returns the problem, or "".
func structural(name string, s *spec.Spec) string {
	switch name {
	case "not-authorized-scope":
		if len(s.Scope.OutOfScope) == 0 {
			return "§3 has no Out of Scope list"
		}
	case "tool-manifest":
		if len(s.Boundary.Tools) == 0 {
			return "§8 has no tool manifest table (| Tool | Effect Class | Constraints |)"
		}
	case "composition-declared":
		c := s.Decl.Composition
		switch {
		case c == nil:
			return "§4 has no Composition Declaration"
		case c.Governing == "":
			return "the Composition Declaration does not name the governing archetype"
		case c.Pattern == "":
			return "the Composition Declaration does not name its pattern (A to E)"
		case s.Decl.Archetype == constraint.Orchestrator && c.Pattern != "C":
			return fmt.Sprintf("an Orchestrator governs typed sub-agents (pattern C), not pattern %s", c.Pattern)
		case c.Pattern == "C" && len(c.SubAgents) == 0:
			return "pattern C needs a Sub-Agent Inventory (| Agent | Archetype | Authorization Scope | Failure Behavior |) with at least one row"
		}
		for _, a := range c.SubAgents {
			if a.Archetype == "" || a.Agent == "" {
				return fmt.Sprintf("Sub-Agent Inventory row at line %d names no agent or no archetype", a.Line)
			}
			if f := strings.ToLower(a.Failure); strings.Contains(f, "skip") && !strings.Contains(f, "never") {
				return fmt.Sprintf("sub-agent %s fails by skipping; declare retry, fallback or halt-and-surface", a.Agent)
			}
		}
	case "escalation-path":
		if strings.TrimSpace(s.Front.Escalation) == "" && strings.TrimSpace(s.Boundary.ExceptionGate) == "" {
			return "neither the front matter (escalation:) nor §8 (Exception gate) names an escalation path"
		}
	case "enforcement-boundary":
		if len(s.Boundary.EnforcedInvariants) == 0 {
			return "§8 lists no enforced invariants"
		}
		if strings.TrimSpace(s.Boundary.ViolationAction) == "" {
			return "§8 does not say what happens on a violation (block, log, surface)"
		}
	}
	return ""
}

func structuralLine(name string, s *spec.Spec) int {
	sec := map[string]int{"not-authorized-scope": 3, "tool-manifest": 8, "composition-declared": 4,
		"escalation-path": 8, "enforcement-boundary": 8}[name]
	if name == "escalation-path" {
		if l := s.Front.Line["escalation"]; l > 0 {
			return l
		}
	}
	if x := s.Section(sec); x != nil {
		return x.Line
	}
	return 1
}

func structuralFix(name string) string {
	return map[string]string{
		"not-authorized-scope": "add \"### Out of Scope\" to §3 listing what the agent is NOT authorized to do",
		"tool-manifest":        "add to §8 a table | Tool | Effect Class | Constraints | listing every tool the agent may call",
		"composition-declared": "add \"### Composition Declaration\" to §4 (governing archetype, pattern) and \"### Sub-Agent Inventory\" (| Agent | Archetype | Authorization Scope | Failure Behavior |)",
		"escalation-path":      "add escalation: <path> to the front matter, or **Exception gate:** to §8",
		"enforcement-boundary": "add \"### Enforced invariants\" and \"**Action on violation:**\" to §8",
	}[name]
}

// archetypeRanges are the §4 calibrations the framework gives per archetype.
var archetypeRanges = map[string]struct {
	agency        [2]int
	oversight     string
	reversibility [2]int
}{
	constraint.Advisor:      {[2]int{1, 2}, "AB", [2]int{1, 1}},
	constraint.Executor:     {[2]int{2, 4}, "CD", [2]int{2, 3}},
	constraint.Guardian:     {[2]int{2, 3}, "AB", [2]int{1, 3}},
	constraint.Synthesizer:  {[2]int{2, 3}, "ABC", [2]int{1, 2}},
	constraint.Orchestrator: {[2]int{4, 5}, "CD", [2]int{2, 3}},
}

// dimensionWarnings flags §4 values outside the archetype's calibration.
func dimensionWarnings(r *Result, s *spec.Spec) {
	d := s.Decl
	rg, ok := archetypeRanges[d.Archetype]
	if !ok {
		return
	}
	if d.Agency != 0 && (d.Agency < rg.agency[0] || d.Agency > rg.agency[1]) {
		r.add(Finding{Code: "dimension-range", Kind: Warning, Line: d.Line["agency"],
			Message: fmt.Sprintf("agency level %d is outside the %s range %d–%d", d.Agency, d.Archetype, rg.agency[0], rg.agency[1]),
			Fix:     "re-check the classification: a drift in agency usually means a different archetype or a composition"})
	}
	if d.Oversight != "" && !strings.Contains(rg.oversight, d.Oversight) {
		r.add(Finding{Code: "dimension-range", Kind: Warning, Line: d.Line["oversight"],
			Message: fmt.Sprintf("oversight model %s is outside the %s range (%s)", d.Oversight, d.Archetype, strings.Join(strings.Split(rg.oversight, ""), ", ")),
			Fix:     "conflicting variables resolve toward the more constraining model"})
	}
	if d.Reversibility != "" {
		n := int(d.Reversibility[1] - '0')
		if n < rg.reversibility[0] || n > rg.reversibility[1] {
			r.add(Finding{Code: "dimension-range", Kind: Warning, Line: d.Line["reversibility"],
				Message: fmt.Sprintf("reversibility %s is outside the %s range R%d–R%d", d.Reversibility, d.Archetype, rg.reversibility[0], rg.reversibility[1])})
		}
	}
}
