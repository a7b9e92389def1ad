package schema

import "testing"

func TestDeclares(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    Version
		task string
		dir  Direction
		prop string
		want bool
	}{
		{V30, "check_governance", Request, "plan_id", true},
		{V30, "check_governance", Request, "idempotency_key", false},
		{V30, "check_governance", Request, "adcp_version", false},
		{V30, "sync_plans", Request, "idempotency_key", true},
		{V31, "check_governance", Request, "caller", true},
		{V31, "check_governance", Response, "verdict", true},
		{V30, "check_governance", Response, "verdict", false},
		{V31, "no_such_task", Request, "plan_id", false},
		{Version("9.9"), "check_governance", Request, "plan_id", false},
	}
	for _, tc := range tests {
		if got := Declares(tc.v, tc.task, tc.dir, tc.prop); got != tc.want {
			t.Errorf("Declares(%s, %s, %v, %s) = %v, want %v", tc.v, tc.task, tc.dir, tc.prop, got, tc.want)
		}
	}
}
