package schema

import (
	"regexp"
	"time"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileRegexp compiles a schema "pattern". It prefers Go's linear-time regexp; the few
// AdCP patterns that need ECMAScript features RE2 lacks (the ISO 8601 duration pattern's
// "(?!$)" lookahead in core/sla-window.json) use regexp2 in ECMAScript mode, as ajv would,
// with a match timeout so that no input can make a backtracking match run long.
func compileRegexp(s string) (jsonschema.Regexp, error) {
	if re, err := regexp.Compile(s); err == nil {
		return re, nil
	}
	re, err := regexp2.Compile(s, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = 100 * time.Millisecond
	return (*ecmaRegexp)(re), nil
}

// ecmaRegexp adapts regexp2 to jsonschema.Regexp.
type ecmaRegexp regexp2.Regexp

// MatchString reports a match; a match that times out counts as no match.
func (re *ecmaRegexp) MatchString(s string) bool {
	ok, err := (*regexp2.Regexp)(re).MatchString(s)
	return err == nil && ok
}

func (re *ecmaRegexp) String() string { return (*regexp2.Regexp)(re).String() }
