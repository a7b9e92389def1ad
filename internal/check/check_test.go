package check

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
)

const (
	exampleFleet = "../../examples/fleet"
	exampleSpecs = exampleFleet + "/specs"
)

// exampleRepo loads the example fleet once; a Repo is immutable.
var exampleRepo = sync.OnceValues(func() (*fleet.Repo, error) { return fleet.Load(exampleFleet) })

func repo(t testing.TB) *fleet.Repo {
	t.Helper()
	r, err := exampleRepo()
	if err != nil {
		t.Fatalf("fleet.Load(%s): %v", exampleFleet, err)
	}
	return r
}

// exampleSpecFiles returns the example specs' paths, relative to
// examples/fleet/specs, in path order.
func exampleSpecFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(exampleSpecs, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".md" {
			files = append(files, strings.TrimPrefix(path, exampleSpecs+"/"))
		}
		return err
	})
	if err != nil || len(files) != 10 {
		t.Fatalf("example specs: %d, %v; want 10", len(files), err)
	}
	return files
}

func readSpec(t testing.TB, rel string) (path, src string) {
	t.Helper()
	path = filepath.Join(exampleSpecs, rel)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(b)
}

// checkSource parses src as the spec at path and checks it, as Files does.
func checkSource(t testing.TB, r *fleet.Repo, path, src string) Result {
	t.Helper()
	s, err := spec.Parse(path, []byte(src))
	if err != nil {
		return ParseErrors(path, err)
	}
	return Spec(r, s)
}

// replace replaces old with new in src, failing the test if old is absent.
func replace(t testing.TB, src, old, new string) string {
	t.Helper()
	if !strings.Contains(src, old) {
		t.Fatalf("spec does not contain %q", old)
	}
	return strings.Replace(src, old, new, 1)
}

// lineOf returns the line number of the nth line (from 1) containing s.
func lineOf(t testing.TB, src, s string, nth int) int {
	t.Helper()
	if nth == 0 {
		nth = 1
	}
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, s) {
			if nth--; nth == 0 {
				return i + 1
			}
		}
	}
	t.Fatalf("no line contains %q", s)
	return 0
}

