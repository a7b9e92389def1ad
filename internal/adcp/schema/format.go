package schema

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The official conformance harness (@adcp/sdk 6.11.0) validates with ajv and ajv-formats 3.0.1
// in its default "full" mode. The validators below port ajv-formats' full definitions of the
// formats the AdCP schemas use (date-time, date, uri, uri-template, email, hostname), so a
// document passes here exactly when it passes there. The jsonschema library's own versions
// differ at the edges (ajv accepts a space between date and time and "+0100" offsets; the
// library does not). Formats the schemas use that ajv-formats does not know ("YYYYMMDD") are
// ignored by both.
//
// The regular expressions are ajv-formats' (MIT License, Copyright (c) 2020 Evgeny Poberezkin),
// https://github.com/ajv-validator/ajv-formats/blob/v3.0.1/src/formats.ts.

func ajvFormats() []*jsonschema.Format {
	return []*jsonschema.Format{
		{Name: "date-time", Validate: stringFormat(isDateTime)},
		{Name: "date", Validate: stringFormat(isDate)},
		{Name: "uri", Validate: stringFormat(isURI)},
		{Name: "uri-template", Validate: stringFormat(uriTemplateRE.MatchString)},
		{Name: "email", Validate: stringFormat(emailRE.MatchString)},
		{Name: "hostname", Validate: stringFormat(isHostname)},
	}
}

var errFormat = errors.New("invalid")

// stringFormat adapts a string predicate; formats apply to strings only.
func stringFormat(ok func(string) bool) func(any) error {
	return func(v any) error {
		s, isString := v.(string)
		if !isString || ok(s) {
			return nil
		}
		return errFormat
	}
}

