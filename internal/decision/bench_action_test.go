package decision

import "github.com/fleetgov/fleetgov/internal/constraint"

// benchAction is a routine refund tool call that every clause lets through.
func benchAction() *constraint.Action {
	return &constraint.Action{
		Kind: "tool_call", Tool: "payments.refund", Server: "payments", Effect: "write",
		Arguments: map[string]any{"amount": 120.0, "currency": "USD", "order_id": "ORD-88231",
			"order_age_days": 12.0, "email": "jane@shop.example", "retry": 0.0},
		Attributes: map[string]any{"country": "US", "countries": []any{"US"}, "currencies": []any{"USD"}, "channels": "web"},
		Measures:   map[string]float64{"refund.amount_usd": 120, "refunds.per_hour": 3},
	}
}
