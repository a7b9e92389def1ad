// Package check judges agent specs against the fleet repo: that every
// inherited clause is present, verbatim, in its section and tier; that no
// tenant clause weakens an inherited one; that the structural checks the
// library requires hold; and whether the spec's pinned library version is
// behind a change to a clause it inherits (spec-amendment-required). It also
// lints the library and diffs its versions against the specs that inherit
// them. Results render for people, as JSON, and as SARIF 2.1.0.
package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// Kind classifies a finding by what it means for the spec.
type Kind string

// Finding kinds, from the most to the least severe.
const (
	BadInput  Kind = "bad_input"          // the input cannot be read or is malformed
	Violation Kind = "violation"          // the spec breaks the fleet's rules
	Amendment Kind = "amendment_required" // an inherited clause changed since the pin
	Warning   Kind = "warning"            // worth a look; does not fail the check
	Note      Kind = "note"               // for information
)

// Status is the outcome of a check.
type Status string

// Statuses, from the least to the most severe.
const (
	Pass              Status = "pass"
	AmendmentRequired Status = "amendment_required"
	Violations        Status = "violations"
	BadInputStatus    Status = "bad_input"
)

// Exit codes of fleetgov spec check, one per status.
const (
	ExitPass       = 0
	ExitViolations = 1
	ExitBadInput   = 2
	ExitAmendment  = 3
)

// ExitCode maps a status to fleetgov spec check's exit code.
func (s Status) ExitCode() int {
	switch s {
	case Violations:
		return ExitViolations
	case BadInputStatus:
		return ExitBadInput
	case AmendmentRequired:
		return ExitAmendment
	}
	return ExitPass
}

func (s Status) rank() int {
	return slices.Index([]Status{Pass, AmendmentRequired, Violations, BadInputStatus}, s)
}

