package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// Reopen checks that what a store holds survives closing and opening it
// again. open must open the same database on every call; Reopen closes the
// first store itself, and open arranges for the second to be closed.
func Reopen(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	if err := s.SyncTenants(ctx, []store.Tenant{tenant("acme", "Acme")}, base); err != nil {
		t.Fatalf("SyncTenants = %v", err)
	}
	a := agent("acme", "bot")
	putAgent(t, s, a, revision(a, a.SpecVersion, "# bot", base))
	first := appendAudit(t, s, record("acme", "x", 1))
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	s = open(t)
	got, err := s.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatalf("GetTenant(%q) after reopening = %v", "acme", err)
	}
	check(t, "GetTenant after reopening", got, stored(tenant("acme", "Acme"), base, base, time.Time{}))
	gotAgent, err := s.GetAgent(ctx, a.ID)
	if err != nil {
		t.Fatalf("GetAgent(%q) after reopening = %v", a.ID, err)
	}
	check(t, "GetAgent after reopening", gotAgent, normAgent(a))
	r := record("acme", "x", 2)
	check(t, "AppendAudit after reopening", appendAudit(t, s, r), sealed(r, 2, first.Hash))
	checkChain(t, "acme", listAudit(t, s, "acme"))
}

// Upgrade checks that migrating a database to the current schema keeps what
// it holds. old is a store on a database at an older schema, the one of
// 0002_fleet_load_versions: Upgrade writes through it only what that schema
// holds (tenants, agents, exceptions) and closes it; oldAudit inserts an
// audit record, sealed as given, into that schema's columns (those of
// 0001_init), and oldLoad a fleet load into those of 0002 (it returns the
// load's ID). open must open the same database, migrating it;
// Upgrade then checks the data, that the old audit chain still verifies
// and continues, and that the state of governance agents can be written
// beside it.
func Upgrade(t *testing.T, old store.Store, oldAudit func(r store.AuditRecord) error, oldLoad func(l store.FleetLoad) (int64, error), open func(t *testing.T) store.Store) {
	ctx := t.Context()
	if err := old.SyncTenants(ctx, []store.Tenant{tenant("acme", "Acme")}, base); err != nil {
		t.Fatalf("SyncTenants = %v", err)
	}
	a := agent("acme", "bot")
	rev := revision(a, a.SpecVersion, "# bot", base)
	putAgent(t, old, a, rev)
	load := store.FleetLoad{Digest: "sha256:1", LibraryVersion: "1.0.0", ContractVersion: "1.0.0", Source: "fleet", LoadedAt: base,
		LoadedBy: "startup", LibraryVersions: map[string]string{"1.0.0": "sha256:aa"}}
	id, err := oldLoad(load)
	if err != nil {
		t.Fatalf("insert a fleet load of the old schema: %v", err)
	}
	// A load recorded before 0007 reads back with no contract rows.
	load.ID, load.LoadedAt, load.ContractRows = id, norm(load.LoadedAt), map[string]string{}
	e := exception("e1", "acme", "", "budget.daily", base)
	createException(t, old, e)
	// A record of the old schema has no agent, resource or cost.
	r := record("acme", "x", 1)
	r.Agent, r.Resource, r.CostMicros = "", "", 0
	first := sealed(r, 1, nil)
	if err := oldAudit(first); err != nil {
		t.Fatalf("insert an audit record of the old schema: %v", err)
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	s := open(t)
	got, err := s.GetTenant(ctx, "acme")
	wantErr(t, "GetTenant after upgrading", err, nil)
	check(t, "GetTenant after upgrading", got, stored(tenant("acme", "Acme"), base, base, time.Time{}))
	gotAgent, err := s.GetAgent(ctx, a.ID)
	wantErr(t, "GetAgent after upgrading", err, nil)
	check(t, "GetAgent after upgrading", gotAgent, normAgent(a))
	revs, err := s.ListSpecRevisions(ctx, a.ID)
	wantErr(t, "ListSpecRevisions after upgrading", err, nil)
	check(t, "ListSpecRevisions after upgrading", revs, []store.SpecRevision{normRevision(rev)})
	loads, err := s.ListFleetLoads(ctx, 0)
	wantErr(t, "ListFleetLoads after upgrading", err, nil)
	check(t, "ListFleetLoads after upgrading", loads, []store.FleetLoad{load})
	gotException, err := s.GetException(ctx, "e1")
	wantErr(t, "GetException after upgrading", err, nil)
	check(t, "GetException after upgrading", gotException, normException(e))

	// The new schema works beside the old data: a governance check and its
	// audit record in one transaction continue the chain.
	err = s.Atomic(ctx, func(tx store.Tx) error {
		writeGovernance(t, tx, "acme")
		appendAudit(t, tx, record("acme", "governance.check", 2))
		return nil
	})
	if err != nil {
		t.Fatalf("Atomic after upgrading = %v", err)
	}
	check(t, "governance state after upgrading", countGovernance(t, s, "acme"),
		counts(oneGovernance, map[string]int{"audit records": 1}))
	rs := listAudit(t, s, "acme")
	check(t, "first audit record after upgrading", rs[0], first)
	checkChain(t, "acme", rs)
	c := credential("adcp", store.KindADCPPrincipal, "acme", "", base)
	c.AgentURL = "https://buyer.example.com"
	if err := s.CreateCredential(ctx, c); err != nil {
		t.Fatalf("CreateCredential after upgrading = %v", err)
	}
	gotCred, err := s.CredentialByHash(ctx, c.Hash)
	wantErr(t, "CredentialByHash after upgrading", err, nil)
	check(t, "CredentialByHash after upgrading", gotCred, normCredential(c))
}

// replicaBudget is a budget the replicas of Replicas reserve from at once;
// it fits fewer reservations than they ask for.
var replicaBudget = store.BudgetWindow{Scope: "tenant:acme", Period: "total", Limit: 25}

// Replicas opens n stores on one database at once, as replicas starting
// together do, and appends to one audit partition and syncs one governance
// plan through all of them concurrently: every open, append and sync
// succeeds, the partition is one contiguous, valid chain and the plan's
// versions run from 1 without a gap or a repeat; their reservations against
// one budget fill it exactly. open must open the same
// database on every call; Replicas closes the stores.
func Replicas(t *testing.T, n int, open func(ctx context.Context) (store.Store, error)) {
	const appends = 10
	ctx := t.Context()
	stores := make([]store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = open(ctx) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] == nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("open = %v", err)
	}
	for i, s := range stores {
		wg.Go(func() {
			for j := range appends {
				r := record("acme", "x", j)
				r.Actor = fmt.Sprintf("replica-%d", i)
				if _, err := s.AppendAudit(ctx, r); err != nil {
					errs[i] = fmt.Errorf("replica %d: append %d: %w", i, j, err)
					return
				}
				if _, err := s.PutPlan(ctx, plan("acme", "shared", i*appends+j)); err != nil {
					errs[i] = fmt.Errorf("replica %d: put plan %d: %w", i, j, err)
					return
				}
				// Each replica asks for more than its share of the budget.
				for k := range 3 {
					err := s.Reserve(ctx, reservation(fmt.Sprintf("r%d-%d-%d", i, j, k), 1, replicaBudget))
					var ex *store.BudgetExceededError
					if err != nil && !errors.As(err, &ex) {
						errs[i] = fmt.Errorf("replica %d: reserve: %w", i, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("AppendAudit = %v", err)
	}
	for i, s := range stores {
		if u, err := s.BudgetUsage(ctx, replicaBudget); err != nil || u.Reserved != replicaBudget.Limit {
			t.Fatalf("replica %d: BudgetUsage = %+v, %v; want exactly the limit, %d, reserved", i, u, err, replicaBudget.Limit)
		}
		rs := listAudit(t, s, "acme")
		if len(rs) != n*appends {
			t.Fatalf("replica %d: ListAudit has %d records, want %d", i, len(rs), n*appends)
		}
		checkChain(t, "acme", rs)
		revs, err := s.ListPlanRevisions(ctx, "acme", "shared")
		if err != nil {
			t.Fatalf("replica %d: ListPlanRevisions = %v", i, err)
		}
		if len(revs) != n*appends {
			t.Fatalf("replica %d: ListPlanRevisions has %d revisions, want %d", i, len(revs), n*appends)
		}
		for v, r := range revs {
			if r.Version != v+1 {
				t.Fatalf("replica %d: revision %d has Version %d", i, v, r.Version)
			}
		}
	}
}
