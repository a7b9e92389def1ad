package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fleetgov/fleetgov/internal/adcp/govtoken"
	"github.com/fleetgov/fleetgov/internal/store"
)

// seedScenarios are the comply_test_controller scenarios served here.
var seedScenarios = []any{"seed_product", "seed_pricing_option", "seed_plan", "seed_media_buy"}

// comply is comply_test_controller, on sandbox accounts only: it seeds the
// fixtures conformance storyboards rely on.
func (a *Agent) comply(ctx context.Context, r *request) (map[string]any, error) {
	params, _ := r.args["params"].(map[string]any)
	fail := func(code, detail string) map[string]any {
		return map[string]any{"success": false, "error": code, "error_detail": detail}
	}
	switch sc := r.str("scenario"); sc {
	case "list_scenarios":
		return map[string]any{"success": true, "scenarios": seedScenarios}, nil
	case "seed_product", "seed_pricing_option", "seed_media_buy":
		kind, id := "product", str(params["product_id"])
		switch sc {
		case "seed_pricing_option":
			kind, id = "pricing_option", id+"/"+str(params["pricing_option_id"])
		case "seed_media_buy":
			kind, id = "media_buy", str(params["media_buy_id"])
		}
		fx, err := json.Marshal(params["fixture"])
		if err != nil || id == "" || id == "/" {
			return fail("INVALID_PARAMS", "a seed names its id and a fixture"), nil
		}
		if kind != "pricing_option" {
			var m map[string]any
			_ = json.Unmarshal(fx, &m)
			if m == nil {
				m = map[string]any{}
			}
			m[kind+"_id"] = id
			fx, _ = json.Marshal(m)
		}
		if err := a.st.PutFixture(ctx, store.Fixture{Account: r.caller.Account, Kind: kind, ID: id, Raw: fx, UpdatedAt: r.now}); err != nil {
			return nil, fmt.Errorf("governance: seed %s: %w", kind, err)
		}
		return map[string]any{"success": true, "message": "seeded " + kind + " " + id}, nil
	case "seed_plan":
		planID := str(params["plan_id"])
		fixture, _ := params["fixture"].(map[string]any)
		if planID == "" || fixture == nil {
			return fail("INVALID_PARAMS", "seed_plan names plan_id and a fixture"), nil
		}
		plan := map[string]any{"plan_id": planID}
		for k, v := range fixture {
			plan[k] = v
		}
		raw, err := json.Marshal(plan)
		if err != nil {
			return nil, err
		}
		p, err := parsePlan(raw)
		if err != nil {
			return fail("INVALID_PARAMS", err.Error()), nil
		}
		if err := a.checkPlan(p, "params.fixture"); err != nil {
			return fail("INVALID_PARAMS", err.Error()), nil
		}
		hash, err := govtoken.PlanHash(raw)
		if err != nil {
			return fail("INVALID_PARAMS", err.Error()), nil
		}
		owner := r.caller.principal()
		prev, err := a.st.GetPlan(ctx, r.caller.Account, planID)
		if err == nil {
			owner = prev.Owner
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		err = a.st.Atomic(ctx, func(tx store.Tx) error {
			stored, err := tx.PutPlan(ctx, store.GovPlan{Account: r.caller.Account, PlanID: planID, Owner: owner, Raw: raw, Hash: hash,
				SyncedAt: r.now, SyncedBy: r.caller.CredentialID, Members: p.members()})
			if err != nil {
				return err
			}
			return appendRecord(ctx, tx, r, "plan.seed", planID, "ok", map[string]any{"version": stored.Version, "plan_hash": hash})
		})
		if err != nil {
			return nil, fmt.Errorf("governance: seed plan: %w", err)
		}
		return map[string]any{"success": true, "message": "seeded plan " + planID}, nil
	default:
		return fail("UNKNOWN_SCENARIO", "this governance agent seeds products, pricing options, plans and media buys"), nil
	}
}
