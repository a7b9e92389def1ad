// Package fleet loads the fleet repo, the directory the platform team keeps
// in git: fleet.yaml (the fleet, its tenants, the escalation rule),
// constraints/ (the constraint library, one <version>.yaml per version) and
// contract.yaml (the cross-tenant isolation contract).
//
// Load validates everything and returns an immutable Repo, or every problem
// found with file and line and nothing at all: a fleet repo is never loaded
// halfway.
package fleet

import (
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
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// File names inside a fleet repo.
const (
	ConfigFile     = "fleet.yaml"
	ContractFile   = "contract.yaml"
	ConstraintsDir = "constraints"
	SpecsDir       = "specs"
)

// Tenant kinds.
const (
	KindInternal    = "internal"
	KindAdvertising = "advertising"
)

// Config is fleet.yaml.
type Config struct {
	Fleet   string `yaml:"fleet" json:"fleet"`
	Name    string `yaml:"name" json:"name"`
	Owner   string `yaml:"owner" json:"owner"`
	Library struct {
		// Current is the library version in force; empty means the highest.
		Current string `yaml:"current" json:"current,omitempty"`
	} `yaml:"library" json:"library"`
	Escalation EscalationRule `yaml:"escalation" json:"escalation"`
	Exceptions struct {
		// MaxDays caps how long an exception may last.
		MaxDays int `yaml:"max_days" json:"max_days"`
	} `yaml:"exceptions" json:"exceptions"`
	Tenants []Tenant `yaml:"tenants" json:"tenants"`
	// Gateway configures the gateway to the shared resources.
	Gateway Gateway `yaml:"gateway" json:"gateway"`
}

// EscalationRule is the platform-tier failure-locus rule: the same Cat with
// the same root cause in MinTenants tenants within WindowDays escalates.
type EscalationRule struct {
	MinTenants    int    `yaml:"min_tenants" json:"min_tenants"`
	WindowDays    int    `yaml:"window_days" json:"window_days"`
	SameCat       bool   `yaml:"same_cat" json:"same_cat"`
	SameRootCause bool   `yaml:"same_root_cause" json:"same_root_cause"`
	CommittedBy   string `yaml:"committed_by" json:"committed_by"`
	CommittedAt   string `yaml:"committed_at" json:"committed_at"`
}

// Tenant is a tenant team, in AdCP terms an account.
type Tenant struct {
	ID      string `yaml:"id" json:"id"`
	Name    string `yaml:"name" json:"name"`
	Team    string `yaml:"team" json:"team,omitempty"`
	Owner   string `yaml:"owner" json:"owner,omitempty"`
	Kind    string `yaml:"kind" json:"kind"`
	Sandbox bool   `yaml:"sandbox" json:"sandbox"`
	// ADCP configures an advertising account's governance agent.
	ADCP ADCPConfig `yaml:"adcp" json:"adcp"`
}

// AdCP wire versions fleetgov speaks.
var ADCPVersions = []string{"3.0", "3.1", "3.2"}

// Governance modes: enforce gives real verdicts; advisory and audit approve
// and report findings (human review is never neutered).
var ADCPModes = []string{"enforce", "advisory", "audit"}

// ADCPConfig is the governance agent's configuration for one account.
type ADCPConfig struct {
	// WireVersion is the AdCP version spoken when a request names none:
	// 3.0, 3.1 (the default) or 3.2.
	WireVersion string `yaml:"wire_version" json:"wire_version,omitempty"`
	// Mode is enforce (the default), advisory or audit.
	Mode string `yaml:"mode" json:"mode,omitempty"`
	// AggregationWindowDays is the trailing window over which commitments
	// between one buyer and one seller add up against review thresholds
	// (the fragmentation defense); default 30.
	AggregationWindowDays int `yaml:"aggregation_window_days" json:"aggregation_window_days,omitempty"`
	// ReviewAbove sends any action above this amount to human review,
	// whatever the plan says; 0 means no account-wide threshold.
	ReviewAbove float64 `yaml:"review_above" json:"review_above,omitempty"`
	// Agent is the registered agent ("<tenant>.<name>") whose effective
	// constraint clauses every plan action of the account must pass.
	Agent string `yaml:"agent" json:"agent,omitempty"`
}

// Contract is contract.yaml, the cross-tenant isolation contract. It is
// versioned like the library: specs pin the version they were written
// against (contract: in their front matter), and the changelog names the
// rows each version changed, so that a spec that declares a changed row in
// shared_resources is told to amend.
type Contract struct {
	Version string `yaml:"version" json:"version"`
	Owner   string `yaml:"owner" json:"owner,omitempty"`
	// Changelog lists every version, newest first; the newest is Version.
	Changelog []ChangelogEntry `yaml:"changelog" json:"changelog"`
	Resources []Resource       `yaml:"resources" json:"resources"`
}

// ChangelogEntry is one version of the contract: when, what, and which rows.
type ChangelogEntry struct {
	Version string `yaml:"version" json:"version"`
	Date    string `yaml:"date" json:"date,omitempty"`
	Summary string `yaml:"summary" json:"summary"`
	// Changed lists the ids of the rows the version added or changed;
	// Removed those of the rows it took out of the contract.
	Changed []string `yaml:"changed" json:"changed,omitempty"`
	Removed []string `yaml:"removed" json:"removed,omitempty"`
}

// Names reports whether the entry changed or removed row id.
func (e ChangelogEntry) Names(id string) bool {
	return slices.Contains(e.Changed, id) || slices.Contains(e.Removed, id)
}

// Resource is one row of the contract: a shared resource and what the
// platform guarantees across tenants for it.
type Resource struct {
	ID         string   `yaml:"id" json:"id"`
	Name       string   `yaml:"name" json:"name"`
	Guarantee  string   `yaml:"guarantee" json:"guarantee"`
	Mechanism  string   `yaml:"mechanism" json:"mechanism"`
	Invariants []string `yaml:"invariants" json:"invariants"`
}

// Resource returns the contract row with the given ID.
func (c *Contract) Resource(id string) (Resource, bool) {
	for _, r := range c.Resources {
		if r.ID == id {
			return r, true
		}
	}
	return Resource{}, false
}

// ResourceIDs returns the IDs of every contract row.
func (c *Contract) ResourceIDs() []string {
	ids := make([]string, len(c.Resources))
	for i, r := range c.Resources {
		ids[i] = r.ID
	}
	return ids
}

// Digest identifies a row's content (every field), "sha256:<hex>".
func (r Resource) Digest() string {
	b, _ := json.Marshal(r) // strings and string slices always encode
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// RowDigests maps the ID of every row of the contract to its Digest.
func (c *Contract) RowDigests() map[string]string {
	m := make(map[string]string, len(c.Resources))
	for _, r := range c.Resources {
		m[r.ID] = r.Digest()
	}
	return m
}

// HasVersion reports whether the changelog has an entry for version v.
func (c *Contract) HasVersion(v string) bool {
	for _, e := range c.Changelog {
		if e.Version == v {
			return true
		}
	}
	return false
}

// VersionNames returns the versions of the changelog, oldest first.
func (c *Contract) VersionNames() []string {
	out := make([]string, 0, len(c.Changelog))
	for i := len(c.Changelog) - 1; i >= 0; i-- {
		out = append(out, c.Changelog[i].Version)
	}
	return out
}

// Baseline returns the oldest version of the changelog: the version a spec
// that pins none is taken to have been written against.
func (c *Contract) Baseline() string {
	if len(c.Changelog) == 0 {
		return c.Version
	}
	return c.Changelog[len(c.Changelog)-1].Version
}

// EntriesAfter returns the changelog entries newer than version, newest
// first. An empty version means the Baseline.
func (c *Contract) EntriesAfter(version string) []ChangelogEntry {
	if version == "" {
		version = c.Baseline()
	}
	var out []ChangelogEntry
	for _, e := range c.Changelog {
		if constraint.ValidVersion(e.Version) && constraint.ValidVersion(version) && constraint.CompareVersions(e.Version, version) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// RowChange is a contract row that changelog entries after some version
// changed or removed.
type RowChange struct {
	Resource string `json:"resource"`
	// Removed is true when the newest of Entries took the row out.
	Removed bool `json:"removed,omitempty"`
	// Entries are the entries that name the row, newest first.
	Entries []ChangelogEntry `json:"entries"`
}

// ChangesAfter returns, for each row ID among resources (in that order),
// the changelog entries newer than version that changed or removed it; rows
// no such entry names are left out. An empty version means the Baseline.
func (c *Contract) ChangesAfter(version string, resources []string) []RowChange {
	after := c.EntriesAfter(version)
	var out []RowChange
	for _, id := range resources {
		rc := RowChange{Resource: id}
		for _, e := range after {
			if e.Names(id) {
				if len(rc.Entries) == 0 {
					rc.Removed = slices.Contains(e.Removed, id)
				}
				rc.Entries = append(rc.Entries, e)
			}
		}
		if len(rc.Entries) > 0 {
			out = append(out, rc)
		}
	}
	return out
}

// Repo is a loaded fleet repo. It is immutable.
type Repo struct {
	Dir      string
	Config   Config
	Library  *constraint.Catalog
	Contract Contract
	// Digest identifies the content: fleet.yaml, contract.yaml and every
	// library version's digest.
	Digest string
}

// Tenant returns a tenant by ID.
func (r *Repo) Tenant(id string) (Tenant, bool) {
	for _, t := range r.Config.Tenants {
		if t.ID == id {
			return t, true
		}
	}
	return Tenant{}, false
}

// Load reads and validates the fleet repo in dir.
func Load(dir string) (*Repo, error) {
	var errs constraint.ErrorList
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs = append(errs, constraint.Errorf(constraint.Pos{File: filepath.Join(dir, name)}, "", "cannot read: %v", err))
		}
		return b
	}
	cfgData, contractData := read(ConfigFile), read(ContractFile)
	if len(errs) > 0 {
		return nil, errs
	}
	r := &Repo{Dir: dir}
	cfgFile := filepath.Join(dir, ConfigFile)
	cfgRoot, err := constraint.DecodeYAML(cfgFile, cfgData, &r.Config)
	if err != nil {
		errs = append(errs, constraint.Errors(err)...)
	} else {
		errs = append(errs, validateConfig(cfgFile, cfgRoot, &r.Config)...)
		errs = append(errs, validateGateway(cfgFile, cfgRoot, &r.Config)...)
	}
	lib, err := constraint.LoadCatalog(filepath.Join(dir, ConstraintsDir), "")
	if err != nil {
		errs = append(errs, constraint.Errors(err)...)
	} else if cur := r.Config.Library.Current; cur != "" && constraint.ValidVersion(cur) {
		// Select the version in force here rather than in LoadCatalog, so
		// that a missing one is reported at its line of fleet.yaml.
		if lib, err = constraint.NewCatalog(lib.Versions(), cur); err != nil {
			errs = append(errs, constraint.Errorf(pos(cfgFile, constraint.Lookup(constraint.Lookup(cfgRoot, "library"), "current")), "",
				"library.current %s: there is no %s/%s.yaml", cur, ConstraintsDir, cur))
		}
	}
	r.Library = lib
	contractFile := filepath.Join(dir, ContractFile)
	contractRoot, err := constraint.DecodeYAML(contractFile, contractData, &r.Contract)
	if err != nil {
		errs = append(errs, constraint.Errors(err)...)
	} else {
		errs = append(errs, validateChangelog(contractFile, contractRoot, &r.Contract)...)
		if lib != nil {
			errs = append(errs, validateContract(contractFile, contractRoot, &r.Contract, lib)...)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	h := sha256.New()
	h.Write(cfgData)
	h.Write([]byte{0})
	h.Write(contractData)
	for _, l := range lib.Versions() {
		h.Write([]byte{0})
		h.Write([]byte(l.Digest))
	}
	r.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return r, nil
}

// item returns the i-th element node of the sequence under key.
func item(root *yaml.Node, key string, i int) *yaml.Node {
	n := constraint.Lookup(root, key)
	if n == nil || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func pos(file string, n *yaml.Node) constraint.Pos {
	if n == nil {
		return constraint.Pos{File: file}
	}
	return constraint.Pos{File: file, Line: n.Line}
}

func validateConfig(file string, root *yaml.Node, c *Config) constraint.ErrorList {
	var errs constraint.ErrorList
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, constraint.Errorf(pos(file, n), "", format, args...))
	}
	if c.Fleet == "" {
		bad(root, "fleet.yaml lacks fleet (the fleet's id)")
	}
	if c.Library.Current != "" && !constraint.ValidVersion(c.Library.Current) {
		bad(constraint.Lookup(root, "library"), "library.current %q is not a semantic version", c.Library.Current)
	}
	e := c.Escalation
	esc := constraint.Lookup(root, "escalation")
	switch {
	case esc == nil:
		bad(root, "fleet.yaml lacks the escalation rule: commit to a threshold in writing, e.g. escalation: {min_tenants: 3, window_days: 14, same_cat: true, same_root_cause: true, committed_by: ..., committed_at: ...}")
	case e.MinTenants < 2:
		bad(constraint.Lookup(esc, "min_tenants"), "escalation.min_tenants %d: at least 2 (the framework's default is 3)", e.MinTenants)
	case e.WindowDays < 1:
		bad(constraint.Lookup(esc, "window_days"), "escalation.window_days %d: at least 1 (the framework's default is 14)", e.WindowDays)
	case e.CommittedBy == "" || e.CommittedAt == "":
		bad(esc, "the escalation rule is committed in writing: set committed_by and committed_at")
	}
	if c.Exceptions.MaxDays == 0 {
		c.Exceptions.MaxDays = 90
	} else if c.Exceptions.MaxDays < 0 || c.Exceptions.MaxDays > 366 {
		bad(constraint.Lookup(root, "exceptions"), "exceptions.max_days %d: between 1 and 366", c.Exceptions.MaxDays)
	}
	if len(c.Tenants) == 0 {
		bad(root, "fleet.yaml lists no tenants")
	}
	seen := map[string]bool{}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		n := item(root, "tenants", i)
		switch {
		case !spec.ValidName(t.ID):
			bad(n, "tenant id %q: use lower-case letters, digits and dashes", t.ID)
		case seen[t.ID]:
			bad(n, "tenant %s is listed twice", t.ID)
		}
		seen[t.ID] = true
		if t.Name == "" {
			t.Name = t.ID
		}
		switch t.Kind {
		case "":
			t.Kind = KindInternal
		case KindInternal, KindAdvertising:
		default:
			bad(n, "tenant %s: kind %q: want %s or %s", t.ID, t.Kind, KindInternal, KindAdvertising)
		}
		a := &t.ADCP
		if a.WireVersion == "" {
			a.WireVersion = "3.1"
		} else if !slices.Contains(ADCPVersions, a.WireVersion) {
			bad(n, "tenant %s: adcp.wire_version %q: want one of %s", t.ID, a.WireVersion, strings.Join(ADCPVersions, ", "))
		}
		if a.Mode == "" {
			a.Mode = "enforce"
		} else if !slices.Contains(ADCPModes, a.Mode) {
			bad(n, "tenant %s: adcp.mode %q: want one of %s", t.ID, a.Mode, strings.Join(ADCPModes, ", "))
		}
		switch {
		case a.AggregationWindowDays == 0:
			a.AggregationWindowDays = 30
		case a.AggregationWindowDays < 1 || a.AggregationWindowDays > 365:
			bad(n, "tenant %s: adcp.aggregation_window_days %d: between 1 and 365", t.ID, a.AggregationWindowDays)
		}
		if a.Agent != "" && !strings.HasPrefix(a.Agent, t.ID+".") {
			bad(n, "tenant %s: adcp.agent %q must be one of the tenant's own agents (%s.<name>)", t.ID, a.Agent, t.ID)
		}
		if a.ReviewAbove < 0 {
			bad(n, "tenant %s: adcp.review_above %v: must not be negative", t.ID, a.ReviewAbove)
		}
	}
	return errs
}

func validateContract(file string, root *yaml.Node, c *Contract, lib *constraint.Catalog) constraint.ErrorList {
	var errs constraint.ErrorList
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, constraint.Errorf(pos(file, n), "", format, args...))
	}
	if !constraint.ValidVersion(c.Version) {
		bad(constraint.Lookup(root, "version"), "contract version %q is not a semantic version such as 1.0.0", c.Version)
	}
	if len(c.Resources) == 0 {
		bad(root, "the contract lists no shared resources")
	}
	current := lib.Current()
	seen := map[string]bool{}
	for i, r := range c.Resources {
		n := item(root, "resources", i)
		switch {
		case !spec.ValidName(r.ID):
			bad(n, "resource id %q: use lower-case letters, digits and dashes", r.ID)
		case seen[r.ID]:
			bad(n, "resource %s is listed twice", r.ID)
		}
		seen[r.ID] = true
		if strings.TrimSpace(r.Guarantee) == "" || strings.TrimSpace(r.Mechanism) == "" {
			bad(n, "resource %s: state its cross-tenant guarantee and its mechanism", r.ID)
		}
		for _, id := range r.Invariants {
			if _, ok := current.Clause(id); !ok {
				bad(n, "resource %s: invariant %s is not a clause of library %s", r.ID, id, current.Version)
			}
		}
	}
	for _, l := range lib.Versions() {
		for _, cl := range l.Clauses {
			if cl.Resource != "" && !seen[cl.Resource] && l == current {
				errs = append(errs, constraint.Errorf(cl.Pos, cl.ID, "clause is scoped to resource %q, which the contract does not list (have %s)",
					cl.Resource, strings.Join(slices.Sorted(keys(seen)), ", ")))
			}
		}
	}
	return errs
}

