package check

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/fleetgov/fleetgov/internal/fleet"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenReport checks the specs of testdata/report: one passes, one needs an
// amendment, one has violations and warnings, one does not parse.
func goldenReport(t *testing.T) Report {
	t.Helper()
	paths, err := filepath.Glob("testdata/report/*.md")
	if err != nil || len(paths) != 4 {
		t.Fatalf("testdata/report: %d specs, %v; want 4", len(paths), err)
	}
	rep := Files(repo(t), paths)
	if rep.Status != BadInputStatus {
		t.Fatalf("golden report status = %s, want bad_input", rep.Status)
	}
	return rep
}

// lintReport is what fleetgov library lint writes: the lint findings of the
// example fleet as one pseudo-result.
func lintReport(t *testing.T) Report {
	t.Helper()
	specs, err := fleet.LoadSpecs(exampleSpecs)
	if err != nil {
		t.Fatal(err)
	}
	return Report{Status: Pass, Results: []Result{{Status: Pass, Findings: Lint(repo(t), specs)}}}
}

func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update to accept it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestWriteGolden(t *testing.T) {
	reports := map[string]func(*testing.T) Report{"report": goldenReport, "lint": lintReport}
	for _, name := range []string{"report", "lint"} {
		for _, format := range Formats {
			t.Run(name+"."+format, func(t *testing.T) {
				var b bytes.Buffer
				if err := Write(&b, format, reports[name](t)); err != nil {
					t.Fatalf("Write(%s): %v", format, err)
				}
				golden(t, name+"."+format+".golden", b.Bytes())
			})
		}
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rep  Report
		want string
	}{
		{"no results", Report{Status: Pass}, ""},
		{"one passing spec", Report{Status: Pass, Results: []Result{{File: "a.md", SpecID: "S-1", Pinned: "1.1.0", Status: Pass}}},
			"a.md: pass (S-1, library 1.1.0)\n1 spec(s): 1 pass; result: pass\n"},
		{"finding without line or clause", Report{Status: Violations, Results: []Result{{File: "a.md", SpecID: "S-1", Status: Violations,
			Findings: []Finding{{Code: "missing-section", Kind: Violation, File: "a.md", Message: "m"}}}}},
			"a.md: error [missing-section] m\n1 spec(s): 1 violations; result: violations\n"},
		{"lint pseudo-result", Report{Status: Pass, Results: []Result{{Status: Pass, Findings: []Finding{
			{Code: "promotion-candidate", Kind: Warning, File: "s.md", Line: 3, Clause: "a.b", Message: "m", Fix: "f"}}}}},
			"s.md:3: warning [promotion-candidate] a.b: m\n    fix: f\n1 finding(s)\n"},
		{"notes", Report{Status: Pass, Results: []Result{{File: "a.md", SpecID: "S-1", Pinned: "1.0.0", Status: Pass,
			Findings: []Finding{{Code: "pin-behind", Kind: Note, File: "a.md", Line: 8, Message: "m"}}}}},
			"a.md:8: note [pin-behind] m\na.md: pass (S-1, library 1.0.0)\n1 spec(s): 1 pass; result: pass\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := Write(&b, "text", tc.rep); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("Write(text) =\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := Write(&b, "xml", Report{}); err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Errorf("Write(xml) = %v, want an unknown format error", err)
	}
	if b.Len() != 0 {
		t.Errorf("Write(xml) wrote %q", b.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteError(t *testing.T) {
	t.Parallel()
	rep := goldenReport(t)
	for _, format := range Formats {
		if err := Write(failWriter{}, format, rep); err == nil {
			t.Errorf("Write(%s) to a failing writer = nil, want its error", format)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	rep := goldenReport(t)
	var b bytes.Buffer
	if err := Write(&b, "json", rep); err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("json output does not parse: %v", err)
	}
	if got.Status != rep.Status || got.Fleet != "northwind" || got.Library != "1.1.0" || len(got.Results) != len(rep.Results) {
		t.Errorf("json round trip = %+v", got)
	}
	for i := range got.Results {
		if !slices.Equal(got.Results[i].Findings, rep.Results[i].Findings) && len(rep.Results[i].Findings) > 0 {
			t.Errorf("result %d findings differ after a json round trip", i)
		}
		if got.Results[i].Findings == nil {
			t.Errorf("result %d: findings is null, want []", i)
		}
	}
}

// sarifLogJSON is the part of a SARIF log the structural test reads.
type sarifLogJSON struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name  string `json:"name"`
				Rules []struct {
					ID               string `json:"id"`
					ShortDescription struct {
						Text string `json:"text"`
					} `json:"shortDescription"`
					DefaultConfiguration struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
			Properties map[string]string `json:"properties"`
		} `json:"results"`
	} `json:"runs"`
}

func sarifOf(t *testing.T, rep Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, "sarif", rep); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sarifReports are the reports whose SARIF the tests validate.
func sarifReports(t *testing.T) map[string]Report {
	return map[string]Report{
		"golden report": goldenReport(t),
		"lint":          lintReport(t),
		"empty":         {Status: Pass},
		"passing spec":  {Status: Pass, Results: []Result{{File: "a.md", SpecID: "S-1", Status: Pass, Findings: []Finding{}}}},
		"undocumented code": {Status: Violations, Results: []Result{{File: "a.md", Status: Violations,
			Findings: []Finding{{Code: "brand-new", Kind: Violation, File: "dir with space/a b.md", Message: "m"}}}}},
	}
}

func TestSARIF(t *testing.T) {
	t.Parallel()
	for name, rep := range sarifReports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var log sarifLogJSON
			if err := json.Unmarshal(sarifOf(t, rep), &log); err != nil {
				t.Fatalf("SARIF does not parse: %v", err)
			}
			if log.Version != "2.1.0" || log.Schema != SARIFSchema || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "fleetgov" {
				t.Fatalf("SARIF header = %q %q, %d runs", log.Version, log.Schema, len(log.Runs))
			}
			run := log.Runs[0]
			var ids []string
			for _, r := range run.Tool.Driver.Rules {
				ids = append(ids, r.ID)
				if want := Codes[r.ID]; r.ShortDescription.Text == "" || (want != "" && r.ShortDescription.Text != want) {
					t.Errorf("rule %s: shortDescription %q, want %q", r.ID, r.ShortDescription.Text, want)
				}
			}
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Errorf("rules %v, want sorted and unique", ids)
			}
			var n int
			for _, res := range rep.Results {
				n += len(res.Findings)
			}
			if len(run.Results) != n {
				t.Errorf("SARIF results = %d, want one per finding (%d)", len(run.Results), n)
			}
			for i, r := range run.Results {
				if r.RuleIndex < 0 || r.RuleIndex >= len(ids) || ids[r.RuleIndex] != r.RuleID {
					t.Errorf("result %d: ruleIndex %d does not point at rule %s", i, r.RuleIndex, r.RuleID)
				}
				if want := severity(Kind(r.Properties["kind"])); r.Level != want {
					t.Errorf("result %d: level %q for kind %q, want %q", i, r.Level, r.Properties["kind"], want)
				}
				if r.Message.Text == "" || len(r.Locations) != 1 || r.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" {
					t.Errorf("result %d: message %q, locations %+v", i, r.Message.Text, r.Locations)
				}
				if want := run.Tool.Driver.Rules[r.RuleIndex].DefaultConfiguration.Level; r.Level != want {
					t.Errorf("result %d: level %q, its rule's default level %q", i, r.Level, want)
				}
				if reg := r.Locations[0].PhysicalLocation.Region; reg != nil && reg.StartLine < 1 {
					t.Errorf("result %d: startLine %d, want at least 1", i, reg.StartLine)
				}
			}
		})
	}
}

func TestSARIFURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, want string }{
		{"specs/payments/refund-executor.md", "specs/payments/refund-executor.md"},
		{"../../examples/fleet/specs/a.md", "../../examples/fleet/specs/a.md"},
		{"/abs/path/a.md", "/abs/path/a.md"},
		{"dir with space/a b.md", "dir%20with%20space/a%20b.md"},
		{"specs/a#1.md", "specs/a%231.md"},
		{"specs/100%.md", "specs/100%25.md"},
		{"c:/specs/a.md", "./c:/specs/a.md"},
	}
	for _, tc := range tests {
		rep := Report{Status: Violations, Results: []Result{{File: tc.file, Status: Violations,
			Findings: []Finding{{Code: "missing-section", Kind: Violation, File: tc.file, Line: 1, Message: "m"}}}}}
		var log sarifLogJSON
		if err := json.Unmarshal(sarifOf(t, rep), &log); err != nil {
			t.Fatal(err)
		}
		if got := log.Runs[0].Results[0].Locations[0].PhysicalLocation.ArtifactLocation.URI; got != tc.want {
			t.Errorf("SARIF uri of %q = %q, want %q", tc.file, got, tc.want)
		}
	}
}

// TestSARIFSchema validates fleetgov's SARIF against the SARIF 2.1.0 JSON
// schema, when FLEETGOV_SARIF_SCHEMA names a copy of it. The schema is not
// vendored; the npm package @microsoft/jest-sarif ships it:
//
//	npm pack @microsoft/jest-sarif@1.0.0-beta.0
//	tar xzf microsoft-jest-sarif-1.0.0-beta.0.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json
//	FLEETGOV_SARIF_SCHEMA=$PWD/package/lib/schemas/sarif-2.1.0-rtm.5.json go test ./internal/check/
func TestSARIFSchema(t *testing.T) {
	t.Parallel()
	path := os.Getenv("FLEETGOV_SARIF_SCHEMA")
	if path == "" {
		t.Skip("FLEETGOV_SARIF_SCHEMA is not set: no SARIF 2.1.0 schema to validate against")
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	schema, err := c.Compile(path)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	for name, rep := range sarifReports(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sarifOf(t, rep)))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(doc); err != nil {
				t.Errorf("SARIF output is not valid SARIF 2.1.0: %v", err)
			}
		})
	}
	// The schema is strict enough to catch a broken log.
	t.Run("a broken log fails", func(t *testing.T) {
		t.Parallel()
		bad := bytes.Replace(sarifOf(t, goldenReport(t)), []byte(`"level": "error"`), []byte(`"level": "fatal"`), 1)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(doc); err == nil {
			t.Errorf("a SARIF log with level \"fatal\" validates, want an error")
		}
	})
}

