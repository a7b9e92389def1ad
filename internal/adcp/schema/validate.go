package schema

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Validate checks doc, one side of the wire tool task, against the official schema of version
// v (see SchemaID for which file that is). doc must be a decoded JSON value: what
// encoding/json produces when decoding into an `any` (map[string]any, []any, string,
// float64 or json.Number, bool, nil).
//
// It returns nil when doc conforms, a *Error (matching ErrInvalid) when it does not,
// ErrUnknownVersion or ErrUnknownTask when there is no schema to apply, and another error
// when doc is not a decoded JSON value.
//
// The *Error's Field and Message come from the most relevant violation: violations that no
// anyOf/oneOf alternative could avoid come first, then forbidden combinations ("not"), then
// the deepest location in the document, so a mistake inside plans[0].budget is reported there
// rather than as a failed branch at the root. A missing required property is reported at that
// property ("idempotency_key"); a forbidden combination at the object holding it ("" for the
// root), with a message naming the fields.
//
// Schemas are compiled on first use and cached; Validate is safe for concurrent use.
func Validate(v Version, task string, dir Direction, doc any) error {
	return defaultRegistry().validate(v, task, dir, doc)
}

// ValidateJSON is Validate for raw JSON. Numbers are decoded as json.Number, so large
// integers keep their precision. Bytes that are not exactly one JSON value are ErrMalformed.
func ValidateJSON(v Version, task string, dir Direction, data []byte) error {
	doc, err := decode(data)
	if err != nil {
		return fmt.Errorf("schema: %s %s: %w", task, dir, err)
	}
	return Validate(v, task, dir, doc)
}

// ValidateSchema checks doc against one embedded schema of version v, named by its path
// below the version's $id prefix, such as "core/error.json" (an adcp_error object) or
// "core/protocol-envelope.json". A path that is not embedded for v is ErrUnknownSchema; there
// is no fallback to other versions.
func ValidateSchema(v Version, path string, doc any) error {
	rel, ok := releases[v]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownVersion, string(v))
	}
	if !exists(rel, path) {
		return fmt.Errorf("%w: %s is not embedded for AdCP %s", ErrUnknownSchema, path, v)
	}
	id := rel.prefix + path
	r := defaultRegistry()
	sch, err := r.schema(id)
	if err != nil {
		return err
	}
	return r.check(sch, doc, &Error{Version: v, Root: id})
}

// Precompile compiles the schema of every task, direction and version up front, so that the
// first request does not pay for it (a few hundred milliseconds for all of them). Validate
// compiles lazily without it.
func Precompile() error {
	r := defaultRegistry()
	var errs []error
	for _, v := range Versions() {
		for _, task := range Tasks() {
			for _, dir := range []Direction{Request, Response} {
				id, err := SchemaID(v, task, dir)
				if errors.Is(err, ErrUnknownTask) {
					continue // not defined in this version
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if _, err := r.schema(id); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

type taskKey struct {
	v    Version
	task string
	dir  Direction
}

func (r *registry) validate(v Version, task string, dir Direction, doc any) error {
	k := taskKey{v, task, dir}
	var id string
	if cached, ok := r.ids.Load(k); ok {
		id = cached.(string)
	} else {
		var err error
		if id, err = SchemaID(v, task, dir); err != nil {
			return err
		}
		r.ids.Store(k, id)
	}
	sch, err := r.schema(id)
	if err != nil {
		return err
	}
	return r.check(sch, doc, &Error{Version: v, Task: task, Direction: dir, Root: id})
}

// check validates doc and, on failure, fills in and returns e.
func (r *registry) check(sch *jsonschema.Schema, doc any, e *Error) error {
	err := sch.Validate(doc)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("schema: validate against %s: %w", e.Root, err)
	}
	if bad := invalidValue(verr); bad != nil {
		return fmt.Errorf("schema: validate against %s: document holds a %T, not a decoded JSON value", e.Root, bad.Value)
	}
	e.Violations = r.violations(doc, verr)
	if len(e.Violations) == 0 {
		e.Violations = []Violation{{Message: verr.Error(), Schema: e.Root}}
	}
	first := e.Violations[0]
	e.Field, e.Message, e.Keyword, e.Schema = first.Field, first.Message, first.Keyword, first.Schema
	return e
}

// invalidValue finds a Go value the validator could not treat as JSON.
func invalidValue(e *jsonschema.ValidationError) *kind.InvalidJsonValue {
	if k, ok := e.ErrorKind.(*kind.InvalidJsonValue); ok {
		return k
	}
	for _, c := range e.Causes {
		if k := invalidValue(c); k != nil {
			return k
		}
	}
	return nil
}

func decode(data []byte) (any, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return doc, nil
}