// Worse returns the more severe of two statuses.
func Worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Finding is one problem or observation about a spec.
type Finding struct {
	Code    string `json:"code"`
	Kind    Kind   `json:"kind"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Clause  string `json:"clause,omitempty"`
	Message string `json:"message"`
	// Fix says what to do about it.
	Fix string `json:"fix,omitempty"`
	// Diff shows an inherited clause's change, "-" old and "+" new.
	Diff string `json:"diff,omitempty"`
	// Resource names the contract row a finding is about, if any.
	Resource string `json:"resource,omitempty"`
}

// Result is the check of one spec.
type Result struct {
	File    string `json:"file"`
	SpecID  string `json:"spec,omitempty"`
	AgentID string `json:"agent,omitempty"`
	Status  Status `json:"status"`
	Pinned  string `json:"library_pinned,omitempty"`
	Current string `json:"library_current,omitempty"`
	// ContractPinned is the contract version the spec pins, if any, and
	// ContractCurrent the version in force.
	ContractPinned  string    `json:"contract_pinned,omitempty"`
	ContractCurrent string    `json:"contract_current,omitempty"`
	Findings        []Finding `json:"findings"`
	// Changes are the inherited clauses that changed between the pinned
	// version and the current one.
	Changes []constraint.Change `json:"-"`
	// Effective is the resolved set against the pinned version; nil when the
	// spec could not be resolved.
	Effective *constraint.Effective `json:"-"`
	Spec      *spec.Spec            `json:"-"`
}

func (r *Result) add(f Finding) {
	if f.File == "" {
		f.File = r.File
	}
	r.Findings = append(r.Findings, f)
	switch f.Kind {
	case BadInput:
		r.Status = Worse(r.Status, BadInputStatus)
	case Violation:
		r.Status = Worse(r.Status, Violations)
	case Amendment:
		r.Status = Worse(r.Status, AmendmentRequired)
	}
}

// ParseErrors turns parse or load errors into bad-input findings.
func ParseErrors(file string, err error) Result {
	r := Result{File: file, Status: Pass, Findings: []Finding{}}
	for _, e := range constraint.Errors(err) {
		f := Finding{Code: e.Code, Kind: BadInput, File: e.Pos.File, Line: e.Pos.Line, Clause: e.Clause, Message: e.Msg, Fix: parseFixes[e.Code]}
		if f.Code == "" {
			f.Code = constraint.CodeMalformed
		}
		if f.File == "" {
			f.File = file
		}
		r.add(f)
	}
	sortFindings(r.Findings)
	return r
}

// parseFixes says what to do about each kind of parse error.
var parseFixes = map[string]string{
	constraint.CodeCELType:          "fix the expression; rules see action, agent and now (see docs/spec-format.md)",
	constraint.CodeCELCost:          "simplify the rule: avoid nested comprehensions and regular expressions over large inputs",
	constraint.CodeUnknownArchetype: "use one of Advisor, Executor, Guardian, Synthesizer, Orchestrator",
	"bad-annotation":                "write (Fleet, T1) [id], (Archetype: <Name>, T2) [id] or (Tenant, T3) before the clause text",
	"bad-machine-form":              "write `rule <effect>: <CEL>`, `limit <name> <= <number>`, `allow <name>: a, b` or `check <name>`",
}

// Spec checks one parsed spec against the fleet repo. Findings come in line order.
func Spec(repo *fleet.Repo, s *spec.Spec) Result {
	r := checkSpec(repo, s)
	sortFindings(r.Findings)
	return r
}

// sortFindings orders findings by file and line, keeping the order of
// findings on one line.
func sortFindings(f []Finding) {
	slices.SortStableFunc(f, func(a, b Finding) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
}

func checkSpec(repo *fleet.Repo, s *spec.Spec) Result {
	r := Result{File: s.File, SpecID: s.Front.ID, AgentID: s.AgentID(), Status: Pass, Spec: s,
		Pinned: s.Front.Library, Current: repo.Library.Current().Version,
		ContractPinned: s.Front.Contract, ContractCurrent: repo.Contract.Version, Findings: []Finding{}}
	fmLine := func(key string) int { return s.Front.Line[key] }

	if _, ok := repo.Tenant(s.Front.Tenant); !ok {
		r.add(Finding{Code: "unknown-tenant", Kind: BadInput, Line: fmLine("tenant"),
			Message: fmt.Sprintf("tenant %q is not a tenant of fleet %s", s.Front.Tenant, repo.Config.Fleet),
			Fix:     "use your tenant id from fleet.yaml, or ask the platform team to add the tenant"})
	}
	lib, ok := repo.Library.Get(s.Front.Library)
	if !ok {
		r.add(Finding{Code: "unknown-library-version", Kind: BadInput, Line: fmLine("library"),
			Message: fmt.Sprintf("library version %s does not exist (have %s)", s.Front.Library, strings.Join(repo.Library.VersionNames(), ", ")),
			Fix:     fmt.Sprintf("pin library: %s, the version in force", r.Current)})
	}
	if s.Section(4) != nil && s.Decl.Archetype == "" {
		r.add(Finding{Code: "missing-archetype", Kind: BadInput, Line: s.Section(4).Line,
			Message: "§4 does not declare the archetype", Fix: "add - **Classification:** <Advisor|Executor|Guardian|Synthesizer|Orchestrator>"})
	}
	for _, n := range spec.Required {
		if s.Section(n) == nil {
			r.add(Finding{Code: "missing-section", Kind: Violation, Line: 1,
				Message: fmt.Sprintf("required section §%d %s is missing", n, spec.Titles[n]),
				Fix:     fmt.Sprintf("add \"## §%d %s\" in template order", n, spec.Titles[n])})
		}
	}
	for _, sec := range s.Sections {
		if want := spec.Titles[sec.Number]; !strings.EqualFold(sec.Title, want) {
			r.add(Finding{Code: "section-title", Kind: Warning, Line: sec.Line,
				Message: fmt.Sprintf("§%d is titled %q; the template calls it %q", sec.Number, sec.Title, want)})
		}
	}
	contractIDs := repo.Contract.ResourceIDs()
	for _, res := range s.Front.SharedResources {
		if !slices.Contains(contractIDs, res) {
			r.add(Finding{Code: "unknown-shared-resource", Kind: Violation, Line: fmLine("shared_resources"),
				Message: fmt.Sprintf("shared resource %q is not in isolation contract %s", res, repo.Contract.Version),
				Fix:     fmt.Sprintf("use one of %s, or request an addition to the contract", strings.Join(contractIDs, ", "))})
		}
	}
	contractPin(&r, &repo.Contract, s)
	for _, u := range s.Unannotated {
		r.add(Finding{Code: "unannotated-clause", Kind: Violation, Line: u.Line,
			Message: fmt.Sprintf("§%d clause has no tier annotation: %q", u.Section, clip(u.Text, 80)),
			Fix:     "annotate it: (Tenant, T3) for your own clause, or (Fleet, T1) [id] / (Archetype: X, T2) [id] for an inherited one"})
	}
	dimensionWarnings(&r, s)
	if r.Status == BadInputStatus || lib == nil {
		return r
	}
	inheritClauses(&r, repo, lib, s)
	amendment(&r, repo, lib, s)
	return r
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// inheritClauses checks the inherited clauses, the spec's own clauses, and
// the structural checks.
func inheritClauses(r *Result, repo *fleet.Repo, lib *constraint.Library, s *spec.Spec) {
	inherited := lib.Inherited(s.Archetypes(), s.Front.SharedResources)
	byID := map[string]*spec.Clause{}
	for _, c := range s.Clauses {
		if c.ID == "" {
			continue
		}
		if prev, dup := byID[c.ID]; dup {
			r.add(Finding{Code: "duplicate-clause", Kind: Violation, Line: c.Line, Clause: c.ID,
				Message: fmt.Sprintf("clause %s appears twice (first at line %d)", c.ID, prev.Line), Fix: "keep one"})
			continue
		}
		byID[c.ID] = c
	}
	isInherited := map[string]bool{}
	for _, lc := range inherited {
		isInherited[lc.ID] = true
		sc, ok := byID[lc.ID]
		if !ok {
			line := 1
			if sec := s.Section(lc.Section); sec != nil {
				line = sec.Line
			}
			r.add(Finding{Code: "missing-inherited-clause", Kind: Violation, Line: line, Clause: lc.ID,
				Message: fmt.Sprintf("§%d lacks inherited %s clause %s (library %s)", lc.Section, lc.Tier, lc.ID, lib.Version),
				Fix:     fmt.Sprintf("add to §%d: %s", lc.Section, lc.SpecLine())})
			continue
		}
		compareInherited(r, lib, repo.Library.Current(), lc, sc)
	}
	for _, sc := range s.Clauses {
		if sc.Tier == constraint.T3 || isInherited[sc.ID] {
			continue
		}
		if lc, ok := lib.Clause(sc.ID); ok {
			why := ""
			switch {
			case lc.Tier == constraint.T2 && !slices.Contains(s.Archetypes(), lc.Archetype):
				declared := strings.Join(s.Archetypes(), ", ")
				if declared == "" {
					declared = "no archetype"
				}
				why = fmt.Sprintf("it is a T2 clause for %s and this spec declares %s", lc.Archetype, declared)
			case lc.Resource != "":
				why = fmt.Sprintf("it applies to specs that depend on shared resource %s, which this spec does not declare", lc.Resource)
			}
			r.add(Finding{Code: "not-inherited", Kind: Violation, Line: sc.Line, Clause: sc.ID,
				Message: fmt.Sprintf("clause %s is annotated as inherited but this spec does not inherit it: %s", sc.ID, why),
				Fix:     "remove the line, or declare what makes it apply"})
			continue
		}
		msg := fmt.Sprintf("clause %s is not in library %s", sc.ID, lib.Version)
		fix := "it may have been removed from the library or misspelt: check the library, or re-annotate it as (Tenant, T3) if it is your own"
		if cur := repo.Library.Current(); cur.Version != lib.Version {
			if _, ok := cur.Clause(sc.ID); ok {
				fix = fmt.Sprintf("it exists in library %s: bump the pin to %s", cur.Version, cur.Version)
			}
		}
		r.add(Finding{Code: "unknown-clause", Kind: Violation, Line: sc.Line, Clause: sc.ID, Message: msg, Fix: fix})
	}
	own := s.OwnClauses()
	versions := append([]*constraint.Library{lib}, repo.Library.Versions()...)
	for _, oc := range own {
		if isInherited[oc.ID] {
			continue // reported above as a wrong annotation
		}
		for _, l := range versions {
			if _, clash := l.Clause(oc.ID); clash {
				r.add(Finding{Code: "clause-id-collision", Kind: Violation, Line: oc.Pos.Line, Clause: oc.ID,
					Message: fmt.Sprintf("tenant clause id %s is a library clause id (library %s)", oc.ID, l.Version),
					Fix:     "choose an id under your tenant, e.g. " + s.Front.Tenant + "." + strings.ReplaceAll(oc.ID, ".", "-")})
				break
			}
		}
	}
	eff, weak := constraint.Resolve(inherited, own)
	r.Effective = eff
	for _, w := range weak {
		code := "weakened-limit"
		if w.Kind == "allow" {
			code = "widened-allow"
		}
		r.add(Finding{Code: code, Kind: Violation, Line: w.Clause.Pos.Line, Clause: w.Inherited.ID,
			Message: fmt.Sprintf("tenant clause %s %s", w.Clause.ID, w.Message),
			Fix:     "tighten the tenant clause to within the inherited one; to go beyond it, request an exception approved at the " + w.Inherited.Tier.String() + " tier"})
	}
	for _, c := range append(slices.Clone(inherited), own...) {
		if c.Check == "" {
			continue
		}
		if problem := structural(c.Check, s); problem != "" {
			what := "inherited"
			if c.Tier == constraint.T3 {
				what = "tenant"
			}
			r.add(Finding{Code: "structural-check", Kind: Violation, Line: structuralLine(c.Check, s), Clause: c.ID,
				Message: fmt.Sprintf("%s %s clause %s requires that %s: %s", what, c.Tier, c.ID, constraint.Checks[c.Check], problem),
				Fix:     structuralFix(c.Check)})
		}
	}
}

// compareInherited checks a spec's copy of an inherited clause against the library.
func compareInherited(r *Result, lib, current *constraint.Library, lc *constraint.Clause, sc *spec.Clause) {
	if sc.Tier != lc.Tier || sc.Archetype != lc.Archetype {
		r.add(Finding{Code: "wrong-annotation", Kind: Violation, Line: sc.Line, Clause: lc.ID,
			Message: fmt.Sprintf("clause %s is a %s clause in library %s but is annotated %s", lc.ID, lc.Annotation(), lib.Version, annotation(sc)),
			Fix:     fmt.Sprintf("annotate it %s", lc.Annotation())})
	}
	if sc.Section != lc.Section {
		r.add(Finding{Code: "wrong-section", Kind: Violation, Line: sc.Line, Clause: lc.ID,
			Message: fmt.Sprintf("clause %s belongs in §%d, not §%d", lc.ID, lc.Section, sc.Section),
			Fix:     fmt.Sprintf("move it to §%d", lc.Section)})
	}
	if sc.Text != lc.Text {
		fix := "replace the text with the library's"
		if cur := current; cur != nil && cur.Version != lib.Version {
			if cc, ok := cur.Clause(lc.ID); ok && cc.Text == sc.Text {
				fix = fmt.Sprintf("the text is library %s's, the version in force: set library: %s after checking the spec against it", cur.Version, cur.Version)
			}
		}
		r.add(Finding{Code: "reworded-inherited-clause", Kind: Violation, Line: sc.Line, Clause: lc.ID,
			Message: fmt.Sprintf("inherited clause %s is reworded: it must match library %s verbatim", lc.ID, lib.Version),
			Fix:     fix,
			Diff:    fmt.Sprintf("- %s\n+ %s\n", sc.Text, lc.Text)})
	}
	if rs := sc.Restated; rs != nil && !rs.SameMachine(lc) {
		code, msg := "drifted-machine-form", fmt.Sprintf("clause %s restates its machine form as `%s`; library %s has `%s`", lc.ID, rs.MachineForm(), lib.Version, lc.MachineForm())
		if w := weakeningsOf(lc, rs); w != "" {
			code, msg = w, fmt.Sprintf("clause %s restated as `%s` loosens library %s's `%s`", lc.ID, rs.MachineForm(), lib.Version, lc.MachineForm())
		}
		r.add(Finding{Code: code, Kind: Violation, Line: sc.MachineLine, Clause: lc.ID, Message: msg,
			Fix: "restate the library's machine form exactly, or drop the restatement (the library's applies)"})
	}
}

// weakeningsOf names the kind of loosening of restated against lc, if any.
func weakeningsOf(lc, restated *constraint.Clause) string {
	_, weak := constraint.Resolve([]*constraint.Clause{lc}, []*constraint.Clause{restated})
	switch {
	case len(weak) == 0:
		return ""
	case weak[0].Kind == "allow":
		return "widened-allow"
	}
	return "weakened-limit"
}

func annotation(c *spec.Clause) string {
	switch c.Tier {
	case constraint.T1:
		return "(Fleet, T1)"
	case constraint.T2:
		return fmt.Sprintf("(Archetype: %s, T2)", c.Archetype)
	}
	return "(Tenant, T3)"
}

// amendment reports inherited clauses that changed between the pin and the
// version in force.
func amendment(r *Result, repo *fleet.Repo, pinned *constraint.Library, s *spec.Spec) {
	cur := repo.Library.Current()
	switch c := constraint.CompareVersions(pinned.Version, cur.Version); {
	case c == 0:
		return
	case c > 0:
		r.add(Finding{Code: "pin-ahead", Kind: Note, Line: s.Front.Line["library"],
			Message: fmt.Sprintf("pins library %s, newer than %s in force", pinned.Version, cur.Version)})
		return
	}
	arch, res := s.Archetypes(), s.Front.SharedResources
	changes := constraint.DiffClauses(pinned.Inherited(arch, res), cur.Inherited(arch, res))
	r.Changes = changes
	if len(changes) == 0 {
		r.add(Finding{Code: "pin-behind", Kind: Note, Line: s.Front.Line["library"],
			Message: fmt.Sprintf("pins library %s; %s is in force but changes no clause this spec inherits", pinned.Version, cur.Version),
			Fix:     fmt.Sprintf("bump library: to %s when convenient", cur.Version)})
		return
	}
	for _, ch := range changes {
		cl := ch.Clause()
		what := map[string]string{"added": "was added", "removed": "was removed", "changed": "changed (" + strings.Join(ch.Fields, ", ") + ")"}[ch.Kind]
		line := s.Front.Line["library"]
		if sc := findClause(s, ch.ID); sc != nil {
			line = sc.Line
		}
		fix := fmt.Sprintf("amend the spec to library %s: ", cur.Version)
		switch ch.Kind {
		case "added":
			fix += fmt.Sprintf("add to §%d: %s", cl.Section, cl.SpecLine())
		case "removed":
			fix += "remove the clause line"
		default:
			fix += "replace the clause line with the library's"
		}
		fix += fmt.Sprintf("; then set library: %s", cur.Version)
		r.add(Finding{Code: "spec-amendment-required", Kind: Amendment, Line: line, Clause: ch.ID,
			Message: fmt.Sprintf("inherited %s clause %s %s between library %s (pinned) and %s (in force)", cl.Tier, ch.ID, what, pinned.Version, cur.Version),
			Fix:     fix, Diff: ch.Unified()})
	}
}

func findClause(s *spec.Spec, id string) *spec.Clause {
	for _, c := range s.Clauses {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// contractPin checks the contract version the spec pins and reports the
// rows it declares in shared_resources that changed since: each one needs
// an amendment (spec-amendment-required), as an inherited clause does. A
// spec that declares rows but pins no version is taken as written against
// the oldest version of the changelog.
func contractPin(r *Result, c *fleet.Contract, s *spec.Spec) {
	pin, declared := s.Front.Contract, s.Front.SharedResources
	line := s.Front.Line["contract"]
	switch {
	case pin == "" && len(declared) == 0:
		return
	case pin == "":
		line = s.Front.Line["shared_resources"]
		r.add(Finding{Code: "contract-unpinned", Kind: Warning, Line: line,
			Message: fmt.Sprintf("the spec declares shared resources but pins no contract version; it is taken as written against contract %s, the oldest", c.Baseline()),
			Fix:     fmt.Sprintf("add contract: %s to the front matter once the spec is checked against the contract in force (GET /v1/contract)", c.Version)})
	case constraint.CompareVersions(pin, c.Version) > 0:
		r.add(Finding{Code: "contract-pin-ahead", Kind: BadInput, Line: line,
			Message: fmt.Sprintf("pins contract %s, newer than %s in force", pin, c.Version),
			Fix:     fmt.Sprintf("pin contract: %s, the version in force; the platform team publishes a contract version before specs pin it", c.Version)})
		return
	case !c.HasVersion(pin):
		r.add(Finding{Code: "unknown-contract-version", Kind: BadInput, Line: line,
			Message: fmt.Sprintf("contract version %s does not exist (have %s)", pin, strings.Join(c.VersionNames(), ", ")),
			Fix:     fmt.Sprintf("pin contract: %s, the version in force", c.Version)})
		return
	case pin == c.Version:
		return
	}
	from := pin
	if from == "" {
		from = c.Baseline()
	}
	changes := c.ChangesAfter(pin, declared)
	if len(changes) == 0 {
		if pin != "" {
			r.add(Finding{Code: "contract-pin-behind", Kind: Note, Line: line,
				Message: fmt.Sprintf("pins contract %s; %s is in force but changes no row this spec declares", pin, c.Version),
				Fix:     fmt.Sprintf("bump contract: to %s when convenient", c.Version)})
		}
		return
	}
	if line == 0 {
		line = s.Front.Line["shared_resources"]
	}
	for _, ch := range changes {
		summaries := make([]string, len(ch.Entries))
		for i, e := range ch.Entries {
			summaries[i] = "changelog " + e.Version + ": " + strings.Join(strings.Fields(e.Summary), " ")
		}
		what, fix := "changed", fmt.Sprintf("re-read row %s of contract %s (GET /v1/contract), amend the spec where it relies on it, log it in §13; then set contract: %s", ch.Resource, c.Version, c.Version)
		if ch.Removed {
			what, fix = "was removed", fmt.Sprintf("remove %s from shared_resources and what the spec builds on it; then set contract: %s", ch.Resource, c.Version)
		}
		r.add(Finding{Code: "spec-amendment-required", Kind: Amendment, Line: line, Resource: ch.Resource,
			Message: fmt.Sprintf("declared shared resource %s %s between contract %s and %s (in force); %s",
				ch.Resource, what, pinLabel(pin, from), c.Version, strings.Join(summaries, "; ")),
			Fix: fix})
	}
}

// pinLabel names the version a spec is judged from in messages.
func pinLabel(pin, from string) string {
	if pin == "" {
		return from + " (the oldest; no pin)"
	}
	return pin + " (pinned)"
}
