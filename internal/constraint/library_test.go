package constraint

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// exampleLibrary is the example fleet's constraint library.
const exampleLibrary = "../../examples/fleet/constraints"

const validLibrary = `# A small library with every machine form.
version: 1.2.0
effective_date: "2026-09-01"
owner: platform@example.com
reviewed_by: [Dana]
next_review: "2026-12-01"
description: >-
  Test library.
changelog:
  - {version: 1.2.0, date: "2026-09-01", summary: First.}
clauses:
  - id: fleet.no-exfil
    tier: T1
    section: 6
    text: >-
      No exfiltration of
      session tokens.
    provenance: {cat: 3, incidents: [INC-1]}
    rule:
      when: action.kind == "tool_call" && contains_credential(action.arguments)
  - id: fleet.cost
    tier: T1
    section: 7
    text: Calls cost at most $0.50.
    limit: {name: cost.per_call_usd, max: 0.5, effect: ESCALATE}
  - id: fleet.models
    tier: T1
    section: 8
    resource: model-provider
    text: Approved models only.
    allow: {name: models, values: [gpt-4o, "claude-*"]}
  - id: executor.manifest
    tier: T2
    archetype: executor
    section: 8
    text: A tool absent from the manifest is not authorized.
    check: tool-manifest
  - id: guardian.text-only
    tier: T2
    archetype: Guardian
    section: 6
    text: Guardians explain every veto.
`

func TestParseLibrary(t *testing.T) {
	t.Parallel()
	lib, err := ParseLibrary("constraints/1.2.0.yaml", []byte(validLibrary))
	if err != nil {
		t.Fatalf("ParseLibrary: %v", err)
	}
	if lib.Version != "1.2.0" || lib.Owner != "platform@example.com" || lib.Description != "Test library." ||
		lib.EffectiveDate != "2026-09-01" || lib.NextReview != "2026-12-01" || len(lib.Changelog) != 1 {
		t.Errorf("ParseLibrary header = %+v", lib)
	}
	if !strings.HasPrefix(lib.Digest, "sha256:") || len(lib.Digest) != len("sha256:")+64 {
		t.Errorf("Digest = %q, want sha256:<64 hex>", lib.Digest)
	}
	var ids []string
	for _, c := range lib.Clauses {
		ids = append(ids, c.ID)
	}
	if want := []string{"fleet.no-exfil", "fleet.cost", "fleet.models", "executor.manifest", "guardian.text-only"}; !slices.Equal(ids, want) {
		t.Fatalf("clauses = %v, want %v (library order)", ids, want)
	}
	tests := []struct {
		id      string
		tier    Tier
		arch    string
		section int
		text    string
		machine string
		line    int
	}{
		{"fleet.no-exfil", T1, "", 6, "No exfiltration of session tokens.", `rule deny: action.kind == "tool_call" && contains_credential(action.arguments)`, 12},
		{"fleet.cost", T1, "", 7, "Calls cost at most $0.50.", "limit cost.per_call_usd <= 0.5 escalate", 21},
		{"fleet.models", T1, "", 8, "Approved models only.", "allow models: gpt-4o, claude-*", 26},
		{"executor.manifest", T2, Executor, 8, "A tool absent from the manifest is not authorized.", "check tool-manifest", 32},
		{"guardian.text-only", T2, Guardian, 6, "Guardians explain every veto.", "", 38},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			c, ok := lib.Clause(tc.id)
			if !ok {
				t.Fatalf("Clause(%q) not found", tc.id)
			}
			if c.Tier != tc.tier || c.Archetype != tc.arch || c.Section != tc.section || c.Text != tc.text {
				t.Errorf("Clause(%q) = %v %q §%d %q, want %v %q §%d %q", tc.id, c.Tier, c.Archetype, c.Section, c.Text, tc.tier, tc.arch, tc.section, tc.text)
			}
			if got := c.MachineForm(); got != tc.machine {
				t.Errorf("Clause(%q).MachineForm() = %q, want %q", tc.id, got, tc.machine)
			}
			if c.Pos != (Pos{File: "constraints/1.2.0.yaml", Line: tc.line}) {
				t.Errorf("Clause(%q).Pos = %v, want constraints/1.2.0.yaml:%d", tc.id, c.Pos, tc.line)
			}
			if c.Rule != nil && c.Rule.Program() == nil {
				t.Errorf("Clause(%q).Rule.Program() = nil, want the compiled rule", tc.id)
			}
		})
	}
	if _, ok := lib.Clause("fleet.nope"); ok {
		t.Errorf("Clause(fleet.nope) found, want not found")
	}
	if c, _ := lib.Clause("fleet.models"); c.Resource != "model-provider" {
		t.Errorf("fleet.models resource = %q, want model-provider", c.Resource)
	}
}