func findings(r Result, code string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

func summary(r Result) string {
	var b strings.Builder
	for _, f := range r.Findings {
		b.WriteString("\n  ")
		b.WriteString(f.File)
		b.WriteString(":")
		b.WriteString(strconv.Itoa(f.Line))
		b.WriteString(" [" + f.Code + "] " + string(f.Kind) + " " + f.Clause + ": " + f.Message)
	}
	return b.String()
}

// TestExampleSpecsPass: spec check passes every spec of the example fleet.
func TestExampleSpecsPass(t *testing.T) {
	t.Parallel()
	r := repo(t)
	var paths []string
	for _, f := range exampleSpecFiles(t) {
		paths = append(paths, filepath.Join(exampleSpecs, f))
	}
	rep := Files(r, paths)
	if rep.Status != Pass || rep.Status.ExitCode() != ExitPass {
		t.Errorf("Files(examples) status = %s (exit %d), want pass (exit 0)", rep.Status, rep.Status.ExitCode())
	}
	if rep.Fleet != "northwind" || rep.Library != "1.1.0" || len(rep.Results) != len(paths) {
		t.Errorf("Files(examples) = fleet %q, library %q, %d results; want northwind, 1.1.0, %d", rep.Fleet, rep.Library, len(rep.Results), len(paths))
	}
	for _, res := range rep.Results {
		t.Run(res.File, func(t *testing.T) {
			if res.Status != Pass {
				t.Errorf("status = %s, want pass:%s", res.Status, summary(res))
			}
			for _, f := range res.Findings {
				if f.Kind == BadInput || f.Kind == Violation || f.Kind == Amendment {
					t.Errorf("finding %s [%s] %s: %s", f.Kind, f.Code, f.Clause, f.Message)
				}
			}
			if res.Effective == nil || res.Spec == nil || res.Pinned != "1.1.0" || res.Current != "1.1.0" {
				t.Errorf("result = effective %v, spec %v, pinned %q, current %q", res.Effective != nil, res.Spec != nil, res.Pinned, res.Current)
			}
		})
	}
}

var inheritedLineRE = regexp.MustCompile(`^- \((Fleet, T1|Archetype: \w+, T2)\) \[([^\]]+)\]`)

// TestMissingInheritedClause deletes, one at a time, every inherited clause
// line ((Fleet, T1) and (Archetype: X, T2)) of every example spec, with its
// continuation lines, and expects the check to fail naming that clause.
func TestMissingInheritedClause(t *testing.T) {
	t.Parallel()
	r := repo(t)
	lib := r.Library.Current()
	var t1 int
	for _, rel := range exampleSpecFiles(t) {
		path, src := readSpec(t, rel)
		lines := strings.Split(src, "\n")
		for i, l := range lines {
			m := inheritedLineRE.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			if m[1] == "Fleet, T1" {
				t1++
			}
			id := m[2]
			end := i + 1
			for end < len(lines) && strings.HasPrefix(lines[end], "  ") && strings.TrimSpace(lines[end]) != "" {
				end++
			}
			edited := strings.Join(append(slices.Clone(lines[:i]), lines[end:]...), "\n")
			t.Run(rel+"/"+id, func(t *testing.T) {
				t.Parallel()
				res := checkSource(t, r, path, edited)
				if res.Status != Violations || res.Status.ExitCode() != ExitViolations {
					t.Errorf("status = %s (exit %d), want violations (exit 1):%s", res.Status, res.Status.ExitCode(), summary(res))
				}
				lc, ok := lib.Clause(id)
				if !ok {
					t.Fatalf("library %s has no clause %s", lib.Version, id)
				}
				got := findings(res, "missing-inherited-clause")
				if len(got) != 1 {
					t.Fatalf("missing-inherited-clause findings = %d, want 1:%s", len(got), summary(res))
				}
				f := got[0]
				wantLine := lineOf(t, edited, "## §"+strconv.Itoa(lc.Section)+" ", 1)
				if f.Clause != id || f.Kind != Violation || f.File != path || f.Line != wantLine ||
					!strings.Contains(f.Message, id) || !strings.Contains(f.Fix, lc.SpecLine()) {
					t.Errorf("finding = %+v, want clause %s at %s:%d with the fix %q", f, id, path, wantLine, lc.SpecLine())
				}
				for _, other := range res.Findings {
					if other.Kind == Violation && other.Clause != id && other.Code != "structural-check" {
						t.Errorf("other violation: [%s] %s %s", other.Code, other.Clause, other.Message)
					}
				}
			})
		}
	}
	if t1 < 50 {
		t.Errorf("found %d (Fleet, T1) lines in the example specs, want at least 50", t1)
	}
}

// TestWeakenedLimit loosens a T3 limit above its T1 ceiling.
func TestWeakenedLimit(t *testing.T) {
	t.Parallel()
	r := repo(t)
	tests := []struct {
		name    string
		spec    string
		old     string
		new     string
		own     string // the weakening tenant clause
		wantErr bool
	}{
		{"above the ceiling", "payments/refund-executor.md", "`limit cost.per_call_usd <= 0.05`", "`limit cost.per_call_usd <= 0.75`", "payments.cost-per-claim", true},
		{"just above the ceiling", "support/ticket-triage.md", "`limit cost.per_call_usd <= 0.015`", "`limit cost.per_call_usd <= 0.2501`", "support.triage-cost", true},
		{"at the ceiling", "payments/refund-executor.md", "`limit cost.per_call_usd <= 0.05`", "`limit cost.per_call_usd <= 0.25`", "payments.cost-per-claim", false},
		{"above with another effect", "research/market-synthesizer.md", "`limit cost.per_call_usd <= 0.2`", "`limit cost.per_call_usd <= 1 warn`", "research.synthesis-cost", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, src := readSpec(t, tc.spec)
			src = replace(t, src, tc.old, tc.new)
			res := checkSource(t, r, path, src)
			got := findings(res, "weakened-limit")
			if !tc.wantErr {
				if res.Status != Pass || len(got) != 0 {
					t.Fatalf("status = %s, want pass:%s", res.Status, summary(res))
				}
				return
			}
			if res.Status != Violations || len(got) != 1 || len(res.Findings) != 1 {
				t.Fatalf("status = %s with %d weakened-limit findings, want violations with exactly one:%s", res.Status, len(got), summary(res))
			}
			f := got[0]
			wantLine := lineOf(t, src, "["+tc.own+"]", 1)
			if f.Clause != "fleet.cost-per-call" || f.Kind != Violation || f.Line != wantLine ||
				!strings.Contains(f.Message, "tenant clause "+tc.own+" weakens inherited T1 clause fleet.cost-per-call") ||
				!strings.Contains(f.Message, "above the inherited ceiling 0.25") || !strings.Contains(f.Fix, "exception approved at the T1 tier") {
				t.Errorf("finding = %+v, want clause fleet.cost-per-call at line %d naming %s", f, wantLine, tc.own)
			}
			// The effective limit never loosens.
			for _, l := range res.Effective.Limits {
				if l.Name == "cost.per_call_usd" && l.Max > 0.25 {
					t.Errorf("effective cost.per_call_usd = %v, want at most 0.25", l.Max)
				}
			}
		})
	}
}

