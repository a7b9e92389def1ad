package mcpproxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/gateway/demomcp"
	"github.com/fleetgov/fleetgov/internal/store"
)

// TestToolsList: tools/list shows the upstream tools in the tenant's scope
// and the agent's §8, per tenant, and is audited.
func TestToolsList(t *testing.T) {
	t.Parallel()
	upstream := everythingURL(t)
	e := newEnv(t, upstream)

	// The reference server has the tools the filter must drop.
	direct, err := connectTo(t, upstream, "")
	if err != nil {
		t.Fatal(err)
	}
	all, err := toolNames(t, direct)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"echo", "get-sum", "get-env", "get-tiny-image", "get-annotated-message", "trigger-long-running-operation"} {
		if !slices.Contains(all, name) {
			t.Fatalf("server-everything %s offers %v, without %s", everythingVersion, all, name)
		}
	}

	for _, tc := range []struct {
		tenant, server string
		want           []string
	}{
		// alpha: scope echo, get-sum, get-env, trigger-long-running-operation;
		// §8 holds get-tiny-image and get-annotated-message too, but not get-env.
		{"alpha", "everything", []string{"echo", "get-sum", "trigger-long-running-operation"}},
		// beta: scope echo, get-tiny-image; §8 echo, get-sum, get-tiny-image.
		{"beta", "everything", []string{"echo", "get-tiny-image"}},
		// alpha's scope on the demo is "*"; its §8 narrows it.
		{"alpha", "helpdesk", []string{"add_internal_note", "echo", "get_ticket", "send_reply", "whoami"}},
		{"beta", "helpdesk", []string{"whoami"}},
	} {
		t.Run(tc.tenant+"/"+tc.server, func(t *testing.T) {
			cs := e.mustConnect(t, tc.server, tc.tenant)
			got, err := toolNames(t, cs)
			if err != nil {
				t.Fatalf("tools/list: %v", err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("tools/list of %s as %s = %v, want %v", tc.server, tc.tenant, got, tc.want)
			}
			recs := e.audited(t, tc.tenant, "gateway.mcp.tools/list", tc.server)
			if len(recs) == 0 || recs[len(recs)-1].Outcome != "allow" {
				t.Fatalf("audit of tools/list = %+v, want an allow record", recs)
			}
			if d := detail(t, recs[len(recs)-1]); d["tools"] != float64(len(tc.want)) {
				t.Errorf("audit detail = %v, want tools %d", d, len(tc.want))
			}
		})
	}
}

// TestRefusedLikeUnknown: a call outside the tenant's scope, outside the
// agent's §8, or to an unknown tool gets the SDK's own unknown-tool error,
// never reaches upstream, and is audited; one in another tenant's scope is
// also a Cat 4 cross-tenant event.
func TestRefusedLikeUnknown(t *testing.T) {
	t.Parallel()
	upstream := everythingURL(t)
	rec, endpoint := newRecorder(t, upstream)
	e := newEnv(t, endpoint)
	alpha := e.mustConnect(t, "everything", "alpha")
	demo := e.mustConnect(t, "helpdesk", "alpha")

	for _, tc := range []struct {
		name   string
		cs     *mcpSession
		tool   string
		server string
		reason string
		cross  bool
	}{
		{"in scope, not in §8", &mcpSession{alpha}, "get-env", "everything", "not in the agent's §8 tool manifest", false},
		{"in another tenant's scope", &mcpSession{alpha}, "get-tiny-image", "everything", "not in the tenant's scope on this server, or unknown", true},
		{"in no tenant's scope", &mcpSession{alpha}, "get-annotated-message", "everything", "not in the tenant's scope on this server, or unknown", false},
		{"unknown upstream", &mcpSession{alpha}, "no-such-tool", "everything", "not in the tenant's scope on this server, or unknown", false},
		{"NOT authorized in §8, scope *", &mcpSession{demo}, "close_ticket", "helpdesk", "not in the agent's §8 tool manifest", false},
		{"in §8 and scope *, unknown upstream", &mcpSession{demo}, "get_order_history", "helpdesk", "the upstream server has no such tool", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := callTool(t, tc.cs.ClientSession, tc.tool, map[string]any{"message": "hi"})
			if err == nil {
				t.Fatalf("tools/call %s succeeded, want refused", tc.tool)
			}
			var rpc *jsonrpc.Error
			if !errors.As(err, &rpc) || rpc.Code != jsonrpc.CodeInvalidParams {
				t.Errorf("tools/call %s = %v, want a JSON-RPC invalid-params error", tc.tool, err)
			}
			if got, want := err.Error(), sdkUnknownTool(t, tc.tool); got != want {
				t.Errorf("tools/call %s = %q, want the SDK's unknown-tool error %q", tc.tool, got, want)
			}
			recs := e.audited(t, "alpha", "gateway.mcp.tools/call", tc.server+"."+tc.tool)
			if len(recs) != 1 {
				t.Fatalf("audit records of %s = %d, want 1", tc.tool, len(recs))
			}
			if r := recs[0]; r.Outcome != "refused" && r.Outcome != "deny" || detail(t, r)["reason"] != tc.reason {
				t.Errorf("audit of %s = %s %s, want refused or deny, reason %q", tc.tool, r.Outcome, r.Detail, tc.reason)
			}
			cross := 0
			for _, r := range e.audit(t, store.PlatformPartition) {
				if r.Action == "isolation.cross_tenant" && r.Object == tc.server+"."+tc.tool {
					cross++
				}
			}
			if (cross == 1) != tc.cross || cross > 1 {
				t.Errorf("Cat 4 events for %s = %d, want cross-tenant %v", tc.tool, cross, tc.cross)
			}
		})
	}
	if calls := rec.calls(); len(calls) != 0 {
		t.Errorf("upstream received tools/call %v, want none", calls)
	}
}

