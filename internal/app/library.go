package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/spec"
)

// specsFlag registers --specs, the directory of registered specs to read.
func specsFlag(fs interface {
	String(name, value, usage string) *string
}) *string {
	return fs.String("specs", "", "the registered specs `DIR` (default: the fleet repo's specs/ if it has one)")
}

// loadSpecDir parses the specs of dir, or of the fleet's specs/ if dir is "".
func loadSpecDir(e env, repo *fleet.Repo, dir string) ([]*spec.Spec, bool) {
	if dir == "" {
		dir = filepath.Join(repo.Dir, fleet.SpecsDir)
		if _, err := os.Stat(dir); err != nil {
			return nil, true
		}
	}
	specs, err := fleet.LoadSpecs(dir)
	if err != nil {
		fmt.Fprintf(e.stderr, "fleetgov: some specs in %s do not parse (left out):\n", dir)
		for _, ce := range constraint.Errors(err) {
			fmt.Fprintf(e.stderr, "  %s\n", ce)
		}
	}
	return specs, true
}

// SpecInfos summarises parsed specs for the library diff.
func specInfos(specs []*spec.Spec) []check.SpecInfo {
	out := make([]check.SpecInfo, 0, len(specs))
	for _, s := range specs {
		out = append(out, check.SpecInfo{SpecID: s.Front.ID, AgentID: s.AgentID(), Tenant: s.Front.Tenant, File: s.File,
			Pinned: s.Front.Library, Archetypes: s.Archetypes(), Resources: s.Front.SharedResources})
	}
	return out
}

func runLibraryDiff(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "library diff", "[--fleet DIR] [--specs DIR | --server URL] [--format text|json] FROM TO")
	dir := fleetFlag(fs)
	specsDir := specsFlag(fs)
	server := fs.String("server", "", "ask a running fleetgov at `URL` (its registry) instead of reading files; token from FLEETGOV_TOKEN")
	format := fs.String("format", "text", "output `format`: text or json")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 2 {
		fmt.Fprintln(e.stderr, "fleetgov library diff: name two library versions, e.g. 1.0.0 1.1.0")
		fs.Usage()
		return exitUsage
	}
	if !validFormat(*format, []string{"text", "json"}) {
		fmt.Fprintf(e.stderr, "fleetgov library diff: unknown --format %q (want text or json)\n", *format)
		return exitUsage
	}
	var d check.LibraryDiff
	if *server != "" {
		if err := getJSON(ctx, *server, "/v1/library/diff?from="+pos[0]+"&to="+pos[1], &d); err != nil {
			fmt.Fprintf(e.stderr, "fleetgov library diff: %v\n", err)
			return exitFail
		}
	} else {
		repo, ok := loadFleet(e, *dir)
		if !ok {
			return exitUsage
		}
		specs, _ := loadSpecDir(e, repo, *specsDir)
		d, err = check.Diff(repo, pos[0], pos[1], specInfos(specs))
		if err != nil {
			fmt.Fprintf(e.stderr, "fleetgov library diff: %v\n", strings.TrimPrefix(err.Error(), "check: "))
			return exitUsage
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return exitFail
		}
		return exitOK
	}
	if len(d.Changes) == 0 {
		fmt.Fprintf(e.stdout, "library %s → %s: no clause changed\n", d.From, d.To)
		return exitOK
	}
	fmt.Fprintf(e.stdout, "library %s → %s: %d clause(s) changed\n", d.From, d.To, len(d.Changes))
	for _, ch := range d.Changes {
		what := ch.Kind
		if len(ch.Fields) > 0 {
			what += " (" + strings.Join(ch.Fields, ", ") + ")"
		}
		fmt.Fprintf(e.stdout, "\n%s %s\n", ch.ID, what)
		for _, l := range strings.Split(strings.TrimRight(ch.Diff, "\n"), "\n") {
			fmt.Fprintf(e.stdout, "  %s\n", l)
		}
		if len(ch.Inheritors) == 0 {
			fmt.Fprintln(e.stdout, "  inherited by: no registered spec")
			continue
		}
		fmt.Fprintf(e.stdout, "  inherited by %d spec(s):\n", len(ch.Inheritors))
		for _, in := range ch.Inheritors {
			fmt.Fprintf(e.stdout, "    %s (%s, pins %s)\n", in.AgentID, in.SpecID, in.Pinned)
		}
	}
	return exitOK
}

func runLibraryLint(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "library lint", "[--fleet DIR] [--specs DIR | --server URL] [--format text|json|sarif]")
	dir := fleetFlag(fs)
	specsDir := specsFlag(fs)
	server := fs.String("server", "", "ask a running fleetgov at `URL` (its registry) instead of reading files; token from FLEETGOV_TOKEN")
	format := fs.String("format", "text", "output `format`: text, json or sarif")
	if _, err := parseFlags(fs, args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitUsage
	}
	if !validFormat(*format, check.Formats) {
		fmt.Fprintf(e.stderr, "fleetgov library lint: unknown --format %q (want text, json or sarif)\n", *format)
		return exitUsage
	}
	var findings []check.Finding
	if *server != "" {
		var resp struct {
			Findings []check.Finding `json:"findings"`
		}
		if err := getJSON(ctx, *server, "/v1/library/lint", &resp); err != nil {
			fmt.Fprintf(e.stderr, "fleetgov library lint: %v\n", err)
			return exitFail
		}
		findings = resp.Findings
	} else {
		repo, ok := loadFleet(e, *dir)
		if !ok {
			return exitUsage
		}
		specs, _ := loadSpecDir(e, repo, *specsDir)
		findings = check.Lint(repo, specs)
	}
	rep := check.Report{Status: check.Pass, Results: []check.Result{{Status: check.Pass, Findings: findings}}}
	if *format == "text" && len(findings) == 0 {
		fmt.Fprintln(e.stdout, "library lint: clean")
		return exitOK
	}
	if err := check.Write(e.stdout, *format, rep); err != nil {
		return exitFail
	}
	if len(findings) > 0 {
		return exitFail
	}
	return exitOK
}
