// Package demomcp is a small MCP server (Streamable HTTP, the official Go
// SDK) that runs in process: the gateway's built-in demo upstream for MCP
// servers whose URL in fleet.yaml is "builtin:demo", so that the gateway
// works with no internet. The gateway reaches it through an in-process
// http.RoundTripper (package inproc), never a network port.
//
// Which tools it offers depends on the fleet.yaml server id it stands in
// for: "helpdesk" (tickets, notes, templated replies), "crm" (cases and
// case notes) and "kb" (knowledge-base search); any other id gets only the
// tools every demo server has, echo and whoami. whoami reports a non-secret
// fingerprint of the credential the request carried (the first 8 hex
// digits of the SHA-256 of the bearer token), so that the gateway's
// per-tenant credential injection is visible.
//
// Unlike a real upstream, it accepts a call that carries no credential
// (whoami then says so): the demo works before anyone sets the credential
// variables fleet.yaml names. Its data is canned; writes (notes, field
// changes) are kept in memory for the life of the process.
package demomcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Server is a demo MCP server. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	id  string
	h   http.Handler
	now func() time.Time

	mu      sync.Mutex
	tickets map[int]*ticket
	cases   map[string]*crmCase
}

// Options configures a Server.
type Options struct {
	// Now stamps notes; time.Now if nil.
	Now func() time.Time
}

// New returns the demo server standing in for the fleet.yaml MCP server id.
func New(id string, opt Options) *Server {
	s := &Server{id: id, now: opt.Now, tickets: demoTickets(), cases: demoCases()}
	if s.now == nil {
		s.now = time.Now
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "fleetgov-demo-" + id, Title: "fleetgov demo MCP server (" + id + ")", Version: "1.0.0"},
		&mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{}})
	s.common(srv)
	switch id {
	case "helpdesk":
		s.helpdesk(srv)
	case "crm":
		s.crm(srv)
	case "kb":
		s.kb(srv)
	}
	s.h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		// It is reached in process, never on a socket: DNS-rebinding
		// protection has nothing to protect.
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, DisableLocalhostProtection: true})
	return s
}

// ServeHTTP serves MCP Streamable HTTP at any path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Fingerprint is the label whoami reports for a credential: the first 8 hex
// digits of its SHA-256. It identifies a credential without revealing it.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// readOnly and writes annotate the tools.
var (
	readOnly = &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: new(false)}
	writes   = &mcp.ToolAnnotations{DestructiveHint: new(false), OpenWorldHint: new(false)}
)

// --- every demo server ---

type echoIn struct {
	Message string `json:"message" jsonschema:"the text to echo back"`
}

type echoOut struct {
	Echo string `json:"echo"`
}

// WhoAmI is whoami's answer.
type WhoAmI struct {
	Server string `json:"server"`
	// Credential is true when the request carried one.
	Credential bool `json:"credential"`
	// Header is the header the credential came in.
	Header string `json:"header,omitempty"`
	// Fingerprint is Fingerprint of the credential.
	Fingerprint string `json:"fingerprint,omitempty"`
	Note        string `json:"note"`
}

func (s *Server) common(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "Echoes the message back.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
			return nil, echoOut{Echo: in.Message}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Annotations: readOnly,
		Description: "Reports which upstream credential this server received, as a fingerprint (first 8 hex digits of its SHA-256), never the credential itself."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoAmI, error) {
			out := WhoAmI{Server: s.id}
			var h http.Header
			if req.Extra != nil {
				h = req.Extra.Header
			}
			for _, name := range []string{"Authorization", "X-Api-Key"} {
				v := h.Get(name)
				if v == "" {
					continue
				}
				if name == "Authorization" {
					v = strings.TrimSpace(strings.TrimPrefix(v, "Bearer "))
				}
				out.Credential, out.Header, out.Fingerprint = true, name, Fingerprint(v)
				break
			}
			if out.Credential {
				out.Note = "the credential the gateway injected for the calling tenant"
			} else {
				out.Note = "no credential: the demo server accepts that, a real upstream would reject the call"
			}
			return nil, out, nil
		})
}

// --- helpdesk ---

type ticket struct {
	ID         int      `json:"ticket_id"`
	Subject    string   `json:"subject"`
	Customer   string   `json:"customer"`
	Status     string   `json:"status"`
	Priority   string   `json:"priority"`
	Category   string   `json:"category,omitempty"`
	Tags       []string `json:"tags"`
	Queue      string   `json:"queue,omitempty"`
	Order      string   `json:"order,omitempty"`
	Body       string   `json:"body"`
	Attachment string   `json:"attachment,omitempty"`
	Notes      []note   `json:"internal_notes"`
	Replies    []note   `json:"replies"`
}

