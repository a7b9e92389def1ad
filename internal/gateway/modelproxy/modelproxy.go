// Package modelproxy is the gateway's OpenAI-compatible model proxy, at
// /gateway/openai/v1: chat completions (with and without streaming),
// embeddings and the model list, for the models fleet.yaml names.
//
// Agents call it with their agent key. Before a call is forwarded, its worst
// case (an upper bound of the input tokens plus the output cap, times the
// model's price) is decided by the decision core (the agent's model
// allow-lists and the per-call cost ceiling) and then reserved against every
// budget that applies (fleet, tenant and agent; day, month and total) in the
// store, atomically, so that concurrent calls, also on other replicas, never
// spend past a cap. The provider key is added here and never leaves the
// gateway. After the answer the reservation is settled from the usage the
// provider reported (for a stream: at its end, or at the disconnect), in the
// same transaction as the call's audit record, before the client gets the
// last byte.
package modelproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/fleetgov/fleetgov/internal/budget"
	"github.com/fleetgov/fleetgov/internal/constraint"
	"github.com/fleetgov/fleetgov/internal/decision"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/gateway"
	"github.com/fleetgov/fleetgov/internal/gateway/demoprovider"
	"github.com/fleetgov/fleetgov/internal/gateway/inproc"
	"github.com/fleetgov/fleetgov/internal/store"
)

// Prefix is where the proxy is mounted.
const Prefix = "/gateway/openai/v1"

// maxUpstreamBody bounds a non-streaming upstream answer.
const maxUpstreamBody = 32 << 20

// Options configures a Proxy.
type Options struct {
	// Demo serves the providers whose URL is fleet.BuiltinDemo; a
	// demoprovider with no key if nil.
	Demo http.Handler
	// Transport reaches real providers; http.DefaultTransport's settings if nil.
	Transport http.RoundTripper
}

// Proxy is the model proxy. It is safe for concurrent use.
type Proxy struct {
	g    *gateway.Gateway
	log  *slog.Logger
	demo *http.Client
	net  *http.Client
}

// New returns a proxy for g.
func New(g *gateway.Gateway, opt Options) *Proxy {
	if opt.Demo == nil {
		opt.Demo = demoprovider.New(demoprovider.Options{})
	}
	tr := opt.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 256
		t.ResponseHeaderTimeout = 0
		tr = t
	}
	return &Proxy{g: g, log: g.Logger(), demo: &http.Client{Transport: inproc.Transport{Handler: opt.Demo}},
		net: &http.Client{Transport: tr}}
}

// Handler serves the proxy under Prefix.
func (p *Proxy) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Prefix+"/chat/completions", p.chat)
	mux.HandleFunc("POST "+Prefix+"/embeddings", p.embeddings)
	mux.HandleFunc("GET "+Prefix+"/models", p.models)
	mux.HandleFunc("GET "+Prefix+"/models/{model}", p.model)
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "", fmt.Sprintf("unknown request URL: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// apiError is an error answered in OpenAI's shape. Budget names the
// budget a 429 refused the call on.
type apiError struct {
	status  int
	typ     string
	code    string
	param   string
	msg     string
	budget  string
	fired   []decision.Fired
	outcome string // the audit outcome: refused, deny, escalate, error
	clause  []string
	cross   bool
}

func (e *apiError) Error() string { return e.msg }

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	writeAPIError(w, &apiError{status: status, typ: typ, code: code, param: param, msg: msg})
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"message": e.msg, "type": e.typ, "param": nil, "code": nil}
	if e.param != "" {
		body["param"] = e.param
	}
	if e.code != "" {
		body["code"] = e.code
	}
	if e.budget != "" {
		body["budget"] = e.budget
	}
	if len(e.fired) > 0 {
		body["fired"] = e.fired
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, msg: fmt.Sprintf(format, args...), outcome: "refused"}
}

// call is one model call in flight.
type call struct {
	caller  gateway.Caller
	trace   string
	kind    string // chat or embeddings
	model   fleet.Model
	prov    fleet.Provider
	body    map[string]json.RawMessage
	stream  bool
	usage   bool // the client asked for the usage chunk
	inBound int64
	outCap  int64
	worst   int64
	resID   string
	dec     decision.Decision
	started time.Time
}

