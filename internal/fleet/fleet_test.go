package fleet

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/constraint"
)

const exampleFleet = "../../examples/fleet"

// copyFleet copies the example fleet repo into a temporary directory.
func copyFleet(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(exampleFleet)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// edit replaces old with new in dir/file, failing the test if old is absent
// so that a changed example cannot silently turn a case into a no-op.
func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lineOf returns the line of the nth (from 1) line of dir/file containing s.
func lineOf(t *testing.T, dir, file, s string, nth int) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, s) {
			if nth--; nth <= 0 {
				return i + 1
			}
		}
	}
	t.Fatalf("%s has no line containing %q", file, s)
	return 0
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	repo, err := Load(exampleFleet)
	if err != nil {
		t.Fatalf("Load(%s): %v", exampleFleet, err)
	}
	if repo.Config.Fleet != "northwind" || repo.Dir != exampleFleet {
		t.Errorf("Load: fleet %q in %q, want northwind in %q", repo.Config.Fleet, repo.Dir, exampleFleet)
	}
	if got := repo.Library.Current().Version; got != "1.1.0" {
		t.Errorf("Library.Current() = %s, want 1.1.0", got)
	}
	if got := repo.Library.VersionNames(); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("Library.VersionNames() = %v, want [1.0.0 1.1.0]", got)
	}
	want := EscalationRule{MinTenants: 3, WindowDays: 14, SameCat: true, SameRootCause: true,
		CommittedBy: "Dana Okafor (head of platform)", CommittedAt: "2026-09-01"}
	if repo.Config.Escalation != want {
		t.Errorf("Escalation = %+v, want %+v", repo.Config.Escalation, want)
	}
	if repo.Config.Exceptions.MaxDays != 30 {
		t.Errorf("Exceptions.MaxDays = %d, want 30", repo.Config.Exceptions.MaxDays)
	}
	var tenants []string
	for _, tn := range repo.Config.Tenants {
		tenants = append(tenants, tn.ID+":"+tn.Kind)
	}
	if want := []string{"payments:internal", "support:internal", "research:internal", "adsales:advertising", "adlab:advertising"}; !slices.Equal(tenants, want) {
		t.Errorf("tenants = %v, want %v", tenants, want)
	}
	if tn, ok := repo.Tenant("adlab"); !ok || !tn.Sandbox || tn.Name != "Ad Lab (sandbox)" {
		t.Errorf("Tenant(adlab) = %+v, %v; want the sandbox tenant", tn, ok)
	}
	if _, ok := repo.Tenant("acme"); ok {
		t.Errorf("Tenant(acme) found, want not found")
	}
	if got := repo.Contract.ResourceIDs(); !slices.Equal(got, []string{"model-provider", "mcp-servers", "vector-store", "audit-log", "skill-registry"}) {
		t.Errorf("Contract.ResourceIDs() = %v", got)
	}
	if r, ok := repo.Contract.Resource("vector-store"); !ok || !slices.Equal(r.Invariants, []string{"fleet.vector-namespace"}) {
		t.Errorf("Contract.Resource(vector-store) = %+v, %v", r, ok)
	}
	if _, ok := repo.Contract.Resource("printer"); ok {
		t.Errorf("Contract.Resource(printer) found, want not found")
	}
	if !strings.HasPrefix(repo.Digest, "sha256:") {
		t.Errorf("Digest = %q, want sha256:...", repo.Digest)
	}
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	dir := copyFleet(t)
	edit(t, dir, ConfigFile, "\nexceptions:\n  # No exception to a library or tenant clause may last longer than this.\n  max_days: 30\n", "\n")
	edit(t, dir, ConfigFile, "    name: Payments\n", "")
	edit(t, dir, ConfigFile, "    kind: internal\n", "")
	edit(t, dir, ConfigFile, "  current: 1.1.0\n", "  current: 1.0.0\n")
	repo, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if repo.Config.Exceptions.MaxDays != 90 {
		t.Errorf("Exceptions.MaxDays = %d, want the default 90", repo.Config.Exceptions.MaxDays)
	}
	if tn, _ := repo.Tenant("payments"); tn.Name != "payments" || tn.Kind != KindInternal {
		t.Errorf("Tenant(payments) = %+v, want name defaulting to the id and kind %s", tn, KindInternal)
	}
	if got := repo.Library.Current().Version; got != "1.0.0" {
		t.Errorf("Library.Current() = %s, want 1.0.0 as fleet.yaml names it", got)
	}
}

