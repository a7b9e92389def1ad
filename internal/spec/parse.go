package spec

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fleetgov/fleetgov/internal/constraint"
)

type blockKind int

const (
	bHeading blockKind = iota // ### and deeper, inside a section
	bLabel                    // a paragraph line starting with **Label**
	bItem                     // a list item, with its continuation lines
	bRow                      // a table row
	bPara                     // any other paragraph line
)

type block struct {
	kind   blockKind
	line   int
	indent int
	text   string
	cont   []cline
	cells  []string
	header bool // a table row followed by a |---| separator
}

type cline struct {
	line int
	text string
}

var (
	itemRE      = regexp.MustCompile(`^(\s*)([-*+]|\d{1,3}[.)])\s+(.*)$`)
	fenceRE     = regexp.MustCompile("^\\s{0,3}(```+|~~~+)")
	separatorRE = regexp.MustCompile(`^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$`)
	codeOnlyRE  = regexp.MustCompile("^\\s*`([^`]+)`\\s*$")
	annotRE     = regexp.MustCompile(`^\(\s*([^)]*)\)\s*(.*)$`)
	annotHintRE = regexp.MustCompile(`(?i)^\(\s*(fleet|archetype|tenant|t\d)\b`)
	bracketRE   = regexp.MustCompile(`^\[([^\]]*)\]\s*(.*)$`)
	fieldRE     = regexp.MustCompile(`^\*\*([^*]+?)\*\*\s*:?\s*(.*)$`)
	backtickRE  = regexp.MustCompile("`([^`]+)`")
	notAuthRE   = regexp.MustCompile(`(?i)\bnot[ -]authori[sz]ed\b|out of scope`)
)