// authenticate resolves the agent key; failures are answered here.
func (p *Proxy) authenticate(w http.ResponseWriter, r *http.Request) (gateway.Caller, bool) {
	c, err := p.g.Authenticate(r)
	switch {
	case errors.Is(err, gateway.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "", "unknown or revoked key: the model gateway takes an agent key as a bearer token")
		return gateway.Caller{}, false
	case err != nil:
		p.log.Error("gateway authenticate", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", "", "the gateway could not check the key; try again")
		return gateway.Caller{}, false
	case c.Agent.ID == "":
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "", "the model gateway takes an agent key, not a tenant token: calls are attributed to an agent")
		return gateway.Caller{}, false
	}
	return c, true
}

// readBody reads and decodes the JSON object body, within the size limit.
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, *apiError) {
	limit := p.g.Config().MaxRequestBytes
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
			msg: fmt.Sprintf("the request body is larger than the gateway's limit of %d bytes", limit), outcome: "refused"}
	}
	if err != nil {
		return nil, badRequest("", "reading the request body: %v", err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil || body == nil {
		return nil, badRequest("", "the request body is not a JSON object")
	}
	return body, nil
}

// resolveModel finds the requested model and its provider.
func (p *Proxy) resolveModel(body map[string]json.RawMessage, kind string) (fleet.Model, fleet.Provider, *apiError) {
	var name string
	if err := json.Unmarshal(body["model"], &name); err != nil || name == "" {
		return fleet.Model{}, fleet.Provider{}, badRequest("model", "you must provide a model parameter (a string)")
	}
	cfg := p.g.Config()
	m, ok := cfg.Model(name)
	if !ok {
		return fleet.Model{}, fleet.Provider{}, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "model_not_found", param: "model",
			msg: fmt.Sprintf("the model %q is not offered by the gateway; GET %s/models lists the models you may call", name, Prefix), outcome: "refused"}
	}
	if m.Kind != kind {
		return fleet.Model{}, fleet.Provider{}, badRequest("model", "the model %q is a %s model, not a %s model", name, m.Kind, kind)
	}
	prov, _ := cfg.Provider(m.Provider)
	return m, prov, nil
}

func (p *Proxy) chat(w http.ResponseWriter, r *http.Request) {
	p.serve(w, r, fleet.ModelChat)
}

func (p *Proxy) embeddings(w http.ResponseWriter, r *http.Request) {
	p.serve(w, r, fleet.ModelEmbedding)
}

// serve runs one call: authenticate, validate, decide, reserve, forward,
// settle and audit.
func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, kind string) {
	caller, ok := p.authenticate(w, r)
	if !ok {
		return
	}
	c := &call{caller: caller, trace: gateway.TraceID(r), kind: kind, started: time.Now()}
	w.Header().Set("X-Fleetgov-Trace-Id", c.trace)
	if e := p.ownTenant(r, c); e != nil {
		p.refuse(w, r, c, e)
		return
	}
	if e := p.prepare(r, w, c); e != nil {
		p.refuse(w, r, c, e)
		return
	}
	if e := p.admit(r.Context(), c); e != nil {
		p.refuse(w, r, c, e)
		return
	}
	p.forward(w, r, c)
}

// errCrossTenant answers a call that names a tenant or namespace other than
// its credential's. Its message is the same whatever was named, so that it
// reveals nothing; the call is refused before its body is read.
var errCrossTenant = &apiError{status: http.StatusForbidden, typ: "permission_error", code: "cross_tenant",
	msg:     "a call is metered to the tenant of its credential; a request may not name another one. The attempt was recorded",
	outcome: "refused", cross: true}

// ownTenant refuses a call whose headers or query name another tenant or
// namespace, as a cross-tenant attempt, after asking the decision core
// about it so that the clauses that fire are recorded.
func (p *Proxy) ownTenant(r *http.Request, c *call) *apiError {
	for _, n := range gateway.RequestNamespaces(r) {
		if n == "" || n == c.caller.Tenant() {
			continue
		}
		e := *errCrossTenant
		if d, err := p.g.Decide(r.Context(), c.caller, &constraint.Action{Kind: "model_call", Resource: gateway.ResourceModel,
			TargetTenant: n, Attributes: map[string]any{"namespace": n}, TraceID: c.trace}); err == nil {
			e.clause = gateway.Fired(d)
		}
		return &e
	}
	return nil
}