// TestWidenedAllow widens an inherited allow-list, in a tenant clause and in
// a restatement of the inherited clause's machine form.
func TestWidenedAllow(t *testing.T) {
	t.Parallel()
	r := repo(t)
	const models = "- (Fleet, T1) [fleet.models] Agents call only the models the platform has approved.\n"
	tests := []struct {
		name    string
		spec    string
		old     string
		new     string
		at      string // the line the finding points at
		message []string
	}{
		{"tenant clause with an extra value", "payments/refund-executor.md",
			"`allow models: gpt-4o-mini, fleet-demo-*`", "`allow models: gpt-4o-mini, fleet-demo-*, o1-preview`", "[payments.models]",
			[]string{"tenant clause payments.models widens inherited T1 clause fleet.models", "adds o1-preview"}},
		{"tenant clause with a wider pattern", "adsales/brand-safety-guardian.md",
			"`allow models: claude-sonnet-4-*`", "`allow models: claude-*`", "[adsales.classifier-models]",
			[]string{"tenant clause adsales.classifier-models widens inherited T1 clause fleet.models", "adds claude-*"}},
		{"restated inherited machine form with an extra value", "payments/refund-executor.md",
			models, models + "  `allow models: gpt-4o, gpt-4o-mini, claude-sonnet-4-*, fleet-demo-*, o1-preview`\n",
			"`allow models: gpt-4o, gpt-4o-mini, claude-sonnet-4-*, fleet-demo-*, o1-preview`",
			[]string{"clause fleet.models restated as `allow models: gpt-4o, gpt-4o-mini, claude-sonnet-4-*, fleet-demo-*, o1-preview` loosens library 1.1.0's `allow models: gpt-4o, gpt-4o-mini, claude-sonnet-4-*, fleet-demo-*`"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, src := readSpec(t, tc.spec)
			src = replace(t, src, tc.old, tc.new)
			res := checkSource(t, r, path, src)
			got := findings(res, "widened-allow")
			if res.Status != Violations || len(got) != 1 || len(res.Findings) != 1 {
				t.Fatalf("status = %s with %d widened-allow findings, want violations with exactly one:%s", res.Status, len(got), summary(res))
			}
			f := got[0]
			if f.Clause != "fleet.models" || f.Kind != Violation || f.Line != lineOf(t, src, tc.at, 1) {
				t.Errorf("finding = %+v, want clause fleet.models at line %d", f, lineOf(t, src, tc.at, 1))
			}
			for _, m := range tc.message {
				if !strings.Contains(f.Message, m) {
					t.Errorf("message = %q, want it to contain %q", f.Message, m)
				}
			}
		})
	}
}

