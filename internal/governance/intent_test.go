package governance_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgov/fleetgov/internal/governance/govtest"
)

// intentCase is one intent check of testdata/intent/*.yaml: a plan, the
// buys settled on it before, the check, and the answer it must get.
//
// Strings starting with $ are placeholders, unique to each run of a case:
// $plan is the case's plan and $plan:NAME a further plan of it; $buyer is
// the case's buyer (the plan owner, with an AdCP credential of its own, so
// that no two runs share a ledger), $delegate and $stranger two more agents
// with credentials; $seller and $seller2 are the environment's sellers.
type intentCase struct {
	Name string `yaml:"name"`
	// Versions are the wire versions the case runs in; empty is every
	// version the check can be written in (3.0 has no target_agent).
	Versions []string `yaml:"versions"`
	// Now sets the clock first (RFC 3339); the case gets an environment of
	// its own.
	Now string `yaml:"now"`
	// Plan is laid over the default plan (top-level keys replace).
	Plan map[string]any `yaml:"plan"`
	// Plans are further plans, synced before Plan, each laid over the
	// default plan; each names its plan_id ($plan:NAME).
	Plans []map[string]any `yaml:"plans"`
	// History are buys approved and settled before the check.
	History []icHistory `yaml:"history"`
	// Advance moves the clock on after the history (a Go duration); the
	// case gets an environment of its own.
	Advance string `yaml:"advance"`
	// As is who checks: buyer (the default), delegate or stranger.
	As string `yaml:"as"`
	// Check is laid over the default intent check: plan_id $plan, caller
	// the As agent, tool create_media_buy, target_agent $seller (3.1, 3.2).
	Check map[string]any `yaml:"check"`
	Want  intentWant     `yaml:"want"`
}

// icHistory is a buy checked (it must be approved) and then settled.
type icHistory struct {
	Plan        string         `yaml:"plan"`         // default $plan
	As          string         `yaml:"as"`           // default buyer
	TargetAgent string         `yaml:"target_agent"` // default $seller (3.1, 3.2)
	Payload     map[string]any `yaml:"payload"`
	Outcome     string         `yaml:"outcome"` // completed (the default) or failed
}

type intentWant struct {
	// Verdict is approved, conditions or denied, or review: the check
	// went to the human review queue (status submitted).
	Verdict string `yaml:"verdict"`
	// Error is the AdCP error code instead of an answer; Field its field.
	Error string `yaml:"error"`
	Field string `yaml:"field"`
	// Review is a substring of the reason a check went to review.
	Review string `yaml:"review"`
	// Evaluated must all be among categories_evaluated.
	Evaluated []string `yaml:"evaluated"`
	// Policies, when set (also to []), is exactly policies_evaluated.
	Policies []string `yaml:"policies"`
	// Findings is exactly the findings, in any order.
	Findings []icFinding `yaml:"findings"`
	// Conditions is exactly the conditions, in any order.
	Conditions []icCondition `yaml:"conditions"`
}

type icFinding struct {
	Category string `yaml:"category"`
	Severity string `yaml:"severity"`
	Policy   string `yaml:"policy"` // policy_id; empty means none
	Says     string `yaml:"says"`   // a substring of the explanation
}

type icCondition struct {
	Field string `yaml:"field"`
	// RequiredValue is the machine-actionable value; nil means the
	// condition carries none.
	RequiredValue any `yaml:"required_value"`
}

// icVersions are the AdCP versions fleetgov speaks.
var icVersions = []string{"3.0", "3.1", "3.2"}

func (tc intentCase) versions() []string {
	if len(tc.Versions) > 0 {
		return tc.Versions
	}
	named := false
	for _, h := range tc.History {
		named = named || h.TargetAgent != ""
	}
	if _, ok := tc.Check["target_agent"]; ok || named {
		return icVersions[1:]
	}
	return icVersions
}

