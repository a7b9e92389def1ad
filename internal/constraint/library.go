package constraint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/semver"
)

// Library is one version of the constraint library: the T1 and T2 clauses.
// A loaded Library is immutable.
type Library struct {
	Version       string           `json:"version"`
	Digest        string           `json:"digest"`
	EffectiveDate string           `json:"effective_date,omitempty"`
	Owner         string           `json:"owner,omitempty"`
	ReviewedBy    []string         `json:"reviewed_by,omitempty"`
	NextReview    string           `json:"next_review,omitempty"`
	Description   string           `json:"description,omitempty"`
	Changelog     []ChangelogEntry `json:"changelog,omitempty"`
	Clauses       []*Clause        `json:"clauses"`
	File          string           `json:"-"`

	byID map[string]*Clause
}

// ChangelogEntry is one line of a library's changelog.
type ChangelogEntry struct {
	Version string `json:"version" yaml:"version"`
	Date    string `json:"date,omitempty" yaml:"date"`
	Summary string `json:"summary" yaml:"summary"`
}

// Clause returns the clause with the given ID.
func (l *Library) Clause(id string) (*Clause, bool) {
	c, ok := l.byID[id]
	return c, ok
}

// ValidVersion reports whether v is a semantic version such as 1.2.0.
func ValidVersion(v string) bool {
	return !strings.HasPrefix(v, "v") && semver.IsValid("v"+v) && semver.Canonical("v"+v) == "v"+strings.SplitN(v, "+", 2)[0]
}

// CompareVersions compares two valid versions like strings.Compare.
func CompareVersions(a, b string) int { return semver.Compare("v"+a, "v"+b) }

// The YAML shape of a library file. Decoding is strict: unknown fields are errors.
type libraryYAML struct {
	Version       string           `yaml:"version"`
	EffectiveDate string           `yaml:"effective_date"`
	Owner         string           `yaml:"owner"`
	ReviewedBy    []string         `yaml:"reviewed_by"`
	NextReview    string           `yaml:"next_review"`
	Description   string           `yaml:"description"`
	Changelog     []ChangelogEntry `yaml:"changelog"`
	Clauses       []clauseYAML     `yaml:"clauses"`
}

type clauseYAML struct {
	ID         string      `yaml:"id"`
	Tier       string      `yaml:"tier"`
	Archetype  string      `yaml:"archetype"`
	Section    int         `yaml:"section"`
	Text       string      `yaml:"text"`
	Resource   string      `yaml:"resource"`
	Provenance *Provenance `yaml:"provenance"`
	Rule       *struct {
		When   string `yaml:"when"`
		Effect string `yaml:"effect"`
	} `yaml:"rule"`
	Limit *struct {
		Name   string   `yaml:"name"`
		Max    *float64 `yaml:"max"`
		Effect string   `yaml:"effect"`
	} `yaml:"limit"`
	Allow *struct {
		Name   string   `yaml:"name"`
		Values []string `yaml:"values"`
		Effect string   `yaml:"effect"`
	} `yaml:"allow"`
	Check string `yaml:"check"`
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// yamlErrors turns a YAML decoding error into positioned errors.
func yamlErrors(file string, err error) ErrorList {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var errs ErrorList
	for _, m := range msgs {
		pos := Pos{File: file}
		if sm := yamlLineRE.FindStringSubmatch(m); sm != nil {
			pos.Line, _ = strconv.Atoi(sm[1])
			m = sm[2]
		}
		// "field x not found in type <Go type>": the Go type means nothing
		// to the file's author.
		if i := strings.Index(m, " not found in type "); i >= 0 {
			m = m[:i] + " is not a known field here"
		}
		errs = append(errs, Errorf(pos, "", "malformed YAML: %s", m))
	}
	return errs
}

// DecodeYAML strictly decodes YAML data into out, reporting errors with file
// and line, and returns the document's root node for position lookups.
func DecodeYAML(file string, data []byte, out any) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlErrors(file, err)
	}
	if len(root.Content) == 0 {
		return nil, ErrorList{Errorf(Pos{File: file, Line: 1}, "", "empty document")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return nil, yamlErrors(file, err)
	}
	return &root, nil
}

