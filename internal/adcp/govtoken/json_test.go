package govtoken

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestDecodeObject(t *testing.T) {
	t.Parallel()
	members, err := decodeObject([]byte(` { "b" : [1, {"x": "}"}] , "a\u0041":"\"}" ,"c":-1.5e3,"d":{} } `))
	if err != nil {
		t.Fatal(err)
	}
	want := []member{{"b", json.RawMessage(`[1, {"x": "}"}]`)}, {"aA", json.RawMessage(`"\"}"`)}, {"c", json.RawMessage(`-1.5e3`)}, {"d", json.RawMessage(`{}`)}}
	if len(members) != len(want) {
		t.Fatalf("decodeObject = %q", members)
	}
	for i := range want {
		if members[i].name != want[i].name || !bytes.Equal(members[i].value, want[i].value) {
			t.Errorf("member %d = %s:%s, want %s:%s", i, members[i].name, members[i].value, want[i].name, want[i].value)
		}
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 40 {
		many.WriteString(`"k` + strconv.Itoa(i) + `":1,`)
	}
	many.WriteString(`"k7":2}`)
	if _, err := decodeObject([]byte(many.String())); err == nil {
		t.Error("duplicate among many members accepted")
	}
	if m, err := decodeObject([]byte(`{}`)); err != nil || len(m) != 0 {
		t.Errorf("decodeObject({}) = %v, %v", m, err)
	}
}

// FuzzDecodeObject checks decodeObject against encoding/json.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"]"]},"c":"\\\""}`, `{"a":1,"a":2}`, `[1]`, `{"a":tru}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		members, err := decodeObject(b)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decodeObject accepted what encoding/json rejects: %v", err)
		}
		if len(m) != len(members) {
			t.Fatalf("%d members, encoding/json sees %d", len(members), len(m))
		}
		for _, mem := range members {
			v, ok := m[mem.name]
			if !ok {
				continue // encoding/json folds invalid escapes; decodeObject agrees on the count
			}
			var a, b bytes.Buffer
			json.Compact(&a, v)
			json.Compact(&b, mem.value)
			if a.String() != b.String() {
				t.Fatalf("member %q = %s, encoding/json %s", mem.name, mem.value, v)
			}
		}
	})
}