// TestIntent runs the intent-check cases of testdata/intent: every
// specialist of the evaluation, in every wire version.
func TestIntent(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "intent", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no intent cases in testdata/intent: %v", err)
	}
	shared := govtest.Start(t, govtest.Options{})
	var seq atomic.Int64
	for _, file := range files {
		cases := readIntentCases(t, file)
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				for _, v := range tc.versions() {
					t.Run(tc.Name+"/"+v, func(t *testing.T) {
						t.Parallel()
						e := shared
						if tc.Now != "" || tc.Advance != "" {
							e = govtest.Start(t, govtest.Options{})
						}
						runIntentCase(t, e, tc, v, fmt.Sprintf("c%04d", seq.Add(1)))
					})
				}
			}
		})
	}
}

func readIntentCases(t *testing.T, file string) []intentCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cases []intentCase
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		switch {
		case tc.Name == "":
			t.Fatalf("%s: a case has no name", file)
		case seen[tc.Name]:
			t.Fatalf("%s: case %q is there twice", file, tc.Name)
		case tc.Want.Verdict == "" && tc.Want.Error == "":
			t.Fatalf("%s: case %q wants neither a verdict nor an error", file, tc.Name)
		}
		seen[tc.Name] = true
	}
	return cases
}

// icRun is one run of a case: its agents, sessions and placeholders.
type icRun struct {
	t        *testing.T
	id       string
	version  string
	urls     map[string]string // buyer, delegate, stranger
	sessions map[string]*govtest.Session
	keys     int
}

func newICRun(t *testing.T, e *govtest.Env, id, version string) *icRun {
	t.Helper()
	c := &icRun{t: t, id: id, version: version, urls: map[string]string{}, sessions: map[string]*govtest.Session{}}
	for _, who := range []string{"buyer", "delegate", "stranger"} {
		url := "https://" + who + "-" + id + ".agents.example"
		_, secret, err := e.Plane.IssueADCPCredential(t.Context(), govtest.Platform, govtest.Production, url, "intent test "+id)
		if err != nil {
			t.Fatalf("IssueADCPCredential(%s): %v", url, err)
		}
		c.urls[who] = url
		c.sessions[who] = e.Connect(t, govtest.Production, secret)
	}
	return c
}

// subst replaces the placeholders in v.
func (c *icRun) subst(v any) any {
	switch x := v.(type) {
	case string:
		if !strings.HasPrefix(x, "$") {
			return x
		}
		switch {
		case x == "$seller":
			return govtest.SellerURL
		case x == "$seller2":
			return govtest.Seller2URL
		case x == "$plan":
			return "plan-" + c.id
		case strings.HasPrefix(x, "$plan:"):
			return "plan-" + c.id + "-" + strings.TrimPrefix(x, "$plan:")
		case c.urls[x[1:]] != "":
			return c.urls[x[1:]]
		}
		c.t.Fatalf("unknown placeholder %s", x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = c.subst(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = c.subst(e)
		}
		return out
	}
	return v
}

func (c *icRun) key(what string) string {
	c.keys++
	return fmt.Sprintf("intent-%s-%s-%04d", what, c.id, c.keys)
}

// icPlan is the plan cases start from: a US-dollar budget with no
// human-review threshold and a flight around any date a test runs on.
func icPlan() map[string]any {
	return map[string]any{
		"plan_id":    "$plan",
		"brand":      map[string]any{"domain": "acmeoutdoor.example"},
		"objectives": "Awareness for the outdoor range in North America.",
		"budget":     map[string]any{"total": 100000, "currency": "USD", "reallocation_unlimited": true},
		"flight":     map[string]any{"start": "2020-01-01T00:00:00Z", "end": "2099-12-31T23:59:59Z"},
	}
}

func icOverlay(base, top map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(top))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range top {
		out[k] = v
	}
	return out
}

