package governance

import (
	"errors"
	"fmt"
)

// AdCP error codes the agent answers with.
const (
	CodeInvalidRequest      = "INVALID_REQUEST"
	CodeValidation          = "VALIDATION_ERROR"
	CodePlanNotFound        = "PLAN_NOT_FOUND"
	CodePermissionDenied    = "PERMISSION_DENIED"
	CodeIdempotencyConflict = "IDEMPOTENCY_CONFLICT"
	CodeConflict            = "CONFLICT"
	CodeReferenceNotFound   = "REFERENCE_NOT_FOUND"
	CodeCampaignSuspended   = "CAMPAIGN_SUSPENDED"
	CodeVersionUnsupported  = "VERSION_UNSUPPORTED"
	CodeUnsupportedFeature  = "UNSUPPORTED_FEATURE"
	CodeAccountNotFound     = "ACCOUNT_NOT_FOUND"
	CodeServiceUnavailable  = "SERVICE_UNAVAILABLE"
)

// Recovery classes.
const (
	Transient   = "transient"
	Correctable = "correctable"
	Terminal    = "terminal"
)

// Error is an AdCP task error: answered as the tool result with isError
// set and adcp_error holding these fields. Nothing was written.
type Error struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	Recovery   string `json:"recovery"`
	Suggestion string `json:"suggestion,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

func newError(code, recovery, field, format string, args ...any) *Error {
	return &Error{Code: code, Recovery: recovery, Field: field, Message: fmt.Sprintf(format, args...)}
}

func invalidRequest(field, format string, args ...any) *Error {
	return newError(CodeInvalidRequest, Correctable, field, format, args...)
}

func validationError(field, format string, args ...any) *Error {
	return newError(CodeValidation, Correctable, field, format, args...)
}

func permissionDenied(format string, args ...any) *Error {
	return newError(CodePermissionDenied, Correctable, "", format, args...)
}

// planNotFound is the one answer for a plan that is missing or not the
// caller's: the two must look the same.
func planNotFound() *Error {
	return &Error{Code: CodePlanNotFound, Recovery: Correctable,
		Message: "no such plan for this caller; register it with sync_plans"}
}

// asError returns err as an *Error if it is one.
func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