func TestLoadDigest(t *testing.T) {
	t.Parallel()
	a, err := Load(exampleFleet)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(copyFleet(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Errorf("Digest of a copy = %s, want %s", b.Digest, a.Digest)
	}
	for _, file := range []string{ConfigFile, ContractFile, "constraints/1.0.0.yaml"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			dir := copyFleet(t)
			switch file {
			case ConfigFile:
				edit(t, dir, file, "name: Northwind agent platform", "name: Northwind")
			case ContractFile:
				edit(t, dir, file, "Tenant skills private by default.", "Tenant skills are private by default.")
			default:
				edit(t, dir, file, "Agents answer in the language the user wrote in.", "Agents answer in the user's language.")
			}
			c, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if c.Digest == a.Digest {
				t.Errorf("Digest after editing %s = the original's", file)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	type at struct {
		file string // relative to the repo
		line string // a substring of the line the error must name; "" for no line
		nth  int    // which occurrence of line, from 1
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   at
		msg    string
		clause string
	}{
		{"unknown fleet.yaml field", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "owner: platform-team@northwind.example\n", "owner: platform-team@northwind.example\nregion: eu-west-1\n")
		}, at{ConfigFile, "region: eu-west-1", 1}, "field region is not a known field here", ""},
		{"unknown tenant field", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "    team: insights\n", "    team: insights\n    budget: 100\n")
		}, at{ConfigFile, "budget: 100", 1}, "field budget is not a known field here", ""},
		{"wrongly typed field", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  window_days: 14", "  window_days: two weeks")
		}, at{ConfigFile, "window_days: two weeks", 1}, "cannot unmarshal", ""},
		{"missing fleet id", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "fleet: northwind\n", "")
		}, at{ConfigFile, "name: Northwind", 1}, "fleet.yaml lacks fleet", ""},
		{"missing escalation rule", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "escalation:\n  min_tenants: 3\n  window_days: 14\n  same_cat: true\n  same_root_cause: true\n  committed_by: Dana Okafor (head of platform)\n  committed_at: \"2026-09-01\"\n", "")
		}, at{ConfigFile, "fleet: northwind", 1}, "fleet.yaml lacks the escalation rule", ""},
		{"escalation threshold below 2", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  min_tenants: 3", "  min_tenants: 1")
		}, at{ConfigFile, "min_tenants: 1", 1}, "escalation.min_tenants 1: at least 2", ""},
		{"escalation window below 1", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  window_days: 14", "  window_days: 0")
		}, at{ConfigFile, "window_days: 0", 1}, "escalation.window_days 0: at least 1", ""},
		{"escalation rule not committed", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  committed_at: \"2026-09-01\"\n", "")
		}, at{ConfigFile, "  min_tenants: 3", 1}, "set committed_by and committed_at", ""},
		{"exception cap too long", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  max_days: 30", "  max_days: 400")
		}, at{ConfigFile, "max_days: 400", 1}, "exceptions.max_days 400: between 1 and 366", ""},
		{"library.current not semver", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  current: 1.1.0", "  current: latest")
		}, at{ConfigFile, "current: latest", 1}, "library.current \"latest\" is not a semantic version", ""},
		{"library.current names no version", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  current: 1.1.0", "  current: 1.2.0")
		}, at{ConfigFile, "current: 1.2.0", 1}, "library.current 1.2.0: there is no constraints/1.2.0.yaml", ""},
		{"duplicate tenant", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  - id: research\n", "  - id: payments\n")
		}, at{ConfigFile, "- id: payments", 2}, "tenant payments is listed twice", ""},
		{"bad tenant id", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "  - id: research\n", "  - id: Research_Team\n")
		}, at{ConfigFile, "- id: Research_Team", 1}, "tenant id \"Research_Team\": use lower-case letters", ""},
		{"bad tenant kind", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "    # campaign governance agent, at /adcp/adsales/mcp.\n    kind: advertising\n", "    # campaign governance agent, at /adcp/adsales/mcp.\n    kind: agency\n")
		}, at{ConfigFile, "- id: adsales", 1}, "tenant adsales: kind \"agency\": want internal or advertising", ""},
		{"no tenants", func(t *testing.T, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(string(data), "\ntenants:")
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), data[:i+1], 0o644); err != nil {
				t.Fatal(err)
			}
		}, at{ConfigFile, "fleet: northwind", 1}, "fleet.yaml lists no tenants", ""},
		{"contract invariant not in the library", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "invariants: [fleet.vector-namespace]", "invariants: [fleet.vector-namespace, fleet.vector-encryption]")
		}, at{ContractFile, "- id: vector-store", 1}, "resource vector-store: invariant fleet.vector-encryption is not a clause of library 1.1.0", ""},
		{"contract resource missing for a resource-scoped clause", func(t *testing.T, dir string) {
			data, err := os.ReadFile(filepath.Join(dir, ContractFile))
			if err != nil {
				t.Fatal(err)
			}
			s := string(data)
			i, j := strings.Index(s, "  - id: vector-store\n"), strings.Index(s, "  - id: audit-log\n")
			if err := os.WriteFile(filepath.Join(dir, ContractFile), []byte(s[:i]+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
		}, at{"constraints/1.1.0.yaml", "- id: fleet.vector-namespace", 1}, "clause is scoped to resource \"vector-store\", which the contract does not list", "fleet.vector-namespace"},
		{"contract resource listed twice", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "  - id: skill-registry\n", "  - id: audit-log\n")
		}, at{ContractFile, "- id: audit-log", 2}, "resource audit-log is listed twice", ""},
		{"contract resource without a mechanism", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "    guarantee: Per-tenant namespace; no cross-tenant retrieval.\n", "")
		}, at{ContractFile, "- id: vector-store", 1}, "resource vector-store: state its cross-tenant guarantee and its mechanism", ""},
		{"contract version not semver", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "version: 1.0.0", "version: one")
		}, at{ContractFile, "version: one", 1}, "contract version \"one\" is not a semantic version", ""},
		{"unknown contract field", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "    name: Vector store\n", "    name: Vector store\n    sla: 99.9\n")
		}, at{ContractFile, "sla: 99.9", 1}, "field sla is not a known field here", ""},
		{"broken library file", func(t *testing.T, dir string) {
			edit(t, dir, "constraints/1.0.0.yaml", "  - id: fleet.central-audit\n    tier: T1\n", "  - id: fleet.central-audit\n    tier: T0\n")
		}, at{"constraints/1.0.0.yaml", "- id: fleet.central-audit", 1}, "unknown tier \"T0\"", "fleet.central-audit"},
		{"library CEL that does not type-check", func(t *testing.T, dir string) {
			edit(t, dir, "constraints/1.1.0.yaml", `when: action.kind == "exception_grant"`, `when: action.kind == exception_grant`)
		}, at{"constraints/1.1.0.yaml", "- id: guardian.no-self-exception", 1}, "does not type-check", "guardian.no-self-exception"},
		{"library file named after another version", func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "constraints/1.0.0.yaml"), filepath.Join(dir, "constraints/0.9.0.yaml")); err != nil {
				t.Fatal(err)
			}
		}, at{"constraints/0.9.0.yaml", "version: 1.0.0", 1}, "file 0.9.0.yaml holds version 1.0.0; name it 1.0.0.yaml", ""},
		{"missing fleet.yaml", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, ConfigFile)); err != nil {
				t.Fatal(err)
			}
		}, at{file: ConfigFile}, "cannot read: no such file or directory", ""},
		{"missing contract.yaml", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, ContractFile)); err != nil {
				t.Fatal(err)
			}
		}, at{file: ContractFile}, "cannot read: no such file or directory", ""},
		{"missing constraints", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, ConstraintsDir)); err != nil {
				t.Fatal(err)
			}
		}, at{file: ConstraintsDir}, "cannot read the constraint library", ""},
		{"empty fleet.yaml", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte("# nothing yet\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, at{ConfigFile, "# nothing yet", 1}, "empty document", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := copyFleet(t)
			tc.mutate(t, dir)
			repo, err := Load(dir)
			if err == nil {
				t.Fatalf("Load = no error, want %q", tc.msg)
			}
			if repo != nil {
				t.Errorf("Load returned a Repo with its errors; want nil")
			}
			if !errors.Is(err, constraint.ErrInvalid) {
				t.Errorf("Load error %v does not match constraint.ErrInvalid", err)
			}
			var wantFile string
			var wantLine int
			if tc.want.file != "" {
				wantFile = filepath.Join(dir, tc.want.file)
			}
			if tc.want.line != "" {
				wantLine = lineOf(t, dir, tc.want.file, tc.want.line, tc.want.nth)
			}
			var found bool
			for _, e := range constraint.Errors(err) {
				if strings.Contains(e.Msg, tc.msg) {
					found = true
					if e.Pos.File != wantFile || e.Pos.Line != wantLine || e.Clause != tc.clause {
						t.Errorf("Load error %q at %s clause %q, want at %s:%d clause %q", e.Msg, e.Pos, e.Clause, wantFile, wantLine, tc.clause)
					}
				}
			}
			if !found {
				t.Errorf("Load = %v, want an error containing %q", err, tc.msg)
			}
		})
	}
}

