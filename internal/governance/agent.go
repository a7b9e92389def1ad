package governance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetgov/fleetgov/internal/adcp/schema"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Tasks on the wire.
const (
	TaskCapabilities = "get_adcp_capabilities"
	TaskSyncPlans    = "sync_plans"
	TaskCheck        = "check_governance"
	TaskOutcome      = "report_plan_outcome"
	TaskAuditLogs    = "get_plan_audit_logs"
	TaskTaskStatus   = "get_task_status"
	TaskSyncGov      = "sync_governance"
	TaskComply       = "comply_test_controller"
	TaskSyncAccounts = "sync_accounts"
)

// Tasks lists the tasks a production account's agent serves.
var Tasks = []string{TaskCapabilities, TaskSyncPlans, TaskCheck, TaskOutcome, TaskAuditLogs, TaskTaskStatus, TaskSyncGov}

// SandboxTasks are served on sandbox accounts only.
var SandboxTasks = []string{TaskComply, TaskSyncAccounts}

// Fleet is what the agent needs of the control plane: the fleet in force
// and the decision core.
type Fleet interface {
	Repo() *fleet.Repo
	Decide(ctx context.Context, agentID string, a *constraint.Action) (decision.Decision, error)
}

// Agent serves the governance agents of every advertising account.
type Agent struct {
	st     store.Store
	fleet  Fleet
	keys   *KeyRing
	base   string // the public base URL, e.g. https://fleetgov.example
	now    func() time.Time
	log    *slog.Logger
	policy *Registry
	bound  bindings
}

// Options configures an Agent.
type Options struct {
	// PublicURL is fleetgov's externally visible base URL; an account's
	// governance agent is PublicURL/adcp/<account>.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
}

// New returns the governance agent over st. keys holds the accounts'
// signing keys.
func New(st store.Store, f Fleet, keys *KeyRing, opt Options) (*Agent, error) {
	if opt.PublicURL == "" {
		return nil, errors.New("governance: the public URL is required: tokens name it as their issuer")
	}
	a := &Agent{st: st, fleet: f, keys: keys, base: strings.TrimRight(opt.PublicURL, "/"), now: opt.Now, log: opt.Logger}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	reg, err := LoadRegistry()
	if err != nil {
		return nil, err
	}
	a.policy = reg
	return a, nil
}

// Issuer returns the URL of an account's governance agent: the iss of its
// tokens and the base of its JWKS and revocation list.
func (a *Agent) Issuer(account string) string { return a.base + "/adcp/" + account }

// Caller is who calls an account's agent, as the transport authenticated it.
type Caller struct {
	Account      string
	CredentialID string
	Kind         store.CredentialKind
	// AgentURL is the agent URL the credential resolves to; empty for a
	// tenant credential.
	AgentURL string
}

// Account returns the account an ID names, if it is an advertising tenant
// of the fleet in force.
func (a *Agent) Account(id string) (fleet.Tenant, bool) {
	t, ok := a.fleet.Repo().Tenant(id)
	if !ok || t.Kind != fleet.KindAdvertising {
		return fleet.Tenant{}, false
	}
	return t, true
}

// Served reports whether an account's agent serves a task.
func Served(t fleet.Tenant, task string) bool {
	for _, x := range Tasks {
		if x == task {
			return true
		}
	}
	if t.Sandbox {
		for _, x := range SandboxTasks {
			if x == task {
				return true
			}
		}
	}
	return false
}

// request is one task call in the making.
type request struct {
	caller  Caller
	tenant  fleet.Tenant
	task    string
	version schema.Version
	raw     json.RawMessage
	args    map[string]any // decoded with json.Number
	now     time.Time
	// idemHash is the idempotency hash of a keyed check_governance, whose
	// answer is remembered with the check it stores.
	idemHash string
}

func (r *request) str(key string) string {
	s, _ := r.args[key].(string)
	return s
}

