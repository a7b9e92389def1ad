package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

func TestJSONLRoundTrip(t *testing.T) {
	t.Parallel()
	recs := chain("acme", 3)
	odd := store.AuditRecord{Partition: "odd", Seq: 1, Actor: "startup"} // zero time, no detail, nothing optional
	odd.Hash = odd.Seal(nil)
	bin := store.AuditRecord{Partition: "bin", Seq: 1, Time: t0, Detail: []byte{0xff, 0, '\n', '"'}}
	bin.Hash = bin.Seal(nil)
	spaced := store.AuditRecord{Partition: "spaced", Seq: 1, Time: t0,
		Detail: []byte("{ \"z\":1,\n  \"a\" : [1.50, \"\\u00e9\"],\t\"z\":2, \"html\": \"<&>\", \"ls\": \"\u2028\" }")}
	spaced.Hash = spaced.Seal(nil)
	recs = append(recs, odd, bin, spaced)

	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(recs) {
		t.Fatalf("export has %d lines, want %d:\n%s", n, len(recs), buf.String())
	}
	got, err := ReadAll(&buf)
	if err != nil {
		t.Fatalf("ReadAll = %v", err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Errorf("ReadAll(export) =\n%+v\nwant\n%+v", got, recs)
	}
	names, by := Partitions(got)
	for _, p := range names {
		if rep := Verify(p, by[p]); !rep.OK() {
			t.Errorf("Verify(%s) after the round trip = %v", p, rep.Problems)
		}
	}
}

func TestJSONLFormat(t *testing.T) {
	t.Parallel()
	r := chain("acme", 2)[1]
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	for _, want := range []string{`"partition":"acme"`, `"seq":2`, `"time":"2026-01-02T03:04:06.000006Z"`, `"agent":"acme.bot"`,
		`"resource":"model-provider"`, `"cost_micros":100`, `"detail":"{\"i\":1}"`, `"prev_hash":"` + hex.EncodeToString(r.PrevHash) + `"`,
		`"hash":"` + hex.EncodeToString(r.Hash) + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("export line %s lacks %s", line, want)
		}
	}
}

func TestJSONLErrors(t *testing.T) {
	t.Parallel()
	const good = `{"partition":"a","seq":1,"time":"2026-01-02T03:04:05Z","prev_hash":"","hash":"00ff"}`
	tests := []struct {
		name, in, wantIn string
	}{
		{"not JSON", good + "\n{nope\n", "line 2"},
		{"unknown field", strings.Replace(good, `"seq"`, `"extra":1,"seq"`, 1), `unknown field "extra"`},
		{"no hash", strings.Replace(good, `,"hash":"00ff"`, "", 1), `no "hash"`},
		{"no prev_hash", strings.Replace(good, `"prev_hash":"",`, "", 1), `no "prev_hash"`},
		{"no seq", strings.Replace(good, `"seq":1,`, "", 1), `no "seq"`},
		{"bad hex", strings.Replace(good, `"00ff"`, `"zz"`, 1), `"hash" is not hex`},
		{"both details", strings.Replace(good, `"seq":1`, `"seq":1,"detail":"x","detail_base64":"eA=="`, 1), "both"},
		{"two values on a line", good + " {}", "more than one"},
		{"wrong type", strings.Replace(good, `"seq":1`, `"seq":"1"`, 1), "seq"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadAll(strings.NewReader(tc.in))
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("ReadAll(%q) = %v, want %v containing %q", tc.in, err, ErrFormat, tc.wantIn)
			}
		})
	}
	// Blank lines and a missing final newline are fine.
	got, err := ReadAll(strings.NewReader("\n" + good + "\n\n  \n" + strings.Replace(good, `"seq":1`, `"seq":2`, 1)))
	if err != nil || len(got) != 2 || got[1].Seq != 2 || !got[0].Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("ReadAll with blank lines = %+v, %v, want 2 records", got, err)
	}
}

func TestJSONLAbort(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range chain("acme", 2) {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort("export cut short"); err != nil {
		t.Fatalf("Abort = %v", err)
	}
	_, err := ReadAll(&buf)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "export cut short") {
		t.Errorf("ReadAll(aborted export) = %v, want %v naming line 3 and the message", err, ErrIncomplete)
	}
}
