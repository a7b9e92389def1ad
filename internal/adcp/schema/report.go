package schema

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// leaf is one violation with what ranking needs.
type leaf struct {
	Violation
	depth int // number of path tokens in Field
	alt   int // anyOf/oneOf branches it sits under: errors a different branch could avoid
}

// violations flattens the validation error tree into ranked violations, most relevant first:
// violations outside any anyOf/oneOf alternative before those inside one (they must be fixed
// whatever branch the document means); then "not" violations (a forbidden combination, such
// as intent and execution fields in one check_governance request, which only removing a field
// fixes, so a "required" error it triggers elsewhere would mislead); then the deepest instance
// location (the most specific value); then, for a stable order (the library reports an
// object's properties in map order), by field and message. The result is empty only if the
// tree held no leaf.
func (r *registry) violations(doc any, verr *jsonschema.ValidationError) []Violation {
	var leaves []leaf
	r.collect(doc, verr, 0, &leaves)
	slices.SortFunc(leaves, func(a, b leaf) int {
		if a.alt != b.alt {
			return a.alt - b.alt
		}
		if an, bn := a.Keyword == "not", b.Keyword == "not"; an != bn {
			if an {
				return -1
			}
			return 1
		}
		if a.depth != b.depth {
			return b.depth - a.depth
		}
		if c := strings.Compare(a.Field, b.Field); c != 0 {
			return c
		}
		if c := strings.Compare(a.Message, b.Message); c != 0 {
			return c
		}
		return strings.Compare(a.Schema, b.Schema)
	})
	out := make([]Violation, 0, len(leaves))
	seen := make(map[[2]string]bool, len(leaves))
	for _, l := range leaves {
		k := [2]string{l.Field, l.Message}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, l.Violation)
	}
	return out
}

func (r *registry) collect(doc any, e *jsonschema.ValidationError, alt int, out *[]leaf) {
	if len(e.Causes) > 0 {
		switch k := e.ErrorKind.(type) {
		case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
			for _, c := range e.Causes {
				r.collect(doc, c, alt, out)
			}
			return
		case *kind.AnyOf:
			for _, c := range e.Causes {
				r.collect(doc, c, alt+1, out)
			}
			return
		case *kind.OneOf:
			if len(k.Subschemas) == 0 {
				for _, c := range e.Causes {
					r.collect(doc, c, alt+1, out)
				}
				return
			}
		}
	}
	add := func(tokens []string, msg string) {
		field, ptr := fieldPath(doc, tokens)
		*out = append(*out, leaf{
			Violation: Violation{
				Field:   field,
				Pointer: ptr,
				Message: msg,
				Keyword: keyword(e),
				Schema:  keywordLocation(e),
			},
			depth: len(tokens),
			alt:   alt,
		})
	}
	loc := e.InstanceLocation
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, name := range k.Missing {
			add(child(loc, name), fmt.Sprintf("required property %q is missing", name))
		}
	case *kind.AdditionalProperties:
		for _, name := range k.Properties {
			add(child(loc, name), fmt.Sprintf("property %q is not allowed here (the schema allows no additional properties)", name))
		}
	case *kind.Dependency:
		for _, name := range k.Missing {
			add(child(loc, name), fmt.Sprintf("required property %q is missing (required when %q is present)", name, k.Prop))
		}
	case *kind.Not:
		add(loc, r.notMessage(e.SchemaURL))
	default:
		add(loc, describe(e))
	}
}

func child(loc []string, name string) []string {
	return append(slices.Clip(loc), name)
}

// identRE matches property names that read well after a dot.
var identRE = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

// fieldPath renders instance tokens as "plans[0].budget.total" and as a JSON pointer. It walks
// doc to tell array indexes from object keys, so a numeric key renders as ["1"], not [1].
func fieldPath(doc any, tokens []string) (field, pointer string) {
	var f, p strings.Builder
	cur := doc
	for _, tok := range tokens {
		p.WriteByte('/')
		p.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
		switch n := cur.(type) {
		case []any:
			i, _ := strconv.Atoi(tok)
			fmt.Fprintf(&f, "[%s]", tok)
			if i >= 0 && i < len(n) {
				cur = n[i]
			} else {
				cur = nil
			}
			continue
		case map[string]any:
			cur = n[tok]
		default:
			cur = nil
		}
		switch {
		case identRE.MatchString(tok) && f.Len() == 0:
			f.WriteString(tok)
		case identRE.MatchString(tok):
			f.WriteByte('.')
			f.WriteString(tok)
		default:
			q, _ := json.Marshal(tok)
			fmt.Fprintf(&f, "[%s]", q)
		}
	}
	return f.String(), p.String()
}

// keyword names the failed keyword.
func keyword(e *jsonschema.ValidationError) string {
	switch e.ErrorKind.(type) {
	case *kind.Not:
		return "not"
	case *kind.FalseSchema:
		return "false"
	}
	if kp := e.ErrorKind.KeywordPath(); len(kp) > 0 {
		return kp[0]
	}
	return ""
}

// keywordLocation is the failed keyword's absolute location, without the base URL:
// "/schemas/3.0.6/governance/sync-plans-request.json#/required".
func keywordLocation(e *jsonschema.ValidationError) string {
	loc := strings.TrimPrefix(e.SchemaURL, baseURL)
	kp := e.ErrorKind.KeywordPath()
	if _, ok := e.ErrorKind.(*kind.Not); ok {
		kp = []string{"not"}
	}
	if len(kp) == 0 {
		return loc
	}
	if !strings.Contains(loc, "#") {
		loc += "#"
	}
	for _, tok := range kp {
		loc += "/" + strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
	}
	return loc
}

