package governance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/schema"
	"github.com/fleetgov/fleetgov/internal/store"
)

// taskStatus answers get_task_status for checks sent to human review: the
// task ID is the check ID.
func (a *Agent) taskStatus(ctx context.Context, r *request) (map[string]any, error) {
	id := r.str("task_id")
	c, err := a.st.GetCheck(ctx, r.caller.Account, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, newError(CodeReferenceNotFound, Correctable, "task_id", "no task %q for this caller", id)
	}
	if err != nil {
		return nil, fmt.Errorf("governance: task status: %w", err)
	}
	if r.caller.AgentURL != "" && c.Caller != r.caller.AgentURL {
		return nil, newError(CodeReferenceNotFound, Correctable, "task_id", "no task %q for this caller", id)
	}
	updated := c.CreatedAt
	if c.Review != nil && !c.Review.DecidedAt.IsZero() {
		updated = c.Review.DecidedAt
	}
	body := map[string]any{"task_id": c.ID, "task_type": reviewTaskType(c), "protocol": "governance", "status": c.Status,
		"created_at": c.CreatedAt.Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339)}
	if c.Status == "completed" {
		body["completed_at"] = updated.Format(time.RFC3339)
		var result map[string]any
		if json.Unmarshal(c.Response, &result) == nil && result != nil {
			delete(result, "context")
			body["result"] = result
		}
	}
	return body, nil
}

// reviewTaskType is the task_type of a check's asynchronous task. AdCP's
// task-type enum (enums/task-type.json, required by get_task_status) has no
// governance task, so the task is named by the operation under review, the
// intent's tool (create_media_buy, buy_products...), when the enum knows it;
// a tool outside the enum leaves check_governance, which a strict validator
// refuses.
func reviewTaskType(c store.GovCheck) string {
	if c.Tool != "" && schema.ValidateSchema(schema.V32, "enums/task-type.json", c.Tool) == nil {
		return c.Tool
	}
	return TaskCheck
}
