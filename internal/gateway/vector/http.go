package vector

import (
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/store"
)

// failure is an error with its answer, {"code", "message"} and the field
// at fault; its record's outcome is refused.
type failure struct {
	status int
	code   string
	msg    string
	field  string
}

func (f *failure) Error() string { return f.msg }

func invalid(field, format string, args ...any) *failure {
	return &failure{status: http.StatusBadRequest, code: "invalid_field", field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

func notFound(collection string) *failure {
	return &failure{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("collection %q not found", collection)}
}

// answer maps the vector store's own errors to their answers, and any
// other to nil; the gateway's Service answers those.
func answer(err error) *gateway.Failure {
	var f *failure
	var de *store.DimensionError
	switch {
	case errors.As(err, &f):
		return &gateway.Failure{Status: f.status, Code: f.code, Message: f.msg, Field: f.field}
	case errors.As(err, &de):
		if de.Index < 0 {
			return answer(invalid("vector", "has %d dimensions, the collection %d", de.Got, de.Want))
		}
		return answer(invalid(fmt.Sprintf("points[%d].vector", de.Index), "has %d dimensions, the collection %d", de.Got, de.Want))
	}
	return nil
}

type errorBody = gateway.ErrorBody

func writeJSON(w http.ResponseWriter, status int, v any) { gateway.WriteJSON(w, status, v) }

// attributes are the decision attributes of a call: its namespace, the
// caller's tenant, and its collection, if it names one, besides attrs.
func attributes(rec *gateway.Record, attrs map[string]any) map[string]any {
	a := map[string]any{"namespace": rec.Caller.Tenant()}
	if rec.Object != "" {
		a["collection"] = rec.Object
	}
	maps.Copy(a, attrs)
	return a
}

// call is one request in flight; r and rec are the gateway call's request
// and audit record.
type call struct {
	c   *gateway.Call
	r   *http.Request
	rec *gateway.Record
}

// handle serves action, decided as kind, with op through the gateway's
// Service: it authenticates, checks the request names no other namespace,
// runs op and answers its error; every authenticated call leaves one
// record.
func (s *Server) handle(action, kind string, op func(x *call) error) http.Handler {
	svc := &gateway.Service{Gateway: s.g, Log: s.log, Resource: gateway.ResourceVector, Name: "vector store",
		Unauthenticated: "send an agent key or a tenant token as Authorization: Bearer <token>",
		CrossTenant:     "the namespace is the tenant of your credential; a request may not name another one. The attempt was recorded",
		Object:          func(r *http.Request) string { return clip(r.PathValue("name")) },
		Answer:          answer, Attributes: attributes}
	return svc.Handle(action, kind, func(c *gateway.Call) error {
		return op(&call{c: c, r: c.R, rec: &c.Rec})
	})
}

// namespaceOf refuses a request that names a namespace other than the
// caller's tenant, as a cross-tenant attempt.
func (x *call) namespaceOf(named ...string) error { return x.c.NamespaceOf(named...) }

// decide runs the action through the caller's effective constraints; see
// gateway.Call.Decide.
func (x *call) decide(effect string, attrs map[string]any) error { return x.c.Decide(effect, attrs) }

// finish makes the call's record durable together with what also writes,
// in one transaction, and then answers v with status.
func (x *call) finish(detail map[string]any, also func(tx store.Tx) error, status int, v func() any) error {
	return x.c.Finish(detail, also, func() int { return status }, v)
}

// decode strictly decodes the JSON body, within the gateway's size limit.
func (x *call) decode(v any) error { return x.c.Decode(v) }