// downgrade turns an example spec (library 1.1.0) into a correct spec of
// library 1.0.0: the 1.0.0 text of fleet.cost-per-call, and no
// executor.irreversible-preauth, which 1.1.0 added.
func downgrade(t testing.TB, src string) string {
	t.Helper()
	src = replace(t, src, "library: 1.1.0", "library: 1.0.0")
	src = replace(t, src, "No single model call may cost more than $0.25; the platform middleware", "No single model call may cost more than $0.50; the platform middleware")
	lines := strings.Split(src, "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, "[executor.irreversible-preauth]") })
	return strings.Join(lines, "\n")
}

// TestSpecAmendmentRequired pins every example spec to library 1.0.0 with
// its 1.0.0 texts: the check asks for an amendment and shows the diff.
func TestSpecAmendmentRequired(t *testing.T) {
	t.Parallel()
	r := repo(t)
	dir := t.TempDir()
	var paths []string
	for _, rel := range exampleSpecFiles(t) {
		path, src := readSpec(t, rel)
		old := downgrade(t, src)
		file := filepath.Join(dir, strings.ReplaceAll(rel, "/", "-"))
		if err := os.WriteFile(file, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, file)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			res := checkSource(t, r, path, old)
			if res.Status != AmendmentRequired || res.Status.ExitCode() != ExitAmendment {
				t.Fatalf("status = %s (exit %d), want amendment_required (exit 3):%s", res.Status, res.Status.ExitCode(), summary(res))
			}
			executor := res.Spec.Decl.Archetype == constraint.Executor
			want := []string{"fleet.cost-per-call"}
			if executor {
				want = []string{"executor.irreversible-preauth", "fleet.cost-per-call"}
			}
			got := findings(res, "spec-amendment-required")
			var ids []string
			for _, f := range got {
				ids = append(ids, f.Clause)
			}
			if !slices.Equal(ids, want) || len(res.Findings) != len(want) {
				t.Fatalf("spec-amendment-required for %v, want %v and nothing else:%s", ids, want, summary(res))
			}
			var changes []string
			for _, ch := range res.Changes {
				changes = append(changes, ch.Kind+" "+ch.ID)
			}
			if wantChanges := map[bool][]string{true: {"added executor.irreversible-preauth", "changed fleet.cost-per-call"},
				false: {"changed fleet.cost-per-call"}}[executor]; !slices.Equal(changes, wantChanges) {
				t.Errorf("Changes = %v, want %v", changes, wantChanges)
			}
			for _, f := range got {
				if f.Kind != Amendment || f.File != path {
					t.Errorf("finding %s: kind %s in %s, want amendment_required in %s", f.Clause, f.Kind, f.File, path)
				}
				switch f.Clause {
				case "fleet.cost-per-call":
					for _, d := range []string{
						"- - (Fleet, T1) [fleet.cost-per-call] No single model call may cost more than $0.50; the platform middleware enforces the ceiling before the call.\n",
						"-     `limit cost.per_call_usd <= 0.5`\n",
						"+ - (Fleet, T1) [fleet.cost-per-call] No single model call may cost more than $0.25; the platform middleware enforces the ceiling before the call.\n",
						"+     `limit cost.per_call_usd <= 0.25`\n",
					} {
						if !strings.Contains(f.Diff, d) {
							t.Errorf("fleet.cost-per-call Diff =\n%s\nwant it to contain %q", f.Diff, d)
						}
					}
					if f.Line != lineOf(t, old, "[fleet.cost-per-call]", 1) {
						t.Errorf("fleet.cost-per-call finding at line %d, want the clause's line %d", f.Line, lineOf(t, old, "[fleet.cost-per-call]", 1))
					}
					if !strings.Contains(f.Message, "inherited T1 clause fleet.cost-per-call changed (text, machine) between library 1.0.0 (pinned) and 1.1.0 (in force)") ||
						!strings.Contains(f.Fix, "replace the clause line with the library's; then set library: 1.1.0") {
						t.Errorf("fleet.cost-per-call finding = %q, fix %q", f.Message, f.Fix)
					}
				case "executor.irreversible-preauth":
					wantDiff := "+ - (Archetype: Executor, T2) [executor.irreversible-preauth] Irreversible actions (delete and transmit effects) need explicit pre-authorization from a human reviewer.\n" +
						"+     `rule escalate: action.kind == \"tool_call\" && action.effect in [\"delete\", \"transmit\"]`\n"
					if f.Diff != wantDiff {
						t.Errorf("executor.irreversible-preauth Diff =\n%s\nwant\n%s", f.Diff, wantDiff)
					}
					if f.Line != lineOf(t, old, "library: 1.0.0", 1) {
						t.Errorf("executor.irreversible-preauth finding at line %d, want the library pin's line", f.Line)
					}
					if !strings.Contains(f.Message, "was added") || !strings.Contains(f.Fix, "add to §8: - (Archetype: Executor, T2) [executor.irreversible-preauth]") {
						t.Errorf("executor.irreversible-preauth finding = %q, fix %q", f.Message, f.Fix)
					}
				}
			}
		})
	}
	t.Run("Files", func(t *testing.T) {
		t.Parallel()
		rep := Files(r, paths)
		if rep.Status != AmendmentRequired || rep.Status.ExitCode() != 3 {
			t.Errorf("Files(downgraded examples) = %s (exit %d), want amendment_required (exit 3)", rep.Status, rep.Status.ExitCode())
		}
	})
}