var (
	dateRE = regexp.MustCompile(`^(\d\d\d\d)-(\d\d)-(\d\d)$`)
	timeRE = regexp.MustCompile(`(?i)^(\d\d):(\d\d):(\d\d(?:\.\d+)?)(z|([+-])(\d\d)(?::?(\d\d))?)?$`)

	uriRE = regexp.MustCompile(`(?i)^(?:[a-z][a-z0-9+\-.]*:)(?:\/?\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:]|%[0-9a-f]{2})*@)?(?:\[(?:(?:(?:(?:[0-9a-f]{1,4}:){6}|::(?:[0-9a-f]{1,4}:){5}|(?:[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){4}|(?:(?:[0-9a-f]{1,4}:){0,1}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){3}|(?:(?:[0-9a-f]{1,4}:){0,2}[0-9a-f]{1,4})?::(?:[0-9a-f]{1,4}:){2}|(?:(?:[0-9a-f]{1,4}:){0,3}[0-9a-f]{1,4})?::[0-9a-f]{1,4}:|(?:(?:[0-9a-f]{1,4}:){0,4}[0-9a-f]{1,4})?::)(?:[0-9a-f]{1,4}:[0-9a-f]{1,4}|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?))|(?:(?:[0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})?::[0-9a-f]{1,4}|(?:(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})?::)|[Vv][0-9a-f]+\.[a-z0-9\-._~!$&'()*+,;=:]+)\]|(?:(?:25[0-5]|2[0-4]\d|[01]?\d\d?)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d\d?)|(?:[a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f]{2})*)(?::\d*)?(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*|\/(?:(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)?|(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})+(?:\/(?:[a-z0-9\-._~!$&'()*+,;=:@]|%[0-9a-f]{2})*)*)(?:\?(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?(?:#(?:[a-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9a-f]{2})*)?$`)

	uriTemplateRE = regexp.MustCompile(`(?i)^(?:(?:[^\x00-\x20"'<>%\\^` + "`" + `{|}]|%[0-9a-f]{2})|\{[+#./;?&=,!@|]?(?:[a-z0-9_]|%[0-9a-f]{2})+(?::[1-9][0-9]{0,3}|\*)?(?:,(?:[a-z0-9_]|%[0-9a-f]{2})+(?::[1-9][0-9]{0,3}|\*)?)*\})*$`)

	emailRE = regexp.MustCompile(`(?i)^[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_` + "`" + `{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)

	// hostnameRE is ajv-formats' hostname without its length lookahead, which isHostname checks.
	hostnameRE = regexp.MustCompile(`(?i)^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\.?$`)
)

var daysInMonth = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// isDate is RFC 3339 full-date with calendar checks.
func isDate(s string) bool {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	year, _ := strconv.Atoi(m[1])
	month, _ := strconv.Atoi(m[2])
	day, _ := strconv.Atoi(m[3])
	if month < 1 || month > 12 || day < 1 {
		return false
	}
	limit := daysInMonth[month]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		limit = 29
	}
	return day <= limit
}

// isTime is ajv-formats' time with a required time zone, leap seconds allowed only at 23:59 UTC.
func isTime(s string) bool {
	m := timeRE.FindStringSubmatch(s)
	if m == nil || m[4] == "" {
		return false
	}
	hr, _ := strconv.Atoi(m[1])
	minute, _ := strconv.Atoi(m[2])
	sec, _ := strconv.ParseFloat(m[3], 64)
	tzH, _ := strconv.Atoi(m[6]) // "" → 0
	tzM, _ := strconv.Atoi(m[7])
	if tzH > 23 || tzM > 59 {
		return false
	}
	if hr <= 23 && minute <= 59 && sec < 60 {
		return true
	}
	sign := 1
	if m[5] == "-" {
		sign = -1
	}
	utcMin := minute - tzM*sign
	utcHr := hr - tzH*sign
	if utcMin < 0 {
		utcHr--
	}
	return (utcHr == 23 || utcHr == -1) && (utcMin == 59 || utcMin == -1) && sec < 61
}

// isDateTime splits on "t", "T" or white space, like ajv-formats, and needs exactly two parts.
func isDateTime(s string) bool {
	i := strings.IndexFunc(s, isDateTimeSeparator)
	if i < 0 {
		return false
	}
	_, size := utf8.DecodeRuneInString(s[i:])
	date, rest := s[:i], s[i+size:]
	if strings.IndexFunc(rest, isDateTimeSeparator) >= 0 {
		return false
	}
	return isDate(date) && isTime(rest)
}

// isDateTimeSeparator matches JavaScript's /t|\s/i.
func isDateTimeSeparator(r rune) bool {
	switch r {
	case 't', 'T', '\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\u1680', '\u2028', '\u2029',
		'\u202f', '\u205f', '\u3000', '\ufeff':
		return true
	}
	return r >= '\u2000' && r <= '\u200a'
}

// isURI is ajv-formats' full uri: an absolute URI per RFC 3986 that contains "/" or ":".
// Agent URLs are on every request and uriRE is slow to run, so plain URLs take a fast path.
func isURI(s string) bool {
	return fastURI(s) || strings.ContainsAny(s, "/:") && uriRE.MatchString(s)
}

// fastURI accepts, in one scan, the common subset of what uriRE accepts: scheme "://" host
// [":" port] path ["?" query] ["#" fragment], with no user info and a host of unreserved
// characters. Anything else returns false and goes to uriRE, so it never changes a result.
func fastURI(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	i := 1
	for i < len(s) && (isAlpha(s[i]) || isDigit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
		i++
	}
	if !strings.HasPrefix(s[i:], "://") {
		return false
	}
	i += 3
	for i < len(s) && (isAlpha(s[i]) || isDigit(s[i]) || strings.IndexByte("-._~", s[i]) >= 0) {
		i++
	}
	if i < len(s) && s[i] == ':' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && s[i] != '/' && s[i] != '?' && s[i] != '#' {
		return false // the path after an authority is empty or starts with "/"
	}
	const (
		path = iota
		query
		fragment
	)
	part := path
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c) || isDigit(c) || strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
			// pchar, or "/" (a path separator; allowed in query and fragment)
		case c == '?':
			if part == path {
				part = query
			}
		case c == '#' && part != fragment:
			part = fragment
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// isHostname checks the 1..253 length (before an optional final dot), then the labels.
func isHostname(s string) bool {
	n := len(strings.TrimSuffix(s, "."))
	return n >= 1 && n <= 253 && hostnameRE.MatchString(s)
}
