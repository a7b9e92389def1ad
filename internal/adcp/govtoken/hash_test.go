package govtoken

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"exponent large", `{"a":1e21}`, `{"a":1e+21}`},
		{"exponent small", `{"a":1E-7}`, `{"a":1e-7}`},
		{"just below exponent", `{"a":0.000001}`, `{"a":0.000001}`},
		{"negative zero", `{"a":-0}`, `{"a":0}`},
		{"trailing zeros", `{"a":100.0}`, `{"a":100}`},
		{"scientific integer", `{"a":1.5e3}`, `{"a":1500}`},
		{"beyond 2^53 rounds like a double", `{"a":9007199254740993}`, `{"a":9007199254740992}`},
		{"shortest round trip", `{"a":333333333.33333329}`, `{"a":333333333.3333333}`},
		{"utf-16 key order", `{"דּ":1,"😀":2,"€":3,"a":4}`, `{"a":4,"€":3,"😀":2,"דּ":1}`},
		{"escapes", `{"a":"\u001f\"\\\/<>&\u2028é"}`, "{\"a\":\"\\u001f\\\"\\\\/<>&\u2028é\"}"},
		{"no normalization", `{"a":"e\u0301"}`, "{\"a\":\"e\u0301\"}"},
		{"null kept", `{"a":null,"b":[3,1,2]}`, `{"a":null,"b":[3,1,2]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Canonicalize(json.RawMessage(tc.in))
			if err != nil || string(got) != tc.want {
				t.Errorf("Canonicalize(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestHashInputErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"a":1,"a":2}`,
		`{"a":{"b":1,"b":2}}`,
		"{\"a\":\"\xff\"}",
		`{"a":1} {"b":2}`,
		`[1,2]`,
		`"plan"`,
		`{"a":`,
		``,
	} {
		if h, err := PlanHash(json.RawMessage(in)); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("PlanHash(%q) = %q, %v; want ErrInvalidJSON", in, h, err)
		}
		if h, err := PayloadHash(json.RawMessage(in)); !errors.Is(err, ErrInvalidJSON) {
			t.Errorf("PayloadHash(%q) = %q, %v; want ErrInvalidJSON", in, h, err)
		}
	}
}

func TestHashExclusions(t *testing.T) {
	t.Parallel()
	// Bookkeeping is stripped at the top level only.
	pre, err := PlanHashPreimage(json.RawMessage(`{"plan_id":"p","status":"active","version":3,"budget":{"status":"x","version":1},"committedBudget":5}`))
	if err != nil || string(pre) != `{"budget":{"status":"x","version":1},"plan_id":"p"}` {
		t.Errorf("PlanHashPreimage = %s, %v", pre, err)
	}
	// Payload: governance_context and context go, idempotency_key stays,
	// nested names are kept.
	pre, err = PayloadHashPreimage(json.RawMessage(`{"context":{"a":1},"governance_context":"x","idempotency_key":"k","ext":{"context":1}}`))
	if err != nil || string(pre) != `{"ext":{"context":1},"idempotency_key":"k"}` {
		t.Errorf("PayloadHashPreimage = %s, %v", pre, err)
	}
	// Statement digest: statement_digest goes.
	a, err1 := StatementDigest("mb_1", json.RawMessage(`{"sequence":1,"statement_digest":"sha256:00"}`))
	b, err2 := StatementDigest("mb_1", json.RawMessage(`{"sequence":1}`))
	c, err3 := StatementDigest("mb_2", json.RawMessage(`{"sequence":1}`))
	if err1 != nil || err2 != nil || err3 != nil || a != b || a == c || len(a) != len("sha256:")+64 {
		t.Errorf("StatementDigest: %s %s %s (%v %v %v)", a, b, c, err1, err2, err3)
	}
	if EqualHash("", "") || EqualHash("abc", "abc") {
		t.Error("EqualHash accepts values that are not hashes")
	}
}

// TestAppendString pins JSON.stringify's string form: named escapes for
// \b \t \n \f \r, \u00xx for other controls, nothing else escaped.
func TestAppendString(t *testing.T) {
	t.Parallel()
	in := "\b\t\n\f\r\"\\\x01\x1f<>&\u2028\u2029é😀/"
	want := `"\b\t\n\f\r\"\\\u0001\u001f<>&` + "\u2028\u2029é😀/" + `"`
	if got := string(appendString(nil, in)); got != want {
		t.Errorf("appendString(%q) = %s, want %s", in, got, want)
	}
	for _, f := range []float64{0.1, 1e21, 1e-7, 123456789012, -2.5} {
		got, err := appendNumber(nil, f)
		want, _ := json.Marshal(f) // encoding/json also writes ECMAScript numbers
		if err != nil || string(got) != string(want) {
			t.Errorf("appendNumber(%v) = %s, %v; want %s", f, got, err, want)
		}
	}
}
