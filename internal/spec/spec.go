package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetgov/fleetgov/internal/constraint"
)

// Titles are the canonical section titles of the template.
var Titles = map[int]string{
	1: "Problem Statement", 2: "Desired Outcome", 3: "Scope", 4: "Archetype Declaration",
	5: "Functional Intent", 6: "Invariants", 7: "Non-Functional Constraints",
	8: "Authorization Boundary", 9: "Acceptance Criteria", 10: "Assumptions and Open Questions",
	11: "Agent Execution Instructions", 12: "Validation Checklist", 13: "Spec Evolution Log",
	14: "Planned Evolution",
}

// Required lists the sections an agent spec must have; §10 and §14 are optional.
var Required = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13}

// Statuses are the spec statuses of the template.
var Statuses = []string{"Draft", "Approved", "In Progress", "Validated", "Superseded"}

// Spec is a parsed agent spec.
type Spec struct {
	File     string
	Front    FrontMatter
	Title    string
	Sections []*Section
	Decl     Declaration
	Clauses  []*Clause
	Scope    Scope
	Boundary Boundary
	// Unannotated holds §6 items without a tier annotation.
	Unannotated []Unannotated
	Digest      string
	Source      string
}

// FrontMatter is the spec's YAML header.
type FrontMatter struct {
	ID      string `yaml:"spec" json:"spec"`
	Tenant  string `yaml:"tenant" json:"tenant"`
	Agent   string `yaml:"agent" json:"agent"`
	Version string `yaml:"version" json:"version"`
	Status  string `yaml:"status" json:"status"`
	Owner   string `yaml:"owner" json:"owner"`
	Library string `yaml:"library" json:"library"`
	// Contract is the isolation contract version the spec was written
	// against; it matters for the rows the spec declares in SharedResources.
	Contract        string   `yaml:"contract" json:"contract,omitempty"`
	SharedResources []string `yaml:"shared_resources" json:"shared_resources,omitempty"`
	LastReview      string   `yaml:"last_review" json:"last_review,omitempty"`
	Escalation      string   `yaml:"escalation" json:"escalation,omitempty"`
	Date            string   `yaml:"date" json:"date,omitempty"`
	Title           string   `yaml:"title" json:"title,omitempty"`

	// Line holds the line of each key, for messages.
	Line map[string]int `yaml:"-" json:"-"`
}

// AgentID returns the registry ID of the spec's agent, "<tenant>.<agent>".
func (s *Spec) AgentID() string { return s.Front.Tenant + "." + s.Front.Agent }

// Section is one "## §N Title" section.
type Section struct {
	Number int
	Title  string
	Line   int
	blocks []block
}

// Section returns section n, or nil.
func (s *Spec) Section(n int) *Section {
	for _, sec := range s.Sections {
		if sec.Number == n {
			return sec
		}
	}
	return nil
}

// Pos returns a position in the spec file.
func (s *Spec) Pos(line int) constraint.Pos { return constraint.Pos{File: s.File, Line: line} }

// Declaration is §4: the archetype and its governance dimensions.
type Declaration struct {
	Archetype     string
	Agency        int
	Risk          string
	Oversight     string
	Reversibility string
	Composition   *Composition
	// Line holds the line of each field ("archetype", "agency", ...).
	Line map[string]int
}

// Composition is §4's Composition Declaration, for composed systems.
type Composition struct {
	Line       int
	Governing  string
	Pattern    string // A to E
	Components []Component
	SubAgents  []SubAgent
	// InventoryLine is the line of the Sub-Agent Inventory heading, if any.
	InventoryLine int
}

// Component is an embedded component or mode of a composed system.
type Component struct {
	Name      string
	Archetype string
	Line      int
}

// SubAgent is a row of the Sub-Agent Inventory.
type SubAgent struct {
	Agent     string
	Archetype string
	Scope     string
	Failure   string
	Line      int
}

// Scope is §3: what is in scope and what is not (the NOT-authorized scope).
type Scope struct {
	InScope    []string
	OutOfScope []string
	Line       int // the Out of Scope label, if any
}

// Boundary is §8: the tool manifest, the NOT-authorized list, the exception
// gate and, for Guardians, the enforcement boundary.
type Boundary struct {
	Tools              []Tool
	ManifestLine       int
	NotAuthorized      []string // the items as written
	NotAuthorizedTools []string // tool names quoted in those items
	ExceptionGate      string
	EnforcedInvariants []string
	ViolationAction    string
}

// Tool is a tool manifest row.
type Tool struct {
	Name   string
	Effect string // read, write, delete, transmit
	Line   int
}

// Clause is an annotated clause of §6, §7 or §8.
type Clause struct {
	Line      int
	Section   int
	Tier      constraint.Tier
	Archetype string // for T2 annotations
	ID        string // as written; empty for unnamed T3 clauses
	Text      string
	// Machine is the machine form as written, if any, and MachineLine its line.
	Machine     string
	MachineLine int
	// Own is the T3 clause as a constraint clause (ID filled in for unnamed
	// ones), compiled; nil for inherited clauses.
	Own *constraint.Clause
	// Restated is the machine form an inherited clause restates, parsed.
	Restated *constraint.Clause
}

// OwnClauses returns the spec's T3 clauses as constraint clauses.
func (s *Spec) OwnClauses() []*constraint.Clause {
	var out []*constraint.Clause
	for _, c := range s.Clauses {
		if c.Own != nil {
			out = append(out, c.Own)
		}
	}
	return out
}

// Archetypes returns the archetypes whose T2 clauses the spec inherits: its
// own and those of components embedded in it (composition patterns A, B, D,
// E); an Orchestrator's sub-agents are separate agents with their own specs.
func (s *Spec) Archetypes() []string {
	out := []string{}
	if s.Decl.Archetype != "" {
		out = append(out, s.Decl.Archetype)
	}
	if c := s.Decl.Composition; c != nil {
		for _, comp := range c.Components {
			if comp.Archetype != "" && !slices.Contains(out, comp.Archetype) {
				out = append(out, comp.Archetype)
			}
		}
	}
	return out
}

var (
	idRE      = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)
	specIDRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)
	headingRE = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	sectionRE = regexp.MustCompile(`^§\s*(\d+)[.:]?\s*(.*)$`)
)

// ValidName reports whether s is a valid tenant or agent name: lower-case
// letters, digits and dashes, starting with a letter.
func ValidName(s string) bool { return len(s) <= 63 && idRE.MatchString(s) }

// Digest returns the "sha256:<hex>" digest of a spec's source.
func Digest(src []byte) string {
	sum := sha256.Sum256(src)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// firstWord returns the first word of s, without trailing punctuation.
func firstWord(s string) string {
	f := strings.Fields(stripMarkup(s))
	if len(f) == 0 {
		return ""
	}
	return strings.TrimRight(f[0], ".,;:—–-")
}

// stripMarkup removes emphasis and code markers.
func stripMarkup(s string) string {
	return strings.NewReplacer("**", "", "__", "", "`", "").Replace(s)
}

func errorf(file string, line int, clause, format string, args ...any) *constraint.Error {
	return &constraint.Error{Pos: constraint.Pos{File: file, Line: line}, Clause: clause, Msg: fmt.Sprintf(format, args...)}
}