// Parse parses a spec. On malformed input it returns a constraint.ErrorList
// naming every problem with file and line, and no Spec.
func Parse(file string, src []byte) (*Spec, error) {
	p := &parser{s: &Spec{File: file, Digest: Digest(src), Source: string(src)}}
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	body := p.frontMatter(lines)
	if body >= 0 {
		p.body(lines, body)
		p.sections()
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.s, nil
}

type parser struct {
	s    *Spec
	errs constraint.ErrorList
}

// Codes of spec parse errors; see check.Codes.
const (
	codeFrontMatter = "bad-front-matter"
	codeAnnotation  = "bad-annotation"
	codeMachine     = "bad-machine-form"
	codeDecl        = "bad-declaration"
	codeManifest    = "bad-tool-manifest"
)

func (p *parser) errorf(line int, clause, format string, args ...any) {
	p.errorc(constraint.CodeMalformed, line, clause, format, args...)
}

func (p *parser) errorc(code string, line int, clause, format string, args ...any) {
	e := errorf(p.s.File, line, clause, format, args...)
	e.Code = code
	p.errs = append(p.errs, e)
}

// frontMatter parses the YAML header and returns the index of the first body
// line, or -1 if the header is unusable.
func (p *parser) frontMatter(lines []string) int {
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "---" {
		p.errorc(codeFrontMatter, 1, "", "a spec starts with YAML front matter between --- lines (spec, tenant, agent, version, status, owner, library)")
		return -1
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if t := strings.TrimSpace(lines[i]); t == "---" || t == "..." {
			end = i
			break
		}
	}
	if end < 0 {
		p.errorc(codeFrontMatter, 1, "", "front matter opened at line 1 is never closed with ---")
		return -1
	}
	fm := &p.s.Front
	root, err := constraint.DecodeYAML(p.s.File, []byte(strings.Join(lines[1:end], "\n")), fm)
	if err != nil {
		for _, e := range constraint.Errors(err) {
			if e.Pos.Line > 0 {
				e.Pos.Line++ // the YAML starts on line 2
			}
			e.Pos.File = p.s.File
			e.Msg = strings.Replace(e.Msg, "malformed YAML", "malformed front matter", 1)
			e.Code = codeFrontMatter
			p.errs = append(p.errs, e)
		}
		return -1
	}
	fm.Line = map[string]int{}
	if n := root.Content[0]; n != nil {
		for i := 0; i+1 < len(n.Content); i += 2 {
			fm.Line[n.Content[i].Value] = n.Content[i].Line + 1
		}
	}
	line := func(k string) int {
		if l, ok := fm.Line[k]; ok {
			return l
		}
		return 1
	}
	required := []struct{ key, val string }{
		{"spec", fm.ID}, {"tenant", fm.Tenant}, {"agent", fm.Agent}, {"version", fm.Version},
		{"status", fm.Status}, {"owner", fm.Owner}, {"library", fm.Library},
	}
	for _, r := range required {
		if strings.TrimSpace(r.val) == "" {
			p.errorc(codeFrontMatter, line(r.key), "", "front matter lacks %s", r.key)
		}
	}
	if fm.ID != "" && !specIDRE.MatchString(fm.ID) {
		p.errorc(codeFrontMatter, line("spec"), "", "spec id %q: use letters, digits, dots, dashes and underscores", fm.ID)
	}
	if fm.Tenant != "" && !ValidName(fm.Tenant) {
		p.errorc(codeFrontMatter, line("tenant"), "", "tenant %q: use lower-case letters, digits and dashes", fm.Tenant)
	}
	if fm.Agent != "" && !ValidName(fm.Agent) {
		p.errorc(codeFrontMatter, line("agent"), "", "agent %q: use lower-case letters, digits and dashes", fm.Agent)
	}
	if fm.Version != "" && !constraint.ValidVersion(fm.Version) {
		p.errorc(codeFrontMatter, line("version"), "", "spec version %q is not a semantic version such as 1.2.0", fm.Version)
	}
	if fm.Library != "" && !constraint.ValidVersion(fm.Library) {
		p.errorc(codeFrontMatter, line("library"), "", "library version %q is not a semantic version such as 1.2.0", fm.Library)
	}
	if _, set := fm.Line["contract"]; set && !constraint.ValidVersion(fm.Contract) {
		p.errorc(codeFrontMatter, line("contract"), "", "contract version %q is not a semantic version such as 1.1.0", fm.Contract)
	}
	if fm.Status != "" && !slices.Contains(Statuses, fm.Status) {
		p.errorc(codeFrontMatter, line("status"), "", "status %q: want one of %s", fm.Status, strings.Join(Statuses, ", "))
	}
	for _, d := range []struct{ key, val string }{{"last_review", fm.LastReview}, {"date", fm.Date}} {
		if d.val != "" && !dateRE.MatchString(d.val) {
			p.errorc(codeFrontMatter, line(d.key), "", "%s %q is not a date such as 2026-10-15", d.key, d.val)
		}
	}
	seen := map[string]bool{}
	for _, r := range fm.SharedResources {
		if seen[r] {
			p.errorc(codeFrontMatter, line("shared_resources"), "", "shared resource %q is listed twice", r)
		}
		seen[r] = true
	}
	return end + 1
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// body splits the Markdown body into sections of blocks.
func (p *parser) body(lines []string, start int) {
	var (
		sec       *Section
		item      *block
		blank     bool
		fenceOpen = 0
		fence     string
	)
	add := func(b block) {
		if sec != nil {
			sec.blocks = append(sec.blocks, b)
		}
	}
	flush := func() {
		if item != nil {
			add(*item)
			item = nil
		}
	}
	for i := start; i < len(lines); i++ {
		n, raw := i+1, lines[i]
		if fenceOpen > 0 {
			if strings.HasPrefix(strings.TrimSpace(raw), fence) {
				fenceOpen = 0
			}
			continue
		}
		if m := fenceRE.FindStringSubmatch(raw); m != nil {
			fenceOpen, fence = n, m[1]
			continue
		}
		t := strings.TrimSpace(raw)
		if t == "" {
			blank = true
			continue
		}
		wasBlank := blank
		blank = false
		if m := headingRE.FindStringSubmatch(t); m != nil && !strings.HasPrefix(raw, "    ") {
			flush()
			level, text := len(m[1]), m[2]
			switch {
			case level == 1:
				if p.s.Title == "" {
					p.s.Title = text
				}
			case level == 2:
				sm := sectionRE.FindStringSubmatch(text)
				if sm == nil {
					p.errorf(n, "", "section heading %q: write sections as \"## §N Title\" (§1 to §14 of the template)", t)
					sec = nil
					continue
				}
				num := atoi(sm[1])
				if num < 1 || num > 14 {
					p.errorf(n, "", "section §%s: the template has sections §1 to §14", sm[1])
					sec = nil
					continue
				}
				if prev := p.s.Section(num); prev != nil {
					p.errorf(n, "", "section §%d appears twice (first at line %d)", num, prev.Line)
					sec = nil
					continue
				}
				if k := len(p.s.Sections); k > 0 && p.s.Sections[k-1].Number > num {
					p.errorf(n, "", "section §%d comes after §%d: keep sections in template order", num, p.s.Sections[k-1].Number)
				}
				sec = &Section{Number: num, Title: strings.TrimSpace(sm[2]), Line: n}
				p.s.Sections = append(p.s.Sections, sec)
			default:
				add(block{kind: bHeading, line: n, indent: level, text: text})
			}
			continue
		}
		if strings.HasPrefix(t, "|") {
			flush()
			if separatorRE.MatchString(t) {
				if sec != nil && len(sec.blocks) > 0 && sec.blocks[len(sec.blocks)-1].kind == bRow {
					sec.blocks[len(sec.blocks)-1].header = true
				}
				continue
			}
			add(block{kind: bRow, line: n, cells: splitRow(t)})
			continue
		}
		if m := itemRE.FindStringSubmatch(raw); m != nil {
			indent := len(strings.ReplaceAll(m[1], "\t", "    "))
			if item != nil && indent >= 2 && indent > item.indent {
				item.cont = append(item.cont, cline{n, t})
				continue
			}
			flush()
			item = &block{kind: bItem, line: n, indent: indent, text: strings.TrimSpace(m[3])}
			continue
		}
		if item != nil && (!wasBlank || strings.HasPrefix(raw, "  ")) {
			item.cont = append(item.cont, cline{n, t})
			continue
		}
		flush()
		if strings.HasPrefix(t, "**") {
			add(block{kind: bLabel, line: n, text: t})
		} else {
			add(block{kind: bPara, line: n, text: t})
		}
	}
	flush()
	if fenceOpen > 0 {
		p.errorf(fenceOpen, "", "code fence opened here is never closed")
	}
}

func splitRow(t string) []string {
	t = strings.TrimSpace(t)
	t = strings.TrimPrefix(t, "|")
	t = strings.TrimSuffix(t, "|")
	cells := strings.Split(t, "|")
	for i, c := range cells {
		cells[i] = strings.TrimSpace(c)
	}
	return cells
}

func (p *parser) sections() {
	defer p.nameOwnClauses()
	for _, sec := range p.s.Sections {
		switch sec.Number {
		case 3:
			p.scope(sec)
		case 4:
			p.declaration(sec)
		}
		if constraint.ValidSection(sec.Number) {
			p.clauses(sec)
		}
		if sec.Number == constraint.SectionAuthorization {
			p.boundary(sec)
		}
	}
}

// label returns the label text of a heading or bold label block, or "".
func label(b block) string {
	switch b.kind {
	case bHeading:
		return b.text
	case bLabel:
		if m := fieldRE.FindStringSubmatch(b.text); m != nil {
			return m[1]
		}
	}
	return ""
}

func (p *parser) scope(sec *Section) {
	mode := ""
	for _, b := range sec.blocks {
		if l := label(b); l != "" {
			switch {
			case notAuthRE.MatchString(l):
				mode, p.s.Scope.Line = "out", b.line
			case strings.Contains(strings.ToLower(l), "in scope"):
				mode = "in"
			default:
				mode = ""
			}
			continue
		}
		if b.kind != bItem {
			continue
		}
		switch mode {
		case "in":
			p.s.Scope.InScope = append(p.s.Scope.InScope, itemText(b))
		case "out":
			p.s.Scope.OutOfScope = append(p.s.Scope.OutOfScope, itemText(b))
		}
	}
}

func itemText(b block) string {
	parts := []string{b.text}
	for _, c := range b.cont {
		parts = append(parts, c.text)
	}
	return constraint.NormalizeText(strings.Join(parts, " "))
}

// field returns the key and value of a "**Key:** value" line or item.
func field(b block) (key, val string, ok bool) {
	switch b.kind {
	case bItem, bLabel:
		m := fieldRE.FindStringSubmatch(b.text)
		if m == nil {
			return "", "", false
		}
		return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(m[1]), ":")), strings.TrimSpace(m[2]), true
	case bRow:
		if len(b.cells) >= 2 && !b.header {
			return strings.ToLower(strings.TrimSuffix(stripMarkup(b.cells[0]), ":")), b.cells[1], true
		}
	}
	return "", "", false
}

