package check

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// Codes describes every finding code, for SARIF rule metadata and the docs.
var Codes = map[string]string{
	"malformed":                  "The spec or fleet repo cannot be parsed",
	"bad-front-matter":           "The spec's YAML front matter is malformed or incomplete",
	"bad-annotation":             "A clause's tier annotation does not follow the grammar",
	"bad-machine-form":           "A clause's machine form (rule, limit, allow, check) does not parse",
	"bad-declaration":            "A §4 value (agency, risk, oversight, reversibility, composition pattern) is invalid",
	"bad-tool-manifest":          "A tool manifest row has an unknown effect class",
	"library-version-changed":    "A released library version was edited in place",
	"contract-changed-in-place":  "A contract row changed without a new contract version",
	"contract-change-unrecorded": "A contract row changed but the new version's changelog does not name it",
	"contract-version-lowered":   "The contract version went back",
	"unknown-archetype":          "An archetype name is not one of the five canonical archetypes",
	"cel-type-error":             "A CEL rule does not type-check",
	"cel-cost-exceeded":          "A CEL rule may cost more than the limit",
	"unknown-tenant":             "The spec's tenant is not in fleet.yaml",
	"unknown-library-version":    "The spec pins a library version that does not exist",
	"missing-archetype":          "§4 does not declare the archetype",
	"missing-section":            "A required template section is missing",
	"section-title":              "A section title differs from the template's",
	"unknown-shared-resource":    "A declared shared resource is not in the isolation contract",
	"unannotated-clause":         "A §6 clause has no tier annotation",
	"duplicate-clause":           "A clause appears twice",
	"missing-inherited-clause":   "An inherited T1/T2 clause is missing from the spec",
	"wrong-annotation":           "An inherited clause carries the wrong tier annotation",
	"wrong-section":              "An inherited clause sits in the wrong section",
	"reworded-inherited-clause":  "An inherited clause's text differs from the pinned library",
	"drifted-machine-form":       "An inherited clause restates a different machine form",
	"not-inherited":              "A clause annotated as inherited does not apply to this spec",
	"unknown-clause":             "A clause annotated as inherited is not in the pinned library",
	"clause-id-collision":        "A tenant clause reuses a library clause id",
	"weakened-limit":             "A lower-tier limit is above the inherited ceiling",
	"widened-allow":              "A lower-tier allow-list admits values the inherited list does not",
	"structural-check":           "The spec lacks a structure an inherited clause requires",
	"inventory-mismatch":         "An Orchestrator's sub-agent inventory disagrees with a sub-agent's own spec",
	"dimension-range":            "A §4 dimension is outside the archetype's calibration",
	"spec-amendment-required":    "An inherited clause or a declared contract row changed since the pinned version",
	"pin-behind":                 "The pinned library version is behind but no inherited clause changed",
	"pin-ahead":                  "The pinned library version is newer than the one in force",
	"contract-unpinned":          "The spec declares shared resources but pins no contract version",
	"contract-pin-ahead":         "The pinned contract version is newer than the one in force",
	"unknown-contract-version":   "The spec pins a contract version the changelog does not have",
	"contract-pin-behind":        "The pinned contract version is behind but no declared row changed",
	"constraint-inflation":       "A T1/T2 clause has no provenance",
	"promotion-candidate":        "Near-identical T3 clauses in several tenants",
}

// Formats are the output formats.
var Formats = []string{"text", "json", "sarif"}

