package governance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/loadtest"

	"github.com/fleetgov/fleetgov/internal/gctune"
	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// benchPlan is a plan with room for every check a benchmark makes.
func benchPlan(id string) map[string]any {
	return map[string]any{
		"plan_id": id, "brand": map[string]any{"domain": "acmeoutdoor.example"}, "objectives": "benchmark",
		"budget":    map[string]any{"total": 200000, "currency": "USD", "reallocation_threshold": 200000},
		"flight":    map[string]any{"start": "2026-01-01T00:00:00Z", "end": "2027-12-31T23:59:59Z"},
		"countries": []any{"US"}, "channels": map[string]any{"allowed": []any{"display", "olv"}},
	}
}

// benchCheck is an intent check the plan approves.
func benchCheck(planID string) map[string]any {
	return map[string]any{"plan_id": planID, "caller": govtest.BuyerURL, "tool": "create_media_buy",
		"payload": map[string]any{"account": map[string]any{"brand": map[string]any{"domain": "acmeoutdoor.example"}, "operator": "northwind.example"},
			"total_budget": 1000, "start_time": "2026-12-01T00:00:00Z", "end_time": "2026-12-31T00:00:00Z",
			"packages": []any{map[string]any{"product_id": "outdoor_display_q4", "budget": 1000}}}}
}

// BenchmarkIntentCheck measures check_governance intent checks end to end:
// a real MCP client over loopback HTTP to the account's agent, the
// evaluation, an EdDSA-signed token and the durable writes (the check, its
// action and the hash-chained audit entry, in SQLite). The peer is
// get_adcp_capabilities over the same client and transport: the MCP round
// trip without governance work.
//
//	saturation: parallel clients, checks per second in checks/s
//	rate=500:   an open-loop 500 checks/s, latency p50 and p99 in ms
//
// The garbage collector runs as fleetgov serve sets it (package gctune),
// unless GOGC or GOMEMLIMIT is set.
func BenchmarkIntentCheck(b *testing.B) {
	prev := gctune.Current()
	gctune.Apply()
	defer debug.SetGCPercent(prev)
	e := govtest.Start(b, govtest.Options{})
	setup := e.Connect(b, govtest.Production, "buyer")
	if r := setup.Call("sync_plans", map[string]any{"idempotency_key": "bench-sync-plans-0001", "plans": []any{benchPlan("bench")}}); r.IsError {
		b.Fatalf("sync_plans: %s", r.Text)
	}
	if r := setup.Call("check_governance", benchCheck("bench")); r.IsError || r.Body["verdict"] != "approved" {
		b.Fatalf("the benchmark's check is not approved: %s", r.Text)
	}
	const clients = 16
	lc := e.LoadClient(govtest.Production, "buyer")
	run := func(task string, args json.RawMessage) func(b *testing.B) {
		return func(b *testing.B) {
			var failed atomic.Int64
			b.ReportAllocs()
			b.SetParallelism((clients + 1) / 2) // 2 cores: 16 clients
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if isErr, _, err := lc.Call(context.Background(), task, args); err != nil || isErr {
						failed.Add(1)
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d calls failed", n, b.N)
			}
		}
	}
	check, err := json.Marshal(benchCheck("bench"))
	if err != nil {
		b.Fatal(err)
	}
	approved := []byte(`"verdict":"approved"`)
	b.Run("peer=capabilities/saturation", run("get_adcp_capabilities", json.RawMessage(`{}`)))
	b.Run("check/saturation", run("check_governance", check))
	b.Run("peer=capabilities/rate=500", func(b *testing.B) {
		lat := loadtest.OpenLoop(b, 500, func() bool {
			isErr, _, err := lc.Call(context.Background(), "get_adcp_capabilities", json.RawMessage(`{}`))
			return err == nil && !isErr
		})
		b.ReportMetric(loadtest.Percentile(lat, 50), "p50-ms")
		b.ReportMetric(loadtest.Percentile(lat, 99), "p99-ms")
	})
	b.Run("check/rate=500", func(b *testing.B) {
		lat := loadtest.OpenLoop(b, 500, func() bool {
			isErr, body, err := lc.Call(context.Background(), "check_governance", check)
			return err == nil && !isErr && bytes.Contains(body, approved)
		})
		b.ReportMetric(loadtest.Percentile(lat, 50), "p50-ms")
		b.ReportMetric(loadtest.Percentile(lat, 99), "p99-ms")
	})
}