// intentArgs builds an intent check for this run's version.
func (c *icRun) intentArgs(as string, over map[string]any) map[string]any {
	args := map[string]any{"plan_id": "$plan", "caller": "$" + icOr(as, "buyer"), "tool": "create_media_buy"}
	if c.version != "3.0" {
		args["target_agent"] = "$seller"
	}
	args = icOverlay(args, over)
	if ta, ok := args["target_agent"]; ok && ta == "" {
		delete(args, "target_agent")
	}
	args["adcp_version"] = c.version
	return c.subst(args).(map[string]any)
}

func icOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// syncPlans registers plans as the buyer and returns each plan's
// categories as sync_plans reported them.
func (c *icRun) syncPlans(plans ...map[string]any) map[string][]string {
	c.t.Helper()
	list := make([]any, len(plans))
	for i, p := range plans {
		list[i] = c.subst(icOverlay(icPlan(), p))
	}
	r := c.sessions["buyer"].Call("sync_plans", map[string]any{"idempotency_key": c.key("sync"), "plans": list, "adcp_version": c.version})
	if r.IsError {
		c.t.Fatalf("sync_plans: %s", r.Text)
	}
	cats := map[string][]string{}
	res, _ := r.Body["plans"].([]any)
	for _, x := range res {
		m, _ := x.(map[string]any)
		if m["status"] != "active" {
			c.t.Fatalf("sync_plans: plan %v has status %v, want active: %s", m["plan_id"], m["status"], r.Text)
		}
		for _, cx := range icList(m["categories"]) {
			cm, _ := cx.(map[string]any)
			if cm["status"] == "active" {
				cats[icStr(m["plan_id"])] = append(cats[icStr(m["plan_id"])], icStr(cm["category_id"]))
			}
		}
	}
	return cats
}

// settle has a buy approved and reports its outcome.
func (c *icRun) settle(h icHistory) {
	c.t.Helper()
	over := map[string]any{"plan_id": icOr(h.Plan, "$plan"), "payload": h.Payload}
	if h.TargetAgent != "" {
		over["target_agent"] = h.TargetAgent
	}
	args := c.intentArgs(h.As, over)
	s := c.sessions[icOr(h.As, "buyer")]
	r := s.Call("check_governance", args)
	if v := icVerdict(c.version, r); v != "approved" {
		c.t.Fatalf("history buy %v: verdict %q, want approved: %s", h.Payload, v, r.Text)
	}
	out := map[string]any{"idempotency_key": c.key("outcome"), "plan_id": args["plan_id"], "check_id": r.Body["check_id"],
		"governance_context": r.Body["governance_context"], "outcome": icOr(h.Outcome, "completed"), "adcp_version": c.version}
	if out["outcome"] == "completed" {
		out["seller_response"] = map[string]any{"seller_reference": c.key("mb")}
	} else {
		out["error"] = map[string]any{"code": "PRODUCT_UNAVAILABLE", "message": "the seller declined the buy"}
	}
	if o := s.Call("report_plan_outcome", out); o.IsError {
		c.t.Fatalf("report_plan_outcome: %s", o.Text)
	}
}

func runIntentCase(t *testing.T, e *govtest.Env, tc intentCase, version, id string) {
	if tc.Now != "" {
		now, err := time.Parse(time.RFC3339, tc.Now)
		if err != nil {
			t.Fatalf("now: %v", err)
		}
		e.Clock.Set(now)
	}
	c := newICRun(t, e, id, version)
	plans := append(append([]map[string]any(nil), tc.Plans...), tc.Plan)
	cats := c.syncPlans(plans...)
	for _, h := range tc.History {
		c.settle(h)
	}
	if tc.Advance != "" {
		d, err := time.ParseDuration(tc.Advance)
		if err != nil {
			t.Fatalf("advance: %v", err)
		}
		e.Clock.Advance(d)
	}
	args := c.intentArgs(tc.As, tc.Check)
	r := c.sessions[icOr(tc.As, "buyer")].Call("check_governance", args)
	icCheckAnswer(t, version, args, r, tc.Want, cats[icStr(args["plan_id"])], c.subst)
}

