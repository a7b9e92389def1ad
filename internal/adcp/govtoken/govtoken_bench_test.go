package govtoken

import (
	"encoding/json"
	"testing"
	"time"
)

func BenchmarkSign(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(f.key, f.claims); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify runs the full checklist with the payload hash recomputed
// from the request, without a replay store.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	f.opts.Replay = nil
	f.opts.Revocations = &RevocationList{Version: 1, Issuer: f.claims.Issuer, NextUpdate: t0.Add(time.Hour), RevokedJTIs: []string{"x"}}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(ctx, f.token, f.opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlanHash(b *testing.B) {
	var v planHashVector
	readJSON(b, "testdata/plan-hash/002-full-plan.json", &v)
	b.SetBytes(int64(len(v.PlanAsSupplied)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PlanHash(v.PlanAsSupplied); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPayloadHash(b *testing.B) {
	p := json.RawMessage(`{"idempotency_key":"gov-vector-0000001","account":{"account_id":"acc_1"},"amount":1,"governance_context":"x","context":{"trace_id":"y"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PayloadHash(p); err != nil {
			b.Fatal(err)
		}
	}
}
