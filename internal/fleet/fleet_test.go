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
	if c := repo.Contract; c.Version != "1.1.0" || len(c.Changelog) != 2 || !slices.Equal(c.Changelog[0].Changed, []string{"vector-store"}) || c.Baseline() != "1.0.0" {
		t.Errorf("Contract = version %s, changelog %+v; want 1.1.0 changing vector-store since 1.0.0", c.Version, c.Changelog)
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
		{"gateway model with an unknown provider", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "    - id: gpt-4o\n      provider: openai\n", "    - id: gpt-4o\n      provider: azure\n")
		}, at{ConfigFile, "- id: gpt-4o", 2}, `gateway model gpt-4o: provider "azure" is not in gateway.providers`, ""},
		{"gateway model listed twice", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "    - id: gpt-4o\n      provider: openai\n", "    - id: gpt-4o-mini\n      provider: openai\n")
		}, at{ConfigFile, "- id: gpt-4o-mini", 2}, "gateway model gpt-4o-mini is listed twice", ""},
		{"gateway model with a negative price", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "      input_usd_per_mtok: 2.50\n", "      input_usd_per_mtok: -2.50\n")
		}, at{ConfigFile, "- id: fleet-demo-large", 1}, "gateway model fleet-demo-large: prices are USD per million tokens", ""},
		{"gateway model of an unknown kind", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "      kind: embedding\n", "      kind: image\n")
		}, at{ConfigFile, "- id: fleet-demo-embed", 1}, `kind "image": want chat or embedding`, ""},
		{"gateway provider with credentials in its URL", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "      url: https://api.openai.com/v1\n", "      url: https://sk-live:x@api.openai.com/v1\n")
		}, at{ConfigFile, "- id: openai", 1}, "credentials do not belong in the URL", ""},
		{"gateway provider with two key sources", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "      api_key_env: OPENAI_API_KEY\n", "      api_key_env: OPENAI_API_KEY\n      api_key_file: /run/secrets/openai\n")
		}, at{ConfigFile, "- id: openai", 1}, "set api_key_env or api_key_file, not both", ""},
		{"gateway provider with a bad URL", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "      url: https://api.openai.com/v1\n", "      url: ftp://api.openai.com\n")
		}, at{ConfigFile, "- id: openai", 1}, "want an http(s) URL with a host", ""},
		{"gateway budget for an unknown tenant", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "      research: {day: 120, month: 2000}\n", "      marketing: {day: 120, month: 2000}\n")
		}, at{ConfigFile, "marketing: {day: 120", 1}, `gateway budget for tenant "marketing": no such tenant`, ""},
		{"gateway budget that is negative", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "    agent: {day: 10}\n", "    agent: {day: -10}\n")
		}, at{ConfigFile, "agent: {day: -10}", 1}, "gateway budget agent (default): day -10: a USD amount", ""},
		{"gateway budget for a badly named agent", func(t *testing.T, dir string) {
			edit(t, dir, ConfigFile, "      payments.refund-executor: {day: 3}\n", "      refund-executor: {day: 3}\n")
		}, at{ConfigFile, "refund-executor: {day: 3}", 1}, "name an agent as <tenant>.<name>", ""},
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
			edit(t, dir, ContractFile, "version: 1.1.0\nowner:", "version: one\nowner:")
		}, at{ContractFile, "version: one", 1}, "contract version \"one\" is not a semantic version", ""},
		{"contract without a changelog", func(t *testing.T, dir string) {
			cutContract(t, dir, "changelog:\n", "resources:\n")
		}, at{ContractFile, "version: 1.1.0", 1}, "contract.yaml lacks a changelog: add changelog: [{version: 1.1.0,", ""},
		{"contract version not the newest changelog entry", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "version: 1.1.0\nowner:", "version: 1.2.0\nowner:")
		}, at{ContractFile, "version: 1.2.0", 1}, "contract version 1.2.0 is not the newest changelog entry (1.1.0): add a changelog entry for 1.2.0", ""},
		{"changelog entry version not semver", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "  - version: 1.0.0\n", "  - version: first\n")
		}, at{ContractFile, "- version: first", 1}, "changelog entry 2: version \"first\" is not a semantic version", ""},
		{"changelog oldest first", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "  - version: 1.0.0\n", "  - version: 1.2.0\n")
		}, at{ContractFile, "- version: 1.2.0", 1}, "changelog entry 1.2.0 follows 1.1.0: list the changelog newest first, one entry per version", ""},
		{"changelog version listed twice", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "  - version: 1.0.0\n", "  - version: 1.1.0\n")
		}, at{ContractFile, "- version: 1.1.0", 2}, "changelog entry 1.1.0 follows 1.1.0", ""},
		{"changelog entry without a summary", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "    summary: First contract, from the payments, support and research pilots.\n", "")
		}, at{ContractFile, "- version: 1.0.0", 1}, "changelog entry 1.0.0: say what changed in summary", ""},
		{"changelog date not a date", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, `date: "2026-09-01"`, `date: "1 Sept 2026"`)
		}, at{ContractFile, "- version: 1.0.0", 1}, "changelog entry 1.0.0: date \"1 Sept 2026\" is not a date", ""},
		{"changelog names a row the contract lacks", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "changed: [vector-store]", "changed: [vector-stores]")
		}, at{ContractFile, "- version: 1.1.0", 1}, "changelog entry 1.1.0: changed row \"vector-stores\" is not a row of the contract (have model-provider, mcp-servers, vector-store, audit-log, skill-registry); list a row taken out of the contract under removed", ""},
		{"changelog removes a row the contract still has", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "changed: [vector-store]", "changed: [vector-store]\n    removed: [audit-log]")
		}, at{ContractFile, "- version: 1.1.0", 1}, "changelog entry 1.1.0: removed row audit-log is still a row of the contract", ""},
		{"changelog row both changed and removed", func(t *testing.T, dir string) {
			edit(t, dir, ContractFile, "changed: [vector-store]", "changed: [vector-store]\n    removed: [vector-store]")
		}, at{ContractFile, "- version: 1.1.0", 1}, "changelog entry 1.1.0 lists vector-store under both changed and removed", ""},
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