// icCheckAnswer asserts an intent check's answer: the verdict in its
// version's shape, the categories and policies evaluated, and exactly the
// findings and conditions wanted.
func icCheckAnswer(t *testing.T, version string, args map[string]any, r govtest.Result, want intentWant, synced []string, subst func(any) any) {
	t.Helper()
	if want.Error != "" {
		code, field := r.Error()
		if !r.IsError || code != want.Error || (want.Field != "" && field != want.Field) {
			t.Fatalf("check_governance = %s, want error %s (field %q)", r.Text, want.Error, want.Field)
		}
		return
	}
	if r.IsError {
		t.Fatalf("check_governance failed: %s", r.Text)
	}
	if want.Verdict == "review" {
		if r.Body["status"] != "submitted" || r.Body["task_id"] == nil {
			t.Fatalf("check_governance = %s, want it sent to human review (status submitted with a task_id)", r.Text)
		}
		if msg := icStr(r.Body["message"]); !strings.Contains(msg, want.Review) {
			t.Errorf("review message = %q, want it to say %q", msg, want.Review)
		}
		return
	}
	got := icVerdict(version, r)
	if got != want.Verdict {
		t.Fatalf("verdict = %q, want %q: %s", got, want.Verdict, r.Text)
	}
	icShape(t, version, want.Verdict, r)
	if r.Body["plan_id"] != args["plan_id"] {
		t.Errorf("plan_id = %v, want %v", r.Body["plan_id"], args["plan_id"])
	}
	cats := icStrings(r.Body["categories_evaluated"])
	// Every plan action is also one of the account's governed agent.
	for _, c := range append(slices.Clone(want.Evaluated), "fleet_constraints") {
		if !slices.Contains(cats, c) {
			t.Errorf("categories_evaluated = %v, want it to include %s", cats, c)
		}
	}
	for _, c := range synced {
		if !slices.Contains(cats, c) {
			t.Errorf("categories_evaluated = %v lacks %s, a category sync_plans declared active for the plan", cats, c)
		}
	}
	pols := icStrings(r.Body["policies_evaluated"])
	if want.Policies != nil {
		wantPols := icStrings(subst(icAny(want.Policies)))
		if !icSameSet(pols, wantPols) {
			t.Errorf("policies_evaluated = %v, want %v", pols, wantPols)
		}
	}
	findings := icList(r.Body["findings"])
	for _, x := range findings {
		f, _ := x.(map[string]any)
		if c := icStr(f["category_id"]); !slices.Contains(cats, c) {
			t.Errorf("finding %v names category %q, which is not among categories_evaluated %v", f, c, cats)
		}
		if p := icStr(f["policy_id"]); p != "" && !slices.Contains(pols, p) {
			t.Errorf("finding %v names policy %q, which is not among policies_evaluated %v", f, p, pols)
		}
	}
	icFindings(t, findings, want.Findings)
	icConditions(t, icList(r.Body["conditions"]), want.Conditions, subst)
}

// icVerdict reads the verdict where the version puts it: status in 3.0,
// verdict from 3.1.
func icVerdict(version string, r govtest.Result) string {
	if r.IsError {
		return ""
	}
	if version == "3.0" {
		return icStr(r.Body["status"])
	}
	return icStr(r.Body["verdict"])
}

