package schema

import (
	"fmt"
	"io/fs"
	"slices"
)

// Direction says which side of a task a document is.
type Direction int

// The two directions of a task.
const (
	Request Direction = iota
	Response
)

func (d Direction) String() string {
	switch d {
	case Request:
		return "request"
	case Response:
		return "response"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

func (d Direction) suffix() string {
	if d == Response {
		return "-response.json"
	}
	return "-request.json"
}

// task describes where one wire tool's schemas live.
type task struct {
	base string // path without "-request.json" / "-response.json"
	// protocolWide tasks exist in every 3.x release, but the released 3.0.6 and 3.1.19 schema
	// sets do not carry their schemas; those versions validate them with the head schemas.
	protocolWide bool
}

// tasks maps wire tool names to their schemas.
var tasks = map[string]task{
	"get_adcp_capabilities":  {base: "protocol/get-adcp-capabilities", protocolWide: true},
	"get_task_status":        {base: "protocol/get-task-status", protocolWide: true},
	"comply_test_controller": {base: "compliance/comply-test-controller", protocolWide: true},
	"sync_plans":             {base: "governance/sync-plans"},
	"check_governance":       {base: "governance/check-governance"},
	"report_plan_outcome":    {base: "governance/report-plan-outcome"},
	"get_plan_audit_logs":    {base: "governance/get-plan-audit-logs"},
	"report_plan_adjustment": {base: "governance/report-plan-adjustment"},
	"sync_governance":        {base: "account/sync-governance"},
}

// Tasks returns the wire tool names this package knows, sorted. Not every task exists in
// every version: report_plan_adjustment is 3.2 only.
func Tasks() []string {
	names := make([]string, 0, len(tasks))
	for name := range tasks {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// SchemaID returns the $id of the official schema that validates task's dir side in version
// v, such as "/schemas/3.0.6/governance/sync-plans-request.json". For get_adcp_capabilities,
// get_task_status and comply_test_controller under 3.0 and 3.1 it is the head (3.2) schema,
// since the released schema sets do not include them. An unknown version is ErrUnknownVersion;
// an unknown task, or one the version does not define, is ErrUnknownTask.
func SchemaID(v Version, task string, dir Direction) (string, error) {
	rel, ok := releases[v]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownVersion, string(v))
	}
	if dir != Request && dir != Response {
		return "", fmt.Errorf("schema: invalid direction %v", dir)
	}
	t, ok := tasks[task]
	if !ok {
		return "", fmt.Errorf("%w: %q is not an AdCP task this package validates", ErrUnknownTask, task)
	}
	file := t.base + dir.suffix()
	if exists(rel, file) {
		return rel.prefix + file, nil
	}
	if t.protocolWide && exists(head, file) {
		return head.prefix + file, nil
	}
	return "", fmt.Errorf("%w: %s is not defined in AdCP %s (schemas %s)", ErrUnknownTask, task, v, rel.name)
}

func exists(r release, file string) bool {
	_, err := fs.Stat(files, "schemas/"+r.dir+"/"+file)
	return err == nil
}

// Declares reports whether the schema of task's dir side in version v names prop among the
// properties of its root object. It is false when there is no such schema.
func Declares(v Version, task string, dir Direction, prop string) bool {
	id, err := SchemaID(v, task, dir)
	if err != nil {
		return false
	}
	root, _ := defaultRegistry().rawAt(baseURL + id).(map[string]any)
	props, _ := root["properties"].(map[string]any)
	_, ok := props[prop]
	return ok
}