type note struct {
	Text string    `json:"text"`
	By   string    `json:"by,omitempty"`
	At   time.Time `json:"at"`
}

func demoTickets() map[int]*ticket {
	ts := []*ticket{
		{ID: 4411, Subject: "Where is my order?", Customer: "jo.baker@example.com", Status: "new", Priority: "normal",
			Order: "NW-20931", Body: "Ordered a kettle two weeks ago and the tracking has not moved since Tuesday."},
		{ID: 4412, Subject: "Kettle arrived broken", Customer: "jo.baker@example.com", Status: "new", Priority: "high",
			Order: "NW-20931", Body: "The lid hinge snapped in the box. Photo attached.", Attachment: "Photo: kettle lid, hinge snapped at the left pin."},
		{ID: 4413, Subject: "Change delivery address", Customer: "sam.ortiz@example.com", Status: "open", Priority: "normal",
			Category: "delivery", Queue: "logistics", Order: "NW-21077", Body: "Please send order NW-21077 to my office instead."},
	}
	m := map[int]*ticket{}
	for _, t := range ts {
		t.Tags, t.Notes, t.Replies = []string{}, []note{}, []note{}
		m[t.ID] = t
	}
	return m
}

var orders = map[string]map[string]string{
	"NW-20931": {"order": "NW-20931", "placed": "2026-11-02", "shipped": "2026-11-04", "carrier": "Parcelway",
		"tracking": "https://track.parcelway.example/PW88213", "value_usd": "64.00"},
	"NW-21077": {"order": "NW-21077", "placed": "2026-11-19", "carrier": "Parcelway", "value_usd": "129.00"},
}

var templates = map[string]string{
	"shipping-delay":  "Hi {{name}}, your order {{order}} is on its way; you can follow it at {{tracking}}. Sorry for the wait.",
	"damaged-item":    "Hi {{name}}, we are sorry order {{order}} arrived damaged. A replacement is on its way.",
	"address-changed": "Hi {{name}}, order {{order}} will now be delivered to the new address.",
}

type ticketIn struct {
	TicketID int `json:"ticket_id" jsonschema:"the ticket number, e.g. 4411"`
}

type ticketsOut struct {
	Tickets []*ticket `json:"tickets"`
}

type customerIn struct {
	Customer string `json:"customer" jsonschema:"the customer's e-mail address"`
}

type templateIn struct {
	Name string `json:"name" jsonschema:"the template family, e.g. shipping-delay"`
}

type noteIn struct {
	TicketID int    `json:"ticket_id"`
	Note     string `json:"note" jsonschema:"the note text, visible to agents only"`
}

type fieldsIn struct {
	TicketID int      `json:"ticket_id"`
	Status   string   `json:"status,omitempty" jsonschema:"new, open, pending or solved"`
	Priority string   `json:"priority,omitempty"`
	Category string   `json:"category,omitempty"`
	Tags     []string `json:"tags,omitempty"`
}

type queueIn struct {
	TicketID int    `json:"ticket_id"`
	Queue    string `json:"queue" jsonschema:"the support queue, e.g. logistics or returns"`
}

type replyIn struct {
	TicketID   int    `json:"ticket_id"`
	Template   string `json:"template" jsonschema:"the approved template family"`
	ApprovedBy string `json:"approved_by" jsonschema:"the id of the human agent who approved the reply"`
}

type sentOut struct {
	TicketID int    `json:"ticket_id"`
	Sent     string `json:"sent"`
	Channel  string `json:"channel"`
}

