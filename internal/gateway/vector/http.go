package vector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/store"
)

// failure is an error with its answer, {"code", "message"} and the field
// at fault, and the outcome its audit record carries.
type failure struct {
	status  int
	code    string
	msg     string
	field   string
	outcome string // refused (the default), deny, escalate or error
	cross   bool   // a cross-tenant attempt: also a Cat 4 platform event
}

func (f *failure) Error() string { return f.msg }

func invalid(field, format string, args ...any) *failure {
	return &failure{status: http.StatusBadRequest, code: "invalid_field", field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *failure {
	return &failure{status: http.StatusBadRequest, code: "invalid_request", msg: fmt.Sprintf(format, args...)}
}

func notFound(collection string) *failure {
	return &failure{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("collection %q not found", collection)}
}

// errCrossTenant answers a request that names another namespace. Its
// message is the same whatever was named, so that it reveals nothing.
var errCrossTenant = &failure{status: http.StatusForbidden, code: "cross_tenant", cross: true,
	msg: "the namespace is the tenant of your credential; a request may not name another one. The attempt was recorded"}

// asFailure maps an error to its answer.
func asFailure(err error) *failure {
	var f *failure
	var mbe *http.MaxBytesError
	var de *store.DimensionError
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, gateway.ErrUnauthenticated):
		return &failure{status: http.StatusUnauthorized, code: "unauthenticated",
			msg: "send an agent key or a tenant token as Authorization: Bearer <token>"}
	case errors.As(err, &mbe):
		return &failure{status: http.StatusRequestEntityTooLarge, code: "too_large",
			msg: fmt.Sprintf("the request body is over the gateway's %d-byte limit", mbe.Limit)}
	case errors.As(err, &de):
		if de.Index < 0 {
			return invalid("vector", "has %d dimensions, the collection %d", de.Got, de.Want)
		}
		return invalid(fmt.Sprintf("points[%d].vector", de.Index), "has %d dimensions, the collection %d", de.Got, de.Want)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &failure{status: http.StatusServiceUnavailable, code: "unavailable", msg: "the request was cancelled or timed out", outcome: "error"}
	}
	return &failure{status: http.StatusInternalServerError, code: "internal", msg: "internal error; the server log has the cause", outcome: "error"}
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// call is one request in flight: who calls, and its audit record.
type call struct {
	s    *Server
	w    http.ResponseWriter
	r    *http.Request
	rec  gateway.Record
	kind string // the action kind the decision core sees
	// audited is set once the call's record is durable.
	audited bool
}

// handle authenticates, checks the request names no other namespace, runs
// op and answers its error; every authenticated call leaves one record.
func (s *Server) handle(action, kind string, op func(x *call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.g.Authenticate(r)
		if err != nil {
			s.fail(nil, w, err)
			return
		}
		x := &call{s: s, w: w, r: r, kind: kind, rec: gateway.Record{Caller: c, Resource: gateway.ResourceVector,
			Action: action, Object: clip(r.PathValue("name")), TraceID: gateway.TraceID(r)}}
		err = x.namespaceOf(gateway.RequestNamespaces(r)...)
		if err == nil {
			err = op(x)
		}
		if err != nil {
			s.fail(x, w, err)
		}
	})
}

// fail audits a failed call, unless its record is durable already, and
// answers the error.
func (s *Server) fail(x *call, w http.ResponseWriter, err error) {
	f := asFailure(err)
	if f.status >= 500 {
		s.log.Error("vector store call failed", "action", actionOf(x), "err", err)
	}
	if x != nil && !x.audited {
		rec := x.rec
		rec.Outcome = f.outcome
		if rec.Outcome == "" {
			rec.Outcome = "refused"
		}
		rec.Detail = map[string]any{"error": f.code}
		if f.field != "" {
			rec.Detail["field"] = f.field
		}
		if f.cross {
			rec.Contract = gateway.ResourceVector
		}
		if aerr := s.g.Refuse(x.r.Context(), rec, f.cross); aerr != nil {
			s.log.Error("vector store audit failed", "action", rec.Action, "err", aerr)
			f = asFailure(aerr)
		}
	}
	if f.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetgov"`)
	}
	writeJSON(w, f.status, errorBody{Code: f.code, Message: f.msg, Field: f.field})
}

func actionOf(x *call) string {
	if x == nil {
		return ""
	}
	return x.rec.Action
}

// namespaceOf refuses a request that names a namespace other than the
// caller's tenant, as a cross-tenant attempt. The attempt is decided as the
// agent asked it, so that the record names the clauses it breaks.
func (x *call) namespaceOf(named ...string) error {
	tenant := x.rec.Caller.Tenant()
	for _, n := range named {
		if n == "" || n == tenant {
			continue
		}
		d, err := x.s.g.Decide(x.r.Context(), x.rec.Caller, &constraint.Action{Kind: x.kind, Resource: x.rec.Object,
			TargetTenant: n, Attributes: map[string]any{"namespace": n}, TraceID: x.rec.TraceID})
		if err == nil {
			x.rec.Fired = gateway.Fired(d)
		}
		return errCrossTenant
	}
	return nil
}

// decide runs the action through the caller's effective constraints; deny
// and escalate refuse the call, and the clauses that fired (warn included)
// go into its record.
func (x *call) decide(effect string, attrs map[string]any) error {
	a := map[string]any{"namespace": x.rec.Caller.Tenant()}
	if x.rec.Object != "" {
		a["collection"] = x.rec.Object
	}
	for k, v := range attrs {
		a[k] = v
	}
	d, err := x.s.g.Decide(x.r.Context(), x.rec.Caller, &constraint.Action{Kind: x.kind, Resource: x.rec.Object,
		Effect: effect, Attributes: a, TraceID: x.rec.TraceID})
	if err != nil {
		return err
	}
	x.rec.Fired = gateway.Fired(d)
	x.rec.Outcome = string(d.Outcome)
	switch d.Outcome {
	case decision.Deny:
		return &failure{status: http.StatusForbidden, code: "denied", outcome: "deny", msg: "denied by " + reasons(d)}
	case decision.Escalate:
		return &failure{status: http.StatusForbidden, code: "escalation_required", outcome: "escalate",
			msg: "needs a human approval first, by " + reasons(d)}
	}
	return nil
}

// reasons names the deny or escalate clauses of d and why they fired.
func reasons(d decision.Decision) string {
	var parts []string
	for _, f := range d.Fired {
		if f.Effect == constraint.Deny || f.Effect == constraint.Escalate {
			parts = append(parts, f.Clause+" ("+f.Reason+")")
		}
	}
	return strings.Join(parts, ", ")
}

// finish makes the call's record durable together with what also writes,
// in one transaction, and then answers v. also runs before the record is
// written and may add to detail.
func (x *call) finish(detail map[string]any, also func(tx store.Tx) error, status int, v func() any) error {
	x.rec.Detail = detail
	if err := x.s.g.Finish(x.r.Context(), x.rec, also); err != nil {
		return err
	}
	x.audited = true
	writeJSON(x.w, status, v())
	return nil
}

// decode strictly decodes the JSON body, within the gateway's size limit.
func (x *call) decode(v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(x.w, x.r.Body, x.s.g.Config().MaxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

// jsonError turns a decoding error into an answer that names the field.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; send a JSON object")
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		return invalid(te.Field, "want %s, got JSON %s", te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(f, "unknown field")
	}
	return badRequest("malformed JSON: %v", err)
}
