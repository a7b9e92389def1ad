package constraint

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Clause is one constraint: text that specs carry verbatim, its tier, and an
// optional machine form (at most one of Rule, Limit, Allow and Check).
type Clause struct {
	ID        string `json:"id"`
	Tier      Tier   `json:"tier"`
	Archetype string `json:"archetype,omitempty"` // T2 only
	Section   int    `json:"section"`             // 6, 7 or 8
	Text      string `json:"text"`
	// Resource, when set, limits the clause to specs that declare a
	// dependency on that shared resource (a contract row's id).
	Resource   string      `json:"resource,omitempty"`
	Provenance *Provenance `json:"provenance,omitempty"`
	Rule       *Rule       `json:"rule,omitempty"`
	Limit      *Limit      `json:"limit,omitempty"`
	Allow      *Allow      `json:"allow,omitempty"`
	Check      string      `json:"check,omitempty"`
	// Pos is where the clause is defined: a library file or a spec.
	Pos Pos `json:"-"`
}

// Provenance records why a T1 or T2 clause exists: the failure category that
// produced it and the incidents or cross-tenant failure that justified it.
type Provenance struct {
	Cat       int      `json:"cat,omitempty" yaml:"cat"`
	Incidents []string `json:"incidents,omitempty" yaml:"incidents"`
	Note      string   `json:"note,omitempty" yaml:"note"`
}

// Justified reports whether the provenance names a category and evidence.
func (p *Provenance) Justified() bool {
	return p != nil && p.Cat >= 1 && p.Cat <= 7 && (len(p.Incidents) > 0 || strings.TrimSpace(p.Note) != "")
}

// Rule is a CEL expression that fires when it evaluates to true.
type Rule struct {
	When   string `json:"when"`
	Effect Effect `json:"effect"`
	prog   *Program
}

// Program returns the compiled expression; nil until the clause is compiled.
func (r *Rule) Program() *Program { return r.prog }

// Limit is a named numeric ceiling.
type Limit struct {
	Name   string  `json:"name"`
	Max    float64 `json:"max"`
	Effect Effect  `json:"effect"`
}

// Allow is a named allow-list. A value ending in "*" matches every value
// with that prefix.
type Allow struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
	Effect Effect   `json:"effect"`
}

// Checks names the structural spec checks a clause may require, with what
// each one asks of the spec. Package check implements them.
var Checks = map[string]string{
	"not-authorized-scope": "§3 declares an Out of Scope (NOT-authorized) list with at least one entry",
	"tool-manifest":        "§8 holds a tool manifest table listing every tool with its effect class",
	"composition-declared": "§4 holds a Composition Declaration and, for sub-agents, a Sub-Agent Inventory naming each one's archetype",
	"escalation-path":      "the front matter names an escalation path",
	"enforcement-boundary": "§8 declares the enforced invariants and the action taken on a violation",
}

