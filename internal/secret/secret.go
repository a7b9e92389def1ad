// Package secret recognises credentials in text and in JSON-like values:
// fleetgov's own tokens and keys, and the common shapes of provider keys,
// signed tokens and private keys. It backs the fleet-wide rule that no
// credential leaves through a tool call's arguments.
package secret

import (
	"regexp"
	"strings"
)

// Token prefixes of the credentials fleetgov issues. The prefix makes a leaked
// token recognisable to fleetgov and to secret scanners.
const (
	PrefixPlatformAdmin = "fgv_pa_"
	PrefixTenant        = "fgv_tn_"
	PrefixAgent         = "fgv_ak_"
	PrefixADCP          = "fgv_ap_"
)

// charset is a set of bytes.
type charset [256]bool

func set(ranges ...string) *charset {
	var c charset
	for _, r := range ranges {
		if len(r) == 3 && r[1] == '-' {
			for b := r[0]; b <= r[2]; b++ {
				c[b] = true
			}
			continue
		}
		for i := 0; i < len(r); i++ {
			c[r[i]] = true
		}
	}
	return &c
}

var (
	urlSafe   = set("A-Z", "a-z", "0-9", "_-")
	alnum     = set("A-Z", "a-z", "0-9")
	upperNum  = set("A-Z", "0-9")
	slackBody = set("A-Z", "a-z", "0-9", "-")
)

// run returns how many bytes of s from i are in c.
func run(s string, i int, c *charset) int {
	n := 0
	for i+n < len(s) && c[s[i+n]] {
		n++
	}
	return n
}

// A detector finds one kind of credential: a literal that must occur, then
// a check at each occurrence. Fixed-shape credentials are checked by hand,
// which is an order of magnitude faster than a regular expression; the
// free-form ones use one.
type detector struct {
	kind    string
	literal string
	at      func(s string, i int) bool // i is the index of literal in s
	re      *regexp.Regexp
}

var detectors = []detector{
	{kind: "fleetgov token", literal: "fgv_", at: func(s string, i int) bool {
		j := i + 4
		if j+3 > len(s) || s[j+2] != '_' {
			return false
		}
		switch s[j : j+2] {
		case "pa", "tn", "ak", "ap":
			return run(s, j+3, urlSafe) >= 20
		}
		return false
	}},
	{kind: "provider API key", literal: "sk-", at: func(s string, i int) bool { return run(s, i+3, urlSafe) >= 20 }},
	{kind: "signed token (JWS/JWT)", literal: "eyJ", at: func(s string, i int) bool {
		j := i + 3
		for part := 0; part < 3; part++ {
			n := run(s, j, urlSafe)
			if n < 8 {
				return false
			}
			j += n
			if part < 2 {
				if j >= len(s) || s[j] != '.' {
					return false
				}
				j++
			}
		}
		return true
	}},
	{kind: "AWS access key", literal: "AKIA", at: func(s string, i int) bool { return run(s, i+4, upperNum) >= 16 }},
	{kind: "GitHub token", literal: "gh", at: func(s string, i int) bool {
		return i+4 <= len(s) && strings.IndexByte("pousr", s[i+2]) >= 0 && s[i+3] == '_' && run(s, i+4, alnum) >= 36
	}},
	{kind: "Slack token", literal: "xox", at: func(s string, i int) bool {
		return i+5 <= len(s) && strings.IndexByte("abposr", s[i+3]) >= 0 && s[i+4] == '-' && run(s, i+5, slackBody) >= 10
	}},
	{kind: "private key", literal: "PRIVATE KEY", re: regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
	{kind: "bearer credential", literal: "earer", re: regexp.MustCompile(`[Bb]earer\s+[A-Za-z0-9._~+/-]{20,}=*`)},
}

// Detect reports whether s holds something shaped like a credential, and
// which kind. It never returns the credential itself.
func Detect(s string) (kind string, found bool) {
	if len(s) < 16 {
		return "", false
	}
	for i := range detectors {
		d := &detectors[i]
		if d.re != nil {
			if strings.Contains(s, d.literal) && d.re.MatchString(s) {
				return d.kind, true
			}
			continue
		}
		for off := 0; off < len(s); {
			j := strings.Index(s[off:], d.literal)
			if j < 0 {
				break
			}
			if d.at(s, off+j) {
				return d.kind, true
			}
			off += j + 1
		}
	}
	return "", false
}

// Scan walks a JSON-like value (maps, slices, strings, numbers) and reports
// whether any string in it, key or value, holds a credential. visited counts
// the strings examined, for cost accounting.
func Scan(v any) (kind string, found bool, visited int) {
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		if depth > 64 {
			return false
		}
		switch t := v.(type) {
		case string:
			visited++
			kind, found = Detect(t)
			return found
		case map[string]any:
			for k, e := range t {
				visited++
				if kind, found = Detect(k); found {
					return true
				}
				if walk(e, depth+1) {
					return true
				}
			}
		case []any:
			for _, e := range t {
				if walk(e, depth+1) {
					return true
				}
			}
		case []string:
			for _, e := range t {
				if walk(e, depth+1) {
					return true
				}
			}
		case map[string]string:
			for k, e := range t {
				if walk(k, depth+1) || walk(e, depth+1) {
					return true
				}
			}
		}
		return false
	}
	walk(v, 0)
	return kind, found, visited
}
