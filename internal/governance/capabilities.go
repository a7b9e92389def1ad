package governance

import (
	"context"

	"github.com/fleetgov/fleetgov/internal/adcp/schema"
)

// capabilities answers get_adcp_capabilities.
func (a *Agent) capabilities(_ context.Context, r *request) (map[string]any, error) {
	body := map[string]any{
		"adcp": map[string]any{
			"major_versions":     []any{3},
			"supported_versions": []any{"3.0", "3.1", "3.2-beta"},
			"idempotency":        map[string]any{"supported": true, "replay_ttl_seconds": int(IdempotencyTTL.Seconds())},
		},
		"supported_protocols":   []any{"governance"},
		"specialisms":           []any{"governance-spend-authority", "governance-delivery-monitor"},
		"experimental_features": []any{"governance.campaign"},
		"governance":            map[string]any{"aggregation_window_days": r.tenant.ADCP.AggregationWindowDays},
	}
	// AdCP 3.0 enumerates the controller scenarios, all of them a seller's;
	// from 3.1 the list is open and names the seed scenarios served here.
	if r.tenant.Sandbox && r.version != schema.V30 {
		body["compliance_testing"] = map[string]any{"scenarios": seedScenarios}
	}
	return body, nil
}