// mcpSession names a session in a table.
type mcpSession struct{ *mcp.ClientSession }

// TestCrossTenant: tenant B's agent key against tenant A's MCP tools and
// upstream credential: every attempt refused, nothing of A's revealed,
// each refusal audited, and the upstream sees only B's credential.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	upstream := everythingURL(t)
	rec, endpoint := newRecorder(t, upstream)
	e := newEnv(t, endpoint)
	beta := e.mustConnect(t, "everything", "beta")

	names, err := toolNames(t, beta)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"get-sum", "get-env", "trigger-long-running-operation"} {
		if slices.Contains(names, n) {
			t.Errorf("beta's tools/list %v shows alpha's %s", names, n)
		}
	}
	// get-sum is in beta's §8 but only in alpha's scope; get-env only in
	// alpha's scope.
	for _, tool := range []string{"get-sum", "get-env"} {
		_, err := callTool(t, beta, tool, map[string]any{"a": 1, "b": 2})
		if err == nil || err.Error() != sdkUnknownTool(t, tool) {
			t.Errorf("beta calling alpha's %s = %v, want the unknown-tool error", tool, err)
		}
		if recs := e.audited(t, "beta", "gateway.mcp.tools/call", "everything."+tool); len(recs) != 1 || recs[0].Outcome != "refused" {
			t.Errorf("beta's audit of %s = %+v, want one refused record", tool, recs)
		}
		var cat4 []store.AuditRecord
		for _, r := range e.audit(t, store.PlatformPartition) {
			if r.Action == "isolation.cross_tenant" && r.Object == "everything."+tool {
				cat4 = append(cat4, r)
			}
		}
		if len(cat4) != 1 || detail(t, cat4[0])["tenant"] != "beta" || detail(t, cat4[0])["cat"] != float64(4) {
			t.Errorf("platform-tier record of beta's %s = %+v, want one Cat 4 event of beta", tool, cat4)
		}
	}
	// Nothing in beta's records names alpha.
	for _, r := range e.audit(t, "beta") {
		if strings.Contains(string(r.Detail)+r.Object, "alpha") {
			t.Errorf("beta's audit record %s %s names alpha: %s", r.Action, r.Object, r.Detail)
		}
	}

	// Beta's own call goes through with beta's credential only.
	res, err := callTool(t, beta, "echo", map[string]any{"message": "hello from beta"})
	if err != nil || res.IsError || text(res) != "Echo: hello from beta" {
		t.Fatalf("beta echo = %+v, %v; want Echo: hello from beta", res, err)
	}
	reqs := rec.all()
	if len(reqs) == 0 {
		t.Fatal("the upstream saw no request")
	}
	for i, q := range reqs {
		if got := q.header.Get("X-Api-Key"); got != e.secrets["beta-everything"] {
			t.Errorf("upstream request %d X-Api-Key = %q, want beta's credential", i, got)
		}
		if got := q.header.Get("Authorization"); got != "" {
			t.Errorf("upstream request %d carried Authorization %q, want none (beta's credential goes in X-Api-Key)", i, got)
		}
	}
	for name, s := range map[string]string{"alpha's upstream credential": e.secrets["alpha-everything"], "alpha's demo credential": e.secrets["alpha-demo"],
		"beta's agent key": e.keys["beta"], "alpha's agent key": e.keys["alpha"], "the provider key": e.secrets["provider-key"]} {
		if rec.seen(s) {
			t.Errorf("the upstream saw %s", name)
		}
	}

	// Beta's agent on the demo server: its whoami shows no credential of
	// alpha's (beta's own variable is unset, so none at all).
	demo := e.mustConnect(t, "helpdesk", "beta")
	res, err = callTool(t, demo, "whoami", nil)
	if err != nil || res.IsError {
		t.Fatalf("beta whoami = %+v, %v", res, err)
	}
	if strings.Contains(text(res), demomcp.Fingerprint(e.secrets["alpha-demo"])) || !strings.Contains(text(res), `"credential":false`) {
		t.Errorf("beta whoami = %s, want no credential", text(res))
	}

	// Beta's tenant token is no agent key; gamma has no scope at all.
	if _, err := e.connect(t, "everything", e.tokens["beta"]); err == nil || !strings.Contains(err.Error(), "agent key") {
		t.Errorf("connect with beta's tenant token = %v, want refused: agent key required", err)
	}
	resp := post(t, e.url+"/gateway/mcp/everything", e.keys["gamma"], initialize)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "alpha") || strings.Contains(string(body), "beta") {
		t.Errorf("gamma initialize = %d %s, want 403 naming no other tenant", resp.StatusCode, body)
	}
	if recs := e.audited(t, "gamma", "gateway.mcp.connect", "everything"); len(recs) != 1 || recs[0].Outcome != "refused" {
		t.Errorf("gamma's audit = %+v, want one refused connect", recs)
	}
}

