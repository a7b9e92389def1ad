// Package decision is fleetgov's decision core: it compiles an agent's
// effective constraint set into a Policy and decides actions against it,
// answering allow, deny or escalate with every clause that fired. The HTTP
// API, the gateway and the AdCP governance agent all call it in-process.
//
// Rules fire when their CEL expression is true; a rule that cannot be
// evaluated (a missing argument, a cost overrun) fails closed: it fires with
// its effect and says why. Limits fire when the action's measure exceeds the
// ceiling; allow-lists fire when a value the action carries is not admitted.
// The strongest effect decides: deny, then escalate; warnings are reported
// but allow. Exceptions relax one clause until they expire; an action that
// passes only because of an exception lists it in ExceptionsApplied.
//
// Decide is safe for concurrent use; when no clause fires it allocates only
// what cel-go needs to box the input values it reads. The package imports neither net/http nor database/sql.
package decision

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/fleetgov/fleetgov/internal/constraint"
)

// Outcome is the answer to an action.
type Outcome string

// Outcomes.
const (
	Allow    Outcome = "allow"
	Deny     Outcome = "deny"
	Escalate Outcome = "escalate"
)

// Fired is a clause that fired on an action.
type Fired struct {
	Clause    string `json:"clause"`
	Tier      string `json:"tier"`
	Archetype string `json:"archetype,omitempty"`
	Section   int    `json:"section,omitempty"`
	Text      string `json:"text"`
	Kind      string `json:"kind"` // rule, limit, allow or registry
	// Measure is the limit's measure (e.g. cost.per_call_usd) when Kind is
	// limit, the list's name when Kind is allow.
	Measure string            `json:"measure,omitempty"`
	Effect  constraint.Effect `json:"effect"`
	Reason  string            `json:"reason"`
}

// Applied is an exception that let an action through a clause that would
// otherwise have fired.
type Applied struct {
	Exception string `json:"exception"`
	Clause    string `json:"clause"`
	Reason    string `json:"reason"`
}

// Decision is the answer to one action.
type Decision struct {
	Outcome           Outcome   `json:"decision"`
	Fired             []Fired   `json:"fired"`
	ExceptionsApplied []Applied `json:"exceptions_applied"`
}

// Exception relaxes one clause of the policy until ExpiresAt.
type Exception struct {
	ID        string
	ClauseID  string
	Limit     *float64 // a limit's relaxed ceiling
	Allow     []string // values added to an allow-list
	Waive     bool     // a rule does not fire
	ExpiresAt time.Time
}

func (e *Exception) active(now time.Time) bool { return e != nil && now.Before(e.ExpiresAt) }

type rule struct {
	clause *constraint.Clause
	prog   *constraint.Program
	exc    *Exception
}

type limit struct {
	clause *constraint.Clause
	exc    *Exception
	// The constant parts of the reason, built once: "<name> is " and
	// ", above the ceiling <max>".
	prefix, suffix string
	fired          Fired // the clause's Fired, Reason left to fill in
}

type allow struct {
	clause *constraint.Clause
	exc    *Exception
	prefix string // "<name> "
	fired  Fired
}

// Policy is an agent's compiled effective set. It is immutable.
type Policy struct {
	agent      *constraint.Agent
	deprecated bool
	rules      []rule
	// all evaluates every rule without an exception in one program, as a
	// list of booleans in the order of allIdx; when it errors (some rule
	// cannot be evaluated) the rules run one by one to find which.
	all    *constraint.ListProgram
	allIdx []int
	limits []limit
	allows []allow
	pool   sync.Pool
}

// New compiles a policy for agent from its effective set and the exceptions
// that apply to it. An exception for a clause the set does not hold, or of
// the wrong kind for the clause, is an error.
func New(eff *constraint.Effective, agent constraint.Agent, exceptions []Exception) (*Policy, error) {
	p := &Policy{agent: constraint.NewAgent(agent), deprecated: agent.Status == "deprecated"}
	byClause := map[string]*Exception{}
	for i := range exceptions {
		e := &exceptions[i]
		byClause[e.ClauseID] = e
	}
	used := map[string]bool{}
	var anySrc []string
	for _, c := range eff.Clauses {
		exc := byClause[c.ID]
		if exc != nil {
			used[c.ID] = true
			if err := fits(exc, c); err != nil {
				return nil, err
			}
		}
		switch {
		case c.Rule != nil:
			prog := c.Rule.Program()
			if prog == nil {
				var err error
				if prog, err = constraint.Compile(c.Rule.When); err != nil {
					return nil, fmt.Errorf("decision: clause %s: %w", c.ID, err)
				}
			}
			if exc == nil {
				anySrc = append(anySrc, "("+c.Rule.When+")")
				p.allIdx = append(p.allIdx, len(p.rules))
			}
			p.rules = append(p.rules, rule{clause: c, prog: prog, exc: exc})
		case c.Limit != nil:
			p.limits = append(p.limits, limit{clause: c, exc: exc, prefix: c.Limit.Name + " is ",
				suffix: ", above the ceiling " + num(c.Limit.Max), fired: measured(fired(c, "limit", c.Limit.Effect, ""), c.Limit.Name)})
		case c.Allow != nil:
			p.allows = append(p.allows, allow{clause: c, exc: exc, prefix: c.Allow.Name + " ",
				fired: measured(fired(c, "allow", c.Allow.Effect, ""), c.Allow.Name)})
		}
	}
	for id := range byClause {
		if !used[id] {
			return nil, fmt.Errorf("decision: exception %s names clause %s, which is not in the agent's effective set", byClause[id].ID, id)
		}
	}
	if len(anySrc) > 1 {
		// Each rule was compiled and cost-checked alone; the list only
		// saves per-evaluation overhead.
		if prog, err := constraint.CompileList(anySrc); err == nil {
			p.all = prog
		}
	}
	p.pool.New = func() any { return constraint.NewActivation() }
	return p, nil
}