// Lookup returns the value node under a mapping key of n, or nil.
func Lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// ParseLibrary parses one library version file. Every problem is reported,
// with file, line and clause ID; on any problem no Library is returned.
func ParseLibrary(file string, data []byte) (*Library, error) {
	var y libraryYAML
	root, err := DecodeYAML(file, data, &y)
	if err != nil {
		return nil, attributeClauses(data, err)
	}
	var errs ErrorList
	at := func(n *yaml.Node) Pos {
		if n == nil {
			return Pos{File: file}
		}
		return Pos{File: file, Line: n.Line}
	}
	if !ValidVersion(y.Version) {
		errs = append(errs, Errorf(at(Lookup(root, "version")), "", "library version %q is not a semantic version such as 1.2.0", y.Version))
	}
	if base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)); y.Version != "" && base != y.Version {
		errs = append(errs, Errorf(at(Lookup(root, "version")), "", "file %s holds version %s; name it %s.yaml", filepath.Base(file), y.Version, y.Version))
	}
	l := &Library{
		Version: y.Version, EffectiveDate: y.EffectiveDate, Owner: y.Owner, ReviewedBy: y.ReviewedBy,
		NextReview: y.NextReview, Description: strings.TrimSpace(y.Description), Changelog: y.Changelog,
		File: file, byID: make(map[string]*Clause, len(y.Clauses)),
	}
	var clauseNodes []*yaml.Node
	if n := Lookup(root, "clauses"); n != nil {
		clauseNodes = n.Content
	}
	if len(y.Clauses) == 0 {
		errs = append(errs, Errorf(at(root), "", "library %s has no clauses", y.Version))
	}
	for i, cy := range y.Clauses {
		pos := Pos{File: file}
		if i < len(clauseNodes) {
			pos.Line = clauseNodes[i].Line
		}
		c, cerrs := clauseFromYAML(cy, pos)
		errs = append(errs, cerrs...)
		if c == nil {
			continue
		}
		if c.Tier == T3 {
			errs = append(errs, Errorf(pos, c.ID, "the library holds T1 and T2 clauses; T3 clauses live in tenant specs"))
			continue
		}
		if prev, dup := l.byID[c.ID]; dup {
			errs = append(errs, Errorf(pos, c.ID, "duplicate clause id (first defined at line %d)", prev.Pos.Line))
			continue
		}
		l.byID[c.ID] = c
		l.Clauses = append(l.Clauses, c)
	}
	errs = append(errs, checkArchetypeTier(l.Clauses)...)
	if len(errs) > 0 {
		return nil, errs
	}
	l.Digest = digestClauses(l.Version, l.Clauses)
	return l, nil
}

// attributeClauses names, on each positioned decoding error, the clause whose
// YAML holds that line, when the document is well-formed enough to tell.
func attributeClauses(data []byte, err error) error {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return err
	}
	clauses := Lookup(&root, "clauses")
	if clauses == nil || clauses.Kind != yaml.SequenceNode {
		return err
	}
	for _, e := range Errors(err) {
		if e.Pos.Line == 0 || e.Clause != "" {
			continue
		}
		for _, n := range clauses.Content {
			if e.Pos.Line < n.Line || e.Pos.Line > lastLine(n) {
				continue
			}
			if id := Lookup(n, "id"); id != nil && id.Kind == yaml.ScalarNode {
				e.Clause = id.Value
			}
			break
		}
	}
	return err
}

// lastLine returns the last line a node or any of its descendants starts on.
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}