// prepare reads and validates the request and computes its worst case.
func (p *Proxy) prepare(r *http.Request, w http.ResponseWriter, c *call) *apiError {
	body, e := p.readBody(w, r)
	if e != nil {
		return e
	}
	c.body = body
	if c.model, c.prov, e = p.resolveModel(body, c.kind); e != nil {
		return e
	}
	if c.kind == fleet.ModelEmbedding {
		return c.prepareEmbeddings()
	}
	return c.prepareChat()
}

// prepareChat validates a chat request and bounds its tokens.
func (c *call) prepareChat() *apiError {
	var msgs []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(c.body["messages"], &msgs); err != nil || len(msgs) == 0 {
		return badRequest("messages", "messages must be a non-empty array of {role, content}")
	}
	// An upper bound of the prompt's tokens: no tokenizer makes a token of
	// less than a byte, and chat templates add a few tokens per message.
	var in int64 = 3
	for i, m := range msgs {
		if m.Role == "" {
			return badRequest(fmt.Sprintf("messages[%d].role", i), "each message needs a role")
		}
		in += 8 + int64(len(m.Content))
	}
	if t, ok := c.body["tools"]; ok {
		in += int64(len(t))
	}
	c.inBound = in
	c.outCap = c.model.MaxOutputTokens
	for _, name := range []string{"max_completion_tokens", "max_tokens"} {
		raw, ok := c.body[name]
		if !ok || string(raw) == "null" {
			continue
		}
		var n int64
		if err := json.Unmarshal(raw, &n); err != nil || n < 1 {
			return badRequest(name, "%s must be a positive integer", name)
		}
		if n > c.model.MaxOutputTokens {
			return badRequest(name, "%s %d is above the gateway's cap of %d for %s", name, n, c.model.MaxOutputTokens, c.model.ID)
		}
		c.outCap = min(c.outCap, n)
	}
	if raw, ok := c.body["n"]; ok && string(raw) != "null" && string(raw) != "1" {
		return badRequest("n", "the gateway meters one choice per call: n must be 1")
	}
	if raw, ok := c.body["stream"]; ok {
		if err := json.Unmarshal(raw, &c.stream); err != nil {
			return badRequest("stream", "stream must be a boolean")
		}
	}
	if raw, ok := c.body["stream_options"]; ok && c.stream {
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if err := json.Unmarshal(raw, &so); err != nil {
			return badRequest("stream_options", "stream_options must be an object")
		}
		c.usage = so.IncludeUsage
	}
	c.worst = budget.Cost(c.model, c.inBound, c.outCap)
	return nil
}

// prepareEmbeddings validates an embeddings request and bounds its tokens.
func (c *call) prepareEmbeddings() *apiError {
	raw, ok := c.body["input"]
	if !ok {
		return badRequest("input", "you must provide an input")
	}
	var in int64
	var one string
	var many []string
	var toks [][]int64
	var tok []int64
	switch {
	case json.Unmarshal(raw, &one) == nil:
		in = int64(len(one)) + 1
	case json.Unmarshal(raw, &many) == nil && len(many) > 0:
		for _, s := range many {
			in += int64(len(s)) + 1
		}
	case json.Unmarshal(raw, &tok) == nil && len(tok) > 0:
		in = int64(len(tok))
	case json.Unmarshal(raw, &toks) == nil && len(toks) > 0:
		for _, t := range toks {
			in += int64(len(t))
		}
	default:
		return badRequest("input", "input must be a string, an array of strings, or token arrays")
	}
	c.inBound = in
	c.worst = budget.Cost(c.model, c.inBound, 0)
	return nil
}

