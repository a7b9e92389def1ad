package budget

import (
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/store"
)

func usd(v float64) *float64 { return &v }

func TestWindows(t *testing.T) {
	t.Parallel()
	b := &fleet.Budgets{
		Fleet:   fleet.Limits{Day: usd(100), Month: usd(2000)},
		Tenant:  fleet.Limits{Day: usd(10)},
		Agent:   fleet.Limits{Total: usd(1)},
		Tenants: map[string]fleet.Limits{"research": {Month: usd(500)}},
		Agents:  map[string]fleet.Limits{"payments.refund": {Day: usd(0.5)}},
	}
	at := time.Date(2026, 11, 24, 23, 30, 0, 0, time.FixedZone("x", -5*3600)) // 2026-11-25 04:30 UTC
	cases := []struct {
		name, tenant, agent string
		want                []store.BudgetWindow
	}{
		{"defaults", "support", "support.triage", []store.BudgetWindow{
			{Scope: "fleet", Period: "day:2026-11-25", Limit: 100_000_000},
			{Scope: "fleet", Period: "month:2026-11", Limit: 2_000_000_000},
			{Scope: "tenant:support", Period: "day:2026-11-25", Limit: 10_000_000},
			{Scope: "agent:support.triage", Period: "total", Limit: 1_000_000},
		}},
		{"overrides", "research", "payments.refund", []store.BudgetWindow{
			{Scope: "fleet", Period: "day:2026-11-25", Limit: 100_000_000},
			{Scope: "fleet", Period: "month:2026-11", Limit: 2_000_000_000},
			{Scope: "tenant:research", Period: "month:2026-11", Limit: 500_000_000},
			{Scope: "agent:payments.refund", Period: "day:2026-11-25", Limit: 500_000},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Windows(b, tc.tenant, tc.agent, at)
			if len(got) != len(tc.want) {
				t.Fatalf("Windows() = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("Windows()[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestCost(t *testing.T) {
	t.Parallel()
	m := fleet.Model{InputUSDPerMTok: 0.15, OutputUSDPerMTok: 0.60}
	cases := []struct {
		name    string
		in, out int64
		want    int64
	}{
		{"zero", 0, 0, 0},
		{"input only", 1000, 0, 150},
		{"both", 1000, 500, 450},
		{"rounds up", 1, 1, 1},
		{"negative counts are zero", -5, 10, 6},
	}
	for _, tc := range cases {
		if got := Cost(m, tc.in, tc.out); got != tc.want {
			t.Errorf("%s: Cost(%d, %d) = %d, want %d", tc.name, tc.in, tc.out, got, tc.want)
		}
	}
	if got := Micros(0.25); got != 250_000 {
		t.Errorf("Micros(0.25) = %d, want 250000", got)
	}
}
