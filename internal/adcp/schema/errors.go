package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Check them with errors.Is.
var (
	// ErrInvalid is matched by every *Error: the document does not conform to its schema.
	ErrInvalid = errors.New("schema: document does not conform")
	// ErrUnknownTask: the task is not one this package validates, or the version does not
	// define it (report_plan_adjustment before 3.2).
	ErrUnknownTask = errors.New("schema: unknown task")
	// ErrUnknownVersion: the version is not 3.0, 3.1 or 3.2.
	ErrUnknownVersion = errors.New("schema: unknown AdCP version")
	// ErrUnknownSchema: ValidateSchema was asked for a schema that is not embedded.
	ErrUnknownSchema = errors.New("schema: unknown schema")
	// ErrMalformed: ValidateJSON was given bytes that are not one JSON value.
	ErrMalformed = errors.New("schema: malformed JSON")
)

// Violation is one failed schema assertion.
type Violation struct {
	// Field is the readable path of the offending value, such as "plans[0].budget.total";
	// "" is the document root. For a missing required property it names the property
	// ("idempotency_key"), and for a property the schema forbids, that property.
	Field string
	// Pointer is Field as an RFC 6901 JSON pointer ("/plans/0/budget/total").
	Pointer string
	// Message says what the schema expected, such as
	// `expected one of "approved", "denied", "conditions"; got "completed"`.
	Message string
	// Keyword is the failed JSON Schema keyword ("required", "type", "enum", "format", "not"...).
	Keyword string
	// Schema is the failed keyword's location, such as
	// "/schemas/3.0.6/governance/sync-plans-request.json#/required".
	Schema string
}

func (v Violation) String() string {
	field := v.Field
	if field == "" {
		field = "(root)"
	}
	return field + ": " + v.Message
}

// Error reports that a document does not conform to the official schema of its task. Field,
// Message, Keyword and Schema describe the most relevant violation (see Validate for how it
// is chosen); Violations lists every violation found, the most relevant first.
type Error struct {
	Version   Version   // the version validated against
	Task      string    // the wire tool name; "" for ValidateSchema
	Direction Direction // meaningful when Task is set
	Root      string    // $id of the root schema, such as "/schemas/3.1.19/governance/check-governance-request.json"

	Field   string
	Message string
	Keyword string
	Schema  string

	Violations []Violation
}

// Error returns a one-line description naming the task, version, field and expectation.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("schema: ")
	if e.Task != "" {
		fmt.Fprintf(&b, "invalid %s %s for AdCP %s: ", e.Task, e.Direction, e.Version)
	} else {
		fmt.Fprintf(&b, "document does not conform to %s: ", e.Root)
	}
	b.WriteString(Violation{Field: e.Field, Message: e.Message}.String())
	if n := len(e.Violations) - 1; n > 0 {
		fmt.Fprintf(&b, " (and %d more)", n)
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }
