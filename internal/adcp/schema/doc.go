// Package schema validates AdCP task requests and responses against the official AdCP JSON
// schemas, per wire version, and reports failures by field.
//
// The schemas are embedded verbatim from github.com/adcontextprotocol/adcp (Apache-2.0; see
// schemas/README.md) in three sets, one per wire version:
//
//	Version  schemas             $id prefix
//	3.0      released 3.0.6      /schemas/3.0.6/
//	3.1      released 3.1.19     /schemas/3.1.19/
//	3.2      3.2.0-beta.5 head   /schemas/
//
// Tasks are named by their wire tool name: get_adcp_capabilities, sync_plans,
// check_governance, report_plan_outcome, get_plan_audit_logs, report_plan_adjustment (3.2
// only), get_task_status, comply_test_controller and sync_governance. The released 3.0.6 and
// 3.1.19 sets carry only the governance closure, so get_adcp_capabilities, get_task_status and
// comply_test_controller are validated with the head schemas in every version; SchemaID says
// which file applies.
//
// Validation follows the official conformance harness (@adcp/sdk, which uses ajv): draft-07,
// `format` asserted with ajv-formats' definitions, unknown formats ignored. It applies each
// schema as published: the 3.0.6 request schemas forbid unknown top-level properties
// (additionalProperties: false), so a 3.0 request carrying 3.1+ fields such as adcp_version
// or target_agent fails under 3.0.
//
// Typical use at a tool boundary:
//
//	if err := schema.Validate(v, "check_governance", schema.Request, args); err != nil {
//		var serr *schema.Error
//		if errors.As(err, &serr) {
//			// VALIDATION_ERROR naming serr.Field, with serr.Message
//		}
//	}
package schema
