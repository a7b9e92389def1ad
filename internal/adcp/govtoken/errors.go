package govtoken

import (
	"errors"
	"fmt"
)

// Code is a verification error code from the AdCP governance token
// taxonomy. The codes are stable protocol strings: a seller returns the code to
// its counterparty and keeps the detail for its own log.
type Code string

// The verification error taxonomy (security.mdx §Verification error taxonomy).
const (
	CodeJWKSUnavailable       Code = "governance_jwks_unavailable"
	CodeJWKSUntrusted         Code = "governance_jwks_untrusted"
	CodeKeyUnknown            Code = "governance_key_unknown"
	CodeTokenInvalid          Code = "governance_token_invalid"
	CodeTokenExpired          Code = "governance_token_expired"
	CodeTokenReplayed         Code = "governance_token_replayed"
	CodeTokenNotYetValid      Code = "governance_token_not_yet_valid"
	CodeTokenRevoked          Code = "governance_token_revoked"
	CodeIssuerNotAuthorized   Code = "governance_issuer_not_authorized"
	CodeRevocationStale       Code = "governance_revocation_stale"
	CodeTokenNotApplicable    Code = "governance_token_not_applicable"
	codeRevocationListInvalid Code = "governance_revocation_list_invalid"
)

// Error is a verification failure. Code is the public part; Reason says which
// check failed and why, for the verifier's own log only (the protocol forbids
// echoing it to the counterparty).
type Error struct {
	Code   Code
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return "govtoken: " + string(e.Code)
	}
	return "govtoken: " + string(e.Code) + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so the sentinels
// below match any failure of their kind: errors.Is(err, ErrTokenExpired).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Reason == "" && t.Err == nil
}

// Sentinels, one per code, for errors.Is.
var (
	ErrJWKSUnavailable     = &Error{Code: CodeJWKSUnavailable}
	ErrJWKSUntrusted       = &Error{Code: CodeJWKSUntrusted}
	ErrKeyUnknown          = &Error{Code: CodeKeyUnknown}
	ErrTokenInvalid        = &Error{Code: CodeTokenInvalid}
	ErrTokenExpired        = &Error{Code: CodeTokenExpired}
	ErrTokenReplayed       = &Error{Code: CodeTokenReplayed}
	ErrTokenNotYetValid    = &Error{Code: CodeTokenNotYetValid}
	ErrTokenRevoked        = &Error{Code: CodeTokenRevoked}
	ErrIssuerNotAuthorized = &Error{Code: CodeIssuerNotAuthorized}
	ErrRevocationStale     = &Error{Code: CodeRevocationStale}
	ErrTokenNotApplicable  = &Error{Code: CodeTokenNotApplicable}
	// ErrRevocationListInvalid is returned by ParseRevocationList for a list
	// that is malformed or not signed by a published key. It is not a token
	// verdict: the seller keeps its previous list, which goes stale in time.
	ErrRevocationListInvalid = &Error{Code: codeRevocationListInvalid}
)

// Errors that are not verdicts on a token.
var (
	// ErrInvalidClaims is returned by Sign for claims that break the profile.
	ErrInvalidClaims = errors.New("govtoken: invalid claims")
	// ErrInvalidJSON is returned by the hash functions for input that is not
	// a single well-formed JSON object.
	ErrInvalidJSON = errors.New("govtoken: invalid json")
	// ErrNoSigningKey is returned by KeyRing.Signer when no key is active.
	ErrNoSigningKey = errors.New("govtoken: no active signing key")
	// ErrBadOptions is returned by Verify when the options cannot express a
	// seller's checks (no audience, for one).
	ErrBadOptions = errors.New("govtoken: bad verify options")
)

// CodeOf returns the taxonomy code of err, or "" when err is not a
// verification failure (nil, or an infrastructure error such as a failing
// replay store).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func fail(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}