// Write renders findings in the given format. results may be check results
// or, for lint, a single pseudo-result holding the findings.
func Write(w io.Writer, format string, rep Report) error {
	switch format {
	case "text":
		return writeText(w, rep)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "sarif":
		return writeSARIF(w, rep)
	}
	return fmt.Errorf("check: unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

func severity(k Kind) string {
	switch k {
	case BadInput, Violation:
		return "error"
	case Amendment, Warning:
		return "warning"
	}
	return "note"
}

func writeText(w io.Writer, rep Report) error {
	ew := &errWriter{w: w}
	counts := map[Status]int{}
	for _, r := range rep.Results {
		counts[r.Status]++
		for _, f := range r.Findings {
			loc := f.File
			if f.Line > 0 {
				loc = fmt.Sprintf("%s:%d", f.File, f.Line)
			}
			clause := ""
			if f.Clause != "" {
				clause = " " + f.Clause + ":"
			}
			ew.printf("%s: %s [%s]%s %s\n", loc, severity(f.Kind), f.Code, clause, f.Message)
			if f.Fix != "" {
				ew.printf("    fix: %s\n", f.Fix)
			}
			if f.Diff != "" {
				for _, l := range strings.Split(strings.TrimRight(f.Diff, "\n"), "\n") {
					ew.printf("    %s\n", l)
				}
			}
		}
		if r.Status == Pass && r.SpecID != "" {
			ew.printf("%s: pass (%s, library %s)\n", r.File, r.SpecID, r.Pinned)
		}
	}
	if len(rep.Results) == 1 && rep.Results[0].File == "" {
		ew.printf("%d finding(s)\n", len(rep.Results[0].Findings))
	} else if len(rep.Results) > 0 {
		var parts []string
		for _, s := range []Status{Pass, AmendmentRequired, Violations, BadInputStatus} {
			if counts[s] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[s], strings.ReplaceAll(string(s), "_", " ")))
			}
		}
		ew.printf("%d spec(s): %s; result: %s\n", len(rep.Results), strings.Join(parts, ", "), strings.ReplaceAll(string(rep.Status), "_", " "))
	}
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// SARIF 2.1.0 shapes, the subset fleetgov emits.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
	DefaultConfig    struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifMessage    `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region *struct {
			StartLine int `json:"startLine"`
		} `json:"region,omitempty"`
	} `json:"physicalLocation"`
}

// SARIFSchema is the schema URI fleetgov's SARIF output declares.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

func writeSARIF(w io.Writer, rep Report) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "fleetgov", InformationURI: "https://github.com/fleetgov/fleetgov"}}, Results: []sarifResult{}}
	ruleIndex := map[string]int{}
	level := map[string]string{} // a rule's default level: its first finding's
	var codes []string
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			if _, ok := ruleIndex[f.Code]; !ok {
				ruleIndex[f.Code] = -1
				level[f.Code] = severity(f.Kind)
				codes = append(codes, f.Code)
			}
		}
	}
	slices.Sort(codes)
	for i, c := range codes {
		ruleIndex[c] = i
		rule := sarifRule{ID: c, ShortDescription: sarifMessage{Text: Codes[c]}}
		if rule.ShortDescription.Text == "" {
			rule.ShortDescription.Text = c
		}
		rule.DefaultConfig.Level = level[c]
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
	}
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			msg := f.Message
			if f.Fix != "" {
				msg += " Fix: " + f.Fix
			}
			if f.Diff != "" {
				msg += "\n" + f.Diff
			}
			res := sarifResult{RuleID: f.Code, RuleIndex: ruleIndex[f.Code], Level: severity(f.Kind), Message: sarifMessage{Text: msg},
				Properties: map[string]any{"kind": f.Kind}}
			if f.Clause != "" {
				res.Properties["clause"] = f.Clause
			}
			if f.Resource != "" {
				res.Properties["resource"] = f.Resource
			}
			var loc sarifLocation
			// A URI reference: spaces, '#' and '%' in a path are escaped.
			loc.PhysicalLocation.ArtifactLocation.URI = (&url.URL{Path: filepath.ToSlash(f.File)}).String()
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &struct {
					StartLine int `json:"startLine"`
				}{f.Line}
			}
			res.Locations = []sarifLocation{loc}
			run.Results = append(run.Results, res)
		}
	}
	if run.Tool.Driver.Rules == nil {
		run.Tool.Driver.Rules = []sarifRule{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: SARIFSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}
