package audit

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

// chain returns n records of partition p as a store seals them.
func chain(p string, n int) []store.AuditRecord {
	var out []store.AuditRecord
	var prev []byte
	for i := range n {
		r := store.AuditRecord{Partition: p, Seq: int64(i + 1), Time: t0.Add(time.Duration(i) * time.Second),
			Actor: "cred-1", Agent: p + ".bot", Resource: "model-provider", Action: "model.call", Object: "gpt-x",
			Outcome: "allow", TraceID: fmt.Sprintf("trace-%d", i), CostMicros: int64(100 * i),
			Detail: []byte(fmt.Sprintf(`{"i":%d}`, i)), PrevHash: prev}
		r.Hash = r.Seal(prev)
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

// want is a problem as the tests name it: seq and kind.
type want struct {
	seq  int64
	kind Kind
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const p = "acme"
	tests := []struct {
		name   string
		n      int
		tamper func(rs []store.AuditRecord) []store.AuditRecord
		want   []want
	}{
		{"intact", 5, nil, nil},
		{"empty", 0, nil, nil},
		{"one record", 1, nil, nil},
		{"outcome altered", 5, func(rs []store.AuditRecord) []store.AuditRecord { rs[2].Outcome = "deny"; return rs }, []want{{3, Altered}}},
		{"detail altered", 5, func(rs []store.AuditRecord) []store.AuditRecord { rs[0].Detail = []byte(`{"i":9}`); return rs }, []want{{1, Altered}}},
		{"agent altered", 5, func(rs []store.AuditRecord) []store.AuditRecord { rs[4].Agent = "acme.other"; return rs }, []want{{5, Altered}}},
		{"resource cleared", 5, func(rs []store.AuditRecord) []store.AuditRecord { rs[1].Resource = ""; return rs }, []want{{2, Altered}}},
		{"cost altered", 5, func(rs []store.AuditRecord) []store.AuditRecord { rs[3].CostMicros = 1; return rs }, []want{{4, Altered}}},
		{"time altered", 5, func(rs []store.AuditRecord) []store.AuditRecord {
			rs[3].Time = rs[3].Time.Add(time.Microsecond)
			return rs
		}, []want{{4, Altered}}},
		{"hash altered", 5, func(rs []store.AuditRecord) []store.AuditRecord { rs[2].Hash = rs[1].Hash; return rs }, []want{{3, Altered}, {4, Removed}}},
		{"prev hash cleared", 5, func(rs []store.AuditRecord) []store.AuditRecord { rs[2].PrevHash = nil; return rs }, []want{{3, Altered}}},
		{"partition altered", 3, func(rs []store.AuditRecord) []store.AuditRecord { rs[1].Partition = "beta"; return rs }, []want{{2, Altered}}},
		{"altered and resealed", 5, func(rs []store.AuditRecord) []store.AuditRecord {
			rs[2].Outcome = "deny"
			rs[2].Hash = rs[2].Seal(rs[2].PrevHash)
			return rs
		}, []want{{4, Removed}}},
		{"middle removed", 5, func(rs []store.AuditRecord) []store.AuditRecord { return slices.Delete(rs, 2, 3) }, []want{{3, Removed}}},
		{"first removed", 5, func(rs []store.AuditRecord) []store.AuditRecord { return rs[1:] }, []want{{1, Removed}}},
		{"two removed", 5, func(rs []store.AuditRecord) []store.AuditRecord { return slices.Delete(rs, 1, 3) }, []want{{2, Removed}}},
		{"removed and renumbered", 5, func(rs []store.AuditRecord) []store.AuditRecord {
			rs = slices.Delete(rs, 2, 3)
			for i := 2; i < len(rs); i++ {
				rs[i].Seq--
			}
			return rs
		}, []want{{3, Altered}, {4, Altered}}}, // Seq is sealed: a renumbered record no longer matches
		{"seqs swapped, in seq order", 5, func(rs []store.AuditRecord) []store.AuditRecord {
			rs[1].Seq, rs[2].Seq = rs[2].Seq, rs[1].Seq
			rs[1], rs[2] = rs[2], rs[1]
			return rs
		}, []want{{2, Reordered}, {3, Reordered}, {4, Reordered}}},
		{"records swapped", 5, func(rs []store.AuditRecord) []store.AuditRecord {
			rs[1], rs[2] = rs[2], rs[1]
			return rs
		}, []want{{3, Reordered}, {2, Reordered}, {4, Reordered}}},
		{"last two swapped", 3, func(rs []store.AuditRecord) []store.AuditRecord {
			rs[1], rs[2] = rs[2], rs[1]
			return rs
		}, []want{{3, Reordered}, {2, Reordered}}},
		{"record repeated", 3, func(rs []store.AuditRecord) []store.AuditRecord { return slices.Insert(rs, 2, rs[1]) }, []want{{2, Reordered}}},
		{"first seq zero", 2, func(rs []store.AuditRecord) []store.AuditRecord { rs[0].Seq = 0; return rs }, []want{{0, Reordered}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := chain(p, tc.n)
			if tc.tamper != nil {
				rs = tc.tamper(rs)
			}
			rep := Verify(p, rs)
			var got []want
			for _, pr := range rep.Problems {
				if pr.Partition != p {
					t.Errorf("problem %v names partition %q, want %q", pr, pr.Partition, p)
				}
				got = append(got, want{pr.Seq, pr.Kind})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Verify problems = %v, want %v\n%s", got, tc.want, rep.Problems)
			}
			if rep.OK() != (len(tc.want) == 0) {
				t.Errorf("OK() = %v with problems %v", rep.OK(), rep.Problems)
			}
			if rep.Records != len(rs) {
				t.Errorf("Records = %d, want %d", rep.Records, len(rs))
			}
			if len(rs) > 0 && string(rep.Head) != string(rs[len(rs)-1].Hash) {
				t.Errorf("Head = %x, want the last record's hash %x", rep.Head, rs[len(rs)-1].Hash)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	rs := chain("acme", 3)
	rs[1].Outcome = "deny"
	rep := Verify("acme", rs)
	if len(rep.Problems) != 1 {
		t.Fatalf("Verify = %v, want one problem", rep.Problems)
	}
	got := rep.Problems[0].String()
	if !strings.HasPrefix(got, "acme seq 2: altered: ") {
		t.Errorf("Problem.String() = %q, want it to start with %q", got, "acme seq 2: altered: ")
	}
}

func TestPartitions(t *testing.T) {
	t.Parallel()
	a, b := chain("a", 2), chain("b", 2)
	names, by := Partitions([]store.AuditRecord{b[0], a[0], b[1], a[1]})
	if !slices.Equal(names, []string{"b", "a"}) {
		t.Errorf("Partitions names = %v, want [b a]", names)
	}
	for p, want := range map[string][]store.AuditRecord{"a": a, "b": b} {
		if len(by[p]) != len(want) || !Verify(p, by[p]).OK() {
			t.Errorf("partition %s split from interleaved records = %d records, want %d verifying", p, len(by[p]), len(want))
		}
	}
}