func clauseFromYAML(cy clauseYAML, pos Pos) (*Clause, ErrorList) {
	c := &Clause{ID: cy.ID, Archetype: cy.Archetype, Section: cy.Section, Text: NormalizeText(cy.Text),
		Resource: cy.Resource, Provenance: cy.Provenance, Check: cy.Check, Pos: pos}
	var errs ErrorList
	if cy.ID == "" {
		errs = append(errs, Errorf(pos, "", "clause without an id"))
		return nil, errs
	}
	t, err := ParseTier(cy.Tier)
	if err != nil {
		errs = append(errs, Errorf(pos, cy.ID, "%v", err))
		return nil, errs
	}
	c.Tier = t
	if r := cy.Rule; r != nil {
		c.Rule = &Rule{When: strings.TrimSpace(r.When), Effect: Effect(strings.ToLower(r.Effect))}
	}
	if lm := cy.Limit; lm != nil {
		if lm.Max == nil {
			errs = append(errs, Errorf(pos, cy.ID, "limit %s has no max", lm.Name))
		} else {
			c.Limit = &Limit{Name: lm.Name, Max: *lm.Max, Effect: Effect(strings.ToLower(lm.Effect))}
		}
	}
	if a := cy.Allow; a != nil {
		c.Allow = &Allow{Name: a.Name, Values: a.Values, Effect: Effect(strings.ToLower(a.Effect))}
	}
	errs = append(errs, c.Validate()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// checkArchetypeTier reports T2 clauses that weaken a T1 clause of the same
// library: a higher limit, or an allow-list wider than the T1 one.
func checkArchetypeTier(clauses []*Clause) ErrorList {
	var t1, t2 []*Clause
	for _, c := range clauses {
		switch c.Tier {
		case T1:
			t1 = append(t1, c)
		case T2:
			t2 = append(t2, c)
		}
	}
	var errs ErrorList
	for _, w := range weakenings(t1, t2) {
		errs = append(errs, Errorf(w.Clause.Pos, w.Clause.ID, "%s", w.Message))
	}
	return errs
}

// digestClauses hashes the behaviour-bearing content of a library version.
func digestClauses(version string, clauses []*Clause) string {
	sorted := slices.Clone(clauses)
	slices.SortFunc(sorted, func(a, b *Clause) int { return strings.Compare(a.ID, b.ID) })
	b, _ := json.Marshal(struct {
		Version string    `json:"version"`
		Clauses []*Clause `json:"clauses"`
	}{version, sorted})
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Catalog is every version of the library, oldest first, and the one in force.
type Catalog struct {
	versions []*Library
	current  *Library
}

// LoadCatalog loads every <version>.yaml file in dir. current names the
// version in force; empty means the highest. Every problem in every file is
// reported; on any problem nothing is loaded.
func LoadCatalog(dir, current string) (*Catalog, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, ErrorList{Errorf(Pos{File: dir}, "", "cannot read the constraint library: %v", errors.Unwrap(err))}
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml":
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return catalogFromFiles(files, current, os.ReadFile)
}

func catalogFromFiles(files []string, current string, read func(string) ([]byte, error)) (*Catalog, error) {
	var errs ErrorList
	c := &Catalog{}
	seen := map[string]string{}
	for _, f := range files {
		data, err := read(f)
		if err != nil {
			errs = append(errs, Errorf(Pos{File: f}, "", "cannot read: %v", unwrapPathError(err)))
			continue
		}
		lib, err := ParseLibrary(f, data)
		if err != nil {
			errs = append(errs, Errors(err)...)
			continue
		}
		if other, dup := seen[lib.Version]; dup {
			errs = append(errs, Errorf(Pos{File: f}, "", "version %s is also defined in %s", lib.Version, other))
			continue
		}
		seen[lib.Version] = f
		c.versions = append(c.versions, lib)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(c.versions) == 0 {
		return nil, ErrorList{Errorf(Pos{File: filepath.Dir(firstOr(files, "constraints/"))}, "", "the constraint library has no versions: add constraints/<version>.yaml")}
	}
	slices.SortFunc(c.versions, func(a, b *Library) int { return CompareVersions(a.Version, b.Version) })
	c.current = c.versions[len(c.versions)-1]
	if current != "" {
		lib, ok := c.Get(current)
		if !ok {
			return nil, ErrorList{Errorf(Pos{}, "", "library version %s is named as current but no constraints/%s.yaml exists", current, current)}
		}
		c.current = lib
	}
	return c, nil
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// NewCatalog builds a catalog from parsed libraries, for tests and tools.
func NewCatalog(libs []*Library, current string) (*Catalog, error) {
	c := &Catalog{versions: slices.Clone(libs)}
	if len(libs) == 0 {
		return nil, errors.New("no library versions")
	}
	slices.SortFunc(c.versions, func(a, b *Library) int { return CompareVersions(a.Version, b.Version) })
	c.current = c.versions[len(c.versions)-1]
	if current != "" {
		lib, ok := c.Get(current)
		if !ok {
			return nil, fmt.Errorf("no library version %s", current)
		}
		c.current = lib
	}
	return c, nil
}

// Get returns one version.
func (c *Catalog) Get(version string) (*Library, bool) {
	for _, l := range c.versions {
		if l.Version == version {
			return l, true
		}
	}
	return nil, false
}

// Current returns the version in force.
func (c *Catalog) Current() *Library { return c.current }

// Versions returns every version, oldest first.
func (c *Catalog) Versions() []*Library { return slices.Clone(c.versions) }

// VersionNames returns every version string, oldest first.
func (c *Catalog) VersionNames() []string {
	names := make([]string, len(c.versions))
	for i, l := range c.versions {
		names[i] = l.Version
	}
	return names
}