// lineBreakRE matches a line break with the indentation around it.
var lineBreakRE = regexp.MustCompile(`[ \t]*\r?\n[ \t]*`)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// idRE is the syntax of clause IDs.
var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$`)

// ValidID reports whether s is a well-formed clause ID.
func ValidID(s string) bool { return idRE.MatchString(s) }

// NormalizeText collapses runs of white space, so that a clause wrapped over
// several lines compares equal to its one-line library text.
func NormalizeText(s string) string { return strings.Join(strings.Fields(s), " ") }

// HasMachineForm reports whether the clause carries a rule, limit, allow or check.
func (c *Clause) HasMachineForm() bool {
	return c.Rule != nil || c.Limit != nil || c.Allow != nil || c.Check != ""
}

// MachineForm renders the machine form in the compact syntax that specs use,
// or "" if the clause has none.
func (c *Clause) MachineForm() string {
	switch {
	case c.Rule != nil:
		// A rule written over several YAML lines renders on one: CEL treats
		// a line break as white space.
		return fmt.Sprintf("rule %s: %s", c.Rule.Effect, lineBreakRE.ReplaceAllString(strings.TrimSpace(c.Rule.When), " "))
	case c.Limit != nil:
		s := fmt.Sprintf("limit %s <= %s", c.Limit.Name, formatNumber(c.Limit.Max))
		if c.Limit.Effect != Deny {
			s += " " + string(c.Limit.Effect)
		}
		return s
	case c.Allow != nil:
		s := fmt.Sprintf("allow %s: %s", c.Allow.Name, strings.Join(c.Allow.Values, ", "))
		if c.Allow.Effect != Deny {
			s += " (" + string(c.Allow.Effect) + ")"
		}
		return s
	case c.Check != "":
		return "check " + c.Check
	}
	return ""
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Annotation renders the clause's tier annotation, e.g. "(Archetype: Executor, T2)".
func (c *Clause) Annotation() string {
	switch c.Tier {
	case T1:
		return "(Fleet, T1)"
	case T2:
		return fmt.Sprintf("(Archetype: %s, T2)", c.Archetype)
	default:
		return "(Tenant, T3)"
	}
}

// SpecLine renders the clause as a spec list item, the line a spec must carry
// for an inherited clause.
func (c *Clause) SpecLine() string {
	if c.Tier == T3 && c.ID == "" {
		return fmt.Sprintf("- %s %s", c.Annotation(), c.Text)
	}
	return fmt.Sprintf("- %s [%s] %s", c.Annotation(), c.ID, c.Text)
}

// Machine is a parsed machine form, as written in a spec.
type Machine struct {
	Rule  *Rule
	Limit *Limit
	Allow *Allow
	Check string
}

// machineKeywords start the compact syntax of a machine form.
var machineKeywords = []string{"rule", "limit", "allow", "check"}

// LooksLikeMachineForm reports whether s (the content of a code span) is
// meant as a machine form, so that a malformed one is reported rather than
// taken as text.
func LooksLikeMachineForm(s string) bool {
	s = strings.TrimSpace(s)
	for _, k := range machineKeywords {
		if rest, ok := strings.CutPrefix(s, k); ok && (rest == "" || rest[0] == ' ' || rest[0] == ':') {
			return true
		}
	}
	return false
}

var (
	limitRE = regexp.MustCompile(`^limit\s+(\S+)\s*<=\s*(\S+)(?:\s+(\S+))?$`)
	allowRE = regexp.MustCompile(`^allow\s+([^:\s]+)\s*:\s*(.*?)(?:\s+\((\w+)\))?$`)
	ruleRE  = regexp.MustCompile(`^rule(?:\s+(\w+))?\s*:\s*(.+)$`)
)

// ParseMachine parses the compact syntax of a machine form:
//
//	rule [deny|escalate|warn]: <CEL expression>
//	limit <name> <= <number> [deny|escalate|warn]
//	allow <name>: <value>, <value>, ... [(deny|escalate|warn)]
//	check <name>
//
// The effect defaults to deny. CEL is not compiled here; see Compile.
func ParseMachine(s string) (Machine, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "rule"):
		m := ruleRE.FindStringSubmatch(s)
		if m == nil {
			return Machine{}, fmt.Errorf("bad rule %q: want `rule <effect>: <CEL expression>`", s)
		}
		eff := Deny
		if m[1] != "" {
			e, err := ParseEffect(m[1])
			if err != nil {
				return Machine{}, fmt.Errorf("bad rule: %w", err)
			}
			eff = e
		}
		return Machine{Rule: &Rule{When: strings.TrimSpace(m[2]), Effect: eff}}, nil
	case strings.HasPrefix(s, "limit"):
		m := limitRE.FindStringSubmatch(s)
		if m == nil {
			return Machine{}, fmt.Errorf("bad limit %q: want `limit <name> <= <number> [effect]`", s)
		}
		l := &Limit{Name: m[1], Effect: Deny}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return Machine{}, fmt.Errorf("bad limit %q: %q is not a number", s, m[2])
		}
		l.Max = v
		if m[3] != "" {
			if l.Effect, err = ParseEffect(m[3]); err != nil {
				return Machine{}, fmt.Errorf("bad limit: %w", err)
			}
		}
		return Machine{Limit: l}, validateLimit(l)
	case strings.HasPrefix(s, "allow"):
		m := allowRE.FindStringSubmatch(s)
		if m == nil {
			return Machine{}, fmt.Errorf("bad allow %q: want `allow <name>: <value>, <value>, ...`", s)
		}
		a := &Allow{Name: m[1], Effect: Deny}
		for _, v := range strings.Split(m[2], ",") {
			if v = strings.TrimSpace(v); v != "" {
				a.Values = append(a.Values, v)
			}
		}
		if m[3] != "" {
			e, err := ParseEffect(m[3])
			if err != nil {
				return Machine{}, fmt.Errorf("bad allow: %w", err)
			}
			a.Effect = e
		}
		return Machine{Allow: a}, validateAllow(a)
	case strings.HasPrefix(s, "check"):
		name := strings.TrimSpace(strings.TrimPrefix(s, "check"))
		return Machine{Check: name}, validateCheck(name)
	}
	return Machine{}, fmt.Errorf("unknown machine form %q: want rule, limit, allow or check", s)
}

func validateLimit(l *Limit) error {
	if !nameRE.MatchString(l.Name) {
		return fmt.Errorf("limit name %q is not a dotted lower-case name such as cost.per_call_usd", l.Name)
	}
	if math.IsNaN(l.Max) || math.IsInf(l.Max, 0) {
		return fmt.Errorf("limit %s: ceiling %v is not a finite number", l.Name, l.Max)
	}
	if l.Max < 0 {
		return fmt.Errorf("limit %s: ceiling %v is negative", l.Name, l.Max)
	}
	return nil
}

func validateAllow(a *Allow) error {
	if !nameRE.MatchString(a.Name) {
		return fmt.Errorf("allow-list name %q is not a dotted lower-case name such as tools", a.Name)
	}
	if len(a.Values) == 0 {
		return fmt.Errorf("allow-list %s is empty", a.Name)
	}
	seen := make(map[string]bool, len(a.Values))
	for _, v := range a.Values {
		if strings.Contains(strings.TrimSuffix(v, "*"), "*") {
			return fmt.Errorf("allow-list %s: %q may only end in *", a.Name, v)
		}
		if seen[v] {
			return fmt.Errorf("allow-list %s lists %q twice", a.Name, v)
		}
		seen[v] = true
	}
	return nil
}

func validateCheck(name string) error {
	if _, ok := Checks[name]; !ok {
		known := make([]string, 0, len(Checks))
		for k := range Checks {
			known = append(known, k)
		}
		slices.Sort(known)
		return fmt.Errorf("unknown check %q (want one of %s)", name, strings.Join(known, ", "))
	}
	return nil
}

// SetMachine installs a parsed machine form on the clause.
func (c *Clause) SetMachine(m Machine) {
	c.Rule, c.Limit, c.Allow, c.Check = m.Rule, m.Limit, m.Allow, m.Check
}

// SameMachine reports whether two clauses carry the same machine form.
func (c *Clause) SameMachine(o *Clause) bool { return c.MachineForm() == o.MachineForm() }

// Validate checks the clause's structure and compiles its rule, if any. It
// reports every problem with the clause's position and ID.
func (c *Clause) Validate() ErrorList {
	var errs ErrorList
	bad := func(format string, args ...any) { errs = append(errs, Errorf(c.Pos, c.ID, format, args...)) }
	if c.Tier != T3 || c.ID != "" {
		if !ValidID(c.ID) {
			bad("bad clause id %q: use lower-case words separated by dots or dashes, e.g. fleet.no-token-exfil", c.ID)
		}
	}
	switch c.Tier {
	case T1, T3:
		if c.Archetype != "" {
			bad("only T2 clauses name an archetype; this %s clause names %q", c.Tier, c.Archetype)
		}
	case T2:
		a, err := ParseArchetype(c.Archetype)
		if err != nil {
			bad("T2 clause: %v", err)
			errs[len(errs)-1].Code = CodeUnknownArchetype
		}
		c.Archetype = a
	default:
		bad("unknown tier %s (want T1, T2 or T3)", c.Tier)
	}
	if !ValidSection(c.Section) {
		bad("section §%d cannot hold clauses (want §6, §7 or §8)", c.Section)
	}
	if NormalizeText(c.Text) == "" {
		bad("clause has no text")
	}
	n := 0
	for _, set := range []bool{c.Rule != nil, c.Limit != nil, c.Allow != nil, c.Check != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		bad("a clause has at most one machine form (rule, limit, allow or check); this one has %d", n)
	}
	if c.Provenance != nil && c.Provenance.Cat != 0 && (c.Provenance.Cat < 1 || c.Provenance.Cat > 7) {
		bad("provenance cat %d is not a failure category (1 to 7)", c.Provenance.Cat)
	}
	switch {
	case c.Rule != nil:
		if c.Rule.Effect == "" {
			c.Rule.Effect = Deny
		} else if _, err := ParseEffect(string(c.Rule.Effect)); err != nil {
			bad("rule: %v", err)
		}
		prog, err := Compile(c.Rule.When)
		if err != nil {
			bad("rule: %v", err)
			errs[len(errs)-1].Code = CodeCELType
			if errors.Is(err, ErrTooCostly) {
				errs[len(errs)-1].Code = CodeCELCost
			}
		}
		c.Rule.prog = prog
	case c.Limit != nil:
		if c.Limit.Effect == "" {
			c.Limit.Effect = Deny
		} else if _, err := ParseEffect(string(c.Limit.Effect)); err != nil {
			bad("limit: %v", err)
		}
		if err := validateLimit(c.Limit); err != nil {
			bad("%v", err)
		}
	case c.Allow != nil:
		if c.Allow.Effect == "" {
			c.Allow.Effect = Deny
		} else if _, err := ParseEffect(string(c.Allow.Effect)); err != nil {
			bad("allow: %v", err)
		}
		if err := validateAllow(c.Allow); err != nil {
			bad("%v", err)
		}
	case c.Check != "":
		if err := validateCheck(c.Check); err != nil {
			bad("%v", err)
		}
	}
	return errs
}
