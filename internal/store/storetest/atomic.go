package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

var errBoom = errors.New("boom")

// writeAll writes one object of every kind through tx.
func writeAll(t *testing.T, tx store.Tx) {
	t.Helper()
	ctx := t.Context()
	if err := tx.SyncTenants(ctx, []store.Tenant{tenant("acme", "Acme")}, base); err != nil {
		t.Fatalf("SyncTenants = %v", err)
	}
	if err := tx.CreateCredential(ctx, credential("c1", store.KindTenant, "acme", "", base)); err != nil {
		t.Fatalf("CreateCredential = %v", err)
	}
	a := agent("acme", "bot")
	putAgent(t, tx, a, revision(a, a.SpecVersion, "# bot", base))
	if _, err := tx.RecordFleetLoad(ctx, store.FleetLoad{Digest: "sha256:1", LoadedAt: base}); err != nil {
		t.Fatalf("RecordFleetLoad = %v", err)
	}
	createException(t, tx, exception("e1", "acme", "", "budget.daily", base))
	appendAudit(t, tx, record("acme", "x", 1))
	appendAudit(t, tx, record(store.PlatformPartition, "x", 2))
}

// countAll reports how many objects of each kind tx holds.
func countAll(t *testing.T, tx store.Tx) map[string]int {
	t.Helper()
	ctx := t.Context()
	n := map[string]int{}
	count := func(kind string, l int, err error) {
		if err != nil {
			t.Fatalf("list %s = %v", kind, err)
		}
		n[kind] = l
	}
	ts, err := tx.ListTenants(ctx)
	count("tenants", len(ts), err)
	cs, err := tx.ListCredentials(ctx, store.CredentialFilter{})
	count("credentials", len(cs), err)
	as, err := tx.ListAgents(ctx, store.AgentFilter{})
	count("agents", len(as), err)
	rs, err := tx.ListSpecRevisions(ctx, "acme.bot")
	count("revisions", len(rs), err)
	ls, err := tx.ListFleetLoads(ctx, 0)
	count("fleet loads", len(ls), err)
	es, err := tx.ListExceptions(ctx, store.ExceptionFilter{})
	count("exceptions", len(es), err)
	ps, err := tx.AuditPartitions(ctx)
	count("audit partitions", len(ps), err)
	a, err := tx.ListAudit(ctx, store.AuditFilter{Partition: "acme"})
	count("audit records", len(a), err)
	return n
}

var (
	none = map[string]int{"tenants": 0, "credentials": 0, "agents": 0, "revisions": 0, "fleet loads": 0,
		"exceptions": 0, "audit partitions": 0, "audit records": 0}
	one = map[string]int{"tenants": 1, "credentials": 1, "agents": 1, "revisions": 1, "fleet loads": 1,
		"exceptions": 1, "audit partitions": 2, "audit records": 1}
)

func testAtomicCommit(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Atomic(ctx, func(tx store.Tx) error {
		writeAll(t, tx)
		// Reads inside the transaction see its writes.
		check(t, "counts inside Atomic", countAll(t, tx), one)
		return nil
	})
	if err != nil {
		t.Fatalf("Atomic = %v", err)
	}
	check(t, "counts after commit", countAll(t, s), one)
}

func testAtomicRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Atomic(ctx, func(tx store.Tx) error {
		writeAll(t, tx)
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Atomic = %v, want %v", err, errBoom)
	}
	check(t, "counts after rollback", countAll(t, s), none)
	_, err = s.GetTenant(ctx, "acme")
	wantErr(t, `GetTenant("acme") after rollback`, err, store.ErrNotFound)
	// The rolled-back records used no sequence numbers.
	r := record("acme", "x", 9)
	check(t, "AppendAudit after rollback", appendAudit(t, s, r), sealed(r, 1, nil))
}

func testAtomicRollbackKeepsChain(t *testing.T, s store.Store) {
	ctx := t.Context()
	r1, r2 := appendAudit(t, s, record("acme", "x", 1)), appendAudit(t, s, record("acme", "x", 2))
	err := s.Atomic(ctx, func(tx store.Tx) error {
		appendAudit(t, tx, record("acme", "x", 3))
		appendAudit(t, tx, record("acme", "x", 4))
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Atomic = %v, want %v", err, errBoom)
	}
	r5 := record("acme", "x", 5)
	got := appendAudit(t, s, r5)
	check(t, "AppendAudit after rollback", got, sealed(r5, 3, r2.Hash))
	rs := listAudit(t, s, "acme")
	check(t, "ListAudit after rollback", rs, []store.AuditRecord{r1, r2, got})
	checkChain(t, "acme", rs)
}

func testAtomicPanic(t *testing.T, s store.Store) {
	func() {
		defer func() {
			if r := recover(); r != errBoom {
				t.Fatalf("recover() = %v, want %v", r, errBoom)
			}
		}()
		_ = s.Atomic(t.Context(), func(tx store.Tx) error {
			writeAll(t, tx)
			panic(errBoom)
		})
	}()
	check(t, "counts after a panic", countAll(t, s), none)
	// The store is still usable: the writer connection was released.
	err := s.Atomic(t.Context(), func(tx store.Tx) error {
		writeAll(t, tx)
		return nil
	})
	if err != nil {
		t.Fatalf("Atomic after a panic = %v", err)
	}
	check(t, "counts after commit", countAll(t, s), one)
}

// testAtomicSentinelErrors checks that ErrNotFound and ErrConflict inside
// Atomic leave the transaction usable, so fn may handle them.
func testAtomicSentinelErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := credential("c1", store.KindTenant, "acme", "", base)
	err := s.Atomic(ctx, func(tx store.Tx) error {
		if err := tx.CreateCredential(ctx, c); err != nil {
			return err
		}
		err := tx.CreateCredential(ctx, c)
		wantErr(t, "CreateCredential(again)", err, store.ErrConflict)
		_, err = tx.GetTenant(ctx, "nope")
		wantErr(t, `GetTenant("nope")`, err, store.ErrNotFound)
		err = tx.RevokeException(ctx, "nope", "x", base)
		wantErr(t, `RevokeException("nope")`, err, store.ErrNotFound)
		createException(t, tx, exception("e1", "acme", "", "budget.daily", base))
		err = tx.CreateException(ctx, exception("e1", "acme", "", "budget.daily", base))
		wantErr(t, "CreateException(again)", err, store.ErrConflict)
		if err := tx.RevokeCredential(ctx, "c1", at(time.Hour)); err != nil {
			return err
		}
		err = tx.RevokeCredential(ctx, "c1", at(time.Hour))
		wantErr(t, "RevokeCredential(again)", err, store.ErrNotFound)
		appendAudit(t, tx, record("acme", "x", 1))
		return nil
	})
	if err != nil {
		t.Fatalf("Atomic = %v", err)
	}
	got, err := s.CredentialByHash(ctx, c.Hash)
	if err != nil {
		t.Fatalf("CredentialByHash = %v", err)
	}
	want := c
	want.RevokedAt = at(time.Hour)
	check(t, "CredentialByHash", got, normCredential(want))
	if _, err := s.GetException(ctx, "e1"); err != nil {
		t.Errorf(`GetException("e1") = %v, want it committed`, err)
	}
	if rs := listAudit(t, s, "acme"); len(rs) != 1 {
		t.Errorf("ListAudit(acme) has %d records, want 1", len(rs))
	}
}
