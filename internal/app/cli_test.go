package app_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fleetgov/fleetgov/internal/app"
	"github.com/fleetgov/fleetgov/internal/check"
)

const (
	exampleFleet = "../../examples/fleet"
	exampleSpecs = exampleFleet + "/specs"
	refundSpec   = exampleSpecs + "/payments/refund-executor.md"
)

// run runs fleetgov with args and returns its exit code and output.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = app.Run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeSpec writes the refund executor's spec, edited, into a temporary
// directory and returns its path.
func writeSpec(t *testing.T, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(refundSpec)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(src, edits[i]) {
			t.Fatalf("%s does not contain %q", refundSpec, edits[i])
		}
		src = strings.Replace(src, edits[i], edits[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "refund-executor.md")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyFleet copies the example fleet into a temporary directory.
func copyFleet(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(exampleFleet)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestSpecCheckExitCodes(t *testing.T) {
	t.Parallel()
	weakened := writeSpec(t, "`limit cost.per_call_usd <= 0.05`", "`limit cost.per_call_usd <= 0.75`")
	badInput := writeSpec(t, "(Fleet, T1) [fleet.no-cross-tenant]", "(Fleet, T2) [fleet.no-cross-tenant]")
	amendment := writeSpec(t,
		"library: 1.1.0", "library: 1.0.0",
		"No single model call may cost more than $0.25;", "No single model call may cost more than $0.50;",
		"- (Archetype: Executor, T2) [executor.irreversible-preauth] Irreversible actions (delete and transmit effects) need explicit pre-authorization from a human reviewer.\n", "")
	warningOnly := writeSpec(t, "## §9 Acceptance Criteria", "## §9 Acceptance Tests")
	tests := []struct {
		name     string
		args     []string
		want     int
		stdout   []string
		stderr   string
		noStdout bool
	}{
		{"every example passes", []string{"spec", "check", "--fleet", exampleFleet, exampleSpecs}, check.ExitPass,
			[]string{"10 spec(s): 10 pass; result: pass"}, "", false},
		{"one example file", []string{"spec", "check", "--fleet", exampleFleet, refundSpec}, 0,
			[]string{"refund-executor.md: pass (SPEC-PAY-001, library 1.1.0)", "1 spec(s): 1 pass; result: pass"}, "", false},
		{"flags after the spec", []string{"spec", "check", refundSpec, "--fleet", exampleFleet}, 0, []string{"1 pass"}, "", false},
		{"warnings pass", []string{"spec", "check", "--fleet", exampleFleet, warningOnly}, 0,
			[]string{"warning [section-title]", "result: pass"}, "", false},
		{"violations", []string{"spec", "check", "--fleet", exampleFleet, weakened}, check.ExitViolations,
			[]string{"error [weakened-limit] fleet.cost-per-call: tenant clause payments.cost-per-claim weakens", "result: violations"}, "", false},
		{"bad input", []string{"spec", "check", "--fleet", exampleFleet, badInput}, check.ExitBadInput,
			[]string{"error [bad-annotation]", "result: bad input"}, "", false},
		{"amendment required", []string{"spec", "check", "--fleet", exampleFleet, amendment}, check.ExitAmendment,
			[]string{"warning [spec-amendment-required] fleet.cost-per-call", "warning [spec-amendment-required] executor.irreversible-preauth",
				"+ - (Fleet, T1) [fleet.cost-per-call] No single model call may cost more than $0.25", "result: amendment required"}, "", false},
		{"worst status wins", []string{"spec", "check", "--fleet", exampleFleet, amendment, weakened, refundSpec}, check.ExitViolations,
			[]string{"3 spec(s): 1 pass, 1 amendment required, 1 violations; result: violations"}, "", false},
		{"bad input wins", []string{"spec", "check", "--fleet", exampleFleet, weakened, badInput, amendment}, check.ExitBadInput,
			[]string{"result: bad input"}, "", false},
		{"missing spec file", []string{"spec", "check", "--fleet", exampleFleet, filepath.Join(t.TempDir(), "nope.md")}, check.ExitBadInput,
			[]string{"error [malformed] cannot read spec: no such file or directory"}, "", false},
		{"unknown format", []string{"spec", "check", "--fleet", exampleFleet, "--format", "xml", refundSpec}, check.ExitBadInput,
			nil, `unknown --format "xml" (want text, json or sarif)`, true},
		{"no spec", []string{"spec", "check", "--fleet", exampleFleet}, check.ExitBadInput,
			nil, "name at least one spec file or directory", true},
		{"unknown flag", []string{"spec", "check", "--fleat", exampleFleet, refundSpec}, check.ExitBadInput,
			nil, "flag provided but not defined: -fleat", true},
		{"not a fleet repo", []string{"spec", "check", "--fleet", exampleSpecs, refundSpec}, check.ExitBadInput,
			nil, exampleSpecs + " is not a fleet repo (no fleet.yaml): pass --fleet DIR or set FLEETGOV_FLEET", true},
		{"missing fleet directory", []string{"spec", "check", "--fleet", filepath.Join(t.TempDir(), "nope"), refundSpec}, check.ExitBadInput,
			nil, "is not a fleet repo (no fleet.yaml)", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, tc.args...)
			if code != tc.want {
				t.Errorf("fleetgov %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.want, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, stdout)
				}
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.stderr)
			}
			if tc.noStdout && stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestSpecCheckBrokenFleet(t *testing.T) {
	t.Parallel()
	dir := copyFleet(t)
	cfg := filepath.Join(dir, "fleet.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "  min_tenants: 3", "  min_tenants: 1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "spec", "check", "--fleet", dir, refundSpec)
	if code != check.ExitBadInput || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
	for _, s := range []string{"the fleet repo " + dir + " does not load:", cfg + ":", "escalation.min_tenants 1: at least 2"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr = %q, want it to contain %q", stderr, s)
		}
	}
}

func TestSpecCheckFormats(t *testing.T) {
	t.Parallel()
	weakened := writeSpec(t, "`limit cost.per_call_usd <= 0.05`", "`limit cost.per_call_usd <= 0.75`")
	tests := []struct {
		name string
		spec string
		want int
	}{
		{"pass", refundSpec, check.ExitPass},
		{"violations", weakened, check.ExitViolations},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/json", func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, "spec", "check", "--fleet", exampleFleet, "--format", "json", tc.spec)
			if code != tc.want {
				t.Errorf("exit %d, want %d: %s", code, tc.want, stderr)
			}
			var rep check.Report
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("--format json output does not parse: %v\n%s", err, stdout)
			}
			if rep.Status.ExitCode() != tc.want || rep.Fleet != "northwind" || len(rep.Results) != 1 || rep.Results[0].File != tc.spec {
				t.Errorf("json report = %+v", rep)
			}
			if tc.want == check.ExitViolations {
				f := rep.Results[0].Findings
				if len(f) != 1 || f[0].Code != "weakened-limit" || f[0].Clause != "fleet.cost-per-call" || f[0].Line == 0 {
					t.Errorf("json findings = %+v, want one weakened-limit of fleet.cost-per-call", f)
				}
			}
		})
		t.Run(tc.name+"/sarif", func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, "spec", "check", "--fleet", exampleFleet, "--format", "sarif", tc.spec)
			if code != tc.want {
				t.Errorf("exit %d, want %d: %s", code, tc.want, stderr)
			}
			var log struct {
				Version string `json:"version"`
				Runs    []struct {
					Results []struct {
						RuleID string `json:"ruleId"`
						Level  string `json:"level"`
					} `json:"results"`
				} `json:"runs"`
			}
			if err := json.Unmarshal([]byte(stdout), &log); err != nil {
				t.Fatalf("--format sarif output does not parse: %v\n%s", err, stdout)
			}
			if log.Version != "2.1.0" || len(log.Runs) != 1 {
				t.Fatalf("sarif = version %q, %d runs", log.Version, len(log.Runs))
			}
			if tc.want == check.ExitViolations {
				if r := log.Runs[0].Results; len(r) != 1 || r[0].RuleID != "weakened-limit" || r[0].Level != "error" {
					t.Errorf("sarif results = %+v, want one weakened-limit error", r)
				}
			} else if len(log.Runs[0].Results) != 0 {
				t.Errorf("sarif results = %+v, want none", log.Runs[0].Results)
			}
		})
	}
}

