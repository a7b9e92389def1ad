// Package budget turns fleet.yaml's spend caps into the budget windows a
// gateway call reserves against, and prices model calls in micro-USD, the
// ledger's exact integer unit.
//
// A call is held to every cap that applies to it: the fleet's, its
// tenant's and its agent's, each per day, per month (UTC calendar periods)
// and in total. Reserving against all of them at once, in the store, is
// what makes the most restrictive one win.
package budget

import (
	"fmt"
	"math"
	"time"

	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/store"
)

// MicrosPerUSD is the ledger's unit: one micro-USD.
const MicrosPerUSD = 1_000_000

// Micros converts USD to micro-USD, rounding up so that a reservation
// never holds less than the cost it covers.
func Micros(usd float64) int64 {
	if usd <= 0 || math.IsNaN(usd) {
		return 0
	}
	return int64(math.Ceil(usd*MicrosPerUSD - 1e-6))
}

// USD converts micro-USD to USD.
func USD(micros int64) float64 { return float64(micros) / MicrosPerUSD }

// Scopes of budget windows.
const (
	ScopeFleet = "fleet"
)

// TenantScope and AgentScope name the windows of a tenant and an agent.
func TenantScope(tenant string) string { return "tenant:" + tenant }

// AgentScope names an agent's windows.
func AgentScope(agent string) string { return "agent:" + agent }

// Windows returns the windows a call of agent (of tenant) at now reserves
// against, in a fixed order: fleet, tenant, agent; day, month, total. A cap
// that is not set has no window.
func Windows(b *fleet.Budgets, tenant, agent string, now time.Time) []store.BudgetWindow {
	now = now.UTC()
	day, month := "day:"+now.Format("2006-01-02"), "month:"+now.Format("2006-01")
	var out []store.BudgetWindow
	add := func(scope string, l fleet.Limits) {
		for _, w := range []struct {
			period string
			cap    *float64
		}{{day, l.Day}, {month, l.Month}, {"total", l.Total}} {
			if w.cap != nil {
				out = append(out, store.BudgetWindow{Scope: scope, Period: w.period, Limit: int64(math.Floor(*w.cap * MicrosPerUSD))})
			}
		}
	}
	add(ScopeFleet, b.Fleet)
	add(TenantScope(tenant), b.ForTenant(tenant))
	add(AgentScope(agent), b.ForAgent(agent))
	return out
}

// Cost returns the cost in micro-USD of a call to m with the given token
// counts: tokens times the model's price per million, rounded up.
func Cost(m fleet.Model, inputTokens, outputTokens int64) int64 {
	// Prices are USD per million tokens, so price × tokens is micro-USD.
	c := m.InputUSDPerMTok*float64(max(inputTokens, 0)) + m.OutputUSDPerMTok*float64(max(outputTokens, 0))
	return int64(math.Ceil(c - 1e-9))
}

// Describe names a window for people: "tenant payments, day 2026-11-24, cap $25.00".
func Describe(w store.BudgetWindow) string {
	return fmt.Sprintf("%s %s (cap $%.2f)", w.Scope, w.Period, USD(w.Limit))
}