// checkCase is one case of testdata/cases.yaml.
type checkCase struct {
	Name  string `yaml:"name"`
	Spec  string `yaml:"spec"`
	Edits []struct {
		Old string `yaml:"old"`
		New string `yaml:"new"`
	} `yaml:"edits"`
	Status   Status `yaml:"status"`
	Findings []struct {
		Code   string `yaml:"code"`
		Kind   Kind   `yaml:"kind"`
		Clause string `yaml:"clause"`
		// Resource is the contract row the finding names, if any.
		Resource string `yaml:"resource"`
		At       string `yaml:"at"`
		Nth      int    `yaml:"nth"`
		Line     int    `yaml:"line"`
		Msg      string `yaml:"msg"`
		Fix      string `yaml:"fix"`
		Diff     string `yaml:"diff"`
	} `yaml:"findings"`
}

func loadCases[T any](t *testing.T, file string) []T {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []T
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cases
}

func TestCases(t *testing.T) {
	t.Parallel()
	r := repo(t)
	for _, tc := range loadCases[checkCase](t, "testdata/cases.yaml") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			path, src := readSpec(t, tc.Spec)
			for _, e := range tc.Edits {
				src = replace(t, src, e.Old, e.New)
			}
			res := checkSource(t, r, path, src)
			if res.Status != tc.Status {
				t.Errorf("status = %s, want %s", res.Status, tc.Status)
			}
			if res.Status.ExitCode() != map[Status]int{Pass: 0, Violations: 1, BadInputStatus: 2, AmendmentRequired: 3}[tc.Status] {
				t.Errorf("exit code = %d for status %s", res.Status.ExitCode(), res.Status)
			}
			left := slices.Clone(res.Findings)
			for _, w := range tc.Findings {
				wantLine := w.Line
				if w.At != "" {
					wantLine = lineOf(t, src, w.At, w.Nth)
				}
				i := slices.IndexFunc(left, func(f Finding) bool {
					return f.Code == w.Code && f.Clause == w.Clause && f.Resource == w.Resource && f.Line == wantLine
				})
				if i < 0 {
					t.Errorf("no finding [%s] clause %q at line %d; got:%s", w.Code, w.Clause, wantLine, summary(res))
					continue
				}
				f := left[i]
				left = slices.Delete(left, i, i+1)
				if f.Kind != w.Kind || f.File != path || !strings.Contains(f.Message, w.Msg) || !strings.Contains(f.Fix, w.Fix) || !strings.Contains(f.Diff, w.Diff) {
					t.Errorf("finding [%s] = kind %s, file %s,\n message %q\n fix %q\n diff %q\nwant kind %s, file %s, message containing %q, fix containing %q, diff containing %q",
						f.Code, f.Kind, f.File, f.Message, f.Fix, f.Diff, w.Kind, path, w.Msg, w.Fix, w.Diff)
				}
			}
			for _, f := range left {
				t.Errorf("unexpected finding %s:%d [%s] %s %s: %s", f.File, f.Line, f.Code, f.Kind, f.Clause, f.Message)
			}
		})
	}
}