// diffBlock returns the lines of the library diff's text output about one
// clause: from its heading to the next blank line.
func diffBlock(t *testing.T, out, id string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, id+" ") {
			end := i + 1
			for end < len(lines) && lines[end] != "" {
				end++
			}
			return lines[i:end]
		}
	}
	t.Fatalf("library diff output has no block for %s:\n%s", id, out)
	return nil
}

func TestLibraryDiff(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "library", "diff", "1.0.0", "1.1.0", "--fleet", exampleFleet)
	if code != 0 {
		t.Fatalf("library diff = exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "library 1.0.0 → 1.1.0: 2 clause(s) changed\n") {
		t.Errorf("stdout starts %q", strings.SplitN(stdout, "\n", 2)[0])
	}
	executors := []string{"adlab.test-buyer", "adsales.media-buyer", "payments.refund-executor", "support.reply-executor"}
	all := []string{"adlab.test-buyer", "adsales.brand-safety-guardian", "adsales.media-buyer", "payments.payout-guardian",
		"payments.refund-executor", "research.market-synthesizer", "support.reply-executor", "support.support-advisor",
		"support.ticket-orchestrator", "support.ticket-triage"}
	tests := []struct {
		id         string
		heading    string
		diff       []string
		inheritors []string
	}{
		{"executor.irreversible-preauth", "executor.irreversible-preauth added",
			[]string{"  + - (Archetype: Executor, T2) [executor.irreversible-preauth] Irreversible actions (delete and transmit effects) need explicit pre-authorization from a human reviewer."},
			executors},
		{"fleet.cost-per-call", "fleet.cost-per-call changed (text, machine)",
			[]string{"  - - (Fleet, T1) [fleet.cost-per-call] No single model call may cost more than $0.50; the platform middleware enforces the ceiling before the call.",
				"  -     `limit cost.per_call_usd <= 0.5`",
				"  + - (Fleet, T1) [fleet.cost-per-call] No single model call may cost more than $0.25; the platform middleware enforces the ceiling before the call.",
				"  +     `limit cost.per_call_usd <= 0.25`"},
			all},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			block := diffBlock(t, stdout, tc.id)
			if block[0] != tc.heading {
				t.Errorf("heading = %q, want %q", block[0], tc.heading)
			}
			for _, d := range tc.diff {
				if !slices.Contains(block, d) {
					t.Errorf("block does not contain %q:\n%s", d, strings.Join(block, "\n"))
				}
			}
			var got []string
			for _, l := range block {
				if rest, ok := strings.CutPrefix(l, "    "); ok && strings.Contains(rest, ", pins 1.1.0)") {
					got = append(got, strings.Fields(rest)[0])
				}
			}
			if !slices.Equal(got, tc.inheritors) {
				t.Errorf("inheritors = %v, want %v", got, tc.inheritors)
			}
			if want := "  inherited by " + strconv.Itoa(len(tc.inheritors)) + " spec(s):"; !slices.Contains(block, want) {
				t.Errorf("block does not contain %q", want)
			}
		})
	}
	if !strings.Contains(stdout, "    payments.refund-executor (SPEC-PAY-001, pins 1.1.0)") {
		t.Errorf("stdout does not name the refund executor's spec and pin:\n%s", stdout)
	}
}