func TestParseLibraryDigest(t *testing.T) {
	t.Parallel()
	parse := func(src string) *Library {
		t.Helper()
		lib, err := ParseLibrary("1.2.0.yaml", []byte(src))
		if err != nil {
			t.Fatalf("ParseLibrary: %v", err)
		}
		return lib
	}
	base := parse(validLibrary)
	tests := []struct {
		name string
		src  string
		same bool
	}{
		{"identical", validLibrary, true},
		{"comments and header differ", strings.Replace(strings.Replace(validLibrary, "# A small", "# Another", 1), "owner: platform@example.com", "owner: someone@example.com", 1), true},
		{"clause removed", strings.Replace(validLibrary, "  - id: guardian.text-only\n    tier: T2\n    archetype: Guardian\n    section: 6\n    text: Guardians explain every veto.\n", "", 1) +
			"", false},
		{"text differs", strings.Replace(validLibrary, "Calls cost at most $0.50.", "Calls cost at most $0.25.", 1), false},
		{"limit differs", strings.Replace(validLibrary, "max: 0.5", "max: 0.25", 1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := parse(tc.src).Digest
			if (got == base.Digest) != tc.same {
				t.Errorf("Digest = %s, base %s; want same = %v", got, base.Digest, tc.same)
			}
		})
	}
	// Reordering clauses does not change the digest.
	lines := strings.SplitAfter(validLibrary, "\n")
	start := slices.Index(lines, "  - id: guardian.text-only\n")
	reordered := strings.Join(lines[:slices.Index(lines, "  - id: fleet.no-exfil\n")], "") +
		strings.Join(lines[start:], "") +
		strings.Join(lines[slices.Index(lines, "  - id: fleet.no-exfil\n"):start], "")
	if got := parse(reordered).Digest; got != base.Digest {
		t.Errorf("Digest after reordering clauses = %s, want %s", got, base.Digest)
	}
}

// libraryErrorCase is one case of testdata/library_errors.yaml.
type libraryErrorCase struct {
	Name    string `yaml:"name"`
	File    string `yaml:"file"`
	Library string `yaml:"library"`
	Want    []struct {
		Line   int    `yaml:"line"`
		Clause string `yaml:"clause"`
		Msg    string `yaml:"msg"`
	} `yaml:"want"`
}

func loadYAMLCases[T any](t *testing.T, file string) []T {
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
	if len(cases) == 0 {
		t.Fatalf("%s holds no cases", file)
	}
	return cases
}

func TestParseLibraryErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range loadYAMLCases[libraryErrorCase](t, "testdata/library_errors.yaml") {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			file := "constraints/" + tc.File
			if tc.File == "" {
				file = "constraints/1.0.0.yaml"
			}
			lib, err := ParseLibrary(file, []byte(tc.Library))
			if err == nil {
				t.Fatalf("ParseLibrary(%s) = %v, nil; want errors", tc.Name, lib.Version)
			}
			if lib != nil {
				t.Errorf("ParseLibrary(%s) returned a library with its errors; want nil", tc.Name)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseLibrary(%s) error %v does not match ErrInvalid", tc.Name, err)
			}
			got := Errors(err)
			if len(got) != len(tc.Want) {
				t.Fatalf("ParseLibrary(%s) = %d errors, want %d:\n%v", tc.Name, len(got), len(tc.Want), err)
			}
			for i, w := range tc.Want {
				e := got[i]
				if e.Pos.File != file || e.Pos.Line != w.Line || e.Clause != w.Clause || !strings.Contains(e.Msg, w.Msg) {
					t.Errorf("error %d = %s:%d clause %q %q, want %s:%d clause %q containing %q",
						i, e.Pos.File, e.Pos.Line, e.Clause, e.Msg, file, w.Line, w.Clause, w.Msg)
				}
				if !strings.HasPrefix(e.Error(), file) {
					t.Errorf("error %d = %q, want it to start with the file name", i, e.Error())
				}
				if w.Clause != "" && !strings.Contains(e.Error(), "clause "+w.Clause+": ") {
					t.Errorf("error %d = %q, want it to name clause %s", i, e.Error(), w.Clause)
				}
			}
		})
	}
}