// TestPins checks the notes about a pin behind or ahead of the version in
// force when no inherited clause changed, in a copy of the example fleet
// with a library 1.1.1 that changes a Guardian clause only.
func TestPins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyDir(t, exampleFleet, dir)
	lib, err := os.ReadFile(filepath.Join(dir, "constraints", "1.1.0.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(lib), "version: 1.1.0", "version: 1.1.1", 1)
	next = strings.Replace(next, "text: A Guardian cannot grant itself or anyone else an exception to the constraints it enforces.",
		"text: A Guardian cannot grant itself or anyone else an exception to what it enforces.", 1)
	if err := os.WriteFile(filepath.Join(dir, "constraints", "1.1.1.yaml"), []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, fleet.ConfigFile)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), "current: 1.1.0", "current: 1.1.1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ahead := strings.Replace(string(data), "current: 1.1.0", "current: 1.0.0", 1)
	aheadDir := t.TempDir()
	copyDir(t, exampleFleet, aheadDir)
	if err := os.WriteFile(filepath.Join(aheadDir, fleet.ConfigFile), []byte(ahead), 0o644); err != nil {
		t.Fatal(err)
	}
	behindRepo, err := fleet.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	aheadRepo, err := fleet.Load(aheadDir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		repo       *fleet.Repo
		spec       string
		wantStatus Status
		wantCodes  []string
	}{
		{"behind, no inherited change", behindRepo, "payments/refund-executor.md", Pass, []string{"pin-behind"}},
		{"behind, inherited change", behindRepo, "payments/payout-guardian.md", AmendmentRequired, []string{"spec-amendment-required"}},
		{"ahead", aheadRepo, "payments/refund-executor.md", Pass, []string{"pin-ahead"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, src := readSpec(t, tc.spec)
			res := checkSource(t, tc.repo, path, src)
			var codes []string
			for _, f := range res.Findings {
				codes = append(codes, f.Code)
				if f.Line != lineOf(t, src, "library: 1.1.0", 1) && f.Code != "spec-amendment-required" {
					t.Errorf("[%s] at line %d, want the library pin's line", f.Code, f.Line)
				}
			}
			if res.Status != tc.wantStatus || !slices.Equal(codes, tc.wantCodes) {
				t.Errorf("status %s, findings %v; want %s, %v:%s", res.Status, codes, tc.wantStatus, tc.wantCodes, summary(res))
			}
			for _, f := range res.Findings {
				if f.Code != "spec-amendment-required" && f.Kind != Note {
					t.Errorf("[%s] kind %s, want note", f.Code, f.Kind)
				}
			}
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kinds []Kind
		want  Status
		exit  int
	}{
		{"nothing", nil, Pass, 0},
		{"warnings and notes pass", []Kind{Warning, Note, Warning}, Pass, 0},
		{"amendment", []Kind{Warning, Amendment}, AmendmentRequired, 3},
		{"violations over amendment", []Kind{Amendment, Violation, Amendment}, Violations, 1},
		{"violations over amendment, either order", []Kind{Violation, Amendment}, Violations, 1},
		{"bad input over violations", []Kind{Violation, BadInput}, BadInputStatus, 2},
		{"bad input over everything", []Kind{BadInput, Amendment, Violation, Warning}, BadInputStatus, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Result{File: "x.md", Status: Pass}
			for _, k := range tc.kinds {
				r.add(Finding{Code: "c", Kind: k, Message: "m"})
			}
			if r.Status != tc.want || r.Status.ExitCode() != tc.exit {
				t.Errorf("status of %v = %s (exit %d), want %s (exit %d)", tc.kinds, r.Status, r.Status.ExitCode(), tc.want, tc.exit)
			}
			for _, f := range r.Findings {
				if f.File != "x.md" {
					t.Errorf("finding file = %q, want the result's file x.md", f.File)
				}
			}
		})
	}
	order := []Status{Pass, AmendmentRequired, Violations, BadInputStatus}
	for i, a := range order {
		for j, b := range order {
			want := order[max(i, j)]
			if got := Worse(a, b); got != want {
				t.Errorf("Worse(%s, %s) = %s, want %s", a, b, got, want)
			}
		}
	}
}

// TestFiles checks several specs at once: the report takes the worst status.
func TestFiles(t *testing.T) {
	t.Parallel()
	r := repo(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, refund := readSpec(t, "payments/refund-executor.md")
	pass := write("pass.md", refund)
	amend := write("amend.md", downgrade(t, refund))
	violate := write("violate.md", replace(t, refund, "`limit cost.per_call_usd <= 0.05`", "`limit cost.per_call_usd <= 0.75`"))
	bad := write("bad.md", replace(t, refund, "(Fleet, T1) [fleet.models]", "(Fleet, T3) [fleet.models]"))
	missing := filepath.Join(dir, "missing.md")
	tests := []struct {
		name  string
		paths []string
		want  Status
	}{
		{"none", nil, Pass},
		{"pass", []string{pass}, Pass},
		{"pass and amendment", []string{pass, amend}, AmendmentRequired},
		{"amendment and violations", []string{amend, violate, pass}, Violations},
		{"everything", []string{pass, bad, amend, violate}, BadInputStatus},
		{"unreadable", []string{pass, missing}, BadInputStatus},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := Files(r, tc.paths)
			if rep.Status != tc.want {
				t.Errorf("Files(%v) = %s, want %s", tc.paths, rep.Status, tc.want)
			}
			if len(rep.Results) != len(tc.paths) {
				t.Errorf("Files: %d results, want %d", len(rep.Results), len(tc.paths))
			}
		})
	}
	rep := Files(r, []string{missing})
	if len(rep.Results) != 1 || len(rep.Results[0].Findings) != 1 {
		t.Fatalf("Files(missing) = %+v", rep)
	}
	if f := rep.Results[0].Findings[0]; f.Code != "malformed" || f.Kind != BadInput || f.File != missing ||
		!strings.Contains(f.Message, "cannot read spec: no such file or directory") {
		t.Errorf("Files(missing) finding = %+v", f)
	}
}