func (s *Server) helpdesk(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{Name: "list_new_tickets", Description: "Lists the tickets in the support inbox with status new.", Annotations: readOnly},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, ticketsOut, error) {
			return nil, s.findTickets(func(t *ticket) bool { return t.Status == "new" }), nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_ticket", Description: "Returns one ticket with its internal notes and replies.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in ticketIn) (*mcp.CallToolResult, *ticket, error) {
			return s.withTicket(in.TicketID, func(t *ticket) error { return nil })
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_customer_tickets", Description: "Lists a customer's tickets.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in customerIn) (*mcp.CallToolResult, ticketsOut, error) {
			return nil, s.findTickets(func(t *ticket) bool { return strings.EqualFold(t.Customer, in.Customer) }), nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_attachment_text", Description: "Returns the text extracted from a ticket's attachment.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in ticketIn) (*mcp.CallToolResult, map[string]any, error) {
			t, err := s.ticket(in.TicketID)
			if err != nil {
				return nil, nil, err
			}
			return nil, map[string]any{"ticket_id": t.ID, "text": t.Attachment}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_template", Description: "Returns an approved reply template.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in templateIn) (*mcp.CallToolResult, map[string]any, error) {
			body, ok := templates[in.Name]
			if !ok {
				return nil, nil, fmt.Errorf("no template %q; known: %s", in.Name, strings.Join(slices.Sorted(maps.Keys(templates)), ", "))
			}
			return nil, map[string]any{"name": in.Name, "body": body}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_linked_order", Description: "Returns the order linked to a ticket: number, dates and tracking link.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in ticketIn) (*mcp.CallToolResult, map[string]string, error) {
			t, err := s.ticket(in.TicketID)
			if err != nil {
				return nil, nil, err
			}
			o, ok := orders[t.Order]
			if !ok {
				return nil, nil, fmt.Errorf("ticket %d has no linked order", t.ID)
			}
			return nil, o, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "set_fields", Description: "Sets a ticket's status, priority, category or tags.", Annotations: writes},
		func(_ context.Context, _ *mcp.CallToolRequest, in fieldsIn) (*mcp.CallToolResult, *ticket, error) {
			return s.withTicket(in.TicketID, func(t *ticket) error {
				if in.Status != "" {
					if !slices.Contains([]string{"new", "open", "pending", "solved", "closed"}, in.Status) {
						return fmt.Errorf("status %q: want new, open, pending, solved or closed", in.Status)
					}
					t.Status = in.Status
				}
				if in.Priority != "" {
					t.Priority = in.Priority
				}
				if in.Category != "" {
					t.Category = in.Category
				}
				if in.Tags != nil {
					t.Tags = append([]string(nil), in.Tags...)
				}
				return nil
			})
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "assign_queue", Description: "Moves a ticket to a support queue.", Annotations: writes},
		func(_ context.Context, _ *mcp.CallToolRequest, in queueIn) (*mcp.CallToolResult, *ticket, error) {
			return s.withTicket(in.TicketID, func(t *ticket) error {
				if in.Queue == "" {
					return fmt.Errorf("queue is required")
				}
				t.Queue = in.Queue
				return nil
			})
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "add_internal_note", Description: "Adds a note to a ticket, visible to agents only.", Annotations: writes},
		func(_ context.Context, _ *mcp.CallToolRequest, in noteIn) (*mcp.CallToolResult, *ticket, error) {
			return s.withTicket(in.TicketID, func(t *ticket) error {
				if strings.TrimSpace(in.Note) == "" {
					return fmt.Errorf("note is empty")
				}
				t.Notes = append(t.Notes, note{Text: in.Note, At: s.now().UTC()})
				return nil
			})
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "send_reply", Description: "Sends an approved template as the reply on the ticket's own channel (the demo sends nothing).",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(false), OpenWorldHint: new(true)}},
		func(_ context.Context, _ *mcp.CallToolRequest, in replyIn) (*mcp.CallToolResult, sentOut, error) {
			body, ok := templates[in.Template]
			if !ok {
				return nil, sentOut{}, fmt.Errorf("no template %q", in.Template)
			}
			if in.ApprovedBy == "" {
				return nil, sentOut{}, fmt.Errorf("approved_by is required")
			}
			_, _, err := s.withTicket(in.TicketID, func(t *ticket) error {
				t.Replies = append(t.Replies, note{Text: body, By: in.ApprovedBy, At: s.now().UTC()})
				t.Status = "pending"
				return nil
			})
			if err != nil {
				return nil, sentOut{}, err
			}
			return nil, sentOut{TicketID: in.TicketID, Sent: body, Channel: "email"}, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "close_ticket", Description: "Closes a ticket for good.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(true), OpenWorldHint: new(false)}},
		func(_ context.Context, _ *mcp.CallToolRequest, in ticketIn) (*mcp.CallToolResult, *ticket, error) {
			return s.withTicket(in.TicketID, func(t *ticket) error { t.Status = "closed"; return nil })
		})
}

func (s *Server) ticket(id int) (ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return ticket{}, fmt.Errorf("no ticket %d", id)
	}
	return *t, nil
}

// withTicket applies f to a ticket and returns a copy of the result.
func (s *Server) withTicket(id int, f func(*ticket) error) (*mcp.CallToolResult, *ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return nil, nil, fmt.Errorf("no ticket %d", id)
	}
	if err := f(t); err != nil {
		return nil, nil, err
	}
	c := *t
	c.Tags, c.Notes, c.Replies = slices.Clone(t.Tags), slices.Clone(t.Notes), slices.Clone(t.Replies)
	return nil, &c, nil
}