var (
	digitRE = regexp.MustCompile(`\d+`)
	revRE   = regexp.MustCompile(`\bR(\d)\b`)
	ovRE    = regexp.MustCompile(`^([A-Za-z])\b`)
)

func (p *parser) declaration(sec *Section) {
	d := &p.s.Decl
	d.Line = map[string]int{}
	mode := "" // "", "composition", "inventory", "other"
	var header []string
	for _, b := range sec.blocks {
		if b.kind == bHeading {
			l := strings.ToLower(b.text)
			switch {
			case strings.Contains(l, "composition declaration"):
				mode = "composition"
				d.Composition = &Composition{Line: b.line}
			case strings.Contains(l, "sub-agent inventory"):
				mode = "inventory"
				if d.Composition == nil {
					d.Composition = &Composition{Line: b.line}
				}
				d.Composition.InventoryLine = b.line
			default:
				mode = "other"
			}
			header = nil
			continue
		}
		if b.kind == bRow && b.header {
			header = lowerCells(b.cells)
			continue
		}
		switch mode {
		case "":
			if key, val, ok := field(b); ok {
				p.declField(d, key, val, b.line)
			}
		case "other":
			// Fields may sit under a heading of their own; the first one
			// written wins, so another block's "Risk:" does not override.
			if key, val, ok := field(b); ok {
				if _, seen := d.Line[declKey(key)]; !seen {
					p.declField(d, key, val, b.line)
				}
			}
		case "composition":
			if b.kind == bRow && header != nil {
				name, arch := col(header, b.cells, "component", "mode"), col(header, b.cells, "archetype")
				d.Composition.Components = append(d.Composition.Components,
					Component{Name: stripMarkup(name), Archetype: p.archetype(arch, b.line, "component archetype"), Line: b.line})
				continue
			}
			if key, val, ok := field(b); ok {
				switch key {
				case "governing archetype", "governing":
					d.Composition.Governing = p.archetype(val, b.line, "governing archetype")
				case "pattern", "composition pattern":
					pat := strings.ToUpper(firstWord(val))
					if len(pat) != 1 || pat < "A" || pat > "E" {
						p.errorc(codeDecl, b.line, "", "composition pattern %q: want A (Confirm-then-Act), B (Executor+Guardian), C (Orchestrator with typed sub-agents), D (Compose-then-Publish) or E (Mode-switching)", val)
					}
					d.Composition.Pattern = pat
				}
			}
		case "inventory":
			if b.kind == bRow && header != nil {
				d.Composition.SubAgents = append(d.Composition.SubAgents, SubAgent{
					Agent:     stripMarkup(col(header, b.cells, "agent")),
					Archetype: p.archetype(col(header, b.cells, "archetype"), b.line, "sub-agent archetype"),
					Scope:     col(header, b.cells, "authorization scope", "scope"),
					Failure:   col(header, b.cells, "failure behavior", "failure behaviour", "failure"),
					Line:      b.line,
				})
			}
		}
	}
}

func lowerCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ToLower(stripMarkup(c))
	}
	return out
}

// col returns the cell under the first header that matches one of names.
func col(header, cells []string, names ...string) string {
	for _, n := range names {
		if i := slices.Index(header, n); i >= 0 && i < len(cells) {
			return strings.TrimSpace(cells[i])
		}
	}
	return ""
}

func (p *parser) archetype(val string, line int, what string) string {
	w := firstWord(val)
	if w == "" {
		p.errorc(codeDecl, line, "", "%s is empty: want one of %s", what, strings.Join(constraint.Archetypes, ", "))
		return ""
	}
	a, err := constraint.ParseArchetype(w)
	if err != nil {
		p.errorc(constraint.CodeUnknownArchetype, line, "", "%s: %v", what, err)
		return ""
	}
	return a
}

// declKey maps a §4 field name to its Declaration.Line key.
func declKey(key string) string {
	switch key {
	case "classification", "archetype":
		return "archetype"
	case "agency level", "agency":
		return "agency"
	case "risk posture", "risk":
		return "risk"
	case "oversight model", "oversight":
		return "oversight"
	}
	return key
}

func (p *parser) declField(d *Declaration, key, val string, line int) {
	switch key {
	case "classification", "archetype":
		d.Archetype, d.Line["archetype"] = p.archetype(val, line, "§4 archetype"), line
	case "agency level", "agency":
		d.Line["agency"] = line
		m := digitRE.FindString(val)
		if n := atoi(m); n >= 1 && n <= 5 {
			d.Agency = n
		} else {
			p.errorc(codeDecl, line, "", "§4 agency level %q: want 1 (None) to 5 (Full)", val)
		}
	case "risk posture", "risk":
		d.Line["risk"] = line
		w := firstWord(val)
		for _, r := range []string{"Low", "Medium", "High", "Critical"} {
			if strings.EqualFold(w, r) {
				d.Risk = r
			}
		}
		if d.Risk == "" {
			p.errorc(codeDecl, line, "", "§4 risk posture %q: want Low, Medium, High or Critical", val)
		}
	case "oversight model", "oversight":
		d.Line["oversight"] = line
		m := ovRE.FindStringSubmatch(stripMarkup(strings.TrimSpace(val)))
		if m != nil && strings.Contains("ABCD", strings.ToUpper(m[1])) {
			d.Oversight = strings.ToUpper(m[1])
		} else {
			p.errorc(codeDecl, line, "", "§4 oversight model %q: want A (Monitoring), B (Periodic Review), C (Output Gate) or D (Pre-authorized Scope + Exception Gate)", val)
		}
	case "reversibility":
		d.Line["reversibility"] = line
		m := revRE.FindStringSubmatch(stripMarkup(val))
		if m != nil && m[1] >= "1" && m[1] <= "4" {
			d.Reversibility = "R" + m[1]
		} else {
			p.errorc(codeDecl, line, "", "§4 reversibility %q: want R1 (fully reversible) to R4 (irreversible)", val)
		}
	}
}