// cutContract removes contract.yaml from the line starting with from up to,
// not including, the line starting with to.
func cutContract(t *testing.T, dir, from, to string) {
	t.Helper()
	path := filepath.Join(dir, ContractFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i, j := strings.Index(s, "\n"+from), strings.Index(s, "\n"+to)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q before %q", ContractFile, from, to)
	}
	if err := os.WriteFile(path, []byte(s[:i]+s[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestContractHistory loads a contract whose changelog names a row that a
// later version removed: the older entry is valid, and the removal is
// reported to the specs that declared the row.
func TestContractHistory(t *testing.T) {
	t.Parallel()
	dir := copyFleet(t)
	edit(t, dir, ContractFile, "version: 1.1.0\nowner:", "version: 1.3.0\nowner:")
	edit(t, dir, ContractFile, "changelog:\n", `changelog:
  - version: 1.3.0
    summary: The object store is retired; use the vector store.
    removed: [object-store]
  - version: 1.2.0
    summary: Object store added.
    changed: [object-store]
`)
	repo, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(contract with a removed row) = %v", err)
	}
	if got := repo.Contract.VersionNames(); !slices.Equal(got, []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"}) {
		t.Errorf("VersionNames() = %v, want oldest first", got)
	}
	got := repo.Contract.ChangesAfter("1.1.0", []string{"object-store", "vector-store"})
	if len(got) != 1 || got[0].Resource != "object-store" || !got[0].Removed || len(got[0].Entries) != 2 ||
		got[0].Entries[0].Version != "1.3.0" || got[0].Entries[1].Version != "1.2.0" {
		t.Errorf("ChangesAfter(1.1.0) = %+v, want object-store removed, entries 1.3.0 and 1.2.0", got)
	}
	// Re-adding a removed row: the removal is history, not a contradiction.
	edit(t, dir, ContractFile, "version: 1.3.0\nowner:", "version: 1.4.0\nowner:")
	edit(t, dir, ContractFile, "changelog:\n", "changelog:\n  - version: 1.4.0\n    summary: The object store is back.\n    changed: [object-store]\n")
	edit(t, dir, ContractFile, "resources:\n", `resources:
  - id: object-store
    guarantee: Per-tenant buckets.
    mechanism: Bucket per tenant, named from the credential.
`)
	if _, err := Load(dir); err != nil {
		t.Fatalf("Load(contract with a re-added row) = %v", err)
	}
}

func TestChangesAfter(t *testing.T) {
	t.Parallel()
	c := &Contract{Version: "2.0.0", Changelog: []ChangelogEntry{
		{Version: "2.0.0", Summary: "s4", Changed: []string{"mcp"}, Removed: []string{"skills"}},
		{Version: "1.2.0", Summary: "s3", Changed: []string{"vector", "model"}},
		{Version: "1.1.0", Summary: "s2", Changed: []string{"vector"}},
		{Version: "1.0.0", Summary: "s1", Changed: []string{"vector", "model", "mcp", "skills"}},
	}}
	tests := []struct {
		name      string
		version   string
		resources []string
		want      []string // "<resource> <entry versions>", "+removed" when removed
	}{
		{"at the version in force", "2.0.0", []string{"vector", "model", "mcp"}, nil},
		{"one behind", "1.2.0", []string{"vector", "model", "mcp", "skills"}, []string{"mcp 2.0.0", "skills 2.0.0 removed"}},
		{"two behind, declared order", "1.1.0", []string{"model", "vector"}, []string{"model 1.2.0", "vector 1.2.0"}},
		{"oldest", "1.0.0", []string{"vector"}, []string{"vector 1.2.0 1.1.0"}},
		{"no pin means the oldest", "", []string{"vector"}, []string{"vector 1.2.0 1.1.0"}},
		{"undeclared rows do not count", "1.0.0", []string{"other"}, nil},
		{"nothing declared", "1.0.0", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, rc := range c.ChangesAfter(tc.version, tc.resources) {
				s := rc.Resource
				for _, e := range rc.Entries {
					s += " " + e.Version
				}
				if rc.Removed {
					s += " removed"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ChangesAfter(%q, %v) = %q, want %q", tc.version, tc.resources, got, tc.want)
			}
		})
	}
	if got := c.Baseline(); got != "1.0.0" {
		t.Errorf("Baseline() = %s, want 1.0.0", got)
	}
	if !c.HasVersion("1.1.0") || c.HasVersion("1.1.1") {
		t.Errorf("HasVersion(1.1.0), HasVersion(1.1.1) = %v, %v; want true, false", c.HasVersion("1.1.0"), c.HasVersion("1.1.1"))
	}
}

func TestRowDigests(t *testing.T) {
	t.Parallel()
	base := Resource{ID: "vector-store", Name: "Vector store", Guarantee: "g", Mechanism: "m", Invariants: []string{"fleet.a"}}
	tests := []struct {
		name   string
		edit   func(r *Resource)
		differ bool
	}{
		{"same content", func(*Resource) {}, false},
		{"name", func(r *Resource) { r.Name = "Vectors" }, true},
		{"guarantee", func(r *Resource) { r.Guarantee = "g2" }, true},
		{"mechanism", func(r *Resource) { r.Mechanism = "m2" }, true},
		{"invariants", func(r *Resource) { r.Invariants = append(r.Invariants, "fleet.b") }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := base
			r.Invariants = slices.Clone(base.Invariants)
			tc.edit(&r)
			if differ := r.Digest() != base.Digest(); differ != tc.differ {
				t.Errorf("Digest after editing %s differs = %v, want %v", tc.name, differ, tc.differ)
			}
		})
	}
	c := Contract{Resources: []Resource{base}}
	if got := c.RowDigests(); len(got) != 1 || got["vector-store"] != base.Digest() || !strings.HasPrefix(got["vector-store"], "sha256:") {
		t.Errorf("RowDigests() = %v", got)
	}
}
