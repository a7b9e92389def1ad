package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// record is a record with every field set.
func record(partition, action string, i int) store.AuditRecord {
	return store.AuditRecord{
		Partition: partition, Time: at(time.Duration(i) * time.Millisecond), Actor: "cred-1",
		Agent: partition + ".bot", Resource: "model-provider", Action: action,
		Object: fmt.Sprintf("%s.obj%d", partition, i), Outcome: "ok", TraceID: fmt.Sprintf("trace-%d", i),
		CostMicros: int64(1000 + i), Detail: []byte(fmt.Sprintf(`{"i": %d}`, i)),
	}
}

func appendAudit(t *testing.T, s store.Tx, r store.AuditRecord) store.AuditRecord {
	t.Helper()
	got, err := s.AppendAudit(t.Context(), r)
	if err != nil {
		t.Fatalf("AppendAudit(%q) = %v", r.Partition, err)
	}
	return got
}

func listAudit(t *testing.T, s store.Tx, partition string) []store.AuditRecord {
	t.Helper()
	rs, err := s.ListAudit(t.Context(), store.AuditFilter{Partition: partition})
	if err != nil {
		t.Fatalf("ListAudit(%q) = %v", partition, err)
	}
	return rs
}

// checkChain verifies that rs is a whole partition: Seq 1..n, each PrevHash
// the previous Hash (empty for the first), each Hash its Seal.
func checkChain(t *testing.T, partition string, rs []store.AuditRecord) {
	t.Helper()
	var prev []byte
	for i, r := range rs {
		if r.Partition != partition {
			t.Fatalf("record %d: Partition = %q, want %q", i, r.Partition, partition)
		}
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d: Seq = %d, want %d", i, r.Seq, i+1)
		}
		if !bytes.Equal(r.PrevHash, prev) {
			t.Fatalf("record %d: PrevHash = %x, want %x", i, r.PrevHash, prev)
		}
		if want := r.Seal(r.PrevHash); !bytes.Equal(r.Hash, want) {
			t.Fatalf("record %d: Hash = %x, want Seal = %x", i, r.Hash, want)
		}
		prev = r.Hash
	}
}

// sealed is r as AppendAudit returns it, given the previous hash and seq.
func sealed(r store.AuditRecord, seq int64, prev []byte) store.AuditRecord {
	r.Seq, r.Time, r.PrevHash = seq, norm(r.Time), prev
	if len(r.Detail) == 0 {
		r.Detail = nil
	}
	r.Hash = r.Seal(prev)
	return r
}

func testAuditChain(t *testing.T, s store.Store) {
	// Two partitions appended alternately keep independent chains.
	parts := []string{"acme", store.PlatformPartition}
	want := map[string][]store.AuditRecord{}
	for i := range 6 {
		p := parts[i%2]
		r := record(p, "agent.register", i)
		var prev []byte
		if n := len(want[p]); n > 0 {
			prev = want[p][n-1].Hash
		}
		w := sealed(r, int64(len(want[p])+1), prev)
		got := appendAudit(t, s, r)
		check(t, fmt.Sprintf("AppendAudit(%s, %d)", p, i), got, w)
		want[p] = append(want[p], w)
	}
	for _, p := range parts {
		got := listAudit(t, s, p)
		check(t, "ListAudit("+p+")", got, want[p])
		checkChain(t, p, got)
	}
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		r    store.AuditRecord
	}{
		{"all fields", record("p1", "decision", 1)},
		{"detail kept byte for byte", func() store.AuditRecord {
			r := record("p2", "decision", 2)
			r.Detail = []byte("{ \"z\":1,\n  \"a\" : [1.50, \"\\u00e9\"],\t\"z\":2 }")
			return r
		}()},
		{"binary detail", func() store.AuditRecord {
			r := record("p3", "decision", 3)
			r.Detail = []byte{0, 1, 2, 0xff, 0xfe, '\\', '\'', '"'}
			return r
		}()},
		{"nil detail", func() store.AuditRecord { r := record("p4", "x", 4); r.Detail = nil; return r }()},
		{"empty detail", func() store.AuditRecord { r := record("p5", "x", 5); r.Detail = []byte{}; return r }()},
		{"zero time", func() store.AuditRecord { r := record("p6", "x", 6); r.Time = time.Time{}; return r }()},
		{"only partition", store.AuditRecord{Partition: "p7"}},
		{"control-plane record", func() store.AuditRecord {
			r := record("p8", "agent.register", 8)
			r.Agent, r.Resource, r.CostMicros = "", "", 0
			return r
		}()},
		{"negative and large cost", func() store.AuditRecord {
			r := record("p9", "decision", 9)
			r.CostMicros = -1 << 62
			return r
		}()},
		{"unicode agent and resource", func() store.AuditRecord {
			r := record("p10", "decision", 10)
			r.Agent, r.Resource = "p10.réfund-bot", "mcp-servers/ordérs"
			return r
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := sealed(tc.r, 1, nil)
			got := appendAudit(t, s, tc.r)
			check(t, "AppendAudit("+tc.r.Partition+")", got, want)
			check(t, "ListAudit("+tc.r.Partition+")", listAudit(t, s, tc.r.Partition), []store.AuditRecord{want})
		})
	}
}

func testListAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []store.AuditRecord
	for i := range 5 {
		all = append(all, appendAudit(t, s, record("acme", "x", i)))
	}
	appendAudit(t, s, record("other", "x", 0))
	tests := []struct {
		name string
		f    store.AuditFilter
		want []store.AuditRecord
	}{
		{"all", store.AuditFilter{Partition: "acme"}, all},
		{"after", store.AuditFilter{Partition: "acme", AfterSeq: 2}, all[2:]},
		{"after and limit", store.AuditFilter{Partition: "acme", AfterSeq: 2, Limit: 2}, all[2:4]},
		{"limit", store.AuditFilter{Partition: "acme", Limit: 1}, all[:1]},
		{"limit above count", store.AuditFilter{Partition: "acme", AfterSeq: 3, Limit: 10}, all[3:]},
		{"after the last", store.AuditFilter{Partition: "acme", AfterSeq: 5}, nil},
		{"negative after", store.AuditFilter{Partition: "acme", AfterSeq: -1}, all},
		{"unknown partition", store.AuditFilter{Partition: "nope"}, nil},
		{"empty partition", store.AuditFilter{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListAudit(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListAudit(%+v) = %v", tc.f, err)
			}
			if empty(got) && empty(tc.want) {
				return
			}
			check(t, "ListAudit("+show(tc.f)+")", got, tc.want)
		})
	}
}

func testAuditPartitions(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.AuditPartitions(ctx)
	if err != nil || !empty(got) {
		t.Fatalf("AuditPartitions on an empty store = %v, %v, want none", got, err)
	}
	for _, p := range []string{"acme", store.PlatformPartition, "Beta", "acme", "a-b", "a_b"} {
		appendAudit(t, s, record(p, "x", 0))
	}
	got, err = s.AuditPartitions(ctx)
	if err != nil {
		t.Fatalf("AuditPartitions = %v", err)
	}
	check(t, "AuditPartitions", got, []string{"Beta", store.PlatformPartition, "a-b", "a_b", "acme"})
}

// testAuditConcurrent appends from many goroutines to one partition: every
// append succeeds and the partition is one contiguous, valid chain.
func testAuditConcurrent(t *testing.T, s store.Store) {
	const goroutines, appends = 8, 25
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*appends)
	got := make([][]store.AuditRecord, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range appends {
				r := record("shared", "decision", i)
				r.Actor = fmt.Sprintf("g%d", g)
				rec, err := s.AppendAudit(ctx, r)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d append %d: %w", g, i, err)
					return
				}
				got[g] = append(got[g], rec)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	rs := listAudit(t, s, "shared")
	if len(rs) != goroutines*appends {
		t.Fatalf("ListAudit(shared) has %d records, want %d", len(rs), goroutines*appends)
	}
	checkChain(t, "shared", rs)
	for g, recs := range got {
		last := int64(0)
		for _, rec := range recs {
			if rec.Seq <= last {
				t.Errorf("goroutine %d: Seq %d after %d, want increasing", g, rec.Seq, last)
			}
			last = rec.Seq
			check(t, fmt.Sprintf("AppendAudit(g%d, seq %d) vs ListAudit", g, rec.Seq), rec, rs[rec.Seq-1])
		}
	}
}