// clauses reads the annotated clauses of §6, §7 or §8.
func (p *parser) clauses(sec *Section) {
	for _, b := range sec.blocks {
		if b.kind != bItem || b.indent > 3 {
			continue
		}
		if !annotHintRE.MatchString(b.text) {
			if sec.Number == constraint.SectionInvariants {
				p.s.Unannotated = append(p.s.Unannotated, Unannotated{Line: b.line, Section: sec.Number, Text: itemText(b)})
			}
			continue
		}
		p.clause(sec.Number, b)
	}
}

// Unannotated is a §6 list item without a tier annotation.
type Unannotated struct {
	Line    int
	Section int
	Text    string
}

func (p *parser) clause(section int, b block) {
	c := &Clause{Line: b.line, Section: section}
	m := annotRE.FindStringSubmatch(b.text)
	if m == nil {
		p.errorc(codeAnnotation, b.line, "", "bad annotation: the annotation is not closed with ')'; want (Fleet, T1), (Archetype: <Name>, T2) or (Tenant, T3)")
		return
	}
	tier, arch, err := parseAnnotation(m[1])
	if err != nil {
		code := codeAnnotation
		if errors.Is(err, constraint.ErrUnknownArchetype) {
			code = constraint.CodeUnknownArchetype
		}
		p.errorc(code, b.line, "", "bad annotation (%s): %v", m[1], err)
		return
	}
	c.Tier, c.Archetype = tier, arch
	rest := m[2]
	if bm := bracketRE.FindStringSubmatch(rest); bm != nil {
		c.ID, rest = strings.TrimSpace(bm[1]), bm[2]
		if !constraint.ValidID(c.ID) {
			p.errorc(codeAnnotation, b.line, c.ID, "bad clause id %q: use lower-case words separated by dots or dashes, e.g. fleet.no-token-exfil", c.ID)
			return
		}
	}
	text := []string{rest}
	for _, cl := range b.cont {
		if cm := codeOnlyRE.FindStringSubmatch(cl.text); cm != nil && constraint.LooksLikeMachineForm(cm[1]) {
			if c.Machine != "" {
				p.errorc(codeMachine, cl.line, c.ID, "a clause has at most one machine form (the first is at line %d)", c.MachineLine)
				return
			}
			c.Machine, c.MachineLine = strings.TrimSpace(cm[1]), cl.line
			continue
		}
		text = append(text, cl.text)
	}
	c.Text = constraint.NormalizeText(strings.Join(text, " "))
	if c.Text == "" {
		p.errorc(codeAnnotation, b.line, c.ID, "clause has no text after its annotation")
		return
	}
	if c.Tier != constraint.T3 && c.ID == "" {
		p.errorc(codeAnnotation, b.line, "", "inherited %s clause without its library id: write %s [<library id>] %s", c.Tier, strings.TrimSpace(m[0][:len(m[0])-len(m[2])]), c.Text)
		return
	}
	var machine constraint.Machine
	if c.Machine != "" {
		mm, err := constraint.ParseMachine(c.Machine)
		if err != nil {
			p.errorc(codeMachine, c.MachineLine, c.ID, "%v", err)
			return
		}
		machine = mm
	}
	cc := &constraint.Clause{ID: c.ID, Tier: c.Tier, Archetype: c.Archetype, Section: section, Text: c.Text,
		Pos: constraint.Pos{File: p.s.File, Line: c.Line}}
	cc.SetMachine(machine)
	if errs := cc.Validate(); len(errs) > 0 {
		for _, e := range errs {
			if c.MachineLine > 0 && strings.HasPrefix(e.Msg, "rule") {
				e.Pos.Line = c.MachineLine
			}
		}
		p.errs = append(p.errs, errs...)
		return
	}
	if c.Tier == constraint.T3 {
		c.Own = cc
	} else if c.Machine != "" {
		c.Restated = cc
	}
	p.s.Clauses = append(p.s.Clauses, c)
}

