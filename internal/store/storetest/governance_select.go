package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// testSelectChecks covers the loop guard's query: an action's latest checks
// under one plan revision, newest first, limited.
func testSelectChecks(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(id, key string, version int, typ string, created time.Time) store.GovCheck {
		c := govCheck(id, "acme", "p1", "", created)
		c.ActionKey, c.PlanVersion, c.Type = key, version, typ
		return c
	}
	k1 := mk("k1", "key-a", 1, "intent", at(time.Second))
	k1.Verdict = "denied"
	k2 := mk("k2", "key-a", 2, "intent", at(2*time.Second))
	k3 := mk("k3", "key-a", 2, "intent", at(3*time.Second))
	k3.Verdict = "conditions"
	k4 := mk("k4", "key-b", 2, "intent", at(4*time.Second))
	k5 := mk("k5", "key-a", 2, "execution", at(5*time.Second))
	k6 := mk("k6", "key-a", 2, "intent", at(3*time.Second)) // ties k3 on time: ID breaks it
	other := mk("o1", "key-a", 2, "intent", at(6*time.Second))
	other.Account = "beta"
	for _, c := range []store.GovCheck{k3, k1, k5, other, k2, k6, k4} {
		createCheck(t, s, c)
	}
	tests := []struct {
		name string
		f    store.CheckFilter
		want []store.GovCheck
	}{
		{"action key", store.CheckFilter{Account: "acme", ActionKey: "key-a"}, []store.GovCheck{k1, k2, k3, k6, k5}},
		{"key and type", store.CheckFilter{Account: "acme", ActionKey: "key-a", Type: "intent"}, []store.GovCheck{k1, k2, k3, k6}},
		{"key, type, version", store.CheckFilter{Account: "acme", PlanID: "p1", ActionKey: "key-a", Type: "intent", PlanVersion: 2},
			[]store.GovCheck{k2, k3, k6}},
		{"newest first", store.CheckFilter{Account: "acme", ActionKey: "key-a", Type: "intent", PlanVersion: 2, Newest: true},
			[]store.GovCheck{k6, k3, k2}},
		{"newest two", store.CheckFilter{Account: "acme", ActionKey: "key-a", Type: "intent", PlanVersion: 2, Newest: true, Limit: 2},
			[]store.GovCheck{k6, k3}},
		{"oldest two", store.CheckFilter{Account: "acme", Limit: 2}, []store.GovCheck{k1, k2}},
		{"version 1", store.CheckFilter{Account: "acme", PlanVersion: 1}, []store.GovCheck{k1}},
		{"other key", store.CheckFilter{Account: "acme", ActionKey: "key-b"}, []store.GovCheck{k4}},
		{"no such key", store.CheckFilter{Account: "acme", ActionKey: "key-z"}, nil},
		{"other account", store.CheckFilter{Account: "beta", ActionKey: "key-a", Newest: true, Limit: 5}, []store.GovCheck{other}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.ListChecks(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListChecks(%+v) = %v", tc.f, err)
			}
			var want []store.GovCheck
			for _, c := range tc.want {
				want = append(want, normCheck(c))
			}
			if empty(got) && empty(want) {
				return
			}
			check(t, "ListChecks("+show(tc.f)+")", got, want)
			verdicts, err := s.CheckVerdicts(ctx, tc.f)
			if err != nil {
				t.Fatalf("CheckVerdicts(%+v) = %v", tc.f, err)
			}
			var wantV []string
			for _, c := range tc.want {
				wantV = append(wantV, c.Verdict)
			}
			if !slices.Equal(verdicts, wantV) {
				t.Errorf("CheckVerdicts(%s) = %q, want %q", show(tc.f), verdicts, wantV)
			}
		})
	}
}

// testSumActions covers the ledger's totals.
func testSumActions(t *testing.T, s store.Store) {
	ctx := t.Context()
	const b1, b2, s1, s2 = "https://b1.example.com", "https://b2.example.com", "https://s1.example.com", "https://s2.example.com"
	mk := func(sub, plan, buyer, seller, typ, settlement string, committed float64, created time.Time) store.GovAction {
		a := govAction("acme", sub, plan, buyer, seller, created)
		a.PurchaseType, a.Settlement, a.Committed = typ, settlement, committed
		return a
	}
	for _, a := range []store.GovAction{
		mk("a1", "p1", b1, s1, "media_buy", "completed", 1000.25, at(time.Second)),
		mk("a2", "p1", b1, s1, "media_buy", "completed", 500, at(2*time.Second)),
		mk("a3", "p1", b1, s2, "media_buy", "completed", 250, at(3*time.Second)),
		mk("a4", "p1", b2, s1, "signal_activation", "completed", 75.5, at(4*time.Second)),
		mk("a5", "p1", b1, s1, "media_buy", "failed", 0, at(5*time.Second)),
		mk("a6", "p1", b1, s1, "media_buy", "", 0, at(6*time.Second)),
		mk("a7", "p2", b1, s1, "media_buy", "completed", 9000, at(7*time.Second)),
		{Account: "beta", Sub: "x1", PlanID: "p1", Buyer: b1, Seller: s1, PurchaseType: "media_buy", Settlement: "completed", Committed: 1e6},
	} {
		putAction(t, s, a)
	}
	tests := []struct {
		name string
		f    store.ActionFilter
		want []store.ActionSum
	}{
		{"plan, settled", store.ActionFilter{Account: "acme", PlanID: "p1", Settlement: "completed"}, []store.ActionSum{
			{PurchaseType: "media_buy", Seller: s1, Committed: 1500.25, Count: 2},
			{PurchaseType: "media_buy", Seller: s2, Committed: 250, Count: 1},
			{PurchaseType: "signal_activation", Seller: s1, Committed: 75.5, Count: 1}}},
		{"plan, every settlement", store.ActionFilter{Account: "acme", PlanID: "p1"}, []store.ActionSum{
			{PurchaseType: "media_buy", Seller: s1, Committed: 1500.25, Count: 4},
			{PurchaseType: "media_buy", Seller: s2, Committed: 250, Count: 1},
			{PurchaseType: "signal_activation", Seller: s1, Committed: 75.5, Count: 1}}},
		{"buyer and seller across plans since", store.ActionFilter{Account: "acme", Buyer: b1, Seller: s1, Settlement: "completed", Since: at(2 * time.Second)},
			[]store.ActionSum{{PurchaseType: "media_buy", Seller: s1, Committed: 9500, Count: 2}}},
		{"failed", store.ActionFilter{Account: "acme", Settlement: "failed"}, []store.ActionSum{{PurchaseType: "media_buy", Seller: s1, Count: 1}}},
		{"nothing matches", store.ActionFilter{Account: "acme", PlanID: "p3"}, nil},
		{"other account", store.ActionFilter{Account: "beta"}, []store.ActionSum{{PurchaseType: "media_buy", Seller: s1, Committed: 1e6, Count: 1}}},
		{"no account", store.ActionFilter{PlanID: "p1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.SumActions(ctx, tc.f)
			if err != nil {
				t.Fatalf("SumActions(%+v) = %v", tc.f, err)
			}
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("SumActions(%s) = %+v, want %+v", show(tc.f), got, tc.want)
			}
		})
	}
}
