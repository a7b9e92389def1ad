package constraint

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid marks every load and parse error of this package.
var ErrInvalid = errors.New("invalid")

// Pos is a position in a source file.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line <= 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
}

// Error is a problem in a source file, at a position and about a clause when
// one is known.
type Error struct {
	Pos    Pos
	Clause string // clause ID, if the problem is about one
	Msg    string
	// Code is a stable finding code, such as cel-type-error; empty means
	// the generic "malformed".
	Code string
}

func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Clause != "" {
		b.WriteString("clause ")
		b.WriteString(e.Clause)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes every Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Codes of load and parse errors.
const (
	CodeMalformed        = "malformed"
	CodeCELType          = "cel-type-error"
	CodeCELCost          = "cel-cost-exceeded"
	CodeUnknownArchetype = "unknown-archetype"
)

// Errorf returns an *Error at pos about clause.
func Errorf(pos Pos, clause, format string, args ...any) *Error {
	return &Error{Pos: pos, Clause: clause, Msg: fmt.Sprintf(format, args...)}
}

// ErrorList collects every problem found in one load, so that a user sees all
// of them at once. Loads that return a non-empty ErrorList load nothing.
type ErrorList []*Error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d errors:", len(l))
	for _, e := range l {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Is makes every ErrorList match ErrInvalid.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// Err returns l as an error, or nil if l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Errors flattens err into the *Error values it holds, so that callers can
// report each with its position.
func Errors(err error) []*Error {
	var list ErrorList
	if errors.As(err, &list) {
		return list
	}
	var one *Error
	if errors.As(err, &one) {
		return []*Error{one}
	}
	if err == nil {
		return nil
	}
	return []*Error{{Msg: err.Error()}}
}
