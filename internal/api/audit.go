package api

import (
	"net/http"
	"time"

	"github.com/fleetgov/fleetgov/internal/audit"
	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/store"
)

// audit answers GET /v1/audit: records of the caller's partition, or for
// the platform admin without ?partition= the aggregates across tenants.
func (s *Server) audit(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	q := r.URL.Query()
	if pr.IsPlatform() && q.Get("partition") == "" {
		return s.auditSummary(w, r, pr)
	}
	for _, p := range []string{"since", "until"} {
		if q.Has(p) {
			return &control.InvalidError{Field: p, Msg: "bounds the platform's aggregates only; page through records with after and limit"}
		}
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", control.MaxAuditPage)
	if err != nil {
		return err
	}
	recs, err := s.plane.ListAuditPartition(r.Context(), pr, q.Get("partition"), after, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
	return nil
}

type auditSummaryBody struct {
	Since      *time.Time               `json:"since,omitempty"`
	Until      *time.Time               `json:"until,omitempty"`
	Aggregates []control.AuditAggregate `json:"aggregates"`
}

func (s *Server) auditSummary(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	q := r.URL.Query()
	for _, p := range []string{"after", "limit"} {
		if q.Has(p) {
			return &control.InvalidError{Field: p, Msg: "pages through records; the aggregates take since and until (add partition=" + store.PlatformPartition + " for the platform's own records)"}
		}
	}
	since, err := queryTime(r, "since")
	if err != nil {
		return err
	}
	until, err := queryTime(r, "until")
	if err != nil {
		return err
	}
	as, err := s.plane.AuditSummary(r.Context(), pr, since, until)
	if err != nil {
		return err
	}
	b := auditSummaryBody{Aggregates: as}
	if !since.IsZero() {
		b.Since = &since
	}
	if !until.IsZero() {
		b.Until = &until
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// auditExport answers GET /v1/audit/export: the caller's partition as JSON
// Lines (see package audit), streamed. An error before the first record is
// answered as usual; one after it ends the stream with an error line.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, pr auth.Principal) error {
	jw := audit.NewWriter(w)
	started := false
	start := func(partition string) {
		started = true
		w.Header().Set("Content-Type", audit.MediaType)
		w.Header().Set("Content-Disposition", `attachment; filename="audit-`+partition+`.jsonl"`)
		w.WriteHeader(http.StatusOK)
	}
	part := r.URL.Query().Get("partition")
	err := s.plane.ExportAudit(r.Context(), pr, part, func(rec store.AuditRecord) error {
		if !started {
			start(rec.Partition)
		}
		return jw.Write(rec)
	})
	switch {
	case err != nil && !started:
		return err
	case err != nil:
		s.log.Error("audit export cut short", logKeyPrincipal, pr.String(), logKeyErr, err)
		_ = jw.Abort("the export was cut short by a server error; the server log has the cause") // the client may be gone
		return nil
	case !started:
		// An empty partition: a refusal would have come as err.
		if part == "" {
			part = pr.TenantID
			if pr.IsPlatform() {
				part = store.PlatformPartition
			}
		}
		start(part)
	}
	_ = jw.Flush() // the client went away; nothing to do
	return nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, &control.InvalidError{Field: name, Msg: "\"" + v + "\" is not an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"}
	}
	return t, nil
}
