package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/constraint"
)

const exampleSpecs = "../../examples/fleet/specs"

func parseFile(t testing.TB, file string) *Spec {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(file, src)
	if err != nil {
		t.Fatalf("Parse(%s): %v", file, err)
	}
	return s
}

func TestParseFull(t *testing.T) {
	t.Parallel()
	const file = "testdata/full.md"
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := parseFile(t, file)

	t.Run("front matter", func(t *testing.T) {
		t.Parallel()
		want := FrontMatter{ID: "SPEC-ACME-007", Tenant: "acme", Agent: "claims-bot", Title: "Claims Bot", Version: "1.4.0-rc.1",
			Status: "Approved", Owner: "claims-team (Ada)", Library: "1.1.0", SharedResources: []string{"model-provider", "mcp-servers"},
			LastReview: "2026-10-01", Date: "2026-10-02", Escalation: "#claims-oncall",
			Line: map[string]int{"spec": 2, "tenant": 3, "agent": 4, "title": 5, "version": 6, "status": 7, "owner": 8,
				"library": 9, "shared_resources": 10, "last_review": 11, "date": 12, "escalation": 13}}
		if !reflect.DeepEqual(s.Front, want) {
			t.Errorf("Front = %+v\nwant %+v", s.Front, want)
		}
		if s.AgentID() != "acme.claims-bot" {
			t.Errorf("AgentID() = %q, want acme.claims-bot", s.AgentID())
		}
		if s.Title != "Claims Bot" {
			t.Errorf("Title = %q, want Claims Bot", s.Title)
		}
		if s.File != file || s.Source != string(src) || s.Digest != Digest(src) {
			t.Errorf("File, Source, Digest = %q, %d bytes, %q; want %q, %d bytes, %q", s.File, len(s.Source), s.Digest, file, len(src), Digest(src))
		}
	})

	t.Run("sections", func(t *testing.T) {
		t.Parallel()
		var got []string
		for _, sec := range s.Sections {
			got = append(got, fmt.Sprintf("§%d %s @%d", sec.Number, sec.Title, sec.Line))
		}
		want := []string{"§1 Problem Statement @17", "§2 Desired Outcome @21", "§3 Scope @30", "§4 Archetype Declaration @41",
			"§5 Functional Intent @65", "§6 Invariants @69", "§7 Non-Functional Constraints @87", "§8 Authorization Boundary @98",
			"§9 Acceptance Criteria @126", "§10 Assumptions and Open Questions @129", "§11 Agent Execution Instructions @130",
			"§12 Validation Checklist @132", "§13 Spec Evolution Log @134", "§14 Planned Evolution @138"}
		if !slices.Equal(got, want) {
			t.Errorf("Sections =\n%s\nwant\n%s (the fenced §99 ignored)", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if s.Section(4).Line != 41 || s.Section(99) != nil {
			t.Errorf("Section(4), Section(99) = %v, %v", s.Section(4), s.Section(99))
		}
	})

	t.Run("scope", func(t *testing.T) {
		t.Parallel()
		want := Scope{InScope: []string{"Reading claims.", "Settling claims under the cap."},
			OutOfScope: []string{"Paying out.", "Touching orders older than 180 days."}, Line: 37}
		if !reflect.DeepEqual(s.Scope, want) {
			t.Errorf("Scope = %+v, want %+v", s.Scope, want)
		}
	})

	t.Run("declaration", func(t *testing.T) {
		t.Parallel()
		want := Declaration{Archetype: constraint.Executor, Agency: 3, Risk: "High", Oversight: "D", Reversibility: "R2",
			Composition: &Composition{Line: 48, Governing: constraint.Executor, Pattern: "B",
				Components: []Component{{Name: "settle", Archetype: constraint.Executor, Line: 54}, {Name: "check", Archetype: constraint.Guardian, Line: 55}},
				SubAgents: []SubAgent{{Agent: "acme.fraud-scorer", Archetype: constraint.Synthesizer, Scope: "reads claims",
					Failure: "retry once, then halt-and-surface", Line: 60}},
				InventoryLine: 57},
			Line: map[string]int{"archetype": 42, "agency": 43, "risk": 44, "oversight": 45, "reversibility": 46}}
		if !reflect.DeepEqual(s.Decl, want) {
			t.Errorf("Decl = %+v\n composition %+v\nwant %+v\n composition %+v", s.Decl, s.Decl.Composition, want, want.Composition)
		}
		if got := s.Archetypes(); !slices.Equal(got, []string{constraint.Executor, constraint.Guardian}) {
			t.Errorf("Archetypes() = %v, want [Executor Guardian] (the declared one and the embedded components')", got)
		}
	})

	t.Run("boundary", func(t *testing.T) {
		t.Parallel()
		want := Boundary{
			Tools:              []Tool{{"claims.get", "read", 103}, {"claims.settle", "write", 104}, {"mail.send", "transmit", 105}, {"claims.purge", "delete", 106}},
			ManifestLine:       101,
			NotAuthorized:      []string{"`payments.payout` and `orders.cancel` — not ours.", "Anything about orders older than 180 days."},
			NotAuthorizedTools: []string{"payments.payout", "orders.cancel"},
			ExceptionGate:      "halt and escalate to #claims-oncall.",
			EnforcedInvariants: []string{"acme.claim-cap", "fleet.no-token-exfil"},
			ViolationAction:    "block the settlement, log it, surface it.",
		}
		if !reflect.DeepEqual(s.Boundary, want) {
			t.Errorf("Boundary = %+v\nwant %+v", s.Boundary, want)
		}
	})

	t.Run("clauses", func(t *testing.T) {
		t.Parallel()
		type clause struct {
			Line, Section int
			Tier          constraint.Tier
			Archetype, ID string
			Text          string
			Machine       string
			MachineLine   int
			OwnID         string // "" for inherited clauses
			Restated      bool
		}
		want := []clause{
			{70, 6, constraint.T1, "", "fleet.no-token-exfil", "No exfiltration of session tokens across tool calls.", "", 0, "", false},
			{71, 6, constraint.T2, constraint.Executor, "executor.not-authorized-enforced",
				"NOT-authorized scope declared in §3 is enforced by the tool-manifest layer, not only the spec.", "", 0, "", false},
			{74, 6, constraint.T3, "", "acme.claim-cap", "No claim above $500 is settled.", "limit claim.amount_usd <= 500", 75, "acme.claim-cap", false},
			{76, 6, constraint.T3, "", "", "Claims are logged.", "", 0, "acme.claims-bot.t3-2", false},
			{77, 6, constraint.T3, "", "", "Every settlement cites its evidence in the case note.",
				`rule escalate: action.tool == "claims.settle" && !has(action.arguments.evidence)`, 78, "acme.claims-bot.t3-3", false},
			{88, 7, constraint.T1, "", "fleet.cost-per-call",
				"No single model call may cost more than $0.25; the platform middleware enforces the ceiling before the call.",
				"limit cost.per_call_usd <= 0.25", 89, "", true},
			{90, 7, constraint.T3, "", "acme.claims-bot.t3-1", "A named clause that takes the first generated id.", "", 0, "acme.claims-bot.t3-1", false},
			{91, 7, constraint.T3, "", "", "An unnamed clause.", "allow models: gpt-4o-mini", 92, "acme.claims-bot.t3-4", false},
			{120, 8, constraint.T1, "", "fleet.models", "Agents call only the models the platform has approved.", "", 0, "", false},
			{121, 8, constraint.T2, constraint.Executor, "executor.tool-manifest", "A tool absent from the §8 tool manifest is not authorized.",
				"check tool-manifest", 122, "", true},
			{123, 8, constraint.T3, "", "acme.tools", "Only the manifest's tools.", "allow tools: claims.get, claims.settle, mail.*", 124, "acme.tools", false},
		}
		var got []clause
		for _, c := range s.Clauses {
			g := clause{c.Line, c.Section, c.Tier, c.Archetype, c.ID, c.Text, c.Machine, c.MachineLine, "", c.Restated != nil}
			if c.Own != nil {
				g.OwnID = c.Own.ID
			}
			got = append(got, g)
		}
		if len(got) != len(want) {
			t.Fatalf("Clauses = %d, want %d:\n%+v", len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("clause %d =\n %+v\nwant\n %+v", i, got[i], want[i])
			}
		}
		own := s.OwnClauses()
		var ownIDs []string
		for _, c := range own {
			ownIDs = append(ownIDs, c.ID)
			if c.Tier != constraint.T3 || c.Pos.File != file || c.Pos.Line == 0 {
				t.Errorf("own clause %s = tier %v at %v, want T3 in %s", c.ID, c.Tier, c.Pos, file)
			}
		}
		if want := []string{"acme.claim-cap", "acme.claims-bot.t3-2", "acme.claims-bot.t3-3", "acme.claims-bot.t3-1", "acme.claims-bot.t3-4", "acme.tools"}; !slices.Equal(ownIDs, want) {
			t.Errorf("OwnClauses() = %v, want %v", ownIDs, want)
		}
		for _, c := range own {
			if c.Rule != nil && c.Rule.Program() == nil {
				t.Errorf("own clause %s: rule not compiled", c.ID)
			}
		}
		if r := s.Clauses[5].Restated; r == nil || r.Limit == nil || r.Limit.Max != 0.25 || r.ID != "fleet.cost-per-call" {
			t.Errorf("Restated of fleet.cost-per-call = %+v, want the parsed limit", r)
		}
	})

	t.Run("unannotated", func(t *testing.T) {
		t.Parallel()
		want := []Unannotated{{Line: 80, Section: 6, Text: "A plain invariant without an annotation. - a nested note, part of the item above."}}
		if !reflect.DeepEqual(s.Unannotated, want) {
			t.Errorf("Unannotated = %+v, want %+v", s.Unannotated, want)
		}
	})
}

// TestParseLineEndings checks that a byte-order mark and CRLF line endings
// change nothing but the digest.
func TestParseLineEndings(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/full.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse("full.md", src)
	if err != nil {
		t.Fatal(err)
	}
	crlf := append([]byte("\xef\xbb\xbf"), strings.ReplaceAll(string(src), "\n", "\r\n")...)
	got, err := Parse("full.md", crlf)
	if err != nil {
		t.Fatalf("Parse(CRLF with BOM) = %v", err)
	}
	if got.Digest == want.Digest {
		t.Errorf("Digest of CRLF source = LF source's; want the digest of the bytes")
	}
	got.Digest, got.Source = want.Digest, want.Source
	if !reflect.DeepEqual(got.Front, want.Front) || !reflect.DeepEqual(got.Decl, want.Decl) ||
		!reflect.DeepEqual(got.Scope, want.Scope) || !reflect.DeepEqual(got.Boundary, want.Boundary) ||
		len(got.Clauses) != len(want.Clauses) {
		t.Fatalf("Parse(CRLF with BOM) differs from Parse(LF)")
	}
	for i := range want.Clauses {
		g, w := got.Clauses[i], want.Clauses[i]
		if g.Line != w.Line || g.ID != w.ID || g.Text != w.Text || g.Machine != w.Machine || g.MachineLine != w.MachineLine {
			t.Errorf("clause %d with CRLF = %+v, want %+v", i, g, w)
		}
	}
}

// wantRE matches the expectation markers of testdata/errors: an HTML comment
// at the end of the line on which Parse must report an error, with the
// clause ID the error must name, if any, and a substring of its message.
var wantRE = regexp.MustCompile(`\s*<!-- want(?: clause=(\S+))?: "((?:[^"\\]|\\.)*)" -->`)

type wantError struct {
	line   int
	clause string
	msg    string
}

// stripWants removes the markers from src and returns what they expect.
func stripWants(t *testing.T, src string) (string, []wantError) {
	t.Helper()
	lines := strings.Split(src, "\n")
	var wants []wantError
	for i, l := range lines {
		m := wantRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		msg := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
		wants = append(wants, wantError{line: i + 1, clause: m[1], msg: msg})
		lines[i] = wantRE.ReplaceAllString(l, "")
	}
	if len(wants) == 0 {
		t.Fatalf("no <!-- want: \"...\" --> markers")
	}
	return strings.Join(lines, "\n"), wants
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/errors/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files in testdata/errors: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".md"), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			src, wants := stripWants(t, string(raw))
			s, err := Parse(file, []byte(src))
			if err == nil {
				t.Fatalf("Parse(%s) = no error, want %d", file, len(wants))
			}
			if s != nil {
				t.Errorf("Parse(%s) returned a spec with its errors; want nil", file)
			}
			if !errors.Is(err, constraint.ErrInvalid) {
				t.Errorf("Parse(%s) error does not match constraint.ErrInvalid", file)
			}
			got := constraint.Errors(err)
			byLine := map[int]*constraint.Error{}
			for _, e := range got {
				if e.Pos.File != file {
					t.Errorf("error %q names file %q, want %q", e.Msg, e.Pos.File, file)
				}
				if prev, dup := byLine[e.Pos.Line]; dup {
					t.Errorf("two errors on line %d: %q and %q", e.Pos.Line, prev.Msg, e.Msg)
				}
				byLine[e.Pos.Line] = e
			}
			for _, w := range wants {
				e, ok := byLine[w.line]
				if !ok {
					t.Errorf("line %d: no error, want one containing %q", w.line, w.msg)
					continue
				}
				delete(byLine, w.line)
				if !strings.Contains(e.Msg, w.msg) || e.Clause != w.clause {
					t.Errorf("line %d: error clause %q %q, want clause %q containing %q", w.line, e.Clause, e.Msg, w.clause, w.msg)
				}
			}
			for line, e := range byLine {
				t.Errorf("line %d: unexpected error %q", line, e.Msg)
			}
		})
	}
}