// icShape checks what travels with a verdict in each version.
func icShape(t *testing.T, version, verdict string, r govtest.Result) {
	t.Helper()
	b := r.Body
	has := func(k string) bool { _, ok := b[k]; return ok }
	switch version {
	case "3.0":
		if has("verdict") || has("check_type") {
			t.Errorf("a 3.0 answer carries verdict or check_type: %s", r.Text)
		}
	case "3.1":
		if b["status"] != "completed" || has("check_type") {
			t.Errorf("a 3.1 answer has status %v (want completed) or a check_type: %s", b["status"], r.Text)
		}
	case "3.2":
		if b["status"] != "completed" || b["check_type"] != "intent" {
			t.Errorf("a 3.2 intent answer has status %v, check_type %v; want completed, intent: %s", b["status"], b["check_type"], r.Text)
		}
	}
	if icStr(b["check_id"]) == "" || icStr(b["explanation"]) == "" {
		t.Errorf("the answer lacks check_id or explanation: %s", r.Text)
	}
	token := has("governance_context") && has("expires_at")
	switch verdict {
	case "approved":
		if !token {
			t.Errorf("an approval carries no governance_context and expires_at: %s", r.Text)
		}
		if has("conditions") {
			t.Errorf("an approval carries conditions: %s", r.Text)
		}
	case "conditions":
		if len(icList(b["conditions"])) == 0 || icStr(b["consultation_context"]) == "" {
			t.Errorf("conditions come without conditions[] or consultation_context: %s", r.Text)
		}
		// The legacy shapes let the buyer proceed bound by the conditions;
		// 3.2 conditions never authorize.
		if legacy := version != "3.2"; token != legacy || (!legacy && has("expires_at")) {
			t.Errorf("%s conditions: governance_context and expires_at present = %v, want %v: %s", version, token, legacy, r.Text)
		}
	case "denied":
		if has("governance_context") || has("expires_at") || has("conditions") {
			t.Errorf("a denial carries a token, an expiry or conditions: %s", r.Text)
		}
		if len(icList(b["findings"])) == 0 {
			t.Errorf("a denial carries no findings: %s", r.Text)
		}
	}
}

func icFindings(t *testing.T, got []any, want []icFinding) {
	t.Helper()
	left := append([]any(nil), got...)
	for _, w := range want {
		i := slices.IndexFunc(left, func(x any) bool {
			f, _ := x.(map[string]any)
			return icStr(f["category_id"]) == w.Category && (w.Severity == "" || icStr(f["severity"]) == w.Severity) &&
				icStr(f["policy_id"]) == w.Policy && strings.Contains(icStr(f["explanation"]), w.Says)
		})
		if i < 0 {
			t.Errorf("no finding {category %s, severity %s, policy %q, says %q} among %s", w.Category, w.Severity, w.Policy, w.Says, icJSON(left))
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	if len(left) > 0 {
		t.Errorf("unexpected findings: %s", icJSON(left))
	}
}

func icConditions(t *testing.T, got []any, want []icCondition, subst func(any) any) {
	t.Helper()
	left := append([]any(nil), got...)
	for _, w := range want {
		wv := subst(w.RequiredValue)
		i := slices.IndexFunc(left, func(x any) bool {
			c, _ := x.(map[string]any)
			rv, has := c["required_value"]
			return icStr(c["field"]) == w.Field && icStr(c["reason"]) != "" && has == (wv != nil) && (wv == nil || icJSONEq(rv, wv))
		})
		if i < 0 {
			t.Errorf("no condition {field %s, required_value %v} among %s", w.Field, icJSON(wv), icJSON(left))
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	if len(left) > 0 {
		t.Errorf("unexpected conditions: %s", icJSON(left))
	}
}

// icJSONEq compares two values as JSON, whatever Go types hold them.
func icJSONEq(a, b any) bool {
	var x, y any
	if json.Unmarshal([]byte(icJSON(a)), &x) != nil || json.Unmarshal([]byte(icJSON(b)), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func icJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func icStr(v any) string {
	s, _ := v.(string)
	return s
}

func icList(v any) []any {
	l, _ := v.([]any)
	return l
}

func icStrings(v any) []string {
	var out []string
	for _, x := range icList(v) {
		out = append(out, icStr(x))
	}
	return out
}

func icAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func icSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