// sdkUnknownTool is what the go-sdk client reports when a plain go-sdk
// server, served as the proxy is (stateless Streamable HTTP), is called
// for a tool it does not have.
func sdkUnknownTool(t *testing.T, name string) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "plain", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "known"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return nil, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true}))
	defer srv.Close()
	cs, err := connectTo(t, srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	_, err = callTool(t, cs, name, nil)
	if err == nil {
		t.Fatalf("a plain server answered %s", name)
	}
	return err.Error()
}

// TestCredentialInjection: the tenant's credential goes upstream, in its
// header, "Bearer " before it in Authorization; the caller's own key
// never does.
func TestCredentialInjection(t *testing.T) {
	t.Parallel()
	upstream := everythingURL(t)
	rec, endpoint := newRecorder(t, upstream)
	e := newEnv(t, endpoint)
	alpha := e.mustConnect(t, "everything", "alpha")
	res, err := callTool(t, alpha, "echo", map[string]any{"message": "hello"})
	if err != nil || res.IsError || text(res) != "Echo: hello" {
		t.Fatalf("echo = %+v, %v; want Echo: hello", res, err)
	}
	reqs := rec.all()
	if len(reqs) == 0 {
		t.Fatal("the upstream saw no request")
	}
	for i, q := range reqs {
		if got, want := q.header.Get("Authorization"), "Bearer "+e.secrets["alpha-everything"]; got != want {
			t.Errorf("upstream request %d Authorization = %q, want alpha's credential", i, got)
		}
	}
	if rec.seen(e.keys["alpha"]) || rec.seen(e.secrets["beta-everything"]) {
		t.Error("the upstream saw alpha's agent key or beta's credential")
	}
	if calls := rec.calls(); !slices.Equal(calls, []string{"echo"}) {
		t.Errorf("upstream tools/call = %v, want [echo]", calls)
	}
	recs := e.audited(t, "alpha", "gateway.mcp.tools/call", "everything.echo")
	if len(recs) != 1 || recs[0].Outcome != "allow" || recs[0].Agent != "alpha.operator" || recs[0].TraceID == "" {
		t.Errorf("audit of echo = %+v, want one allow record of alpha.operator with a trace id", recs)
	}

	// The demo server reports the fingerprint of what it received.
	demo := e.mustConnect(t, "helpdesk", "alpha")
	res, err = callTool(t, demo, "whoami", nil)
	if err != nil || res.IsError {
		t.Fatalf("whoami = %+v, %v", res, err)
	}
	if fp := demomcp.Fingerprint(e.secrets["alpha-demo"]); !strings.Contains(text(res), `"fingerprint":"`+fp+`"`) {
		t.Errorf("whoami = %s, want alpha's demo credential fingerprint %s", text(res), fp)
	}
}