// testAuditConcurrentAtomic runs transactions that each append two records to
// one partition and one to another, concurrently: a transaction holds its
// partitions until it ends, so its two records are adjacent.
func testAuditConcurrentAtomic(t *testing.T, s store.Store) {
	const goroutines, txs = 4, 10
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*txs)
	for g := range goroutines {
		wg.Go(func() {
			for i := range txs {
				actor := fmt.Sprintf("g%d-%d", g, i)
				err := s.Atomic(ctx, func(tx store.Tx) error {
					for j, p := range []string{"p", "p", "q"} {
						r := record(p, "x", j)
						r.Actor = actor
						if _, err := tx.AppendAudit(ctx, r); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("goroutine %d tx %d: %w", g, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	p, q := listAudit(t, s, "p"), listAudit(t, s, "q")
	if len(p) != 2*goroutines*txs || len(q) != goroutines*txs {
		t.Fatalf("partitions p, q have %d, %d records, want %d, %d", len(p), len(q), 2*goroutines*txs, goroutines*txs)
	}
	checkChain(t, "p", p)
	checkChain(t, "q", q)
	for i := 0; i < len(p); i += 2 {
		if p[i].Actor != p[i+1].Actor {
			t.Errorf("p records %d and %d are from %s and %s, want one transaction's pair", i+1, i+2, p[i].Actor, p[i+1].Actor)
		}
	}
}

// testAuditSummary checks the platform's aggregates: counts and costs by
// partition, resource and outcome, in byte order, bounded in time.
func testAuditSummary(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.AuditSummary(ctx, store.AuditSummaryFilter{})
	if err != nil || !empty(got) {
		t.Fatalf("AuditSummary on an empty store = %v, %v, want none", got, err)
	}
	type rec struct {
		partition, resource, outcome string
		ms                           int // time: base plus ms milliseconds; -1 for no time
		cost                         int64
	}
	recs := []rec{
		{"acme", "model-provider", "allow", 0, 100},
		{"acme", "model-provider", "allow", 10, 250},
		{"acme", "model-provider", "deny", 20, 0},
		{"acme", "mcp-servers", "allow", 30, 7},
		{"acme", "", "ok", 40, 0},
		{"Beta", "model-provider", "allow", 50, 1},
		{"beta", "vector-store", "refused", 60, 0},
		{store.PlatformPartition, "audit-log", "refused", 70, 0},
		{store.PlatformPartition, "", "ok", -1, 0},
	}
	for i, r := range recs {
		a := store.AuditRecord{Partition: r.partition, Resource: r.resource, Outcome: r.outcome, CostMicros: r.cost,
			Action: "call", Actor: "cred-1", Detail: []byte(fmt.Sprintf(`{"secret": "payload %d"}`, i))}
		if r.ms >= 0 {
			a.Time = at(time.Duration(r.ms) * time.Millisecond)
		}
		appendAudit(t, s, a)
	}
	all := []store.AuditAggregate{
		{Partition: "Beta", Resource: "model-provider", Outcome: "allow", Count: 1, CostMicros: 1},
		{Partition: store.PlatformPartition, Resource: "", Outcome: "ok", Count: 1},
		{Partition: store.PlatformPartition, Resource: "audit-log", Outcome: "refused", Count: 1},
		{Partition: "acme", Resource: "", Outcome: "ok", Count: 1},
		{Partition: "acme", Resource: "mcp-servers", Outcome: "allow", Count: 1, CostMicros: 7},
		{Partition: "acme", Resource: "model-provider", Outcome: "allow", Count: 2, CostMicros: 350},
		{Partition: "acme", Resource: "model-provider", Outcome: "deny", Count: 1},
		{Partition: "beta", Resource: "vector-store", Outcome: "refused", Count: 1},
	}
	ms := func(n int) time.Time { return at(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name string
		f    store.AuditSummaryFilter
		want []store.AuditAggregate
	}{
		{"all", store.AuditSummaryFilter{}, all},
		{"since is inclusive", store.AuditSummaryFilter{Since: ms(50)}, []store.AuditAggregate{all[0], all[2], all[7]}},
		{"until is exclusive, no time is earliest", store.AuditSummaryFilter{Until: ms(10)}, []store.AuditAggregate{
			all[1],
			{Partition: "acme", Resource: "model-provider", Outcome: "allow", Count: 1, CostMicros: 100},
		}},
		{"both", store.AuditSummaryFilter{Since: ms(10), Until: ms(30)}, []store.AuditAggregate{
			{Partition: "acme", Resource: "model-provider", Outcome: "allow", Count: 1, CostMicros: 250},
			all[6],
		}},
		{"in another zone, sub-microsecond", store.AuditSummaryFilter{Since: ms(70).In(time.UTC).Add(-time.Nanosecond)}, []store.AuditAggregate{all[2]}},
		{"empty range", store.AuditSummaryFilter{Since: ms(30), Until: ms(30)}, nil},
		{"after everything", store.AuditSummaryFilter{Since: ms(71)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.AuditSummary(ctx, tc.f)
			if err != nil {
				t.Fatalf("AuditSummary(%+v) = %v", tc.f, err)
			}
			if empty(got) && empty(tc.want) {
				return
			}
			check(t, "AuditSummary("+show(tc.f)+")", got, tc.want)
		})
	}

	// Inside a transaction the summary sees the transaction's own appends;
	// the transaction is rolled back, so the cases above do not.
	errRollback := errors.New("roll back")
	err = s.Atomic(ctx, func(tx store.Tx) error {
		appendAudit(t, tx, store.AuditRecord{Partition: "acme", Resource: "mcp-servers", Outcome: "allow", CostMicros: 3, Time: ms(35)})
		got, err := tx.AuditSummary(ctx, store.AuditSummaryFilter{Since: ms(30), Until: ms(40)})
		if err != nil {
			return err
		}
		check(t, "AuditSummary in Atomic", got, []store.AuditAggregate{
			{Partition: "acme", Resource: "mcp-servers", Outcome: "allow", Count: 2, CostMicros: 10},
		})
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Atomic = %v, want %v", err, errRollback)
	}
}