// admit decides the call and reserves its worst case.
func (p *Proxy) admit(ctx context.Context, c *call) *apiError {
	act := &constraint.Action{Kind: "model_call", Model: c.model.ID, InputTokens: c.inBound, OutputTokens: c.outCap,
		EstimatedCostUSD: budget.USD(c.worst), Resource: gateway.ResourceModel, TraceID: c.trace}
	d, err := p.g.Decide(ctx, c.caller, act)
	if err != nil {
		p.log.Error("gateway decide", "err", err)
		return &apiError{status: http.StatusInternalServerError, typ: "server_error", msg: "the gateway could not decide the call; try again", outcome: "error"}
	}
	c.dec = d
	switch d.Outcome {
	case decision.Deny, decision.Escalate:
		for _, f := range d.Fired {
			if f.Kind == "limit" && (f.Measure == "cost.per_call_usd" || f.Measure == "tokens.per_call") && f.Effect != constraint.Warn {
				return &apiError{status: http.StatusTooManyRequests, typ: "budget_exceeded", code: "budget_exceeded", budget: f.Clause,
					msg: fmt.Sprintf("per-call ceiling %s (%s): %s; this call's worst case is %d input + %d output tokens, $%.6f; ask for fewer output tokens (max_tokens)",
						f.Clause, f.Tier, f.Reason, c.inBound, c.outCap, budget.USD(c.worst)),
					fired: d.Fired, outcome: string(d.Outcome), clause: gateway.Fired(d)}
			}
		}
		if d.Outcome == decision.Escalate {
			return &apiError{status: http.StatusForbidden, typ: "escalation_required", code: "escalation_required",
				msg:   "the call needs a human reviewer's approval under " + strings.Join(gateway.Fired(d), ", ") + "; a model call cannot wait for one",
				fired: d.Fired, outcome: string(d.Outcome), clause: gateway.Fired(d)}
		}
		return &apiError{status: http.StatusForbidden, typ: "policy_denied", code: "policy_denied",
			msg:   "denied by " + strings.Join(gateway.Fired(d), ", ") + ": " + d.Fired[0].Reason,
			fired: d.Fired, outcome: string(d.Outcome), clause: gateway.Fired(d)}
	}
	if _, why := p.key(c.prov); why != "" {
		p.log.Warn("gateway provider unavailable", "provider", c.prov.ID, "err", why)
		return &apiError{status: http.StatusServiceUnavailable, typ: "provider_unavailable", code: "provider_unavailable",
			msg: fmt.Sprintf("the provider of %s is not configured on this gateway (no key); the platform team sets it in fleet.yaml", c.model.ID), outcome: "error"}
	}
	now := p.g.Now()
	windows := budget.Windows(&p.g.Config().Budgets, c.caller.Tenant(), c.caller.AgentID(), now)
	c.resID = newID()
	err = p.g.Store().Reserve(ctx, store.Reservation{ID: c.resID, Tenant: c.caller.Tenant(), Agent: c.caller.AgentID(),
		Amount: c.worst, Windows: windows, CreatedAt: now})
	var be *store.BudgetExceededError
	if errors.As(err, &be) {
		c.resID = ""
		return &apiError{status: http.StatusTooManyRequests, typ: "budget_exceeded", code: "budget_exceeded", budget: be.Window.Key(),
			msg: fmt.Sprintf("budget %s exceeded: %s has $%.6f of $%.2f left, and this call may cost up to $%.6f (%d input + %d output tokens at %s's price)",
				be.Window.Key(), budget.Describe(be.Window), budget.USD(max(be.Window.Limit-be.Used, 0)), budget.USD(be.Window.Limit),
				budget.USD(c.worst), c.inBound, c.outCap, c.model.ID),
			outcome: "refused", clause: []string{"fleet.model-budget"}}
	}
	if err != nil {
		c.resID = ""
		p.log.Error("gateway reserve", "err", err)
		return &apiError{status: http.StatusInternalServerError, typ: "server_error", msg: "the gateway could not reserve the call's budget; try again", outcome: "error"}
	}
	return nil
}

// refuse audits a refused call and answers it.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, c *call, e *apiError) {
	rec := p.record(c, e.outcome, 0)
	rec.Fired = e.clause
	if e.budget != "" {
		rec.Detail["budget"] = e.budget
	}
	rec.Detail["status"] = e.status
	if e.cross || (len(rec.Fired) == 0 && e.status == http.StatusTooManyRequests) {
		rec.Contract = gateway.ResourceModel
	}
	if err := p.g.Refuse(r.Context(), rec, e.cross); err != nil {
		p.log.Error("gateway audit refusal", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", "", "the gateway could not record the call; nothing was forwarded")
		return
	}
	writeAPIError(w, e)
}

// record is the audit record of c.
func (p *Proxy) record(c *call, outcome string, cost int64) gateway.Record {
	detail := map[string]any{"kind": c.kind}
	if c.model.ID != "" {
		detail["model"] = c.model.ID
		detail["provider"] = c.prov.ID
		detail["input_tokens_bound"] = c.inBound
		detail["reserved_micros"] = c.worst
	}
	if c.kind == fleet.ModelChat && c.model.ID != "" {
		detail["output_cap"] = c.outCap
		detail["stream"] = c.stream
	}
	var warned []string
	for _, f := range c.dec.Fired {
		if f.Effect == constraint.Warn {
			warned = append(warned, f.Clause)
		}
	}
	if len(warned) > 0 && c.dec.Outcome == decision.Allow {
		detail["warned"] = warned
	}
	object := c.model.ID
	if object == "" {
		object = "(unknown model)"
	}
	return gateway.Record{Caller: c.caller, Resource: gateway.ResourceModel, Action: "model." + c.kind, Object: object,
		Outcome: outcome, Cost: cost, TraceID: c.trace, Detail: detail}
}