// TestCredentialInArguments: a call whose arguments carry a credential the
// platform issued or holds is blocked under fleet.no-token-exfil (which the
// test library has no rule for), never reaches upstream, and the secret
// stays out of the audit log.
func TestCredentialInArguments(t *testing.T) {
	t.Parallel()
	upstream := everythingURL(t)
	rec, endpoint := newRecorder(t, upstream)
	e := newEnv(t, endpoint)
	alpha := e.mustConnect(t, "everything", "alpha")
	for _, tc := range []struct {
		name   string
		secret string
	}{
		{"its own agent key", e.keys["alpha"]},
		{"another agent's key", e.keys["beta"]},
		{"a tenant token", e.tokens["alpha"]},
		{"a held provider key", e.secrets["provider-key"]},
		{"another tenant's upstream credential", e.secrets["beta-everything"]},
		{"its own upstream credential", e.secrets["alpha-everything"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.audited(t, "alpha", "gateway.mcp.tools/call", "everything.echo"))
			res, err := callTool(t, alpha, "echo", map[string]any{"message": "please store " + tc.secret + " for later"})
			if err != nil {
				t.Fatalf("echo: %v", err)
			}
			if !res.IsError || !strings.Contains(text(res), "fleet.no-token-exfil") || strings.Contains(text(res), tc.secret) {
				t.Errorf("echo with %s = %q, want a tool error citing fleet.no-token-exfil, without the secret", tc.name, text(res))
			}
			recs := e.audited(t, "alpha", "gateway.mcp.tools/call", "everything.echo")
			if len(recs) != before+1 {
				t.Fatalf("audit records = %d, want %d", len(recs), before+1)
			}
			r := recs[len(recs)-1]
			d := detail(t, r)
			fired, _ := d["fired"].([]any)
			if r.Outcome != "deny" || !slices.Contains(fired, any("fleet.no-token-exfil")) || d["credential_detected"] == nil {
				t.Errorf("audit = %s %s, want deny, fired fleet.no-token-exfil, credential_detected", r.Outcome, r.Detail)
			}
			if e.anywhereInAudit(t, tc.secret) {
				t.Errorf("the audit log holds %s", tc.name)
			}
			if rec.seen(tc.secret) && tc.secret != e.secrets["alpha-everything"] {
				t.Errorf("the upstream saw %s", tc.name)
			}
		})
	}
	if calls := rec.calls(); len(calls) != 0 {
		t.Errorf("upstream tools/call = %v, want none", calls)
	}
}

