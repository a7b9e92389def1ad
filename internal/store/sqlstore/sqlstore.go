package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// Store implements store.Store on database/sql.
type Store struct {
	d      Dialect
	write  *sql.DB
	read   *sql.DB
	wstmts *stmtCache
	rstmts *stmtCache
	group  *committer // nil: each Atomic is a transaction of its own
	// gen counts the transactions that changed credentials, agents,
	// tenants or exceptions, counted once each has ended.
	gen atomic.Uint64
}

// Generation implements store.Store.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// countChange counts a transaction that changed what Generation covers; it
// runs once the transaction has ended, committed or not.
func (s *Store) countChange(changed *bool) {
	if *changed {
		s.gen.Add(1)
	}
}

// Options tunes a Store.
type Options struct {
	// GroupCommit joins concurrent Atomic calls into one transaction (see
	// committer): for a backend with one writer connection whose commits
	// sync to disk, such as SQLite.
	GroupCommit bool
	// SyncLog, with GroupCommit, makes every transaction committed so far
	// durable, for instance by syncing the database's log file. Groups
	// then commit without a sync, holding the writer only while they write,
	// and a group of synced calls returns once a SyncLog that began after
	// its commit has returned: the disk's wait overlaps the next group.
	SyncLog func() error
}

var _ store.Store = (*Store)(nil)

// New returns a Store that writes, and runs Atomic, on write and reads on
// read, which may be the same pool. The schema must be migrated already. The
// Store owns the pools: Close closes them.
func New(d Dialect, write, read *sql.DB, opt Options) *Store {
	s := &Store{d: d, write: write, read: read, wstmts: newStmtCache(write), rstmts: newStmtCache(read)}
	if read == write {
		s.rstmts = s.wstmts
	}
	if opt.GroupCommit {
		s.group = &committer{s: s, syncLog: opt.SyncLog}
	}
	return s
}

// Ping checks that the database answers, on both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", s.d.Name(), err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", s.d.Name(), err)
	}
	return nil
}

// Close closes the connection pools.
func (s *Store) Close() error {
	err := s.write.Close()
	if s.read != s.write {
		err = errors.Join(err, s.read.Close())
	}
	if err != nil {
		return fmt.Errorf("%s: close: %w", s.d.Name(), err)
	}
	return nil
}

// Atomic runs fn in one transaction on the writer pool. It commits if fn
// returns nil and rolls back otherwise, also if fn panics. With group
// commit, fn's transaction may be a savepoint of a larger one whose commit
// Atomic waits for.
func (s *Store) Atomic(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.atomic(ctx, false, fn)
}

// atomicUnsynced is Atomic with a commit that need not wait for the disk:
// the transaction is durable against a crash of the process when it
// returns, and against a crash of the machine once any later synced commit
// returns (a log sync covers what the log already holds). It is for writes
// that a synced write always follows, such as a budget reservation and its
// settlement.
func (s *Store) atomicUnsynced(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.atomic(ctx, true, fn)
}

func (s *Store) atomic(ctx context.Context, unsynced bool, fn func(tx store.Tx) error) error {
	if s.group != nil {
		return s.group.atomic(ctx, unsynced, fn)
	}
	t, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.Name(), err)
	}
	var misses []string
	var cachedChanged bool
	done := false
	defer func() {
		if !done {
			_ = t.Rollback() // the error that matters is fn's, or the panic
		}
		s.countChange(&cachedChanged)
		s.wstmts.warm(misses)
	}()
	x := &tx{d: s.d, q: t, stmts: s.wstmts, t: t, misses: &misses, cachedChanged: &cachedChanged}
	if unsynced {
		q, inTx := s.d.SyncMode(true)
		if !inTx {
			return fmt.Errorf("%s: an unsynced commit needs group commit or a transaction-scoped sync mode", s.d.Name())
		}
		if q != "" {
			if _, err := x.exec(ctx, q); err != nil {
				return fmt.Errorf("%s: sync mode: %w", s.d.Name(), err)
			}
		}
	}
	if err := fn(x); err != nil {
		return err
	}
	done = true
	if err := t.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", s.d.Name(), err)
	}
	return nil
}