func fits(e *Exception, c *constraint.Clause) error {
	switch {
	case c.Rule != nil && !e.Waive:
		return fmt.Errorf("decision: exception %s: clause %s is a rule; an exception can only waive it", e.ID, c.ID)
	case c.Limit != nil && e.Limit == nil:
		return fmt.Errorf("decision: exception %s: clause %s is a limit; the exception must set a relaxed ceiling", e.ID, c.ID)
	case c.Allow != nil && len(e.Allow) == 0:
		return fmt.Errorf("decision: exception %s: clause %s is an allow-list; the exception must add values", e.ID, c.ID)
	case !c.HasMachineForm() || c.Check != "":
		return fmt.Errorf("decision: exception %s: clause %s has no runtime form to relax", e.ID, c.ID)
	}
	return nil
}

// Decide decides one action at time now.
func (p *Policy) Decide(a *constraint.Action, now time.Time) Decision {
	d := Decision{Outcome: Allow}
	if p.deprecated {
		d.fire(Fired{Clause: "registry.status", Tier: "registry", Kind: "registry", Effect: constraint.Deny,
			Text: "A deprecated agent takes no actions.", Reason: "agent " + p.agent.ID + " is deprecated"})
		return d
	}
	in := p.pool.Get().(*constraint.Activation)
	in.Reset(a, p.agent, now)
	p.decideRules(in, now, &d)
	in.Reset(nil, nil, time.Time{})
	p.pool.Put(in)

	for i := range p.limits {
		l := &p.limits[i]
		lm := l.clause.Limit
		v, ok := a.Measure(lm.Name)
		if !ok || v <= lm.Max {
			continue
		}
		if l.exc.active(now) && v <= *l.exc.Limit {
			d.ExceptionsApplied = append(d.ExceptionsApplied, Applied{Exception: l.exc.ID, Clause: l.clause.ID,
				Reason: fmt.Sprintf("%s %s is above %s but within the exception's %s", lm.Name, num(v), num(lm.Max), num(*l.exc.Limit))})
			continue
		}
		f := l.fired
		f.Reason = l.prefix + num(v) + l.suffix
		d.fire(f)
	}
	var buf [4]string
	for i := range p.allows {
		al := &p.allows[i]
		for _, v := range a.Values(al.clause.Allow.Name, buf[:0]) {
			if constraint.AllowMatch(al.clause.Allow.Values, v) {
				continue
			}
			if al.exc.active(now) && constraint.AllowMatch(al.exc.Allow, v) {
				d.ExceptionsApplied = append(d.ExceptionsApplied, Applied{Exception: al.exc.ID, Clause: al.clause.ID,
					Reason: fmt.Sprintf("%s %q is admitted by the exception", al.clause.Allow.Name, v)})
				continue
			}
			f := al.fired
			f.Reason = al.prefix + strconv.Quote(v) + " is not in the allow-list"
			d.fire(f)
		}
	}
	return d
}

func (p *Policy) decideRules(in *constraint.Activation, now time.Time, d *Decision) {
	done := false
	if p.all != nil && in.WithinHints() {
		done = p.all.Eval(in, func(i int) {
			r := &p.rules[p.allIdx[i]]
			d.fire(fired(r.clause, "rule", r.clause.Rule.Effect, "the rule's condition holds"))
		})
	}
	for i := range p.rules {
		r := &p.rules[i]
		if done && r.exc == nil {
			continue
		}
		hit, err := r.prog.Eval(in)
		reason := "the rule's condition holds"
		if err != nil {
			hit, reason = true, "the rule could not be evaluated, so it fails closed: "+err.Error()
		}
		if !hit {
			continue
		}
		if r.exc.active(now) {
			d.ExceptionsApplied = append(d.ExceptionsApplied, Applied{Exception: r.exc.ID, Clause: r.clause.ID, Reason: "the rule is waived"})
			continue
		}
		d.fire(fired(r.clause, "rule", r.clause.Rule.Effect, reason))
	}
}

func fired(c *constraint.Clause, kind string, eff constraint.Effect, reason string) Fired {
	return Fired{Clause: c.ID, Tier: c.Tier.String(), Archetype: c.Archetype, Section: c.Section, Text: c.Text,
		Kind: kind, Effect: eff, Reason: reason}
}

func measured(f Fired, name string) Fired {
	f.Measure = name
	return f
}

func (d *Decision) fire(f Fired) {
	if d.Fired == nil {
		d.Fired = make([]Fired, 0, 4)
	}
	d.Fired = append(d.Fired, f)
	switch {
	case f.Effect == constraint.Deny:
		d.Outcome = Deny
	case f.Effect == constraint.Escalate && d.Outcome == Allow:
		d.Outcome = Escalate
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Agent returns the agent the policy decides for.
func (p *Policy) Agent() *constraint.Agent { return p.agent }