var codeRE = regexp.MustCompile(`Code\w*\s*=\s*"([a-z-]+)"|code[A-Z]\w*\s*=\s*"([a-z-]+)"|Code:\s*"([a-z-]+)"|f\.Code(?:, f\.Fix)?\s*=\s*"([a-z-]+)"|code(?:, msg)?\s*:?=\s*"([a-z-]+)"|return "([a-z]+-[a-z-]+)"`)

// TestCodesDocumented checks that every finding code in the package's
// source has a description in Codes, and that Codes lists no unused code.
func TestCodesDocumented(t *testing.T) {
	t.Parallel()
	// Codes originate here, in the parsers (constraint, spec) and in the
	// control plane's reload checks.
	var files []string
	for _, pattern := range []string{"*.go", "../constraint/*.go", "../spec/*.go", "../control/*.go"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	used := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range codeRE.FindAllStringSubmatch(string(src), -1) {
			for _, g := range m[1:] {
				if g != "" {
					used[g] = true
				}
			}
		}
	}
	if len(used) < 20 {
		t.Fatalf("found %d codes in the source, want more: is the pattern stale?", len(used))
	}
	for code := range used {
		if Codes[code] == "" {
			t.Errorf("code %q is not described in Codes", code)
		}
	}
	for code := range Codes {
		if !used[code] {
			t.Errorf("Codes describes %q, which no finding uses", code)
		}
	}
}