// Handle runs one task call and returns the flat response body. An AdCP
// error is returned as *Error; any other error is a server fault.
func (a *Agent) Handle(ctx context.Context, c Caller, task string, raw json.RawMessage) (map[string]any, error) {
	t, ok := a.Account(c.Account)
	if !ok {
		return nil, newError(CodeAccountNotFound, Terminal, "", "no governance agent serves account %q", c.Account)
	}
	if !Served(t, task) {
		return nil, newError(CodeUnsupportedFeature, Terminal, "", "task %s is not served by this governance agent", task)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	args, err := decode(raw)
	if err != nil {
		return nil, invalidRequest("", "arguments are not a JSON object: %v", err)
	}
	r := &request{caller: c, tenant: t, task: task, raw: raw, args: args, now: a.now().UTC()}
	if r.version, err = negotiate(t, args); err != nil {
		return nil, err
	}
	if task == TaskSyncGov {
		if err := oneAgentEach(args); err != nil {
			return nil, err
		}
	}
	if err := validate(r.version, task, schema.Request, requestForValidation(r.version, task, args)); err != nil {
		return nil, err
	}
	if err := a.governs(ctx, r); err != nil {
		return nil, err
	}
	var body map[string]any
	switch task {
	case TaskCapabilities:
		body, err = a.capabilities(ctx, r)
	case TaskSyncPlans:
		body, err = a.syncPlans(ctx, r)
	case TaskCheck:
		body, err = a.checkGovernance(ctx, r)
	case TaskOutcome:
		body, err = a.reportOutcome(ctx, r)
	case TaskAuditLogs:
		body, err = a.auditLogs(ctx, r)
	case TaskTaskStatus:
		body, err = a.taskStatus(ctx, r)
	case TaskSyncGov:
		body, err = a.syncGovernance(ctx, r)
	case TaskComply:
		body, err = a.comply(ctx, r)
	case TaskSyncAccounts:
		body, err = a.syncAccounts(ctx, r)
	default:
		err = newError(CodeUnsupportedFeature, Terminal, "", "unknown task %s", task)
	}
	if err != nil {
		return nil, err
	}
	return a.envelope(r, body), nil
}

// decode decodes a JSON object keeping numbers exact.
func decode(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null")
	}
	return m, nil
}

// laterRelease matches a release of major version 3, capturing its minor.
var laterRelease = regexp.MustCompile(`^3\.(\d+)(?:-[0-9A-Za-z.-]+)?$`)

// negotiate picks the wire version: the request's adcp_version (a later
// release of major 3 downshifts to the newest spoken here), else the
// account's setting.
func negotiate(t fleet.Tenant, args map[string]any) (schema.Version, error) {
	if v, ok := args["adcp_version"].(string); ok && v != "" {
		ver, err := schema.ParseVersion(v)
		if m := laterRelease.FindStringSubmatch(v); err != nil && m != nil {
			// A later release of AdCP 3 downshifts to the newest this
			// agent speaks; the answer's adcp_version names it.
			if minor, _ := strconv.Atoi(m[1]); minor > 2 {
				ver, err = schema.V32, nil
			}
		}
		if err != nil {
			return "", &Error{Code: CodeVersionUnsupported, Recovery: Correctable, Field: "adcp_version",
				Message: fmt.Sprintf("adcp_version %q is not supported; supported versions: %s", v, strings.Join(fleet.ADCPVersions, ", "))}
		}
		return ver, nil
	}
	if n, ok := args["adcp_major_version"].(json.Number); ok && n.String() != "3" {
		return "", &Error{Code: CodeVersionUnsupported, Recovery: Correctable, Field: "adcp_major_version",
			Message: fmt.Sprintf("adcp_major_version %s is not supported; this agent speaks AdCP 3", n)}
	}
	return schema.ParseVersion(t.ADCP.WireVersion)
}

// envelopeFields are request fields of the protocol envelope that every
// task tolerates, though the 3.0 request schemas, which allow no unknown
// fields, name them only for some tasks.
var envelopeFields = []string{"adcp_version", "context_id", "idempotency_key", "adcp_major_version"}

// requestForValidation drops envelope fields a 3.0 task schema does not
// name, so that a 3.1-style envelope does not fail the 3.0 schema.
func requestForValidation(v schema.Version, task string, args map[string]any) map[string]any {
	if v != schema.V30 {
		return args
	}
	var out map[string]any
	for _, k := range envelopeFields {
		if _, ok := args[k]; !ok || schema.Declares(v, task, schema.Request, k) {
			continue
		}
		if out == nil {
			out = cloneMap(args)
		}
		delete(out, k)
	}
	if out == nil {
		return args
	}
	return out
}

// validate checks a document against its official schema; a failure is
// INVALID_REQUEST naming the field.
func validate(v schema.Version, task string, dir schema.Direction, doc any) error {
	err := schema.Validate(v, task, dir, doc)
	if err == nil || errors.Is(err, schema.ErrUnknownTask) {
		return nil
	}
	var se *schema.Error
	if errors.As(err, &se) {
		if dir == schema.Response {
			return fmt.Errorf("governance: %s response does not match its %s schema: %s: %s", task, v, se.Field, se.Message)
		}
		return invalidRequest(se.Field, "%s", se.Message)
	}
	return err
}

// envelope adds the envelope fields to a body: the task status where the
// version has one beside the verdict, the caller's context echoed
// byte for byte, and adcp_version.
func (a *Agent) envelope(r *request, body map[string]any) map[string]any {
	if _, ok := body["status"]; !ok {
		body["status"] = "completed"
	}
	if ctx, ok := r.args["context"]; ok {
		body["context"] = ctx
	}
	if r.str("adcp_version") != "" {
		// The release served, at release precision: a pin of "3.0.26"
		// or "3.2.0-beta.5" is answered as 3.0 or 3.2.
		body["adcp_version"] = string(r.version)
	}
	return body
}

// legacy reports whether the request speaks the 3.0 shapes, where the
// verdict and the outcome state sit in status.
func (r *request) legacy() bool { return r.version == schema.V30 }