// TestCrossCheck compares an Orchestrator's Sub-Agent Inventory with the
// archetypes its sub-agents' own specs declare.
func TestCrossCheck(t *testing.T) {
	t.Parallel()
	r := repo(t)
	_, orch := readSpec(t, "support/ticket-orchestrator.md")
	_, triage := readSpec(t, "support/ticket-triage.md")
	_, advisor := readSpec(t, "support/support-advisor.md")
	const row = "| support.ticket-triage | Synthesizer |"
	wrong := replace(t, orch, row, "| support.ticket-triage | Advisor |")
	short := replace(t, orch, row, "| ticket-triage | Advisor |")
	tests := []struct {
		name     string
		specs    map[string]string
		wantLine string // the inventory row with the mismatch; "" for none
		msg      string
	}{
		{"consistent", map[string]string{"orch.md": orch, "triage.md": triage, "advisor.md": advisor}, "", ""},
		{"mismatch", map[string]string{"orch.md": wrong, "triage.md": triage}, "| support.ticket-triage | Advisor |",
			"Sub-Agent Inventory lists support.ticket-triage as Advisor, but its own spec declares Synthesizer"},
		{"mismatch by short name", map[string]string{"orch.md": short, "triage.md": triage}, "| ticket-triage | Advisor |",
			"lists ticket-triage as Advisor, but its own spec declares Synthesizer"},
		{"sub-agent spec not checked", map[string]string{"orch.md": wrong, "advisor.md": advisor}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var paths []string
			for name, src := range tc.specs {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
				paths = append(paths, p)
			}
			orchPath := filepath.Join(dir, "orch.md")
			slices.Sort(paths)
			rep := Files(r, paths)
			var got []Finding
			for _, res := range rep.Results {
				got = append(got, findings(res, "inventory-mismatch")...)
			}
			if tc.wantLine == "" {
				if len(got) != 0 || rep.Status != Pass {
					t.Errorf("Files = %s with inventory findings %+v, want pass with none", rep.Status, got)
				}
				return
			}
			if len(got) != 1 || rep.Status != Violations {
				t.Fatalf("Files = %s with %d inventory-mismatch findings, want violations with one", rep.Status, len(got))
			}
			f := got[0]
			if f.File != orchPath || f.Kind != Violation || f.Line != lineOf(t, tc.specs["orch.md"], tc.wantLine, 1) || !strings.Contains(f.Message, tc.msg) {
				t.Errorf("finding = %+v, want %s:%d containing %q", f, orchPath, lineOf(t, tc.specs["orch.md"], tc.wantLine, 1), tc.msg)
			}
		})
	}
}

