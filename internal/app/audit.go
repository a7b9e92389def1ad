package app

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fleetgov/fleetgov/internal/audit"
	"github.com/fleetgov/fleetgov/internal/store"
)

const (
	auditVerifyArgs = "[--data DIR | --postgres DSN | --file EXPORT.jsonl] [--partition P]"
	auditExportArgs = "[--data DIR | --postgres DSN] [--partition P]"
)

// auditSource is where an audit command reads the log: a store (the data
// directory's SQLite database or PostgreSQL) or an export file.
type auditSource struct {
	dataDir, postgresDSN, file, partition string
}

// auditFlags registers the flags of the audit commands; withFile adds --file.
func auditFlags(fs *flag.FlagSet, withFile bool) *auditSource {
	var src auditSource
	fs.StringVar(&src.dataDir, "data", envOr("FLEETGOV_DATA", "fleetgov-data"), "the data `DIR` whose SQLite database holds the log; env FLEETGOV_DATA")
	fs.StringVar(&src.postgresDSN, "postgres", os.Getenv("FLEETGOV_POSTGRES"), "read the log from PostgreSQL at `DSN` instead; env FLEETGOV_POSTGRES")
	fs.StringVar(&src.partition, "partition", "", "only the partition `P` (a tenant ID, or "+store.PlatformPartition+")")
	if withFile {
		fs.StringVar(&src.file, "file", "", "verify the JSON Lines export `FILE` (- for stdin) instead of a store")
	}
	return &src
}

// parseAuditFlags parses the flags of an audit command and checks that they
// name one source. It returns false with the exit code when the command
// must stop.
func parseAuditFlags(e env, fs *flag.FlagSet, args []string) (int, bool) {
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, false
	}
	if err != nil {
		return exitUsage, false
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "%s: unexpected argument %q\n", fs.Name(), pos[0])
		return exitUsage, false
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	n := 0
	for _, name := range []string{"data", "postgres", "file"} {
		if set[name] {
			n++
		}
	}
	if n > 1 {
		fmt.Fprintf(e.stderr, "%s: name one of --data, --postgres and --file\n", fs.Name())
		return exitUsage, false
	}
	return 0, true
}

// openAuditStore opens the store src names. A data directory without a
// database is a usage error: opening it would create an empty one.
func openAuditStore(ctx context.Context, src *auditSource) (store.Store, error) {
	if src.postgresDSN == "" {
		path := filepath.Join(src.dataDir, dbFile)
		if _, err := os.Stat(path); err != nil {
			return nil, usageError{fmt.Errorf("no database at %s: name the data directory with --data DIR (or FLEETGOV_DATA), or use --postgres DSN", path)}
		}
	}
	return openStore(ctx, serveConfig{dataDir: src.dataDir, postgresDSN: src.postgresDSN})
}

// usageError is an error of the command line: it exits with exitUsage.
type usageError struct{ error }

// exitFor returns the exit code of a command error.
func exitFor(err error) int {
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitFail
}

// partitions returns the partitions a command covers: src.partition, or
// every one the store holds.
func partitions(ctx context.Context, st store.Store, src *auditSource) ([]string, error) {
	if src.partition != "" {
		return []string{src.partition}, nil
	}
	ps, err := st.AuditPartitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	return ps, nil
}

func runAuditVerify(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "audit verify", auditVerifyArgs)
	src := auditFlags(fs, true)
	if code, ok := parseAuditFlags(e, fs, args); !ok {
		return code
	}
	var reps []audit.Report
	var err error
	if src.file != "" {
		reps, err = verifyFile(e, src)
	} else {
		reps, err = verifyStore(ctx, src)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "fleetgov audit verify: %v\n", err)
		return exitFor(err)
	}
	return printReports(e.stdout, reps)
}

// verifyStore verifies the partitions of a store.
func verifyStore(ctx context.Context, src *auditSource) ([]audit.Report, error) {
	st, err := openAuditStore(ctx, src)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ps, err := partitions(ctx, st, src)
	if err != nil {
		return nil, err
	}
	var reps []audit.Report
	for _, p := range ps {
		var recs []store.AuditRecord
		err := audit.Each(ctx, st, p, func(r store.AuditRecord) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read partition %s: %w", p, err)
		}
		if len(recs) == 0 && src.partition != "" {
			return nil, fmt.Errorf("partition %s has no records", p)
		}
		reps = append(reps, audit.Verify(p, recs))
	}
	return reps, nil
}

// verifyFile verifies the partitions of an export.
func verifyFile(e env, src *auditSource) ([]audit.Report, error) {
	var in io.Reader = e.stdin
	if src.file != "-" {
		f, err := os.Open(src.file)
		if err != nil {
			return nil, usageError{err}
		}
		defer f.Close()
		in = f
	}
	recs, err := audit.ReadAll(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src.file, err)
	}
	names, by := audit.Partitions(recs)
	if src.partition != "" {
		if len(by[src.partition]) == 0 {
			return nil, fmt.Errorf("%s holds no records of partition %s", src.file, src.partition)
		}
		names = []string{src.partition}
	}
	var reps []audit.Report
	for _, p := range names {
		reps = append(reps, audit.Verify(p, by[p]))
	}
	return reps, nil
}

// printReports prints a summary line per partition and each problem, and
// returns the exit code: exitOK if every chain holds.
func printReports(w io.Writer, reps []audit.Report) int {
	records, bad := 0, 0
	for _, r := range reps {
		records += r.Records
		status := "intact"
		if !r.OK() {
			bad++
			status = plural(len(r.Problems), "problem")
		}
		fmt.Fprintf(w, "partition %s: %s, head %s: %s\n", r.Partition, plural(r.Records, "record"), hex.EncodeToString(r.Head), status)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	if bad > 0 {
		fmt.Fprintf(w, "%d of %s have problems (%s checked)\n", bad, plural(len(reps), "partition"), plural(records, "record"))
		return exitFail
	}
	fmt.Fprintf(w, "%s, %s: every chain is intact\n", plural(len(reps), "partition"), plural(records, "record"))
	return exitOK
}

// plural returns "1 record", "2 records".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func runAuditExport(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "audit export", auditExportArgs)
	src := auditFlags(fs, false)
	if code, ok := parseAuditFlags(e, fs, args); !ok {
		return code
	}
	if err := export(ctx, e.stdout, src); err != nil {
		fmt.Fprintf(e.stderr, "fleetgov audit export: %v\n", err)
		return exitFor(err)
	}
	return exitOK
}

// export writes the partitions of a store as JSON Lines, partition after
// partition. On a failure midway it ends the output with an error line, so
// that what was written does not pass for a whole export.
func export(ctx context.Context, out io.Writer, src *auditSource) error {
	st, err := openAuditStore(ctx, src)
	if err != nil {
		return err
	}
	defer st.Close()
	ps, err := partitions(ctx, st, src)
	if err != nil {
		return err
	}
	w := audit.NewWriter(out)
	for _, p := range ps {
		if err := audit.Each(ctx, st, p, w.Write); err != nil {
			_ = w.Abort("the export was cut short: " + err.Error()) // the error that matters is err
			return fmt.Errorf("partition %s: %w", p, err)
		}
	}
	return w.Flush()
}