// reader runs reads outside any transaction, on the read pool.
func (s *Store) reader() *tx { return &tx{d: s.d, q: s.read, stmts: s.rstmts} }

// The methods below make every Tx operation available on the Store: reads go
// to the read pool, writes run in their own transaction.

// SyncTenants implements store.Tx.
func (s *Store) SyncTenants(ctx context.Context, tenants []store.Tenant, at time.Time) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.SyncTenants(ctx, tenants, at) })
}

// GetTenant implements store.Tx.
func (s *Store) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	return s.reader().GetTenant(ctx, id)
}

// ListTenants implements store.Tx.
func (s *Store) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	return s.reader().ListTenants(ctx)
}

// CreateCredential implements store.Tx.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.CreateCredential(ctx, c) })
}

// CredentialByHash implements store.Tx.
func (s *Store) CredentialByHash(ctx context.Context, hash []byte) (store.Credential, error) {
	return s.reader().CredentialByHash(ctx, hash)
}

// ListCredentials implements store.Tx.
func (s *Store) ListCredentials(ctx context.Context, f store.CredentialFilter) ([]store.Credential, error) {
	return s.reader().ListCredentials(ctx, f)
}

// RevokeCredential implements store.Tx.
func (s *Store) RevokeCredential(ctx context.Context, id string, at time.Time) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.RevokeCredential(ctx, id, at) })
}

// PutAgent implements store.Tx.
func (s *Store) PutAgent(ctx context.Context, a store.Agent, rev store.SpecRevision) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.PutAgent(ctx, a, rev) })
}

// GetAgent implements store.Tx.
func (s *Store) GetAgent(ctx context.Context, id string) (store.Agent, error) {
	return s.reader().GetAgent(ctx, id)
}

// ListAgents implements store.Tx.
func (s *Store) ListAgents(ctx context.Context, f store.AgentFilter) ([]store.Agent, error) {
	return s.reader().ListAgents(ctx, f)
}

// SetAgentStatus implements store.Tx.
func (s *Store) SetAgentStatus(ctx context.Context, id string, status store.AgentStatus, at time.Time) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.SetAgentStatus(ctx, id, status, at) })
}

// GetSpecRevision implements store.Tx.
func (s *Store) GetSpecRevision(ctx context.Context, agentID, version string) (store.SpecRevision, error) {
	return s.reader().GetSpecRevision(ctx, agentID, version)
}

// ListSpecRevisions implements store.Tx.
func (s *Store) ListSpecRevisions(ctx context.Context, agentID string) ([]store.SpecRevision, error) {
	return s.reader().ListSpecRevisions(ctx, agentID)
}

// RecordFleetLoad implements store.Tx.
func (s *Store) RecordFleetLoad(ctx context.Context, l store.FleetLoad) (store.FleetLoad, error) {
	var out store.FleetLoad
	err := s.Atomic(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.RecordFleetLoad(ctx, l)
		return err
	})
	return out, err
}

// ListFleetLoads implements store.Tx.
func (s *Store) ListFleetLoads(ctx context.Context, limit int) ([]store.FleetLoad, error) {
	return s.reader().ListFleetLoads(ctx, limit)
}

// CreateException implements store.Tx.
func (s *Store) CreateException(ctx context.Context, e store.Exception) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.CreateException(ctx, e) })
}

// GetException implements store.Tx.
func (s *Store) GetException(ctx context.Context, id string) (store.Exception, error) {
	return s.reader().GetException(ctx, id)
}

// ListExceptions implements store.Tx.
func (s *Store) ListExceptions(ctx context.Context, f store.ExceptionFilter) ([]store.Exception, error) {
	return s.reader().ListExceptions(ctx, f)
}

// RevokeException implements store.Tx.
func (s *Store) RevokeException(ctx context.Context, id, by string, at time.Time) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.RevokeException(ctx, id, by, at) })
}

// AppendAudit implements store.Tx.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	var out store.AuditRecord
	err := s.Atomic(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.AppendAudit(ctx, r)
		return err
	})
	return out, err
}

