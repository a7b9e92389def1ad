// Package storetest is the conformance suite of store.Store: every backend
// runs the same tests with Run, each on a fresh, empty store.
//
// Beyond the contract in package store, the suite pins down the conventions
// both backends share (see store/sqlstore): times read back in UTC at
// microsecond precision and zero times as zero; nil and empty lists
// round-trip as given; empty byte slices (JSON payloads included) read back
// as nil and others byte for byte; Exception.Limit and GovCheck.Amount nil
// and 0 differ, as GovCheck.Review nil and empty do; list methods may return
// nil when nothing matches.
package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// Run runs the conformance suite. open must return a new, empty store and
// arrange for it to be closed when its test ends (t.Cleanup); it is called
// once per subtest, from parallel subtests.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"SyncTenants", testSyncTenants},
		{"TenantRoundTrip", testTenantRoundTrip},
		{"TenantErrors", testTenantErrors},
		{"CredentialRoundTrip", testCredentialRoundTrip},
		{"CredentialConflict", testCredentialConflict},
		{"ListCredentials", testListCredentials},
		{"RevokeCredential", testRevokeCredential},
		{"AgentRoundTrip", testAgentRoundTrip},
		{"PutAgentRevisions", testPutAgentRevisions},
		{"PutAgentConflict", testPutAgentConflict},
		{"ListAgents", testListAgents},
		{"SetAgentStatus", testSetAgentStatus},
		{"GetSpecRevision", testGetSpecRevision},
		{"FleetLoads", testFleetLoads},
		{"ExceptionRoundTrip", testExceptionRoundTrip},
		{"ListExceptions", testListExceptions},
		{"ExceptionsActiveAt", testExceptionsActiveAt},
		{"RevokeException", testRevokeException},
		{"AuditChain", testAuditChain},
		{"AuditRoundTrip", testAuditRoundTrip},
		{"ListAudit", testListAudit},
		{"AuditPartitions", testAuditPartitions},
		{"AuditSummary", testAuditSummary},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditConcurrentAtomic", testAuditConcurrentAtomic},
		{"AtomicCommit", testAtomicCommit},
		{"AtomicRollback", testAtomicRollback},
		{"AtomicRollbackKeepsChain", testAtomicRollbackKeepsChain},
		{"AtomicPanic", testAtomicPanic},
		{"AtomicConcurrentMixed", testAtomicConcurrentMixed},
		{"AtomicSentinelErrors", testAtomicSentinelErrors},
		{"GovernanceBinding", testGovernanceBinding},
		{"PutPlanVersions", testPutPlanVersions},
		{"PortfolioParents", testPortfolioParents},
		{"BudgetReserveSettle", testBudgetReserveSettle},
		{"BudgetRefusedInAtomic", testBudgetRefusedInAtomic},
		{"BudgetExactness", testBudgetExactness},
		{"VectorCollections", testVectorCollections},
		{"VectorRoundTrip", testVectorRoundTrip},
		{"VectorUpsertErrors", testVectorUpsertErrors},
		{"VectorDelete", testVectorDelete},
		{"VectorQuery", testVectorQuery},
		{"VectorIsolation", testVectorIsolation},
		{"VectorConcurrentUpsert", testVectorConcurrentUpsert},
		{"SkillPublish", testSkillPublish},
		{"SkillVisibility", testSkillVisibility},
		{"SkillVersions", testSkillVersions},
		{"SetPlanStatus", testSetPlanStatus},
		{"CheckRoundTrip", testCheckRoundTrip},
		{"UpdateCheck", testUpdateCheck},
		{"ListChecks", testListChecks},
		{"SelectChecks", testSelectChecks},
		{"PutAction", testPutAction},
		{"ListActions", testListActions},
		{"SumActions", testSumActions},
		{"Outcomes", testOutcomes},
		{"DeliveryStatements", testDeliveryStatements},
		{"Idempotency", testIdempotency},
		{"SigningKeys", testSigningKeys},
		{"RevokedTokens", testRevokedTokens},
		{"Fixtures", testFixtures},
		{"GovernanceIsolation", testGovernanceIsolation},
		{"GovernanceAtomicRollback", testGovernanceAtomicRollback},
		{"GovernanceAtomicSentinelErrors", testGovernanceAtomicSentinelErrors},
		{"PutPlanConcurrent", testPutPlanConcurrent},
		{"SetPlanStatusConcurrent", testSetPlanStatusConcurrent},
		{"PutIdempotencyConcurrent", testPutIdempotencyConcurrent},
		{"BindConcurrent", testBindConcurrent},
		{"PutDeliveryStatementConcurrent", testPutDeliveryStatementConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// base is a time with nanoseconds in a zone other than UTC, so that tests see
// the normalization to UTC microseconds.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("IST", 5*3600+30*60))

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// norm is t as a store returns it.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// show renders v for failure messages; JSON keeps nil and empty apart.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// wantErr checks that err matches want: nil, or a sentinel it wraps.
func wantErr(t *testing.T, call string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s = %v, want no error", call, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s = %v, want %v", call, err, want)
	}
}

// check fails the test unless reflect.DeepEqual(got, want).
func check(t *testing.T, call string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s =\n\t%s\nwant\n\t%s", call, show(got), show(want))
	}
}

// empty reports whether a list result has no elements (nil or empty).
func empty[T any](s []T) bool { return len(s) == 0 }

func ptr[T any](v T) *T { return &v }

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping() = %v, want nil", err)
	}
}
