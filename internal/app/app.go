// Package app wires fleetgov together: it parses the command line, loads the
// fleet repo, opens the store and runs the requested command. It is the only
// package that knows every other one.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/fleet"
)

// Version is fleetgov's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Exit codes shared by every command. spec check adds its own (see check).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env gives commands their streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, e env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "[--fleet DIR] [--data DIR] [--addr ADDR] [--demo]", "run the control plane, gateway and governance agents", runServe},
		{"spec check", "[--fleet DIR] [--format text|json|sarif] SPEC...", "check specs against the fleet's constraint library (for tenant CI)", runSpecCheck},
		{"library diff", "[--fleet DIR] [--specs DIR | --server URL] [--format text|json] FROM TO", "show changed clauses and every spec that inherits them", runLibraryDiff},
		{"library lint", "[--fleet DIR] [--specs DIR | --server URL] [--format text|json|sarif]", "report constraint inflation and promotion candidates", runLibraryLint},
		{"audit verify", auditVerifyArgs, "verify the audit log's hash chains, in a store or an export: altered, removed or reordered records", runAuditVerify},
		{"audit export", auditExportArgs, "write the audit log as JSON Lines, the format audit verify --file reads", runAuditExport},
		{"adcp verify-token", "-jwks SRC -issuer URL -audience URL [flags] TOKEN|-", "verify a governance_context as a seller does (the AdCP seller checklist)", func(ctx context.Context, e env, args []string) int {
			return govtoken.VerifyCommand(ctx, args, e.stdin, e.stdout, e.stderr)
		}},
		{"version", "", "print fleetgov's version", func(_ context.Context, e env, _ []string) int {
			fmt.Fprintln(e.stdout, "fleetgov", Version)
			return exitOK
		}},
	}
}

// Run runs fleetgov with the given arguments and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c.run(ctx, e, args[len(words):])
		}
	}
	fmt.Fprintf(e.stderr, "fleetgov: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "fleetgov: the governance plane for fleets of AI agents")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  fleetgov %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun fleetgov COMMAND -h for a command's flags. Docs: docs/cli.md")
}

// newFlags returns a flag set that reports errors to e.stderr.
func newFlags(e env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("fleetgov "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: fleetgov %s %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// fleetFlag registers --fleet, defaulting to $FLEETGOV_FLEET or ".".
func fleetFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("FLEETGOV_FLEET")
	if def == "" {
		def = "."
	}
	return fs.String("fleet", def, "the fleet repo `DIR` (fleet.yaml, constraints/, contract.yaml); env FLEETGOV_FLEET")
}

// loadFleet loads the fleet repo, printing every problem on failure.
func loadFleet(e env, dir string) (*fleet.Repo, bool) {
	repo, err := fleet.Load(dir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, fleet.ConfigFile)); errors.Is(statErr, os.ErrNotExist) {
			fmt.Fprintf(e.stderr, "fleetgov: %s is not a fleet repo (no %s): pass --fleet DIR or set FLEETGOV_FLEET\n", dir, fleet.ConfigFile)
			return nil, false
		}
		fmt.Fprintf(e.stderr, "fleetgov: the fleet repo %s does not load:\n", dir)
		for _, ce := range constraint.Errors(err) {
			fmt.Fprintf(e.stderr, "  %s\n", ce)
		}
		return nil, false
	}
	return repo, true
}

// specFiles expands files and directories into spec files.
func specFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			out = append(out, p) // reported by the check as unreadable
			continue
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && filepath.Ext(path) == ".md" && !strings.EqualFold(d.Name(), "README.md") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func runSpecCheck(_ context.Context, e env, args []string) int {
	fs := newFlags(e, "spec check", "[--fleet DIR] [--format text|json|sarif] SPEC...")
	dir := fleetFlag(fs)
	format := fs.String("format", "text", "output `format`: text, json or sarif (SARIF 2.1.0)")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return check.ExitBadInput
	}
	if len(pos) == 0 {
		fmt.Fprintln(e.stderr, "fleetgov spec check: name at least one spec file or directory")
		fs.Usage()
		return check.ExitBadInput
	}
	if !validFormat(*format, check.Formats) {
		fmt.Fprintf(e.stderr, "fleetgov spec check: unknown --format %q (want text, json or sarif)\n", *format)
		return check.ExitBadInput
	}
	repo, ok := loadFleet(e, *dir)
	if !ok {
		return check.ExitBadInput
	}
	files, err := specFiles(pos)
	if err != nil {
		fmt.Fprintf(e.stderr, "fleetgov spec check: %v\n", err)
		return check.ExitBadInput
	}
	rep := check.Files(repo, files)
	if err := check.Write(e.stdout, *format, rep); err != nil {
		fmt.Fprintf(e.stderr, "fleetgov spec check: write: %v\n", err)
		return check.ExitBadInput
	}
	return rep.Status.ExitCode()
}

func validFormat(f string, allowed []string) bool {
	for _, a := range allowed {
		if f == a {
			return true
		}
	}
	return false
}
