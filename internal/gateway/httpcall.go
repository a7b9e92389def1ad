package gateway

import (
	"context"
	"encoding/json" // the standard decoder: its error types and messages name the field at fault
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/store"
)

// logKeyAction is the log attribute key of a call's action.
const logKeyAction = "action"

// Failure is an error with its HTTP answer: the status, the {"code",
// "message"} body and the field at fault, and what the call's audit
// record carries.
type Failure struct {
	Status  int
	Code    string // stable snake_case, e.g. "invalid_field"
	Message string
	Field   string // the request field at fault, if one is
	// Outcome is the record's outcome: refused (when empty), deny,
	// escalate or error.
	Outcome string
	// Contract names the contract row or invariant that stopped the call.
	Contract string
	// Cross marks a cross-tenant attempt: also a Cat 4 platform event.
	Cross bool
}

func (f *Failure) Error() string { return f.Message }

func invalidField(field, format string, args ...any) *Failure {
	return &Failure{Status: http.StatusBadRequest, Code: "invalid_field", Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Failure {
	return &Failure{Status: http.StatusBadRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...)}
}

// ErrorBody is the JSON body of an error answer.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// Service is the request framework of the gateway's JSON services, the
// vector store and the skill registry. Its Handle authenticates a request,
// refuses one that names another tenant or namespace, runs the operation
// and answers its error as JSON; every authenticated call leaves one audit
// record, and a cross-tenant attempt also a Cat 4 platform event.
//
// The fields say how the services differ; Gateway, Resource, Name,
// Unauthenticated and CrossTenant are required.
type Service struct {
	Gateway *Gateway
	// Log receives the causes of server errors; nil means the gateway's.
	Log *slog.Logger
	// Resource is the contract row of the service's records, e.g.
	// ResourceVector, and of its cross-tenant refusals.
	Resource string
	// Name names the service in log messages, e.g. "vector store".
	Name string
	// Unauthenticated is the message answering a request without a valid
	// credential: which credentials the service takes.
	Unauthenticated string
	// CrossTenant is the message answering a request that names another
	// tenant or namespace. It is the same whatever was named, so that it
	// reveals nothing.
	CrossTenant string
	// Authenticate resolves a request's caller; nil means
	// Gateway.Authenticate.
	Authenticate func(r *http.Request) (Caller, error)
	// Object names what a request is about in its record; nil names
	// nothing.
	Object func(r *http.Request) string
	// Answer maps the service's own errors to their answers and returns
	// nil for any other; it is asked first. Nil means it has none.
	Answer func(err error) *Failure
	// Attributes returns the decision attributes of a call that Call.Decide
	// is given attrs for; nil means attrs as they are.
	Attributes func(rec *Record, attrs map[string]any) map[string]any
}

// Call is one request in flight: who calls, and its audit record.
type Call struct {
	W http.ResponseWriter
	R *http.Request
	// Rec is the call's audit record; the operation may name its Object.
	Rec Record

	s       *Service
	kind    string // the action kind the decision core sees
	audited bool   // set once Rec is durable
}

// Handle serves action, decided as kind, with op: it authenticates, checks
// the request names no other tenant or namespace, runs op and answers its
// error. An op that succeeds answers through Call.Finish.
func (s *Service) Handle(action, kind string, op func(x *Call) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authenticate := s.Authenticate
		if authenticate == nil {
			authenticate = s.Gateway.Authenticate
		}
		c, err := authenticate(r)
		if err != nil {
			s.fail(nil, w, err)
			return
		}
		var obj string
		if s.Object != nil {
			obj = s.Object(r)
		}
		x := &Call{W: w, R: r, s: s, kind: kind, Rec: Record{Caller: c, Resource: s.Resource,
			Action: action, Object: obj, TraceID: TraceID(r)}}
		err = x.NamespaceOf(RequestNamespaces(r)...)
		if err == nil {
			err = op(x)
		}
		if err != nil {
			s.fail(x, w, err)
		}
	})
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return s.Gateway.Logger()
}