// parseAnnotation parses the inside of "(Fleet, T1)", "(Archetype: X, T2)"
// or "(Tenant, T3)".
func parseAnnotation(inner string) (constraint.Tier, string, error) {
	parts := strings.Split(inner, ",")
	if len(parts) != 2 {
		return 0, "", errorString("want (Fleet, T1), (Archetype: <Name>, T2) or (Tenant, T3)")
	}
	scope, tierS := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
	tier, err := constraint.ParseTier(tierS)
	if err != nil {
		return 0, "", err
	}
	switch {
	case strings.EqualFold(scope, "Fleet"):
		if tier != constraint.T1 {
			return 0, "", errorString("Fleet clauses are T1: write (Fleet, T1)")
		}
		return tier, "", nil
	case strings.EqualFold(scope, "Tenant"):
		if tier != constraint.T3 {
			return 0, "", errorString("Tenant clauses are T3: write (Tenant, T3)")
		}
		return tier, "", nil
	case len(scope) >= 9 && strings.EqualFold(scope[:9], "Archetype"):
		name, ok := strings.CutPrefix(strings.TrimSpace(scope[9:]), ":")
		if !ok || strings.TrimSpace(name) == "" {
			return 0, "", errorString("name the archetype: (Archetype: Executor, T2)")
		}
		a, err := constraint.ParseArchetype(name)
		if err != nil {
			return 0, "", err
		}
		if tier != constraint.T2 {
			return 0, "", errorString("Archetype clauses are T2: write (Archetype: " + a + ", T2)")
		}
		return tier, a, nil
	}
	return 0, "", errorString("unknown scope " + strings.TrimSpace(scope) + ": want Fleet, Archetype: <Name> or Tenant")
}