// key returns a provider's key, or why it has none.
func (p *Proxy) key(prov fleet.Provider) (key, why string) {
	return p.g.ProviderKey(prov.ID)
}

// upstreamRequest builds the provider request: the client's body with the
// provider's model name and an output cap, the provider's key, and none of
// the client's headers.
func (p *Proxy) upstreamRequest(ctx context.Context, c *call) (*http.Request, *http.Client, error) {
	body := make(map[string]json.RawMessage, len(c.body)+2)
	for k, v := range c.body {
		body[k] = v
	}
	body["model"], _ = json.Marshal(c.model.Upstream)
	if c.kind == fleet.ModelChat {
		if _, ok := body["max_tokens"]; !ok {
			body["max_completion_tokens"], _ = json.Marshal(c.outCap)
		}
		if c.stream {
			body["stream_options"] = json.RawMessage(`{"include_usage":true}`)
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	path := "/chat/completions"
	if c.kind == fleet.ModelEmbedding {
		path = "/embeddings"
	}
	client, base := p.net, strings.TrimSuffix(c.prov.URL, "/")
	if c.prov.URL == fleet.BuiltinDemo {
		client, base = p.demo, "http://demo.invalid/v1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.stream {
		req.Header.Set("Accept", "text/event-stream")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	if k, _ := p.key(c.prov); k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	return req, client, nil
}

// forward sends the call upstream and answers the client; the reservation
// is settled (and the call audited) before the answer's last byte.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, c *call) {
	timeout := time.Duration(c.prov.TimeoutSeconds) * time.Second
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	// The server's write timeout suits API calls, not model calls: give
	// this one the provider's timeout, and a stream no deadline at all.
	rc := http.NewResponseController(w)
	if c.stream {
		_ = rc.SetWriteDeadline(time.Time{})
	} else {
		_ = rc.SetWriteDeadline(time.Now().Add(timeout + 30*time.Second))
	}
	req, client, err := p.upstreamRequest(ctx, c)
	if err != nil {
		p.fail(w, r, c, &apiError{status: http.StatusInternalServerError, typ: "server_error", msg: "the gateway could not build the upstream request", outcome: "error"}, err)
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		e := &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_unreachable", outcome: "error",
			msg: fmt.Sprintf("the provider of %s could not be reached", c.model.ID)}
		switch {
		case r.Context().Err() != nil:
			e.code, e.msg = "client_disconnect", "the client hung up before the provider answered"
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			e.status, e.code, e.msg = http.StatusGatewayTimeout, "upstream_timeout", fmt.Sprintf("the provider of %s did not answer within %s", c.model.ID, timeout)
		}
		p.fail(w, r, c, e, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.fail(w, r, c, p.upstreamError(c, resp), nil)
		return
	}
	if c.stream && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		p.relayStream(w, r, ctx, c, resp)
		return
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		e := &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_cut", outcome: "error",
			msg: fmt.Sprintf("the provider of %s broke off its answer", c.model.ID)}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e.status, e.code, e.msg = http.StatusGatewayTimeout, "upstream_timeout", fmt.Sprintf("the provider of %s did not answer within %s", c.model.ID, timeout)
		}
		// The provider may have billed the call: settle at the worst case.
		p.settleAndAnswer(w, r, c, c.worst, "error", map[string]any{"upstream": "cut"}, func() { writeAPIError(w, e) })
		return
	}
	var u struct {
		Usage *struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	actual, extra := c.worst, map[string]any{}
	if err := json.Unmarshal(b, &u); err == nil && u.Usage != nil {
		actual = budget.Cost(c.model, u.Usage.PromptTokens, u.Usage.CompletionTokens)
		extra["input_tokens"], extra["output_tokens"] = u.Usage.PromptTokens, u.Usage.CompletionTokens
	} else {
		extra["usage"] = "missing: settled at the reservation"
	}
	p.settleAndAnswer(w, r, c, actual, string(decision.Allow), extra, func() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
	})
}

