package constraint

import (
	"errors"
	"fmt"
	"strings"
)

// Tier is a clause's level in the inheritance hierarchy.
type Tier int

// The three tiers.
const (
	T1 Tier = 1 // fleet-wide, owned by the platform team
	T2 Tier = 2 // archetype-wide, inherited from the spec's §4 archetype
	T3 Tier = 3 // per tenant, in the tenant's spec
)

func (t Tier) String() string {
	switch t {
	case T1:
		return "T1"
	case T2:
		return "T2"
	case T3:
		return "T3"
	}
	return fmt.Sprintf("T%d?", int(t))
}

// ParseTier parses "T1", "T2" or "T3".
func ParseTier(s string) (Tier, error) {
	switch strings.TrimSpace(s) {
	case "T1":
		return T1, nil
	case "T2":
		return T2, nil
	case "T3":
		return T3, nil
	}
	return 0, fmt.Errorf("unknown tier %q (want T1, T2 or T3)", s)
}

// MarshalText encodes a tier as "T1", "T2" or "T3".
func (t Tier) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText decodes "T1", "T2" or "T3".
func (t *Tier) UnmarshalText(b []byte) error {
	v, err := ParseTier(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// The five canonical archetypes. There is no sixth: other shapes are
// compositions of these.
const (
	Advisor      = "Advisor"
	Executor     = "Executor"
	Guardian     = "Guardian"
	Synthesizer  = "Synthesizer"
	Orchestrator = "Orchestrator"
)

// Archetypes lists the canonical archetypes in the framework's order.
var Archetypes = []string{Advisor, Executor, Guardian, Synthesizer, Orchestrator}

// ErrUnknownArchetype is an archetype name that is not one of the five.
var ErrUnknownArchetype = errors.New("unknown archetype")

// ParseArchetype returns the canonical spelling of an archetype name, matched
// without regard to case.
func ParseArchetype(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, a := range Archetypes {
		if strings.EqualFold(a, s) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of %s)", ErrUnknownArchetype, s, strings.Join(Archetypes, ", "))
}

// Effect is what a fired clause does to the decision.
type Effect string

// Effects, from the strongest.
const (
	Deny     Effect = "deny"
	Escalate Effect = "escalate"
	Warn     Effect = "warn"
)

// ParseEffect parses deny, escalate or warn.
func ParseEffect(s string) (Effect, error) {
	switch e := Effect(strings.ToLower(strings.TrimSpace(s))); e {
	case Deny, Escalate, Warn:
		return e, nil
	}
	return "", fmt.Errorf("unknown effect %q (want deny, escalate or warn)", s)
}

// rank orders effects: a lower rank is stronger.
func (e Effect) rank() int {
	switch e {
	case Deny:
		return 0
	case Escalate:
		return 1
	case Warn:
		return 2
	}
	return 3
}

// Stronger reports whether e overrides o in a decision.
func (e Effect) Stronger(o Effect) bool { return e.rank() < o.rank() }

// Sections that hold clauses.
const (
	SectionInvariants    = 6
	SectionNonFunctional = 7
	SectionAuthorization = 8
)

// ValidSection reports whether clauses may live in spec section n.
func ValidSection(n int) bool { return n >= SectionInvariants && n <= SectionAuthorization }