// validateChangelog checks the contract's changelog: newest first, one
// entry per version, the newest being the contract's version, and every row
// it names either a row of the contract or a row a newer entry removed (a
// removed row, under removed:, no longer one unless a newer entry re-adds it).
func validateChangelog(file string, root *yaml.Node, c *Contract) constraint.ErrorList {
	var errs constraint.ErrorList
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, constraint.Errorf(pos(file, n), "", format, args...))
	}
	if len(c.Changelog) == 0 {
		bad(root, "contract.yaml lacks a changelog: add changelog: [{version: %s, date: YYYY-MM-DD, summary: ..., changed: [row ids]}], newest first", c.Version)
		return errs
	}
	rows := map[string]bool{}
	for _, r := range c.Resources {
		rows[r.ID] = true
	}
	// removedLater and changedLater hold the rows that entries newer than
	// the one at hand removed and changed.
	removedLater, changedLater := map[string]bool{}, map[string]bool{}
	for i, e := range c.Changelog {
		n := item(root, "changelog", i)
		switch {
		case !constraint.ValidVersion(e.Version):
			bad(n, "changelog entry %d: version %q is not a semantic version such as 1.0.0", i+1, e.Version)
		case i > 0 && constraint.ValidVersion(c.Changelog[i-1].Version) && constraint.CompareVersions(c.Changelog[i-1].Version, e.Version) <= 0:
			bad(n, "changelog entry %s follows %s: list the changelog newest first, one entry per version", e.Version, c.Changelog[i-1].Version)
		}
		if strings.TrimSpace(e.Summary) == "" {
			bad(n, "changelog entry %s: say what changed in summary", e.Version)
		}
		if e.Date != "" && !dateRE.MatchString(e.Date) {
			bad(n, "changelog entry %s: date %q is not a date such as 2026-10-15", e.Version, e.Date)
		}
		for _, id := range e.Changed {
			switch {
			case slices.Contains(e.Removed, id):
				bad(n, "changelog entry %s lists %s under both changed and removed", e.Version, id)
			case !rows[id] && !removedLater[id]:
				bad(n, "changelog entry %s: changed row %q is not a row of the contract (have %s); list a row taken out of the contract under removed",
					e.Version, id, strings.Join(c.ResourceIDs(), ", "))
			}
		}
		for _, id := range e.Removed {
			if rows[id] && !changedLater[id] {
				bad(n, "changelog entry %s: removed row %s is still a row of the contract", e.Version, id)
			}
		}
		for _, id := range e.Changed {
			changedLater[id] = true
		}
		for _, id := range e.Removed {
			removedLater[id] = true
		}
	}
	if newest := c.Changelog[0].Version; constraint.ValidVersion(c.Version) && newest != c.Version {
		bad(constraint.Lookup(root, "version"), "contract version %s is not the newest changelog entry (%s): add a changelog entry for %s", c.Version, newest, c.Version)
	}
	return errs
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func keys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// LoadSpecs parses every *.md spec under dir (recursively), in path order.
// Unparseable specs are reported together; parsed ones are returned too.
func LoadSpecs(dir string) ([]*spec.Spec, error) {
	var specs []*spec.Spec
	var errs constraint.ErrorList
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".md" || strings.EqualFold(d.Name(), "README.md") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s, err := spec.Parse(path, src)
		if err != nil {
			errs = append(errs, constraint.Errors(err)...)
			return nil
		}
		specs = append(specs, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: read specs in %s: %w", dir, err)
	}
	return specs, errs.Err()
}
