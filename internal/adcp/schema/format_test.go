package schema

import (
	"strings"
	"testing"
)

// TestAJVFormats checks the format validators against ajv-formats 3.0.1 ("full" mode), the
// harness's validator: every want below is what ajv-formats returned for the input.
func TestAJVFormats(t *testing.T) {
	t.Parallel()
	validators := map[string]func(any) error{}
	for _, f := range ajvFormats() {
		validators[f.Name] = f.Validate
	}
	tests := []struct {
		format string
		in     string
		want   bool
	}{
		{"date-time", "2026-03-01T12:00:00Z", true},
		{"date-time", "2026-03-01t12:00:00z", true},
		{"date-time", "2026-03-01 12:00:00Z", true},
		{"date-time", "2026-03-01T12:00:00+01:00", true},
		{"date-time", "2026-03-01T12:00:00+0100", true},
		{"date-time", "2026-03-01T12:00:00+01", true},
		{"date-time", "2026-03-01T12:00:00.123456Z", true},
		{"date-time", "2026-03-01T12:00:00", false},
		{"date-time", "2026-03-01", false},
		{"date-time", "2026-02-29T00:00:00Z", false},
		{"date-time", "2028-02-29T00:00:00Z", true},
		{"date-time", "2026-13-01T00:00:00Z", false},
		{"date-time", "2026-03-01T24:00:00Z", false},
		{"date-time", "2026-12-31T23:59:60Z", true},
		{"date-time", "2026-12-31T22:59:60-01:00", true},
		{"date-time", "2026-12-31T12:59:60Z", false},
		{"date-time", "2026-03-01T12:00:00+24:00", false},
		{"date-time", "2026-03-01TT12:00:00Z", false},
		{"date-time", "2026-03-01T12:00Z", false},
		{"date-time", "tomorrow", false},
		{"date-time", "", false},
		{"date-time", "2026-03-01\u00a012:00:00Z", true},
		{"date", "2026-03-01", true},
		{"date", "2026-02-30", false},
		{"date", "2000-02-29", true},
		{"date", "1900-02-29", false},
		{"date", "2026-3-1", false},
		{"date", "2026-03-01T00:00:00Z", false},
		{"uri", "https://agent.example.com", true},
		{"uri", "https://agent.example.com/a/b?c=d#e", true},
		{"uri", "urn:isbn:0451450523", true},
		{"uri", "mailto:a@b.example", true},
		{"uri", "http://[::1]:8080/", true},
		{"uri", "pinnacle agency", false},
		{"uri", "https://exa mple.com", false},
		{"uri", "/relative/path", false},
		{"uri", "agent.example.com", false},
		{"uri", "https://agent.example.com/\u00fc", false},
		{"uri", "x:", false},
		{"uri", "https://a.example/%zz", false},
		{"uri", "$context.plan_id", false},
		{"uri", "https://", true},
		{"uri", "a:b", true},
		{"email", "ops@acme.example", true},
		{"email", "a.b+c@x.io", true},
		{"email", "no-at.example", false},
		{"email", "a@b", false},
		{"email", "a@-b.example", false},
		{"hostname", "acme.example", true},
		{"hostname", "acme.example.", true},
		{"hostname", "-bad.example", false},
		{"hostname", strings.Repeat("a", 64) + ".example", false},
		{"hostname", strings.Repeat("x", 253), false},
		{"hostname", strings.Repeat("x", 254), false},
		{"hostname", "under_score.example", false},
		{"hostname", "", false},
		{"uri-template", "https://x.example/{id}", true},
		{"uri-template", "https://x.example/{+path}/{?q,r}", true},
		{"uri-template", "https://x.example/{id", false},
		{"uri-template", "plain", true},
		{"hostname", strings.Repeat("a.", 126) + "a", true},
		{"hostname", strings.Repeat("a.", 127), true},
		{"hostname", strings.Repeat("a.", 127) + "a", false},
		{"uri", "https://agent.example.com/a b", false},
		{"uri", "HTTPS://AGENT.EXAMPLE.COM", true},
	}
	for _, tc := range tests {
		validate, ok := validators[tc.format]
		if !ok {
			t.Fatalf("no validator for format %q", tc.format)
		}
		if got := validate(tc.in) == nil; got != tc.want {
			t.Errorf("format %s(%q) = %v, want %v", tc.format, tc.in, got, tc.want)
		}
	}
	// Formats apply to strings only.
	for name, validate := range validators {
		if err := validate(42.0); err != nil {
			t.Errorf("format %s(42) = %v, want nil", name, err)
		}
	}
}

func TestCompileRegexp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, in string
		want        bool
	}{
		{`^[A-Za-z0-9_.:-]{16,255}$`, "fleetgov-test-0001", true},
		{`^[A-Za-z0-9_.:-]{16,255}$`, "short", false},
		// RE2 rejects the lookahead; the ECMAScript engine takes it (core/sla-window.json).
		{`^P(?!$)(\d+Y)?(\d+M)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$`, "PT5M", true},
		{`^P(?!$)(\d+Y)?(\d+M)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$`, "P", false},
		{`^P(?!$)(\d+Y)?(\d+M)?(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$`, "P1DT2H", true},
	}
	for _, tc := range tests {
		re, err := compileRegexp(tc.pattern)
		if err != nil {
			t.Fatalf("compileRegexp(%q) = %v", tc.pattern, err)
		}
		if got := re.MatchString(tc.in); got != tc.want {
			t.Errorf("%s.MatchString(%q) = %v, want %v", re, tc.in, got, tc.want)
		}
	}
	if _, err := compileRegexp(`(`); err == nil {
		t.Error(`compileRegexp("(") = nil error, want one`)
	}
}

// FuzzFastURI checks that the fast path never accepts what ajv-formats' uri regexp rejects.
func FuzzFastURI(f *testing.F) {
	for _, s := range []string{
		"https://agent.example.com", "https://agent.example.com:8443/a/b?c=d&e=/f?g#h?i/j",
		"https://buyer.example/%41b", "http://h:80a", "x://h!x", "x://h@x", "https://a.example/%zz",
		"https://a.example#a#b", "https://a.example/ü", "HTTP://A.B/C", "a+b.c-d://", "https://a.example/?#",
		"https://a.example/path with space", "https:///x", "https://a..b/..//x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if fastURI(s) && !uriRE.MatchString(s) {
			t.Errorf("fastURI(%q) = true, uriRE rejects it", s)
		}
	})
}
