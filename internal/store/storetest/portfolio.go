package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/fleetgov/fleetgov/internal/store"
)

// testPortfolioParents checks that PutPlan records a portfolio's members
// per account, that a new revision replaces them, and that a rolled-back
// revision leaves them as they were.
func testPortfolioParents(t *testing.T, s store.Store) {
	ctx := t.Context()
	withMembers := func(account, id string, i int, members ...string) store.GovPlan {
		p := plan(account, id, i)
		p.Members = members
		return p
	}
	putPlan(t, s, withMembers("acme", "pf", 1, "m1", "m2", "m2")) // a repeated member counts once
	putPlan(t, s, withMembers("acme", "pf2", 2, "m2"))
	putPlan(t, s, withMembers("other", "pf", 3, "m1"))
	putPlan(t, s, plan("acme", "m1", 4)) // not a portfolio

	parents := func(stage string, want map[[2]string][]string) {
		t.Helper()
		for k, w := range want {
			got, err := s.PortfolioParents(ctx, k[0], k[1])
			wantErr(t, fmt.Sprintf("%s: PortfolioParents(%s, %s)", stage, k[0], k[1]), err, nil)
			if !slices.Equal(got, w) {
				t.Errorf("%s: PortfolioParents(%s, %s) = %q, want %q", stage, k[0], k[1], got, w)
			}
		}
	}
	parents("first revisions", map[[2]string][]string{
		{"acme", "m1"}: {"pf"}, {"acme", "m2"}: {"pf", "pf2"}, {"acme", "m3"}: nil,
		{"acme", "pf"}: nil, {"other", "m1"}: {"pf"}, {"other", "m2"}: nil, {"nobody", "m1"}: nil,
	})

	putPlan(t, s, withMembers("acme", "pf", 5, "m3"))
	putPlan(t, s, plan("acme", "pf2", 6)) // no longer a portfolio
	parents("new revisions", map[[2]string][]string{
		{"acme", "m1"}: nil, {"acme", "m2"}: nil, {"acme", "m3"}: {"pf"}, {"other", "m1"}: {"pf"},
	})

	errBoom := errors.New("boom")
	err := s.Atomic(ctx, func(tx store.Tx) error {
		putPlan(t, tx, withMembers("acme", "pf", 7, "m1"))
		if got, err := tx.PortfolioParents(ctx, "acme", "m1"); err != nil || !slices.Equal(got, []string{"pf"}) {
			t.Errorf("inside the transaction: PortfolioParents(acme, m1) = %q, %v; want [pf]", got, err)
		}
		return errBoom
	})
	wantErr(t, "Atomic", err, errBoom)
	parents("rolled back", map[[2]string][]string{{"acme", "m1"}: nil, {"acme", "m3"}: {"pf"}})
}
