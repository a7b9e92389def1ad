package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/store"
)

// BenchCheckWrite measures what a check_governance intent approval writes:
// a plan revision, the check, its governed action and its audit record, in
// one Atomic. Backends call it from their BenchmarkGovernanceCheckWrite.
func BenchCheckWrite(b *testing.B, s store.Store) {
	ctx := b.Context()
	raw := json.RawMessage(`{"plan_id":"plan-1","brand":{"domain":"acme.example"},"objectives":"awareness",` +
		`"budget":{"total":250000,"currency":"USD","authority_level":"agent_limited","per_seller_max_pct":40},` +
		`"countries":["US","CA"],"channels":{"allowed":["display","olv","ctv"]},` +
		`"flight":{"start":"2026-01-01T00:00:00Z","end":"2026-03-31T23:59:59Z"},` +
		`"approved_sellers":["https://seller.example.com"],"policy_ids":["us_coppa","alcohol_advertising"]}`)
	request := json.RawMessage(`{"plan_id":"plan-1","caller":"https://buyer.example.com",` +
		`"target_agent":"https://seller.example.com","tool":"create_media_buy",` +
		`"payload":{"total_budget":{"amount":50000,"currency":"USD"},"countries":["US"],"channels":["olv"]},` +
		`"idempotency_key":"0123456789abcdef0123"}`)
	response := json.RawMessage(`{"check_id":"chk","verdict":"approved","explanation":"within plan",` +
		`"categories_evaluated":["budget_authority","geo","channels","flight","sellers","policies"],` +
		`"governance_context":"eyJhbGciOiJFZERTQSIsInR5cCI6ImFkY3AtZ292K2p3cyJ9.e30.c2ln","status":"completed"}`)
	amount := 50000.0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now := time.Now()
		id, sub := fmt.Sprintf("chk-%d", i), fmt.Sprintf("sub-%d", i)
		err := s.Atomic(ctx, func(tx store.Tx) error {
			p, err := tx.PutPlan(ctx, store.GovPlan{
				Account: "acme", PlanID: "plan-1", Owner: "https://buyer.example.com", Raw: raw,
				Hash:     "sha256:4bf92f3577b34da6a3ce929d0e0e47364bf92f3577b34da6a3ce929d0e0e4736",
				SyncedAt: now, SyncedBy: "cred-buyer",
			})
			if err != nil {
				return err
			}
			if err := tx.CreateCheck(ctx, store.GovCheck{
				ID: id, Account: "acme", PlanID: p.PlanID, PlanVersion: p.Version, PlanHash: p.Hash, Sub: sub,
				Type: "intent", Phase: "intent", Caller: "https://buyer.example.com", Principal: "cred-buyer",
				Tool: "create_media_buy", Audience: "https://seller.example.com", PurchaseType: "media_buy",
				Amount: &amount, Currency: "USD", Status: "completed", Verdict: "approved", JTI: "jti-" + id,
				ExpiresAt: now.Add(15 * time.Minute), Request: request, Response: response, CreatedAt: now,
			}); err != nil {
				return err
			}
			if err := tx.PutAction(ctx, store.GovAction{
				Account: "acme", Sub: sub, PlanID: p.PlanID, Buyer: "https://buyer.example.com",
				Seller: "https://seller.example.com", Tool: "create_media_buy", PurchaseType: "media_buy",
				Currency: "USD", Authorized: amount, CreatedAt: now, UpdatedAt: now,
			}); err != nil {
				return err
			}
			_, err = tx.AppendAudit(ctx, store.AuditRecord{
				Partition: "acme", Time: now, Actor: "cred-buyer", Action: "governance.check", Object: id,
				Outcome: "approved", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Detail: response,
			})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