// TestDecisions: deny and escalate are enforced, warn is recorded and lets
// the call through.
func TestDecisions(t *testing.T) {
	t.Parallel()
	upstream := everythingURL(t)
	rec, endpoint := newRecorder(t, upstream)
	e := newEnv(t, endpoint)
	alpha := e.mustConnect(t, "everything", "alpha")
	demo := e.mustConnect(t, "helpdesk", "alpha")

	res, err := callTool(t, alpha, "echo", map[string]any{"message": "forbidden"})
	if err != nil || !res.IsError || !strings.Contains(text(res), "denied by alpha.no-forbidden-echo") {
		t.Errorf("echo forbidden = %+v, %v; want a tool error: denied by alpha.no-forbidden-echo", res, err)
	}
	res, err = callTool(t, demo, "send_reply", map[string]any{"ticket_id": 4411, "template": "shipping-delay", "approved_by": "agent-17"})
	if err != nil || !res.IsError || !strings.Contains(text(res), "needs human review") || !strings.Contains(text(res), "executor.irreversible-preauth") {
		t.Errorf("send_reply = %+v, %v; want a tool error: needs human review, executor.irreversible-preauth", res, err)
	}
	res, err = callTool(t, demo, "get_ticket", map[string]any{"ticket_id": 4411})
	if err != nil || res.IsError || !strings.Contains(text(res), `"replies":[]`) {
		t.Errorf("get_ticket after an escalated send = %v, %v; want no reply sent", res, err)
	}
	res, err = callTool(t, alpha, "get-sum", map[string]any{"a": 2, "b": 3})
	if err != nil || res.IsError || !strings.Contains(text(res), "is 5") {
		t.Errorf("get-sum = %+v, %v; want the sum 5", res, err)
	}

	for _, tc := range []struct {
		object, outcome, clause string
		warned                  bool
	}{
		{"everything.echo", "deny", "alpha.no-forbidden-echo", false},
		{"helpdesk.send_reply", "escalate", "executor.irreversible-preauth", false},
		{"everything.get-sum", "allow", "alpha.sum-watch", true},
	} {
		recs := e.audited(t, "alpha", "gateway.mcp.tools/call", tc.object)
		if len(recs) != 1 {
			t.Fatalf("audit records of %s = %d, want 1", tc.object, len(recs))
		}
		d := detail(t, recs[0])
		fired, _ := d["fired"].([]any)
		warned, _ := d["warned"].([]any)
		if recs[0].Outcome != tc.outcome || !slices.Contains(fired, any(tc.clause)) || slices.Contains(warned, any(tc.clause)) != tc.warned {
			t.Errorf("audit of %s = %s %s, want %s with %s (warned %v)", tc.object, recs[0].Outcome, recs[0].Detail, tc.outcome, tc.clause, tc.warned)
		}
	}
	if calls := rec.calls(); !slices.Equal(calls, []string{"get-sum"}) {
		t.Errorf("upstream tools/call = %v, want only [get-sum]", calls)
	}
}

