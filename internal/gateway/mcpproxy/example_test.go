package mcpproxy_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetgov/fleetgov/internal/control"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/gateway/mcpproxy"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// TestExampleFleet: the example fleet's mcp_servers, on the built-in demo
// server, give each example agent the tools its tenant's scope and its §8
// allow, and nothing of another tenant's.
func TestExampleFleet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "fleet")
	if err := os.CopyFS(dir, os.DirFS("../../../examples/fleet")); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fleetgov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	plane, err := control.New(ctx, st, dir, control.Options{})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	p := mcpproxy.New(gateway.New(plane, gateway.Options{Logger: slog.New(slog.DiscardHandler)}), mcpproxy.Options{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	keys := map[string]string{}
	for _, spec := range []string{"support/support-advisor.md", "support/reply-executor.md", "payments/refund-executor.md"} {
		src, err := os.ReadFile(filepath.Join(dir, "specs", spec))
		if err != nil {
			t.Fatal(err)
		}
		res, err := plane.Register(ctx, platform, spec, src)
		if err != nil {
			t.Fatalf("register %s: %v", spec, err)
		}
		keys[res.Agent.ID] = res.AgentKey
	}
	connect := func(agent, server string) (*mcpSession, error) {
		cs, err := connectTo(t, srv.URL+"/gateway/mcp/"+server, keys[agent])
		return &mcpSession{cs}, err
	}

	for _, tc := range []struct {
		agent, server string
		want          []string
	}{
		{"support.support-advisor", "helpdesk", []string{"get_customer_tickets", "get_ticket"}},
		{"support.support-advisor", "kb", []string{"get_article", "search"}},
		{"support.reply-executor", "helpdesk", []string{"get_linked_order", "get_template", "get_ticket", "send_reply", "set_fields"}},
		{"support.reply-executor", "crm", nil},
		{"payments.refund-executor", "crm", []string{"add_case_note"}},
	} {
		cs, err := connect(tc.agent, tc.server)
		if err != nil {
			t.Fatalf("%s on %s: %v", tc.agent, tc.server, err)
		}
		got, err := toolNames(t, cs.ClientSession)
		if err != nil {
			t.Fatalf("%s on %s: tools/list: %v", tc.agent, tc.server, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s on %s: tools/list = %v, want %v", tc.agent, tc.server, got, tc.want)
		}
	}

	// The refund executor writes its case note on the shared CRM.
	refunds, _ := connect("payments.refund-executor", "crm")
	res, err := callTool(t, refunds.ClientSession, "add_case_note", map[string]any{"case_id": "CASE-7001", "note": "carrier confirmed the damage; refunded $64"})
	if err != nil || res.IsError || !strings.Contains(text(res), "refunded $64") {
		t.Errorf("add_case_note = %+v, %v; want the note on the case", res, err)
	}
	// Support's agent cannot write there: the tool is in payments' scope.
	replies, _ := connect("support.reply-executor", "crm")
	if _, err := callTool(t, replies.ClientSession, "add_case_note", map[string]any{"case_id": "CASE-7001", "note": "x"}); err == nil ||
		!strings.Contains(err.Error(), `unknown tool "add_case_note"`) {
		t.Errorf("support's add_case_note = %v, want an unknown-tool error", err)
	}
	var cat4 int
	recs, err := st.ListAudit(ctx, store.AuditFilter{Partition: store.PlatformPartition, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Action == "isolation.cross_tenant" && r.Object == "crm.add_case_note" && strings.Contains(r.Actor, "support.reply-executor") {
			cat4++
		}
	}
	if cat4 != 1 {
		t.Errorf("Cat 4 events of support's add_case_note = %d, want 1", cat4)
	}
	// Payments has no scope on the helpdesk.
	if _, err := connect("payments.refund-executor", "helpdesk"); err == nil || !strings.Contains(err.Error(), "no scope") {
		t.Errorf("payments on helpdesk = %v, want 403: no scope", err)
	}
	// Sends need a human's pre-authorization (executor.irreversible-preauth).
	helpdesk, _ := connect("support.reply-executor", "helpdesk")
	res, err = callTool(t, helpdesk.ClientSession, "send_reply", map[string]any{"ticket_id": 4411, "template": "shipping-delay", "approved_by": "agent-17"})
	if err != nil || !res.IsError || !strings.Contains(text(res), "executor.irreversible-preauth") {
		t.Errorf("send_reply = %+v, %v; want escalated for human review", res, err)
	}
}