// ListAudit implements store.Tx.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	return s.reader().ListAudit(ctx, f)
}

// AuditPartitions implements store.Tx.
func (s *Store) AuditPartitions(ctx context.Context) ([]string, error) {
	return s.reader().AuditPartitions(ctx)
}

// BindGovernanceAgent implements store.Tx.
func (s *Store) BindGovernanceAgent(ctx context.Context, b store.GovernanceBinding) (store.GovernanceBinding, error) {
	var out store.GovernanceBinding
	err := s.Atomic(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.BindGovernanceAgent(ctx, b)
		return err
	})
	return out, err
}

// GovernanceBinding implements store.Tx.
func (s *Store) GovernanceBinding(ctx context.Context, account string) (store.GovernanceBinding, error) {
	return s.reader().GovernanceBinding(ctx, account)
}

// UnbindGovernanceAgent implements store.Tx.
func (s *Store) UnbindGovernanceAgent(ctx context.Context, account string) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.UnbindGovernanceAgent(ctx, account) })
}

// PutPlan implements store.Tx.
func (s *Store) PutPlan(ctx context.Context, p store.GovPlan) (store.GovPlan, error) {
	var out store.GovPlan
	err := s.Atomic(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.PutPlan(ctx, p)
		return err
	})
	return out, err
}

// GetPlan implements store.Tx.
func (s *Store) GetPlan(ctx context.Context, account, planID string) (store.GovPlan, error) {
	return s.reader().GetPlan(ctx, account, planID)
}

// GetPlanRevision implements store.Tx.
func (s *Store) GetPlanRevision(ctx context.Context, account, planID string, version int) (store.GovPlan, error) {
	return s.reader().GetPlanRevision(ctx, account, planID, version)
}

// PortfolioParents implements store.Tx.
func (s *Store) PortfolioParents(ctx context.Context, account, planID string) ([]string, error) {
	return s.reader().PortfolioParents(ctx, account, planID)
}

// ListPlanRevisions implements store.Tx.
func (s *Store) ListPlanRevisions(ctx context.Context, account, planID string) ([]store.GovPlan, error) {
	return s.reader().ListPlanRevisions(ctx, account, planID)
}

// SetPlanStatus implements store.Tx.
func (s *Store) SetPlanStatus(ctx context.Context, account, planID, status string) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.SetPlanStatus(ctx, account, planID, status) })
}

// CreateCheck implements store.Tx.
func (s *Store) CreateCheck(ctx context.Context, c store.GovCheck) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.CreateCheck(ctx, c) })
}

// GetCheck implements store.Tx.
func (s *Store) GetCheck(ctx context.Context, account, checkID string) (store.GovCheck, error) {
	return s.reader().GetCheck(ctx, account, checkID)
}

// UpdateCheck implements store.Tx.
func (s *Store) UpdateCheck(ctx context.Context, c store.GovCheck) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.UpdateCheck(ctx, c) })
}

// ListChecks implements store.Tx.
func (s *Store) ListChecks(ctx context.Context, f store.CheckFilter) ([]store.GovCheck, error) {
	return s.reader().ListChecks(ctx, f)
}

// PutAction implements store.Tx.
func (s *Store) PutAction(ctx context.Context, a store.GovAction) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.PutAction(ctx, a) })
}

// GetAction implements store.Tx.
func (s *Store) GetAction(ctx context.Context, account, sub string) (store.GovAction, error) {
	return s.reader().GetAction(ctx, account, sub)
}

// ListActions implements store.Tx.
func (s *Store) ListActions(ctx context.Context, f store.ActionFilter) ([]store.GovAction, error) {
	return s.reader().ListActions(ctx, f)
}

// CheckVerdicts implements store.Tx.
func (s *Store) CheckVerdicts(ctx context.Context, f store.CheckFilter) ([]string, error) {
	return s.reader().CheckVerdicts(ctx, f)
}