// TestParseExamples parses every spec of the example fleet.
func TestParseExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(exampleSpecs, "*", "*.md"))
	if err != nil || len(files) != 10 {
		t.Fatalf("example specs = %d, %v; want 10", len(files), err)
	}
	for _, file := range files {
		t.Run(strings.TrimPrefix(file, exampleSpecs+"/"), func(t *testing.T) {
			t.Parallel()
			s := parseFile(t, file)
			if s.Decl.Archetype == "" || s.Front.Library != "1.1.0" || len(s.Sections) < len(Required) {
				t.Errorf("Parse(%s): archetype %q, library %q, %d sections", file, s.Decl.Archetype, s.Front.Library, len(s.Sections))
			}
			if len(s.Unannotated) != 0 {
				t.Errorf("Parse(%s): unannotated §6 items %+v", file, s.Unannotated)
			}
			for _, c := range s.Clauses {
				if !constraint.ValidSection(c.Section) {
					t.Errorf("clause at line %d in §%d", c.Line, c.Section)
				}
				if c.Tier != constraint.T3 && (c.ID == "" || c.Own != nil) {
					t.Errorf("inherited clause at line %d: id %q, own %v", c.Line, c.ID, c.Own)
				}
				if c.Tier == constraint.T3 && c.Own == nil {
					t.Errorf("tenant clause at line %d has no Own", c.Line)
				}
			}
		})
	}
}

