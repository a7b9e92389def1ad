package demomcp

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fleetgov/fleetgov/internal/gateway/inproc"
)

// bearer adds an Authorization header, as the gateway does.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

// connect opens a real MCP client session with a demo server, in process.
func connect(t *testing.T, s *Server, token string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: bearer{base: inproc.Transport{Handler: s}, token: token}}
	c := mcp.NewClient(&mcp.Implementation{Name: "demomcp-test", Version: "1"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: "http://demo.invalid/mcp", HTTPClient: hc, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (*mcp.CallToolResult, map[string]any) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool(%s): %v", name, err)
	}
	var out map[string]any
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		_ = json.Unmarshal(b, &out)
	}
	return res, out
}

func TestCatalogs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id   string
		want []string
	}{
		{"helpdesk", []string{"add_internal_note", "assign_queue", "close_ticket", "echo", "get_attachment_text", "get_customer_tickets",
			"get_linked_order", "get_template", "get_ticket", "list_new_tickets", "send_reply", "set_fields", "whoami"}},
		{"crm", []string{"add_case_note", "close_ticket", "echo", "get_case", "whoami"}},
		{"kb", []string{"echo", "get_article", "search", "whoami"}},
		{"anything-else", []string{"echo", "whoami"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			cs := connect(t, New(tc.id, Options{}), "")
			var got []string
			for tool, err := range cs.Tools(t.Context(), nil) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tool.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("tools of %s = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestWhoAmI(t *testing.T) {
	t.Parallel()
	const secret = "demo-upstream-secret-for-support"
	s := New("helpdesk", Options{})
	for _, tc := range []struct {
		name, token string
		want        WhoAmI
	}{
		{"with a credential", secret, WhoAmI{Server: "helpdesk", Credential: true, Header: "Authorization", Fingerprint: Fingerprint(secret)}},
		{"without", "", WhoAmI{Server: "helpdesk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, _ := call(t, connect(t, s, tc.token), "whoami", nil)
			var got WhoAmI
			b, _ := json.Marshal(res.StructuredContent)
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			got.Note = ""
			if got != tc.want {
				t.Errorf("whoami = %+v, want %+v", got, tc.want)
			}
			if strings.Contains(string(b), secret) || len(got.Fingerprint) != 0 && len(got.Fingerprint) != 8 {
				t.Errorf("whoami = %s: want an 8-digit fingerprint and never the credential", b)
			}
		})
	}
}

func TestHelpdesk(t *testing.T) {
	t.Parallel()
	cs := connect(t, New("helpdesk", Options{}), "")
	_, out := call(t, cs, "add_internal_note", map[string]any{"ticket_id": 4412, "note": "routed to returns: damaged on arrival"})
	notes, _ := out["internal_notes"].([]any)
	if len(notes) != 1 {
		t.Fatalf("add_internal_note = %v, want one note", out)
	}
	_, out = call(t, cs, "get_ticket", map[string]any{"ticket_id": 4412})
	if notes, _ := out["internal_notes"].([]any); len(notes) != 1 || out["subject"] != "Kettle arrived broken" {
		t.Errorf("get_ticket after a note = %v, want the note kept", out)
	}
	_, out = call(t, cs, "get_linked_order", map[string]any{"ticket_id": 4411})
	if out["tracking"] == nil || out["order"] != "NW-20931" {
		t.Errorf("get_linked_order(4411) = %v, want NW-20931 with tracking", out)
	}
	res, _ := call(t, cs, "get_ticket", map[string]any{"ticket_id": 9999})
	if !res.IsError {
		t.Errorf("get_ticket(9999) = %+v, want a tool error", res)
	}
	res, _ = call(t, cs, "send_reply", map[string]any{"ticket_id": 4411, "template": "shipping-delay"})
	if !res.IsError {
		t.Errorf("send_reply without approved_by = %+v, want a tool error", res)
	}
	_, out = call(t, cs, "send_reply", map[string]any{"ticket_id": 4411, "template": "shipping-delay", "approved_by": "agent-17"})
	if out["channel"] != "email" {
		t.Errorf("send_reply = %v, want sent by email", out)
	}
}

func TestCRMAndKB(t *testing.T) {
	t.Parallel()
	crm := connect(t, New("crm", Options{}), "")
	_, out := call(t, crm, "add_case_note", map[string]any{"case_id": "CASE-7001", "note": "carrier confirmed damage; refund $64"})
	if notes, _ := out["notes"].([]any); len(notes) != 1 {
		t.Errorf("add_case_note = %v, want one note", out)
	}
	kb := connect(t, New("kb", Options{}), "")
	_, out = call(t, kb, "search", map[string]any{"query": "damaged"})
	if res, _ := out["results"].([]any); len(res) != 1 {
		t.Errorf("search(damaged) = %v, want one article", out)
	}
}