func TestSpecsLookup(t *testing.T) {
	t.Parallel()
	specs := []*spec.Spec{
		{Front: spec.FrontMatter{Tenant: "support", Agent: "ticket-triage"}, Decl: spec.Declaration{Archetype: constraint.Synthesizer}},
		{Front: spec.FrontMatter{Tenant: "payments", Agent: "refund-executor"}, Decl: spec.Declaration{Archetype: constraint.Executor}},
	}
	lookup := SpecsLookup(specs)
	tests := []struct {
		tenant, agent string
		want          string
		ok            bool
	}{
		{"support", "support.ticket-triage", constraint.Synthesizer, true},
		{"support", "ticket-triage", constraint.Synthesizer, true},
		{"research", "payments.refund-executor", constraint.Executor, true},
		{"support", "refund-executor", "", false},
		{"support", "nobody", "", false},
	}
	for _, tc := range tests {
		if got, ok := lookup(tc.tenant, tc.agent); got != tc.want || ok != tc.ok {
			t.Errorf("lookup(%q, %q) = %q, %v; want %q, %v", tc.tenant, tc.agent, got, ok, tc.want, tc.ok)
		}
	}
}

// TestContractAmendment checks the contract pin against a copy of the
// example fleet with a contract 1.2.0 that changes the model-provider and
// vector-store rows: each spec amends for the rows it declares that changed
// after its pin, and for no other.
func TestContractAmendment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyDir(t, exampleFleet, dir)
	path := filepath.Join(dir, fleet.ContractFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.NewReplacer(
		"version: 1.1.0\nowner:", "version: 1.2.0\nowner:",
		"changelog:\n", "changelog:\n  - version: 1.2.0\n    summary: Budgets hold across replicas.\n    changed: [model-provider, vector-store]\n",
		"settled from real usage after.", "settled from real usage after, across replicas.",
		"storage backend scopes every read and write to it.", "storage backend scopes every read, write and delete to it.",
	).Replace(string(data))
	if err := os.WriteFile(path, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := fleet.Load(dir)
	if err != nil {
		t.Fatalf("fleet.Load(contract 1.2.0): %v", err)
	}
	if r.Contract.Version != "1.2.0" || len(r.Contract.Changelog) != 3 {
		t.Fatalf("contract = %s with %d changelog entries, want 1.2.0 with 3", r.Contract.Version, len(r.Contract.Changelog))
	}
	tests := []struct {
		name       string
		spec, pin  string
		wantStatus Status
		// want maps each row the spec must amend for to the changelog
		// versions its message must quote, in order.
		want map[string][]string
	}{
		{"declares both, pinned at the oldest", "research/market-synthesizer.md", "1.0.0", AmendmentRequired,
			map[string][]string{"model-provider": {"1.2.0"}, "vector-store": {"1.2.0", "1.1.0"}}},
		{"declares both, pinned at 1.1.0", "research/market-synthesizer.md", "1.1.0", AmendmentRequired,
			map[string][]string{"model-provider": {"1.2.0"}, "vector-store": {"1.2.0"}}},
		{"declares model-provider only", "payments/refund-executor.md", "1.0.0", AmendmentRequired,
			map[string][]string{"model-provider": {"1.2.0"}}},
		{"pinned at the version in force", "research/market-synthesizer.md", "1.2.0", Pass, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, src := readSpec(t, tc.spec)
			src = replace(t, src, "contract: 1.1.0", "contract: "+tc.pin)
			res := checkSource(t, r, p, src)
			if res.Status != tc.wantStatus {
				t.Errorf("status = %s, want %s:%s", res.Status, tc.wantStatus, summary(res))
			}
			got := findings(res, "spec-amendment-required")
			if len(got) != len(tc.want) {
				t.Fatalf("spec-amendment-required findings = %d, want %d:%s", len(got), len(tc.want), summary(res))
			}
			for _, f := range got {
				versions, ok := tc.want[f.Resource]
				if !ok {
					t.Errorf("amendment for %q, want one for each of %v", f.Resource, slices.Sorted(maps.Keys(tc.want)))
					continue
				}
				var quoted []string
				for _, m := range regexp.MustCompile(`changelog (\d+\.\d+\.\d+):`).FindAllStringSubmatch(f.Message, -1) {
					quoted = append(quoted, m[1])
				}
				if !slices.Equal(quoted, versions) || f.Line != lineOf(t, src, "contract: "+tc.pin, 1) ||
					!strings.Contains(f.Message, "between contract "+tc.pin+" (pinned) and 1.2.0 (in force)") ||
					!strings.HasSuffix(f.Fix, "set contract: 1.2.0") {
					t.Errorf("amendment for %s = line %d %q (fix %q), want changelog entries %v at the pin", f.Resource, f.Line, f.Message, f.Fix, versions)
				}
			}
		})
	}
}