func TestParseExampleDetails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file  string
		check func(t *testing.T, s *Spec)
	}{
		{"payments/refund-executor.md", func(t *testing.T, s *Spec) {
			var tools []string
			for _, tl := range s.Boundary.Tools {
				tools = append(tools, tl.Name+":"+tl.Effect)
			}
			if want := []string{"orders.get_order:read", "carrier.get_status:read", "payments.refund:write", "crm.add_case_note:write"}; !slices.Equal(tools, want) {
				t.Errorf("Tools = %v, want %v", tools, want)
			}
			if want := []string{"payments.payout", "payments.update_method", "crm.close_ticket"}; !slices.Equal(s.Boundary.NotAuthorizedTools, want) {
				t.Errorf("NotAuthorizedTools = %v, want %v", s.Boundary.NotAuthorizedTools, want)
			}
			if !strings.HasPrefix(s.Boundary.ExceptionGate, "a claim outside the scope above halts") {
				t.Errorf("ExceptionGate = %q", s.Boundary.ExceptionGate)
			}
			if len(s.Scope.OutOfScope) != 4 || len(s.Scope.InScope) != 3 {
				t.Errorf("Scope = %+v, want 3 in and 4 out", s.Scope)
			}
			if got := len(s.OwnClauses()); got != 5 {
				t.Errorf("OwnClauses() = %d, want 5", got)
			}
		}},
		{"support/ticket-orchestrator.md", func(t *testing.T, s *Spec) {
			c := s.Decl.Composition
			if c == nil || c.Governing != constraint.Orchestrator || c.Pattern != "C" || len(c.SubAgents) != 3 {
				t.Fatalf("Composition = %+v, want Orchestrator, C, 3 sub-agents", c)
			}
			var agents []string
			for _, a := range c.SubAgents {
				agents = append(agents, a.Agent+":"+a.Archetype)
			}
			if want := []string{"support.ticket-triage:Synthesizer", "support.support-advisor:Advisor", "support.reply-executor:Executor"}; !slices.Equal(agents, want) {
				t.Errorf("SubAgents = %v, want %v", agents, want)
			}
			// Sub-agents are separate agents: their archetypes are not inherited.
			if got := s.Archetypes(); !slices.Equal(got, []string{constraint.Orchestrator}) {
				t.Errorf("Archetypes() = %v, want [Orchestrator]", got)
			}
		}},
		{"payments/payout-guardian.md", func(t *testing.T, s *Spec) {
			if len(s.Boundary.EnforcedInvariants) == 0 || s.Boundary.ViolationAction == "" {
				t.Errorf("Boundary = %+v, want enforced invariants and an action on violation", s.Boundary)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			tc.check(t, parseFile(t, filepath.Join(exampleSpecs, tc.file)))
		})
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"payments", true},
		{"ad-lab2", true},
		{"a1", true},
		{"a", false},
		{"Payments", false},
		{"-ads", false},
		{"ads-", false},
		{"ad_sales", false},
		{"ad.sales", false},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
	}
	for _, tc := range tests {
		if got := ValidName(tc.in); got != tc.want {
			t.Errorf("ValidName(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
