package govtoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// member is one name/value pair of a JSON object, in document order.
type member struct {
	name  string
	value json.RawMessage
}

// decodeObject splits a JSON object into its members in document order. It
// rejects anything but exactly one well-formed object, invalid UTF-8 and
// duplicate member names: two parsers that resolve a duplicate differently
// would see different claims under one signature.
func decodeObject(b []byte) ([]member, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("invalid utf-8")
	}
	if !json.Valid(b) {
		return nil, errors.New("not well-formed json")
	}
	// b is one valid JSON value, so a plain scan can split it.
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return nil, errors.New("not a json object")
	}
	i = skipSpace(b, i+1)
	var members []member
	var seen map[string]struct{} // once there are too many members to compare pairwise
	for b[i] != '}' {
		end := scanString(b, i)
		name, err := unquote(b[i:end])
		if err != nil {
			return nil, err
		}
		if err := checkDuplicate(members, &seen, name); err != nil {
			return nil, err
		}
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the colon
		end = scanValue(b, i)
		members = append(members, member{name, json.RawMessage(b[i:end])})
		i = skipSpace(b, end)
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return members, nil
}

func checkDuplicate(members []member, seen *map[string]struct{}, name string) error {
	if len(members) < 16 {
		for _, m := range members {
			if m.name == name {
				return fmt.Errorf("duplicate member %q", name)
			}
		}
		return nil
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(members))
		for _, m := range members {
			(*seen)[m.name] = struct{}{}
		}
	}
	if _, dup := (*seen)[name]; dup {
		return fmt.Errorf("duplicate member %q", name)
	}
	(*seen)[name] = struct{}{}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index just past the string starting at b[i].
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// scanValue returns the index just past the value starting at b[i].
func scanValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return scanString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = scanString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// unquote decodes a JSON string literal.
func unquote(q []byte) (string, error) {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

// Canonicalize returns the RFC 8785 (JCS) canonical form of one JSON value:
// members sorted by UTF-16 code units, numbers in ECMAScript form, strings
// minimally escaped and never Unicode-normalized. Duplicate member names and
// invalid UTF-8 are errors.
func Canonicalize(v json.RawMessage) ([]byte, error) {
	out, err := jcs.Transform(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	return out, nil
}

// canonicalWithout canonicalizes a JSON object after dropping the named
// top-level members; members below the top level are kept whatever their name.
func canonicalWithout(obj json.RawMessage, drop func(string) bool) ([]byte, error) {
	members, err := decodeObject(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	buf := make([]byte, 0, len(obj))
	buf = append(buf, '{')
	n := 0
	for _, m := range members {
		if drop(m.name) {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		buf = appendString(buf, m.name)
		buf = append(buf, ':')
		buf = append(buf, m.value...)
	}
	buf = append(buf, '}')
	return Canonicalize(buf)
}

// appendString appends s as a JSON string the way ECMAScript's JSON.stringify
// writes it: only '"', '\\' and control characters are escaped (\b \t \n \f \r
// by name, the rest as \u00xx); '<', '>', '&', U+2028 and U+2029 are written
// as they are. s must be valid UTF-8.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendNumber appends f in ECMAScript Number-to-String form, which is what
// JSON.stringify and JCS both emit.
func appendNumber(buf []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return buf, errors.New("number is not finite")
	}
	s, err := jcs.NumberToJSON(f)
	if err != nil {
		return buf, err
	}
	return append(buf, s...), nil
}

// objectWriter writes a JSON object member by member, in call order.
type objectWriter struct {
	buf []byte
	n   int
}

func (w *objectWriter) name(n string) {
	if w.n == 0 {
		w.buf = append(w.buf, '{')
	} else {
		w.buf = append(w.buf, ',')
	}
	w.n++
	w.buf = appendString(w.buf, n)
	w.buf = append(w.buf, ':')
}

func (w *objectWriter) str(n, v string) {
	w.name(n)
	w.buf = appendString(w.buf, v)
}

func (w *objectWriter) int(n string, v int64) {
	w.name(n)
	w.buf = strconv.AppendInt(w.buf, v, 10)
}

func (w *objectWriter) bool(n string, v bool) {
	w.name(n)
	w.buf = strconv.AppendBool(w.buf, v)
}

func (w *objectWriter) raw(n string, v []byte) {
	w.name(n)
	w.buf = append(w.buf, v...)
}

func (w *objectWriter) strs(n string, vs []string) {
	w.name(n)
	w.buf = append(w.buf, '[')
	for i, v := range vs {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = appendString(w.buf, v)
	}
	w.buf = append(w.buf, ']')
}

func (w *objectWriter) bytes() []byte {
	if w.n == 0 {
		return append(w.buf, '{', '}')
	}
	return append(w.buf, '}')
}