func TestParseLibraryExample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version string
		clauses int
	}{
		{"1.0.0", 23},
		{"1.1.0", 24},
	}
	for _, tc := range tests {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(exampleLibrary, tc.version+".yaml")
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lib, err := ParseLibrary(file, data)
			if err != nil {
				t.Fatalf("ParseLibrary(%s): %v", file, err)
			}
			if lib.Version != tc.version || len(lib.Clauses) != tc.clauses {
				t.Errorf("ParseLibrary(%s) = version %s with %d clauses, want %s with %d", file, lib.Version, len(lib.Clauses), tc.version, tc.clauses)
			}
		})
	}
}

func writeLibrary(t *testing.T, dir, name, version string) {
	t.Helper()
	src := "version: " + version + "\nclauses:\n  - id: fleet.a\n    tier: T1\n    section: 6\n    text: Version " + version + ".\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, v := range []string{"1.10.0", "1.2.0", "1.9.1", "1.2.0-rc.1", "0.9.0"} {
		writeLibrary(t, dir, v+".yaml", v)
	}
	writeLibrary(t, dir, "2.0.0.yml", "2.0.0")
	// Not library versions: a README, a hidden file, a directory.
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".draft.yaml"), []byte("not: a library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "old.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{"0.9.0", "1.2.0-rc.1", "1.2.0", "1.9.1", "1.10.0", "2.0.0"}
	tests := []struct {
		name        string
		current     string
		wantCurrent string
		wantErr     string
	}{
		{"highest by default", "", "2.0.0", ""},
		{"named current", "1.9.1", "1.9.1", ""},
		{"pre-release as current", "1.2.0-rc.1", "1.2.0-rc.1", ""},
		{"missing current", "3.0.0", "", "library version 3.0.0 is named as current but no constraints/3.0.0.yaml exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat, err := LoadCatalog(dir, tc.current)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || cat != nil {
					t.Fatalf("LoadCatalog(%q) = %v, %v; want nil, error containing %q", tc.current, cat, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadCatalog(%q): %v", tc.current, err)
			}
			if got := cat.VersionNames(); !slices.Equal(got, wantOrder) {
				t.Errorf("VersionNames() = %v, want %v", got, wantOrder)
			}
			if got := cat.Current().Version; got != tc.wantCurrent {
				t.Errorf("Current() = %s, want %s", got, tc.wantCurrent)
			}
			for _, v := range wantOrder {
				if l, ok := cat.Get(v); !ok || l.Version != v {
					t.Errorf("Get(%s) = %v, %v", v, l, ok)
				}
			}
			if _, ok := cat.Get("1.2"); ok {
				t.Errorf("Get(1.2) found, want not found")
			}
			// Versions returns a copy.
			vs := cat.Versions()
			vs[0] = nil
			if cat.Versions()[0] == nil {
				t.Errorf("Versions() shares its slice with the catalog")
			}
		})
	}
}

func TestLoadCatalogErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr []string
	}{
		{"missing directory", func(t *testing.T, dir string) {
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
		}, []string{"cannot read the constraint library"}},
		{"no versions", func(t *testing.T, dir string) {}, []string{"the constraint library has no versions"}},
		{"same version twice", func(t *testing.T, dir string) {
			writeLibrary(t, dir, "1.0.0.yaml", "1.0.0")
			writeLibrary(t, dir, "1.0.0.yml", "1.0.0")
		}, []string{"1.0.0.yml: version 1.0.0 is also defined in"}},
		{"one broken file among good ones", func(t *testing.T, dir string) {
			writeLibrary(t, dir, "1.0.0.yaml", "1.0.0")
			writeLibrary(t, dir, "1.1.0.yaml", "1.1.0")
			if err := os.WriteFile(filepath.Join(dir, "1.2.0.yaml"), []byte("version: 1.2.0\nclauses:\n  - id: fleet.a\n    tier: T9\n    section: 6\n    text: A.\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"1.2.0.yaml:3: clause fleet.a: unknown tier"}},
		{"errors in two files", func(t *testing.T, dir string) {
			writeLibrary(t, dir, "1.0.0.yaml", "1.1.0")
			writeLibrary(t, dir, "2.0.0.yaml", "2.0")
		}, []string{"1.0.0.yaml:1: file 1.0.0.yaml holds version 1.1.0", "2.0.0.yaml:1: library version \"2.0\" is not a semantic version"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "constraints")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, dir)
			cat, err := LoadCatalog(dir, "")
			if err == nil || cat != nil {
				t.Fatalf("LoadCatalog = %v, %v; want nil and an error", cat, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("LoadCatalog error %v does not match ErrInvalid", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadCatalog = %v, want an error containing %q", err, w)
				}
			}
		})
	}
}

func TestLoadCatalogExample(t *testing.T) {
	t.Parallel()
	cat, err := LoadCatalog(exampleLibrary, "1.0.0")
	if err != nil {
		t.Fatalf("LoadCatalog(%s): %v", exampleLibrary, err)
	}
	if got := cat.VersionNames(); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("VersionNames() = %v, want [1.0.0 1.1.0]", got)
	}
	if got := cat.Current().Version; got != "1.0.0" {
		t.Errorf("Current() = %s, want 1.0.0", got)
	}
	a, _ := cat.Get("1.0.0")
	b, _ := cat.Get("1.1.0")
	if a.Digest == b.Digest {
		t.Errorf("1.0.0 and 1.1.0 share digest %s", a.Digest)
	}
}

func TestNewCatalog(t *testing.T) {
	t.Parallel()
	lib := func(v string) *Library {
		l, err := ParseLibrary(v+".yaml", []byte("version: "+v+"\nclauses:\n  - {id: fleet.a, tier: T1, section: 6, text: A.}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	libs := []*Library{lib("1.1.0"), lib("1.0.0")}
	tests := []struct {
		name        string
		libs        []*Library
		current     string
		wantCurrent string
		wantErr     bool
	}{
		{"highest", libs, "", "1.1.0", false},
		{"named", libs, "1.0.0", "1.0.0", false},
		{"missing current", libs, "1.2.0", "", true},
		{"no versions", nil, "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat, err := NewCatalog(tc.libs, tc.current)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewCatalog(%q) error = %v, wantErr %v", tc.current, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := cat.Current().Version; got != tc.wantCurrent {
				t.Errorf("NewCatalog(%q).Current() = %s, want %s", tc.current, got, tc.wantCurrent)
			}
			if got := cat.VersionNames(); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
				t.Errorf("VersionNames() = %v, want sorted [1.0.0 1.1.0]", got)
			}
		})
	}
}

func TestValidVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    string
		want bool
	}{
		{"1.0.0", true},
		{"0.1.0", true},
		{"10.20.30", true},
		{"1.2.0-rc.1", true},
		{"1.2.0+build.5", true},
		{"1.0", false},
		{"1", false},
		{"v1.0.0", false},
		{"01.0.0", false},
		{"1.0.0.0", false},
		{"", false},
		{"latest", false},
	}
	for _, tc := range tests {
		t.Run(tc.v, func(t *testing.T) {
			t.Parallel()
			if got := ValidVersion(tc.v); got != tc.want {
				t.Errorf("ValidVersion(%q) = %v, want %v", tc.v, got, tc.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.1.0", -1},
		{"1.10.0", "1.9.0", 1},
		{"1.2.0-rc.1", "1.2.0", -1},
		{"2.0.0", "2.0.0", 0},
	}
	for _, tc := range tests {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	one := Errorf(Pos{File: "a.yaml", Line: 3}, "fleet.a", "bad %s", "thing")
	two := Errorf(Pos{File: "b.yaml"}, "", "worse")
	tests := []struct {
		name    string
		err     error
		want    int
		wantStr string
	}{
		{"nil", nil, 0, ""},
		{"one error", one, 1, "a.yaml:3: clause fleet.a: bad thing"},
		{"list of one", ErrorList{one}, 1, "a.yaml:3: clause fleet.a: bad thing"},
		{"list of two", ErrorList{one, two}, 2, "2 errors:\n  a.yaml:3: clause fleet.a: bad thing\n  b.yaml: worse"},
		{"wrapped list", errors.Join(errors.New("x"), ErrorList{one, two}), 2, ""},
		{"plain error", errors.New("plain"), 1, "plain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Errors(tc.err)
			if len(got) != tc.want {
				t.Errorf("Errors(%v) = %d errors, want %d", tc.err, len(got), tc.want)
			}
			if tc.wantStr != "" && tc.err.Error() != tc.wantStr {
				t.Errorf("Error() = %q, want %q", tc.err.Error(), tc.wantStr)
			}
		})
	}
	if ErrorList(nil).Err() != nil {
		t.Errorf("ErrorList(nil).Err() = non-nil, want nil")
	}
	if err := (ErrorList{one}).Err(); !errors.Is(err, ErrInvalid) {
		t.Errorf("ErrorList.Err() = %v, want an error matching ErrInvalid", err)
	}
	if got := (&Error{Msg: "no position"}).Error(); got != "no position" {
		t.Errorf("Error without position = %q, want %q", got, "no position")
	}
}