// upstreamError maps a provider's error answer. The provider's own words
// are passed on only for request errors, and never when they could hold
// the provider key (authentication errors quote part of it).
func (p *Proxy) upstreamError(c *call, resp *http.Response) *apiError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ue struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Param   string `json:"param"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(b, &ue)
	e := &apiError{status: http.StatusBadGateway, typ: "upstream_error", code: "upstream_error", outcome: "error",
		msg: fmt.Sprintf("the provider of %s answered %d", c.model.ID, resp.StatusCode)}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		p.log.Error("gateway provider refused its key", "provider", c.prov.ID, "status", resp.StatusCode)
		e.msg = fmt.Sprintf("the provider of %s refused the gateway's credential; the platform team must fix it", c.model.ID)
	case resp.StatusCode == http.StatusTooManyRequests:
		e.status, e.typ, e.code = http.StatusTooManyRequests, "upstream_rate_limited", "upstream_rate_limited"
		e.msg = fmt.Sprintf("the provider of %s is rate limiting; retry later", c.model.ID)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		msg := ue.Error.Message
		if _, found := p.g.CredentialIn(msg); found || msg == "" {
			msg = "the provider refused the request"
		}
		e.status, e.typ, e.param = resp.StatusCode, "invalid_request_error", ue.Error.Param
		e.code = "upstream_rejected"
		e.msg = fmt.Sprintf("the provider of %s: %s", c.model.ID, msg)
	}
	return e
}

// fail settles a call that produced no answer at zero (providers do not
// bill failed requests) and answers the error.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, c *call, e *apiError, cause error) {
	if cause != nil {
		p.log.Warn("gateway upstream call failed", "model", c.model.ID, "provider", c.prov.ID, "err", cause)
	}
	p.settleAndAnswer(w, r, c, 0, "error", map[string]any{"status": e.status, "error": e.code}, func() { writeAPIError(w, e) })
}

// settleAndAnswer settles the reservation at actual and audits the call in
// one transaction, then answers with write. If the settlement cannot be
// recorded the client gets a 500 and the reservation stays open for the
// sweeper, which settles it at its worst case: spend is never lost.
func (p *Proxy) settleAndAnswer(w http.ResponseWriter, r *http.Request, c *call, actual int64, outcome string, extra map[string]any, write func()) {
	if err := p.settle(r.Context(), c, actual, outcome, extra); err != nil {
		p.log.Error("gateway settle", "reservation", c.resID, "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "", "", "the gateway could not record the call's cost; it is held at its worst case")
		return
	}
	write()
}

func (p *Proxy) settle(ctx context.Context, c *call, actual int64, outcome string, extra map[string]any) error {
	// The call happened: record it even if the client has gone.
	ctx = context.WithoutCancel(ctx)
	rec := p.record(c, outcome, actual)
	for k, v := range extra {
		rec.Detail[k] = v
	}
	rec.Detail["latency_ms"] = time.Since(c.started).Milliseconds()
	rec.Fired = gateway.Fired(c.dec)
	return p.g.Finish(ctx, rec, func(tx store.Tx) error {
		return tx.Settle(ctx, c.resID, actual, p.g.Now())
	})
}

// relayStream passes a server-sent event stream on, event by event, and
// settles from the usage chunk at its end, or from what was received when
// either side breaks off.
func (p *Proxy) relayStream(w http.ResponseWriter, r *http.Request, ctx context.Context, c *call, resp *http.Response) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	var (
		usage    *[2]int64
		received int64 // content bytes received, an upper bound of output tokens
		done     bool
		clientOK = true
		skipped  bool // the last data line was held back: drop its blank line too
	)
	rd := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := rd.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An event longer than the buffer: read it whole.
			rest, err2 := rd.ReadBytes('\n')
			line, err = append(append([]byte(nil), line...), rest...), err2
		}
		if len(line) > 0 {
			data, isData := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data: "))
			forward := true
			if isData {
				switch {
				case bytes.Equal(data, []byte("[DONE]")):
					done = true
				default:
					var ch struct {
						Choices []struct {
							Delta struct {
								Content string `json:"content"`
							} `json:"delta"`
						} `json:"choices"`
						Usage *struct {
							PromptTokens     int64 `json:"prompt_tokens"`
							CompletionTokens int64 `json:"completion_tokens"`
						} `json:"usage"`
					}
					if json.Unmarshal(data, &ch) == nil {
						for _, ci := range ch.Choices {
							received += int64(len(ci.Delta.Content))
						}
						if ch.Usage != nil {
							usage = &[2]int64{ch.Usage.PromptTokens, ch.Usage.CompletionTokens}
							// The usage-only chunk goes to clients that asked for it.
							forward = c.usage || len(ch.Choices) > 0
						}
					}
				}
			}
			if done {
				// Settle before the client sees the end of the stream.
				break
			}
			switch blank := len(bytes.TrimSpace(line)) == 0; {
			case !forward:
				skipped = true
			case blank && skipped:
				forward, skipped = false, false
			default:
				skipped = false
			}
			if forward && clientOK {
				if _, werr := w.Write(line); werr != nil {
					clientOK = false
				} else if fl != nil && len(bytes.TrimSpace(line)) == 0 {
					fl.Flush()
				}
			}
			if !clientOK {
				break // the client went away: stop the upstream call
			}
		}
		if err != nil {
			break
		}
	}
	cancelled := r.Context().Err() != nil || !clientOK
	extra := map[string]any{"stream_end": "done"}
	var actual int64
	switch {
	case usage != nil:
		actual = budget.Cost(c.model, usage[0], usage[1])
		extra["input_tokens"], extra["output_tokens"] = usage[0], usage[1]
	default:
		// Broken off before the usage chunk: the prompt's bound plus one
		// token per byte received, at most the reservation.
		actual = min(c.worst, budget.Cost(c.model, c.inBound, min(received+1, c.outCap)))
		extra["usage"] = "missing: settled from the bytes received"
	}
	switch {
	case cancelled:
		extra["stream_end"] = "client_disconnect"
	case !done:
		extra["stream_end"] = "upstream_cut"
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			extra["stream_end"] = "upstream_timeout"
		}
	}
	outcome := string(decision.Allow)
	if extra["stream_end"] != "done" {
		outcome = "error"
	}
	if err := p.settle(context.WithoutCancel(r.Context()), c, actual, outcome, extra); err != nil {
		p.log.Error("gateway settle stream", "reservation", c.resID, "err", err)
		if clientOK && !cancelled {
			_, _ = fmt.Fprint(w, "data: {\"error\":{\"message\":\"the gateway could not record the call's cost; it is held at its worst case\",\"type\":\"server_error\"}}\n\n")
		}
		return
	}
	if clientOK && !cancelled {
		if done {
			_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
		} else {
			_, _ = fmt.Fprintf(w, "data: {\"error\":{\"message\":%q,\"type\":\"upstream_error\",\"code\":%q}}\n\n",
				fmt.Sprintf("the provider of %s broke off the stream", c.model.ID), extra["stream_end"])
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// models lists the models the calling agent may call.
func (p *Proxy) models(w http.ResponseWriter, r *http.Request) {
	caller, ok := p.authenticate(w, r)
	if !ok {
		return
	}
	data := []any{}
	for _, m := range p.g.Config().Models {
		if p.mayCall(r.Context(), caller, m) {
			data = append(data, modelObject(m))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

func (p *Proxy) model(w http.ResponseWriter, r *http.Request) {
	caller, ok := p.authenticate(w, r)
	if !ok {
		return
	}
	m, found := p.g.Config().Model(r.PathValue("model"))
	if !found || !p.mayCall(r.Context(), caller, m) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found", "model", fmt.Sprintf("the model %q is not offered to this agent", r.PathValue("model")))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(modelObject(m))
}

// mayCall reports whether the agent's allow-lists admit the model.
func (p *Proxy) mayCall(ctx context.Context, c gateway.Caller, m fleet.Model) bool {
	d, err := p.g.Decide(ctx, c, &constraint.Action{Kind: "model_call", Model: m.ID})
	if err != nil {
		return false
	}
	for _, f := range d.Fired {
		if f.Kind == "allow" && f.Effect != constraint.Warn {
			return false
		}
	}
	return true
}

func modelObject(m fleet.Model) map[string]any {
	return map[string]any{"id": m.ID, "object": "model", "created": 0, "owned_by": m.Provider,
		"fleetgov": map[string]any{"kind": m.Kind, "input_usd_per_mtok": m.InputUSDPerMTok, "output_usd_per_mtok": m.OutputUSDPerMTok, "max_output_tokens": m.MaxOutputTokens}}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "res_" + hex.EncodeToString(b[:])
}