func (s *Server) findTickets(match func(*ticket) bool) ticketsOut {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ticketsOut{Tickets: []*ticket{}}
	for _, t := range s.tickets {
		if match(t) {
			c := *t
			out.Tickets = append(out.Tickets, &c)
		}
	}
	sort.Slice(out.Tickets, func(i, j int) bool { return out.Tickets[i].ID < out.Tickets[j].ID })
	return out
}

// --- crm ---

type crmCase struct {
	ID       string `json:"case_id"`
	Customer string `json:"customer"`
	Order    string `json:"order"`
	Status   string `json:"status"`
	Summary  string `json:"summary"`
	Notes    []note `json:"notes"`
}

func demoCases() map[string]*crmCase {
	return map[string]*crmCase{
		"CASE-7001": {ID: "CASE-7001", Customer: "jo.baker@example.com", Order: "NW-20931", Status: "open",
			Summary: "Refund claim: kettle arrived damaged", Notes: []note{}},
		"CASE-7002": {ID: "CASE-7002", Customer: "lee.chan@example.com", Order: "NW-19410", Status: "open",
			Summary: "Refund claim: parcel lost in transit", Notes: []note{}},
	}
}

type caseIn struct {
	CaseID string `json:"case_id" jsonschema:"the case id, e.g. CASE-7001"`
}

type caseNoteIn struct {
	CaseID string `json:"case_id"`
	Note   string `json:"note" jsonschema:"the note, citing the evidence used"`
}

func (s *Server) crm(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{Name: "get_case", Description: "Returns a CRM case with its notes.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in caseIn) (*mcp.CallToolResult, *crmCase, error) {
			return s.withCase(in.CaseID, func(*crmCase) error { return nil })
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "add_case_note", Description: "Adds a note to a CRM case.", Annotations: writes},
		func(_ context.Context, _ *mcp.CallToolRequest, in caseNoteIn) (*mcp.CallToolResult, *crmCase, error) {
			return s.withCase(in.CaseID, func(c *crmCase) error {
				if strings.TrimSpace(in.Note) == "" {
					return fmt.Errorf("note is empty")
				}
				c.Notes = append(c.Notes, note{Text: in.Note, At: s.now().UTC()})
				return nil
			})
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "close_ticket", Description: "Closes a CRM case.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(true), OpenWorldHint: new(false)}},
		func(_ context.Context, _ *mcp.CallToolRequest, in caseIn) (*mcp.CallToolResult, *crmCase, error) {
			return s.withCase(in.CaseID, func(c *crmCase) error { c.Status = "closed"; return nil })
		})
}

func (s *Server) withCase(id string, f func(*crmCase) error) (*mcp.CallToolResult, *crmCase, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cases[id]
	if !ok {
		return nil, nil, fmt.Errorf("no case %q", id)
	}
	if err := f(c); err != nil {
		return nil, nil, err
	}
	out := *c
	out.Notes = slices.Clone(c.Notes)
	return nil, &out, nil
}

// --- kb ---

type article struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
}

var articles = []article{
	{ID: "KB-101", Title: "Tracking a delayed parcel", Body: "Parcelway updates tracking once a day. A parcel without a scan for 5 working days is treated as lost; open a claim."},
	{ID: "KB-102", Title: "Damaged on arrival: replacements and refunds", Body: "Ask for a photo. Items under $200 are replaced or refunded without a return."},
	{ID: "KB-103", Title: "Changing a delivery address", Body: "The address can change until the order ships. After that, ask the carrier for a redirect."},
}

type searchIn struct {
	Query string `json:"query" jsonschema:"words to look for"`
}

type searchOut struct {
	Results []article `json:"results"`
}

type articleIn struct {
	ID string `json:"id" jsonschema:"the article id, e.g. KB-101"`
}

func (s *Server) kb(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{Name: "search", Description: "Searches the published knowledge-base articles.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in searchIn) (*mcp.CallToolResult, searchOut, error) {
			out := searchOut{Results: []article{}}
			words := strings.Fields(strings.ToLower(in.Query))
			for _, a := range articles {
				text := strings.ToLower(a.Title + " " + a.Body)
				for _, w := range words {
					if strings.Contains(text, w) {
						out.Results = append(out.Results, article{ID: a.ID, Title: a.Title})
						break
					}
				}
			}
			return nil, out, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "get_article", Description: "Returns a published knowledge-base article.", Annotations: readOnly},
		func(_ context.Context, _ *mcp.CallToolRequest, in articleIn) (*mcp.CallToolResult, article, error) {
			for _, a := range articles {
				if a.ID == in.ID {
					return nil, a, nil
				}
			}
			return nil, article{}, fmt.Errorf("no article %q", in.ID)
		})
}
