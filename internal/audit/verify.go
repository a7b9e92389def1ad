package audit

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/fleetgov/fleetgov/internal/store"
)

// Kind is the kind of a Problem.
type Kind string

// Problem kinds.
const (
	Altered   Kind = "altered"
	Removed   Kind = "removed"
	Reordered Kind = "reordered"
)

// Problem is one place where a chain does not hold.
type Problem struct {
	Partition string
	Seq       int64 // the record's stored Seq; for a gap, the first missing one
	Kind      Kind
	Msg       string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s seq %d: %s: %s", p.Partition, p.Seq, p.Kind, p.Msg)
}

// Report is the result of verifying one partition.
type Report struct {
	Partition string
	Records   int
	Head      []byte // the Hash of the last record in stored order
	Problems  []Problem
}

// OK reports whether the chain holds.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the records of one partition, given in stored order (Seq
// order for a store, line order for an export), and reports every problem
// in that order. A record that belongs to another partition is reported
// as altered.
func Verify(partition string, recs []store.AuditRecord) Report {
	v := verifier{partition: partition, recs: recs, at: make(map[string]int, len(recs)),
		seqs: make(map[int64]bool, len(recs)), orig: make([]int64, len(recs))}
	rep := Report{Partition: partition, Records: len(recs)}
	if len(recs) == 0 {
		return rep
	}
	rep.Head = recs[len(recs)-1].Hash
	for i, r := range recs {
		if _, dup := v.at[string(r.Hash)]; !dup {
			v.at[string(r.Hash)] = i
		}
		v.seqs[r.Seq] = true
	}
	for i := range recs {
		v.check(i)
	}
	rep.Problems = v.problems
	return rep
}

type verifier struct {
	partition string
	recs      []store.AuditRecord
	at        map[string]int // index of the first record with a Hash
	seqs      map[int64]bool // the seqs of the records
	orig      []int64        // memo of originalSeq: 0 unknown, -1 none, -2 in progress
	problems  []Problem
}

func (v *verifier) add(seq int64, kind Kind, format string, args ...any) {
	v.problems = append(v.problems, Problem{Partition: v.partition, Seq: seq, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// check reports the problems of record i: its content, its Seq against the
// previous record's, and its link. One record gets at most one problem of
// each kind.
func (v *verifier) check(i int) {
	r := v.recs[i]
	var reported []Kind
	report := func(seq int64, kind Kind, format string, args ...any) {
		if !slices.Contains(reported, kind) {
			reported = append(reported, kind)
			v.add(seq, kind, format, args...)
		}
	}

	// Content: the Hash is the Seal, possibly under the Seq the record was
	// sealed with. A record whose content does not verify may have had its
	// PrevHash or Seq changed too, so they say nothing more.
	if r.Partition != v.partition {
		report(r.Seq, Altered, "it belongs to partition %q", r.Partition)
		return
	}
	orig := v.originalSeq(i)
	if orig <= 0 {
		report(r.Seq, Altered, "its hash %s does not match its content", short(r.Hash))
		return
	}
	if orig != r.Seq {
		report(r.Seq, Reordered, "it was sealed as seq %d", orig)
	}

	// Seq: 1 first, then one more than the Seq the record before was
	// sealed with (its stored Seq, unless that was changed).
	var prev *store.AuditRecord
	want := int64(1)
	if i > 0 {
		prev = &v.recs[i-1]
		want = prev.Seq + 1
		if o := v.originalSeq(i - 1); o > 0 {
			want = o + 1
		}
	}
	if r.Seq != want {
		first, n := v.missing(want, r.Seq)
		switch {
		case n == 1:
			report(first, Removed, "record %d is missing", first)
		case n > 1 && n == r.Seq-want:
			report(first, Removed, "records %d to %d are missing", want, r.Seq-1)
		case n > 1:
			report(first, Removed, "%d of the records %d to %d are missing", n, want, r.Seq-1)
		case prev == nil:
			report(r.Seq, Reordered, "the first record has seq %d, want 1", r.Seq)
		case r.Seq == want-1:
			report(r.Seq, Reordered, "seq %d appears twice", r.Seq)
		default:
			report(r.Seq, Reordered, "seq %d comes after seq %d", r.Seq, want-1)
		}
	}

	// Link: PrevHash is the previous record's Hash.
	var wantPrev []byte
	if prev != nil {
		wantPrev = prev.Hash
	}
	if !bytes.Equal(r.PrevHash, wantPrev) {
		j, there := v.at[string(r.PrevHash)]
		switch {
		case len(r.PrevHash) == 0:
			report(r.Seq, Reordered, "it starts the chain but follows seq %d", prev.Seq)
		case there && j != i:
			report(r.Seq, Reordered, "its previous hash is that of seq %d, not of the record before it", v.recs[j].Seq)
		default:
			report(r.Seq, Removed, "its previous hash %s is no record's in the partition", short(r.PrevHash))
		}
	}
}

// missing returns the first and the number of the seqs in [from, to) that
// no record of the partition has.
func (v *verifier) missing(from, to int64) (first, n int64) {
	if to-from > int64(len(v.recs)) {
		return from, to - from // more than there are records: not all are elsewhere
	}
	for s := from; s < to; s++ {
		if !v.seqs[s] {
			if n == 0 {
				first = s
			}
			n++
		}
	}
	return first, n
}

// originalSeq returns the Seq record i was sealed with: its own if its Hash
// matches its content, else one more than its predecessor's (found by
// PrevHash) if the Hash matches under that Seq, else -1.
func (v *verifier) originalSeq(i int) int64 {
	switch v.orig[i] {
	case 0:
	case -2:
		return -1 // a cycle of links: only crafted records do that
	default:
		return v.orig[i]
	}
	v.orig[i] = -2
	r := v.recs[i]
	got := int64(-1)
	if bytes.Equal(r.Seal(r.PrevHash), r.Hash) {
		got = r.Seq
	} else {
		cand := int64(-1)
		if len(r.PrevHash) == 0 {
			cand = 1
		} else if j, ok := v.at[string(r.PrevHash)]; ok {
			if p := v.originalSeq(j); p > 0 {
				cand = p + 1
			}
		}
		if cand > 0 {
			moved := r
			moved.Seq = cand
			if bytes.Equal(moved.Seal(r.PrevHash), r.Hash) {
				got = cand
			}
		}
	}
	v.orig[i] = got
	return got
}

// short abbreviates a hash for messages.
func short(h []byte) string {
	s := hex.EncodeToString(h)
	if len(s) > 16 {
		return s[:16] + "…"
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// Partitions splits records into partitions, keeping the order of records
// within each, and returns the partition names in order of first
// appearance.
func Partitions(recs []store.AuditRecord) ([]string, map[string][]store.AuditRecord) {
	var names []string
	by := make(map[string][]store.AuditRecord)
	for _, r := range recs {
		if _, seen := by[r.Partition]; !seen {
			names = append(names, r.Partition)
		}
		by[r.Partition] = append(by[r.Partition], r)
	}
	return names, by
}
