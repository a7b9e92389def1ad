package skills

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/store"
)

// failure is an error with its answer, {"code", "message"} and the field
// at fault, and what its record carries; its outcome is refused.
type failure struct {
	status int
	code   string
	msg    string
	field  string
	// contract names the contract row or invariant that stopped the call.
	contract string
	cross    bool // a cross-tenant attempt: also a Cat 4 platform event
}

func (f *failure) Error() string { return f.msg }

func invalid(field, format string, args ...any) *failure {
	return &failure{status: http.StatusBadRequest, code: "invalid_field", field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// notFound answers a skill the caller may not see, missing or another
// tenant's private one alike; its record is the same in both cases too.
func notFound(owner, name, version string) *failure {
	what := owner + "/" + name
	if version != "" {
		what += "@" + version
	}
	return &failure{status: http.StatusNotFound, code: "not_found", contract: gateway.ResourceSkill, msg: fmt.Sprintf("skill %s not found", what)}
}

// answer maps the registry's own errors to their answers, and any other
// to nil; the gateway's Service answers those.
func answer(err error) *gateway.Failure {
	var f *failure
	if errors.As(err, &f) {
		return &gateway.Failure{Status: f.status, Code: f.code, Message: f.msg, Field: f.field, Contract: f.contract, Cross: f.cross}
	}
	return nil
}

// jsonError turns a decoding error into an answer that names the field.
func jsonError(err error) error {
	err = gateway.JSONError(err)
	var f *gateway.Failure
	if errors.As(err, &f) {
		return &failure{status: f.Status, code: f.Code, msg: f.Message, field: f.Field}
	}
	return err
}

type errorBody = gateway.ErrorBody

func writeJSON(w http.ResponseWriter, status int, v any) { gateway.WriteJSON(w, status, v) }

// call is one request in flight; r and rec are the gateway call's request
// and audit record.
type call struct {
	c   *gateway.Call
	r   *http.Request
	rec *gateway.Record
}

// handle serves action, decided as kind, with op through the gateway's
// Service: it authenticates, checks the request names no tenant to act as,
// runs op and answers its error; every authenticated call leaves one
// record.
func (s *Registry) handle(action, kind string, op func(x *call) error) http.Handler {
	svc := &gateway.Service{Gateway: s.g, Log: s.log, Resource: gateway.ResourceSkill, Name: "skill registry",
		Unauthenticated: "send an agent key, a tenant token or the platform admin token as Authorization: Bearer <token>",
		CrossTenant:     "you act as the tenant of your credential; a request may not name another one. The attempt was recorded",
		Authenticate:    s.authenticate, Object: objectOf, Answer: answer}
	return svc.Handle(action, kind, func(c *gateway.Call) error {
		return op(&call{c: c, r: c.R, rec: &c.Rec})
	})
}

// namespaceOf refuses a request that names a tenant to act as other than
// the caller's, as a cross-tenant attempt.
func (x *call) namespaceOf(named ...string) error { return x.c.NamespaceOf(named...) }

// decide runs the action through the caller's effective constraints; see
// gateway.Call.Decide.
func (x *call) decide(effect string, attrs map[string]any) error { return x.c.Decide(effect, attrs) }

// finish makes the call's record durable together with what also writes,
// in one transaction, and then answers v with status. also runs before the
// record is written and may add to detail.
func (x *call) finish(detail map[string]any, also func(tx store.Tx) error, status func() int, v func() any) error {
	return x.c.Finish(detail, also, status, v)
}

// decode strictly decodes the JSON body, within the gateway's size limit.
func (x *call) decode(v any) error { return x.c.Decode(v) }