// SumActions implements store.Tx.
func (s *Store) SumActions(ctx context.Context, f store.ActionFilter) ([]store.ActionSum, error) {
	return s.reader().SumActions(ctx, f)
}

// CreateOutcome implements store.Tx.
func (s *Store) CreateOutcome(ctx context.Context, o store.GovOutcome) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.CreateOutcome(ctx, o) })
}

// ListOutcomes implements store.Tx.
func (s *Store) ListOutcomes(ctx context.Context, account, planID string) ([]store.GovOutcome, error) {
	return s.reader().ListOutcomes(ctx, account, planID)
}

// PutDeliveryStatement implements store.Tx.
func (s *Store) PutDeliveryStatement(ctx context.Context, st store.DeliveryStatement) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.PutDeliveryStatement(ctx, st) })
}

// ListDeliveryStatements implements store.Tx.
func (s *Store) ListDeliveryStatements(ctx context.Context, account, sub string) ([]store.DeliveryStatement, error) {
	return s.reader().ListDeliveryStatements(ctx, account, sub)
}

// GetIdempotency implements store.Tx.
func (s *Store) GetIdempotency(ctx context.Context, scope store.IdempotencyScope) (store.IdempotencyRecord, error) {
	return s.reader().GetIdempotency(ctx, scope)
}

// PutIdempotency implements store.Tx.
func (s *Store) PutIdempotency(ctx context.Context, r store.IdempotencyRecord) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.PutIdempotency(ctx, r) })
}

// PutSigningKey implements store.Tx.
func (s *Store) PutSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.PutSigningKey(ctx, k) })
}

// ListSigningKeys implements store.Tx.
func (s *Store) ListSigningKeys(ctx context.Context, account string) ([]store.SigningKey, error) {
	return s.reader().ListSigningKeys(ctx, account)
}

// UpdateSigningKey implements store.Tx.
func (s *Store) UpdateSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.UpdateSigningKey(ctx, k) })
}

// RevokeToken implements store.Tx.
func (s *Store) RevokeToken(ctx context.Context, account, jti string, at time.Time) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.RevokeToken(ctx, account, jti, at) })
}

// ListRevokedTokens implements store.Tx.
func (s *Store) ListRevokedTokens(ctx context.Context, account string) ([]store.RevokedToken, error) {
	return s.reader().ListRevokedTokens(ctx, account)
}

// PutFixture implements store.Tx.
func (s *Store) PutFixture(ctx context.Context, f store.Fixture) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.PutFixture(ctx, f) })
}

// GetFixture implements store.Tx.
func (s *Store) GetFixture(ctx context.Context, account, kind, id string) (store.Fixture, error) {
	return s.reader().GetFixture(ctx, account, kind, id)
}

// ListFixtures implements store.Tx.
func (s *Store) ListFixtures(ctx context.Context, account, kind string) ([]store.Fixture, error) {
	return s.reader().ListFixtures(ctx, account, kind)
}

// Reserve implements store.Tx.
// The reservation commits unsynced (see atomicUnsynced): the settlement that
// follows it is synced.
func (s *Store) Reserve(ctx context.Context, r store.Reservation) error {
	return s.atomicUnsynced(ctx, func(tx store.Tx) error { return tx.Reserve(ctx, r) })
}

// Settle implements store.Tx.
func (s *Store) Settle(ctx context.Context, id string, actual int64, at time.Time) error {
	return s.Atomic(ctx, func(tx store.Tx) error { return tx.Settle(ctx, id, actual, at) })
}

// BudgetUsage implements store.Tx.
func (s *Store) BudgetUsage(ctx context.Context, w store.BudgetWindow) (store.BudgetUsage, error) {
	return s.reader().BudgetUsage(ctx, w)
}

// GetReservation implements store.Tx.
func (s *Store) GetReservation(ctx context.Context, id string) (store.Reservation, error) {
	return s.reader().GetReservation(ctx, id)
}

// ListOpenReservations implements store.Tx.
func (s *Store) ListOpenReservations(ctx context.Context, before time.Time, limit int) ([]store.Reservation, error) {
	return s.reader().ListOpenReservations(ctx, before, limit)
}