// answer maps an error to its answer.
func (s *Service) answer(err error) *Failure {
	if s.Answer != nil {
		if f := s.Answer(err); f != nil {
			return f
		}
	}
	var f *Failure
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, ErrUnauthenticated):
		return &Failure{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: s.Unauthenticated}
	case errors.As(err, &mbe):
		return &Failure{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
			Message: fmt.Sprintf("the request body is over the gateway's %d-byte limit", mbe.Limit)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Failure{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the request was cancelled or timed out", Outcome: "error"}
	}
	return &Failure{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the server log has the cause", Outcome: "error"}
}

// fail audits a failed call (x is nil if it did not authenticate), unless
// its record is durable already, and answers the error.
func (s *Service) fail(x *Call, w http.ResponseWriter, err error) {
	f := s.answer(err)
	if f.Status >= 500 {
		var action string
		if x != nil {
			action = x.Rec.Action
		}
		s.logger().Error(s.Name+" call failed", logKeyAction, action, logKeyErr, err)
	}
	if x != nil && !x.audited {
		rec := x.Rec
		rec.Outcome = f.Outcome
		if rec.Outcome == "" {
			rec.Outcome = "refused"
		}
		rec.Detail = map[string]any{"error": f.Code}
		if f.Field != "" {
			rec.Detail["field"] = f.Field
		}
		rec.Contract = f.Contract
		if aerr := s.Gateway.Refuse(x.R.Context(), rec, f.Cross); aerr != nil {
			s.logger().Error(s.Name+" audit failed", logKeyAction, rec.Action, logKeyErr, aerr)
			f = s.answer(aerr)
		}
	}
	if f.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetgov"`)
	}
	WriteJSON(w, f.Status, ErrorBody{Code: f.Code, Message: f.Message, Field: f.Field})
}

// NamespaceOf refuses a request that names a tenant or namespace other
// than the caller's tenant, as a cross-tenant attempt. The attempt is
// decided as the agent asked it, so that the record names the clauses it
// breaks.
func (x *Call) NamespaceOf(named ...string) error {
	tenant := x.Rec.Caller.Tenant()
	for _, n := range named {
		if n == "" || n == tenant {
			continue
		}
		d, err := x.s.Gateway.Decide(x.R.Context(), x.Rec.Caller, &constraint.Action{Kind: x.kind, Resource: x.Rec.Object,
			TargetTenant: n, Attributes: map[string]any{"namespace": n}, TraceID: x.Rec.TraceID})
		if err == nil {
			x.Rec.Fired = Fired(d)
		}
		return &Failure{Status: http.StatusForbidden, Code: "cross_tenant", Cross: true, Contract: x.s.Resource, Message: x.s.CrossTenant}
	}
	return nil
}

// Decide runs the action through the caller's effective constraints, with
// the attributes Service.Attributes makes of attrs; deny and escalate
// refuse the call, and the clauses that fired (warn included) go into its
// record.
func (x *Call) Decide(effect string, attrs map[string]any) error {
	if x.s.Attributes != nil {
		attrs = x.s.Attributes(&x.Rec, attrs)
	}
	d, err := x.s.Gateway.Decide(x.R.Context(), x.Rec.Caller, &constraint.Action{Kind: x.kind, Resource: x.Rec.Object,
		Effect: effect, Attributes: attrs, TraceID: x.Rec.TraceID})
	if err != nil {
		return err
	}
	x.Rec.Fired = Fired(d)
	x.Rec.Outcome = string(d.Outcome)
	switch d.Outcome {
	case decision.Deny:
		return &Failure{Status: http.StatusForbidden, Code: "denied", Outcome: "deny", Message: "denied by " + reasons(d)}
	case decision.Escalate:
		return &Failure{Status: http.StatusForbidden, Code: "escalation_required", Outcome: "escalate",
			Message: "needs a human approval first, by " + reasons(d)}
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

// Finish makes the call's record durable together with what also writes,
// in one transaction, and then answers v with status. also runs before the
// record is written and may add to detail; status and v are asked after.
func (x *Call) Finish(detail map[string]any, also func(tx store.Tx) error, status func() int, v func() any) error {
	x.Rec.Detail = detail
	if err := x.s.Gateway.Finish(x.R.Context(), x.Rec, also); err != nil {
		return err
	}
	x.audited = true
	WriteJSON(x.W, status(), v())
	return nil
}

// Decode strictly decodes the JSON body, within the gateway's size limit.
func (x *Call) Decode(v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(x.W, x.R.Body, x.s.Gateway.Config().MaxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return JSONError(err)
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

// JSONError turns an encoding/json decoding error into an answer, a
// *Failure that names the field at fault where there is one. An
// over-limit body's error is returned as it is.
func JSONError(err error) error {
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
		return invalidField(te.Field, "want %s, got JSON %s", te.Type, te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalidField(f, "unknown field")
	}
	return badRequest("malformed JSON: %v", err)
}