func TestLibraryDiffJSON(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "library", "diff", "--fleet", exampleFleet, "--format", "json", "1.0.0", "1.1.0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var d check.LibraryDiff
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatalf("json does not parse: %v", err)
	}
	if d.From != "1.0.0" || d.To != "1.1.0" || len(d.Changes) != 2 ||
		d.Changes[0].ID != "executor.irreversible-preauth" || len(d.Changes[0].Inheritors) != 4 ||
		d.Changes[1].ID != "fleet.cost-per-call" || len(d.Changes[1].Inheritors) != 10 {
		t.Errorf("json diff = %+v", d)
	}
}

func TestLibraryDiffErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		want   int
		stdout string
		stderr string
	}{
		{"same version", []string{"library", "diff", "--fleet", exampleFleet, "1.1.0", "1.1.0"}, 0, "library 1.1.0 → 1.1.0: no clause changed", ""},
		{"no registered specs", []string{"library", "diff", "--fleet", exampleFleet, "--specs", "", "1.0.0", "1.1.0"}, 0, "inherited by 10 spec(s)", ""},
		{"empty specs directory", []string{"library", "diff", "--fleet", exampleFleet, "--specs", t.TempDir(), "1.0.0", "1.1.0"}, 0, "inherited by: no registered spec", ""},
		{"unknown version", []string{"library", "diff", "--fleet", exampleFleet, "1.0.0", "9.9.9"}, 2, "", "no library version 9.9.9 (have [1.0.0 1.1.0])"},
		{"one version", []string{"library", "diff", "--fleet", exampleFleet, "1.0.0"}, 2, "", "name two library versions"},
		{"unknown format", []string{"library", "diff", "--fleet", exampleFleet, "--format", "sarif", "1.0.0", "1.1.0"}, 2, "", `unknown --format "sarif" (want text or json)`},
		{"not a fleet repo", []string{"library", "diff", "--fleet", t.TempDir(), "1.0.0", "1.1.0"}, 2, "", "is not a fleet repo (no fleet.yaml)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, tc.args...)
			if code != tc.want || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("fleetgov %s = exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout containing %q, stderr containing %q",
					strings.Join(tc.args, " "), code, stdout, stderr, tc.want, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestLibraryLint(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := run(t, "library", "lint", "--fleet", exampleFleet)
	if code != 1 {
		t.Errorf("library lint = exit %d, want 1: %s", code, stderr)
	}
	var warnings []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.Contains(l, ": warning [") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 2 ||
		!strings.Contains(warnings[0], "constraints/1.1.0.yaml:") || !strings.Contains(warnings[0], "warning [constraint-inflation] fleet.response-language:") ||
		!strings.Contains(warnings[1], "refund-executor.md:76: warning [promotion-candidate] payments.pii-redaction: near-identical T3 clause in 3 tenants (payments, research, support)") {
		t.Errorf("library lint warnings =\n%s\nwant constraint-inflation of fleet.response-language and the pii-redaction promotion candidate", strings.Join(warnings, "\n"))
	}
	if !strings.HasSuffix(stdout, "2 finding(s)\n") {
		t.Errorf("stdout does not end with the count:\n%s", stdout)
	}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		code, stdout, _ := run(t, "library", "lint", "--fleet", exampleFleet, "--format", "json")
		var rep check.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 1 {
			t.Fatalf("exit %d, json %v", code, err)
		}
		var codes []string
		for _, f := range rep.Results[0].Findings {
			codes = append(codes, f.Code+" "+f.Clause)
		}
		if want := []string{"constraint-inflation fleet.response-language", "promotion-candidate payments.pii-redaction"}; !slices.Equal(codes, want) {
			t.Errorf("json findings = %v, want %v", codes, want)
		}
	})
	t.Run("sarif", func(t *testing.T) {
		t.Parallel()
		code, stdout, _ := run(t, "library", "lint", "--fleet", exampleFleet, "--format", "sarif")
		var log struct {
			Version string `json:"version"`
			Runs    []struct {
				Results []struct {
					RuleID string `json:"ruleId"`
					Level  string `json:"level"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(stdout), &log); err != nil || code != 1 {
			t.Fatalf("exit %d, sarif %v", code, err)
		}
		if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 2 || log.Runs[0].Results[0].Level != "warning" {
			t.Errorf("sarif = %+v", log)
		}
	})
	t.Run("clean", func(t *testing.T) {
		t.Parallel()
		dir := copyFleet(t)
		lib := filepath.Join(dir, "constraints", "1.1.0.yaml")
		b, err := os.ReadFile(lib)
		if err != nil {
			t.Fatal(err)
		}
		const old = "    text: Agents answer in the language the user wrote in.\n"
		if !strings.Contains(string(b), old) {
			t.Fatalf("%s does not contain %q", lib, old)
		}
		fixed := strings.Replace(string(b), old, old+"    provenance: {cat: 1, incidents: [INC-2026-0300]}\n", 1)
		if err := os.WriteFile(lib, []byte(fixed), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := run(t, "library", "lint", "--fleet", dir, "--specs", t.TempDir())
		if code != 0 || stdout != "library lint: clean\n" {
			t.Errorf("library lint of a clean fleet = exit %d, %q (%s); want 0, clean", code, stdout, stderr)
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := run(t, "library", "lint", "--fleet", exampleFleet, "--format", "yaml")
		if code != 2 || !strings.Contains(stderr, `unknown --format "yaml"`) {
			t.Errorf("exit %d, stderr %q; want 2 and an unknown format message", code, stderr)
		}
	})
}

func TestCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		want   int
		stdout string
		stderr string
	}{
		{"no arguments", nil, 2, "Usage:", ""},
		{"help", []string{"help"}, 0, "fleetgov spec check", ""},
		{"--help", []string{"--help"}, 0, "fleetgov library diff", ""},
		{"version", []string{"version"}, 0, "fleetgov " + app.Version + "\n", ""},
		{"unknown command", []string{"spec", "lint"}, 2, "", `fleetgov: unknown command "spec lint"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, tc.args...)
			if code != tc.want || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("fleetgov %v = exit %d\nstdout %q\nstderr %q\nwant exit %d, stdout containing %q, stderr containing %q",
					tc.args, code, stdout, stderr, tc.want, tc.stdout, tc.stderr)
			}
		})
	}
}

// TestFleetFromEnvironment: --fleet defaults to $FLEETGOV_FLEET. Not
// parallel: it sets the environment.
func TestFleetFromEnvironment(t *testing.T) {
	t.Setenv("FLEETGOV_FLEET", exampleFleet)
	if code, stdout, stderr := run(t, "spec", "check", refundSpec); code != 0 || !strings.Contains(stdout, "1 pass") {
		t.Errorf("spec check with FLEETGOV_FLEET = exit %d, %q, %q; want 0", code, stdout, stderr)
	}
	t.Setenv("FLEETGOV_FLEET", "")
	t.Chdir(t.TempDir())
	if code, _, stderr := run(t, "spec", "check", "x.md"); code != 2 || !strings.Contains(stderr, ". is not a fleet repo (no fleet.yaml)") {
		t.Errorf("spec check outside a fleet repo = exit %d, %q; want 2 naming the current directory", code, stderr)
	}
}