func TestLoadSpecs(t *testing.T) {
	t.Parallel()
	specs, err := LoadSpecs(filepath.Join(exampleFleet, SpecsDir))
	if err != nil {
		t.Fatalf("LoadSpecs: %v", err)
	}
	var ids []string
	for _, s := range specs {
		ids = append(ids, s.AgentID())
	}
	want := []string{"adlab.test-buyer", "adsales.brand-safety-guardian", "adsales.media-buyer", "payments.payout-guardian",
		"payments.refund-executor", "research.market-synthesizer", "support.reply-executor", "support.support-advisor",
		"support.ticket-orchestrator", "support.ticket-triage"}
	if !slices.Equal(ids, want) {
		t.Errorf("LoadSpecs = %v, want %v (in path order)", ids, want)
	}

	t.Run("one broken spec", func(t *testing.T) {
		t.Parallel()
		dir := copyFleet(t)
		specsDir := filepath.Join(dir, SpecsDir)
		edit(t, dir, "specs/research/market-synthesizer.md", "status: ", "status: Shipped\nstatus_was: ")
		if err := os.WriteFile(filepath.Join(specsDir, "README.md"), []byte("# Specs\nNot a spec.\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(specsDir, "notes.txt"), []byte("not a spec"), 0o644); err != nil {
			t.Fatal(err)
		}
		specs, err := LoadSpecs(specsDir)
		if len(specs) != 9 {
			t.Errorf("LoadSpecs = %d specs, want the 9 that parse", len(specs))
		}
		if err == nil || !errors.Is(err, constraint.ErrInvalid) {
			t.Fatalf("LoadSpecs error = %v, want the broken spec's errors", err)
		}
		for _, e := range constraint.Errors(err) {
			if !strings.HasSuffix(e.Pos.File, "market-synthesizer.md") || e.Pos.Line == 0 {
				t.Errorf("LoadSpecs error %v, want it positioned in market-synthesizer.md", e)
			}
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		t.Parallel()
		if _, err := LoadSpecs(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Errorf("LoadSpecs(missing) = nil error, want one")
		}
	})
}