type errorString string

func (e errorString) Error() string { return string(e) }

var effectRE = regexp.MustCompile(`(?i)^(read|write|delete|transmit)`)

func (p *parser) boundary(sec *Section) {
	bd := &p.s.Boundary
	mode := ""
	var header []string
	for _, b := range sec.blocks {
		if l := label(b); l != "" {
			ll := strings.ToLower(l)
			switch {
			case notAuthRE.MatchString(l):
				mode = "not"
			case strings.Contains(ll, "exception gate"):
				mode = "gate"
				if _, v, ok := field(b); ok && v != "" {
					bd.ExceptionGate = v
				}
			case strings.Contains(ll, "enforced invariants"):
				mode = "enforced"
			case strings.Contains(ll, "action on violation"):
				mode = "violation"
				if _, v, ok := field(b); ok && v != "" {
					bd.ViolationAction = v
				}
			default:
				mode = ""
			}
			header = nil
			continue
		}
		switch b.kind {
		case bRow:
			if b.header {
				header = lowerCells(b.cells)
				if slices.Contains(header, "tool") {
					bd.ManifestLine = b.line
				}
				continue
			}
			if header == nil || !slices.Contains(header, "tool") {
				continue
			}
			name := strings.Trim(stripMarkup(col(header, b.cells, "tool")), " ")
			eff := col(header, b.cells, "effect class", "effect")
			m := effectRE.FindStringSubmatch(stripMarkup(eff))
			if m == nil {
				p.errorc(codeManifest, b.line, "", "tool %s: effect class %q: want Read, Write, Delete or Transmit", name, eff)
				continue
			}
			bd.Tools = append(bd.Tools, Tool{Name: name, Effect: strings.ToLower(m[1]), Line: b.line})
		case bItem:
			if annotHintRE.MatchString(b.text) {
				continue // a clause, read by clauses
			}
			if key, val, ok := field(b); ok {
				switch {
				case strings.Contains(key, "exception gate"):
					bd.ExceptionGate = val
					continue
				case strings.Contains(key, "action on violation"):
					bd.ViolationAction = val
					continue
				}
			}
			text := itemText(b)
			switch mode {
			case "not":
				bd.NotAuthorized = append(bd.NotAuthorized, text)
				for _, m := range backtickRE.FindAllStringSubmatch(text, -1) {
					bd.NotAuthorizedTools = append(bd.NotAuthorizedTools, m[1])
				}
			case "gate":
				if bd.ExceptionGate == "" {
					bd.ExceptionGate = text
				}
			case "enforced":
				bd.EnforcedInvariants = append(bd.EnforcedInvariants, text)
			case "violation":
				if bd.ViolationAction == "" {
					bd.ViolationAction = text
				}
			}
		case bPara:
			switch mode {
			case "gate":
				if bd.ExceptionGate == "" {
					bd.ExceptionGate = b.text
				}
			case "violation":
				if bd.ViolationAction == "" {
					bd.ViolationAction = b.text
				}
			}
		}
	}
}

// nameOwnClauses gives unnamed T3 clauses an ID, "<tenant>.<agent>.t3-<n>",
// so that decisions and findings can name them.
func (p *parser) nameOwnClauses() {
	taken := map[string]bool{}
	for _, c := range p.s.Clauses {
		if c.ID != "" {
			taken[c.ID] = true
		}
	}
	n := 0
	for _, c := range p.s.Clauses {
		if c.Own == nil || c.ID != "" {
			continue
		}
		for {
			n++
			id := fmt.Sprintf("%s.%s.t3-%d", p.s.Front.Tenant, p.s.Front.Agent, n)
			if !taken[id] {
				c.Own.ID = id
				break
			}
		}
	}
}