// TestBadInput: unknown server, missing, unknown, revoked keys and tenant
// tokens, methods the gateway does not offer.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, closedURL(t))

	for _, tc := range []struct {
		name, path, token string
		status            int
		code              string
	}{
		{"no key", "/gateway/mcp/helpdesk", "", http.StatusUnauthorized, "unauthenticated"},
		{"unknown key", "/gateway/mcp/helpdesk", "fgv_ak_notakeyatall0000000000000000", http.StatusUnauthorized, "unauthenticated"},
		{"tenant token", "/gateway/mcp/helpdesk", e.tokens["alpha"], http.StatusUnauthorized, "agent_key_required"},
		{"unknown server", "/gateway/mcp/nope", e.keys["alpha"], http.StatusNotFound, "not_found"},
		{"no server", "/gateway/mcp/", e.keys["alpha"], http.StatusNotFound, "not_found"},
		{"no scope", "/gateway/mcp/helpdesk", e.keys["gamma"], http.StatusForbidden, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, e.url+tc.path, tc.token, initialize)
			defer resp.Body.Close()
			var body struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Data    struct {
						Code string `json:"code"`
					} `json:"data"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body: %v", err)
			}
			if resp.StatusCode != tc.status || body.Error.Data.Code != tc.code || body.Error.Message == "" {
				t.Errorf("POST %s = %d %+v, want %d %s", tc.path, resp.StatusCode, body.Error, tc.status, tc.code)
			}
		})
	}

	// A key revoked mid-session stops working on the next request.
	cs := e.mustConnect(t, "helpdesk", "alpha")
	if _, err := callTool(t, cs, "echo", map[string]any{"message": "before"}); err != nil {
		t.Fatalf("echo before rotation: %v", err)
	}
	if _, _, err := e.plane.RotateAgentKey(t.Context(), platform, "alpha.operator"); err != nil {
		t.Fatal(err)
	}
	if _, err := callTool(t, cs, "echo", map[string]any{"message": "after"}); err == nil || !strings.Contains(err.Error(), "unknown or revoked key") {
		t.Errorf("echo after the key was revoked = %v, want unknown or revoked key", err)
	}
	if _, err := e.connect(t, "helpdesk", e.keys["alpha"]); err == nil {
		t.Error("connect with a revoked key succeeded")
	}
	if n := len(e.audited(t, "alpha", "gateway.mcp.tools/call", "helpdesk.echo")); n != 1 {
		t.Errorf("audit records of demo.echo = %d, want 1 (the revoked call never reached MCP)", n)
	}

	// Resources and prompts are not offered (the go-sdk client does not
	// even ask a server that advertises neither; other clients may).
	for _, method := range []string{"resources/list", "prompts/list", "resources/read"} {
		msg := rpc(t, e.url+"/gateway/mcp/helpdesk", e.keys["beta"], method, map[string]any{"uri": "file:///etc/passwd"})
		if msg.Error == nil || msg.Error.Code != jsonrpc.CodeMethodNotFound {
			t.Errorf("%s = %+v, want method not found", method, msg)
		}
		if recs := e.audited(t, "beta", "gateway.mcp."+method, "helpdesk"); len(recs) != 1 || recs[0].Outcome != "refused" {
			t.Errorf("audit of %s = %+v, want one refused record", method, recs)
		}
	}

	// Malformed arguments.
	msg := rpc(t, e.url+"/gateway/mcp/helpdesk", e.keys["beta"], "tools/call", map[string]any{"name": "whoami", "arguments": []int{1, 2}})
	if msg.Error == nil || msg.Error.Code != jsonrpc.CodeInvalidParams {
		t.Errorf("tools/call with array arguments = %+v, want invalid params", msg)
	}
}

// TestUpstreamFailures: an upstream that is down or too slow gets a clear
// tool error, and the call is still audited.
func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	upstream := everythingURL(t)
	e := newEnv(t, upstream)

	down := e.mustConnect(t, "down", "alpha")
	if _, err := toolNames(t, down); err == nil || !strings.Contains(err.Error(), "upstream MCP server down is unavailable") {
		t.Errorf("tools/list of a down server = %v, want unavailable", err)
	}
	res, err := callTool(t, down, "echo", map[string]any{"message": "anyone?"})
	if err != nil || !res.IsError || !strings.Contains(text(res), "upstream MCP server down is unavailable") {
		t.Errorf("echo on a down server = %+v, %v; want a tool error: unavailable", res, err)
	}
	for _, tc := range []struct{ action, object string }{
		{"gateway.mcp.tools/list", "down"}, {"gateway.mcp.tools/call", "down.echo"},
	} {
		recs := e.audited(t, "alpha", tc.action, tc.object)
		if len(recs) != 1 || recs[0].Outcome != "error" || detail(t, recs[0])["error"] != "upstream unavailable" {
			t.Errorf("audit of %s %s = %+v, want one error record", tc.action, tc.object, recs)
		}
	}

	alpha := e.mustConnect(t, "everything", "alpha")
	start := time.Now()
	res, err = callTool(t, alpha, "trigger-long-running-operation", map[string]any{"duration": 20, "steps": 2})
	if err != nil || !res.IsError || !strings.Contains(text(res), "did not answer within 3s") {
		t.Errorf("a 20s operation under a 3s timeout = %+v, %v; want a tool error: did not answer within 3s", res, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the timed-out call took %v", d)
	}
	recs := e.audited(t, "alpha", "gateway.mcp.tools/call", "everything.trigger-long-running-operation")
	if len(recs) != 1 || recs[0].Outcome != "error" || detail(t, recs[0])["error"] != "upstream timeout" {
		t.Errorf("audit of the timed-out call = %+v, want one error record: upstream timeout", recs)
	}
	// The session survives a timeout.
	if res, err := callTool(t, alpha, "echo", map[string]any{"message": "still here"}); err != nil || text(res) != "Echo: still here" {
		t.Errorf("echo after a timeout = %+v, %v", res, err)
	}
}

// rpc sends one JSON-RPC request with no MCP client (protocol 2025-06-18,
// no session: the proxy is stateless) and returns the answer.
func rpc(t *testing.T, url, token, method string, params any) rpcMessage {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	resp := post(t, url, token, string(b))
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d: %s", method, resp.StatusCode, raw)
	}
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				raw = []byte(data)
			}
		}
	}
	var msg rpcMessage
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatalf("%s: %v: %s", method, err, raw)
	}
	return msg
}

type rpcMessage struct {
	Result json.RawMessage `json:"result"`
	Error  *jsonrpc.Error  `json:"error"`
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func post(t *testing.T, url, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