var printer = message.NewPrinter(language.English)

// describe says what the schema expected, and what it got where that helps.
func describe(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return fmt.Sprintf("expected %s, got %s", strings.Join(k.Want, " or "), k.Got)
	case *kind.Enum:
		return fmt.Sprintf("expected one of %s; got %s", listValues(k.Want), show(k.Got))
	case *kind.Const:
		return fmt.Sprintf("expected %s, got %s", show(k.Want), show(k.Got))
	case *kind.Format:
		return fmt.Sprintf("expected %s, got %s", formatHint(k.Want), show(k.Got))
	case *kind.Pattern:
		return fmt.Sprintf("expected a string matching %s, got %s", k.Want, show(k.Got))
	case *kind.MinLength:
		return fmt.Sprintf("expected at least %d characters, got %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("expected at most %d characters, got %d", k.Want, k.Got)
	case *kind.MinItems:
		return fmt.Sprintf("expected at least %d items, got %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("expected at most %d items, got %d", k.Want, k.Got)
	case *kind.MinProperties:
		return fmt.Sprintf("expected at least %d properties, got %d", k.Want, k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("expected at most %d properties, got %d", k.Want, k.Got)
	case *kind.Minimum:
		return fmt.Sprintf("expected a number >= %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.Maximum:
		return fmt.Sprintf("expected a number <= %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("expected a number > %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("expected a number < %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.MultipleOf:
		return fmt.Sprintf("expected a multiple of %s, got %s", rat(k.Want), rat(k.Got))
	case *kind.UniqueItems:
		return fmt.Sprintf("expected unique items; items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.OneOf:
		return fmt.Sprintf("expected exactly one alternative to match; alternatives %d and %d both match", k.Subschemas[0], k.Subschemas[1])
	case *kind.FalseSchema:
		return "no value is allowed here"
	case *kind.PropertyNames:
		return fmt.Sprintf("property name %q is not allowed here", k.Property)
	}
	return e.ErrorKind.LocalizedString(printer)
}

// formatHint says what a format means, with an example.
func formatHint(name string) string {
	switch name {
	case "date-time":
		return "an RFC 3339 date-time with a time zone, such as 2026-03-01T12:00:00Z"
	case "date":
		return "an RFC 3339 date, such as 2026-03-01"
	case "uri":
		return "an absolute URI, such as https://agent.example.com"
	case "email":
		return "an email address"
	case "hostname":
		return "a hostname"
	case "uri-template":
		return "an RFC 6570 URI template"
	}
	return "format " + name
}

// show renders a value as short JSON.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	const limit = 80
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

func listValues(vs []any) string {
	const limit = 30
	parts := make([]string, 0, min(len(vs), limit))
	for i, v := range vs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("… (%d more)", len(vs)-limit))
			break
		}
		parts = append(parts, show(v))
	}
	return strings.Join(parts, ", ")
}

func rat(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// notMessage describes the subschema a "not" keyword forbids, read from the raw schema at loc
// (the location of the schema holding "not"). Shapes built from "required", "anyOf" and
// "allOf" (how AdCP forbids mixing intent and execution fields) become a sentence such as
// "must not include (tool or payload) together with (planned_delivery or delivery_metrics)".
func (r *registry) notMessage(loc string) string {
	if u, frag, ok := strings.Cut(loc, "#"); ok {
		if f, err := url.PathUnescape(frag); err == nil {
			loc = u + "#" + f
		}
	}
	s, _ := r.rawAt(loc).(map[string]any)
	if d, ok := describeForbidden(s["not"], true); ok {
		return "must not include " + d
	}
	return "must not match the schema at " + strings.TrimPrefix(loc, baseURL) + "/not"
}

// describeForbidden renders a presence-only schema (required / anyOf / allOf of those).
func describeForbidden(v any, top bool) (string, bool) {
	s, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	var parts []string
	for key, val := range s {
		switch key {
		case "description", "title", "$comment":
		case "required":
			names, ok := val.([]any)
			if !ok || len(names) == 0 {
				return "", false
			}
			var ns []string
			for _, n := range names {
				name, ok := n.(string)
				if !ok {
					return "", false
				}
				ns = append(ns, name)
			}
			d := strings.Join(ns, " and ")
			if len(ns) > 1 && !top {
				d = "(" + d + ")"
			}
			parts = append(parts, d)
		case "anyOf", "allOf":
			subs, ok := val.([]any)
			if !ok || len(subs) == 0 {
				return "", false
			}
			var ds []string
			for _, sub := range subs {
				d, ok := describeForbidden(sub, false)
				if !ok {
					return "", false
				}
				ds = append(ds, d)
			}
			sep := " or "
			if key == "allOf" {
				sep = " together with "
			}
			d := strings.Join(ds, sep)
			if key == "anyOf" && len(ds) > 1 && !top {
				d = "(" + d + ")"
			}
			parts = append(parts, d)
		default:
			return "", false
		}
	}
	if len(parts) == 0 {
		return "", false
	}
	slices.Sort(parts)
	return strings.Join(parts, " together with "), true
}
