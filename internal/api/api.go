// Package api is fleetgov's JSON HTTP API: handlers and wire types over the
// control plane, with no business logic of its own. Every route is declared
// in one table (Routes) with its access level, so that tests can try every
// tenant-scoped route with another tenant's credential. Errors are answered
// as {"code", "message"} with stable snake_case codes; the public message is
// kept apart from the logged cause.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/auth"
	"github.com/fleetgov/fleetgov/internal/check"
	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/governance"
)

// Access says who may call a route.
type Access int

// Access levels.
const (
	Public        Access = iota // no credential
	Authenticated               // any valid credential; the plane enforces the partition
	Platform                    // the platform admin credential only
)

// Route is one API route.
type Route struct {
	Method  string
	Path    string // net/http pattern path, e.g. /v1/agents/{id}
	Access  Access
	Summary string
	// TenantScoped marks routes that read or change one tenant's objects,
	// named in the path, the query or the body; another tenant's credential
	// must get the same answer as for a missing object.
	TenantScoped bool
	h            handlerFunc
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, pr auth.Principal) error

// Log attribute keys.
const (
	logKeyMethod    = "method"
	logKeyRoute     = "route"
	logKeyStatus    = "status"
	logKeyDuration  = "duration_ms"
	logKeyPrincipal = "principal"
	logKeyRequestID = "request_id"
	logKeyErr       = "err"
)

// Server serves the API.
type Server struct {
	plane  *control.Plane
	gov    *governance.Agent
	log    *slog.Logger
	ready  func(ctx context.Context) error
	routes []Route
	mux    *http.ServeMux
}

// Options configures a Server.
type Options struct {
	Logger *slog.Logger
	// Ready reports whether the server can serve; nil means always ready.
	Ready func(ctx context.Context) error
	// Governance is the accounts' governance agent; with nil its routes
	// answer that the server runs none.
	Governance *governance.Agent
}

// New returns the API server over plane.
func New(plane *control.Plane, opt Options) *Server {
	s := &Server{plane: plane, gov: opt.Governance, log: opt.Logger, ready: opt.Ready, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes = append(s.table(), s.governanceRoutes()...)
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	s.mux.Handle("/", s.wrap(Route{Path: "/", Access: Public, h: func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
		return &httpError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no route %s %s; see docs/api.md", r.Method, r.URL.Path)}
	}}))
	return s
}

// Routes returns the route table.
func (s *Server) Routes() []Route { return s.routes }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// httpError is an error with its HTTP answer.
type httpError struct {
	status   int
	code     string
	msg      string
	field    string
	findings []check.Finding
}

func (e *httpError) Error() string { return e.msg }

type errorBody struct {
	Code     string          `json:"code"`
	Message  string          `json:"message"`
	Field    string          `json:"field,omitempty"`
	Findings []check.Finding `json:"findings,omitempty"`
}

// toHTTP maps an error to its answer; unexpected errors become 500 with a
// generic message, the cause going to the log only.
func toHTTP(err error) *httpError {
	var he *httpError
	var inv *control.InvalidError
	var rej *control.RejectedError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &rej):
		return &httpError{status: http.StatusUnprocessableEntity, code: "rejected", msg: rej.Msg, findings: rej.Findings}
	case errors.As(err, &inv):
		return &httpError{status: http.StatusBadRequest, code: "invalid_field", msg: inv.Error(), field: inv.Field}
	case errors.As(err, &mbe):
		return &httpError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("the request body is over the %d-byte limit", mbe.Limit)}
	case errors.Is(err, auth.ErrUnauthenticated):
		return &httpError{status: http.StatusUnauthorized, code: "unauthenticated", msg: "send a valid fleetgov credential as Authorization: Bearer <token>"}
	case errors.Is(err, control.ErrNotFound):
		return &httpError{status: http.StatusNotFound, code: "not_found", msg: err.Error()}
	case errors.Is(err, control.ErrForbidden):
		return &httpError{status: http.StatusForbidden, code: "forbidden", msg: strings.TrimSuffix(err.Error(), ": "+control.ErrForbidden.Error())}
	case errors.Is(err, control.ErrConflict):
		return &httpError{status: http.StatusConflict, code: "conflict", msg: strings.TrimSuffix(err.Error(), ": "+control.ErrConflict.Error())}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &httpError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "the request was cancelled or timed out"}
	}
	return &httpError{status: http.StatusInternalServerError, code: "internal", msg: "internal error; the server log has the cause"}
}

// statusWriter records the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// wrap authenticates, runs the handler, maps errors and logs the request.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		reqID, _ := auth.NewID("req")
		w.Header().Set("X-Request-Id", reqID)
		var pr auth.Principal
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("panic", logKeyRequestID, reqID, logKeyErr, fmt.Sprint(v), "stack", string(debug.Stack()))
					err = fmt.Errorf("panic: %v", v)
				}
			}()
			if rt.Access != Public {
				tok, ok := bearer(r)
				if !ok {
					return auth.ErrUnauthenticated
				}
				if pr, err = s.plane.Authenticate(r.Context(), tok); err != nil {
					return err
				}
				if rt.Access == Platform && !pr.IsPlatform() {
					return &httpError{status: http.StatusForbidden, code: "forbidden", msg: rt.Summary + " needs the platform admin credential"}
				}
			}
			return rt.h(w, r, pr)
		}()
		if err != nil {
			he := toHTTP(err)
			if he.status >= 500 {
				s.log.Error("request failed", logKeyRequestID, reqID, logKeyRoute, rt.Path, logKeyErr, err)
			}
			if he.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="fleetgov"`)
			}
			writeJSON(w, he.status, errorBody{Code: he.code, Message: he.msg, Field: he.field, Findings: he.findings})
		}
		s.log.Info("request", logKeyRequestID, reqID, logKeyMethod, r.Method, logKeyRoute, rt.Path, logKeyStatus, w.status,
			logKeyDuration, float64(time.Since(start).Microseconds())/1000, logKeyPrincipal, principalName(pr))
	})
}

func principalName(pr auth.Principal) string {
	if pr.Kind == "" {
		return "-"
	}
	return pr.String()
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// decodeJSON strictly decodes a JSON body of at most limit bytes.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	// The body is parsed as JSON whatever the Content-Type says, except a
	// type that cannot hold JSON: curl -d sends a form type by default.
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") || strings.HasPrefix(ct, "text/markdown") {
		return &httpError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", msg: fmt.Sprintf("send a JSON body (application/json), not %s", ct)}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return &httpError{status: http.StatusBadRequest, code: "invalid_request", msg: "the body holds more than one JSON value"}
	}
	return nil
}

// jsonError turns a decoding error into a message that names the field.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return &httpError{status: http.StatusBadRequest, code: "invalid_request", msg: "the body is empty; send a JSON object"}
	case errors.As(err, &se):
		return &httpError{status: http.StatusBadRequest, code: "invalid_request", msg: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)}
	case errors.As(err, &te):
		field := te.Field
		return &httpError{status: http.StatusBadRequest, code: "invalid_field", field: field, msg: fmt.Sprintf("%s: want %s, got JSON %s", field, te.Type, te.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &httpError{status: http.StatusBadRequest, code: "invalid_field", field: f, msg: fmt.Sprintf("unknown field %q", f)}
	}
	return &httpError{status: http.StatusBadRequest, code: "invalid_request", msg: "malformed JSON: " + err.Error()}
}

// queryInt parses an optional integer query parameter.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &control.InvalidError{Field: name, Msg: fmt.Sprintf("%q is not an integer", v)}
	}
	return n, nil
}
