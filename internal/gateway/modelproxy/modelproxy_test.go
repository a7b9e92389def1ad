package modelproxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/fleetgov/fleetgov/internal/budget"
	"github.com/fleetgov/fleetgov/internal/fleet"
	"github.com/fleetgov/fleetgov/internal/gateway/demoprovider"
	"github.com/fleetgov/fleetgov/internal/gateway/gatewaytest"
	"github.com/fleetgov/fleetgov/internal/gateway/modelproxy"
	"github.com/fleetgov/fleetgov/internal/store"
	"github.com/fleetgov/fleetgov/internal/store/sqlite"
)

// upstreamKey is the provider key the gateway holds; agents never see it.
const upstreamKey = "sk-upstream-test-9f8e7d6c5b4a39281706"

// Agents of the example fleet used here: the refund executor may call the
// fleet-demo-* models; the test buyer (tenant adlab) gets a small total
// budget for the exactness test.
const (
	refunder = "payments.refund-executor"
	buyer    = "adlab.test-buyer"
	guardian = "payments.payout-guardian" // allowed gpt-4o-mini only
)

// upstream is the faithful OpenAI-compatible provider the gateway
// forwards to, with switches for the failures the tests need.
type upstream struct {
	*demoprovider.Provider
	mode atomic.Value // "", "500", "401", "slow", "cut", "hold"
	hold chan struct{}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode, _ := u.mode.Load().(string)
	switch mode {
	case "500":
		u.Requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`)
		return
	case "401":
		u.Requests.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: sk-upstr***1706.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
		return
	case "slow":
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
	case "cut":
		// Two content chunks, then the connection drops.
		u.Requests.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello \"},\"finish_reason\":null}]}\n\n")
		_, _ = io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"there \"},\"finish_reason\":null}]}\n\n")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case "trickle":
		// One chunk, then nothing until the caller hangs up.
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello \"},\"finish_reason\":null}]}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	case "hold":
		// Read the request first: the server notices a client that hangs
		// up only once the body is consumed.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		select {
		case <-u.hold:
		case <-r.Context().Done():
			return
		}
	}
	u.Provider.ServeHTTP(w, r)
}

type env struct {
	*gatewaytest.Env
	up  *upstream
	srv *httptest.Server
}

// start runs a gateway over the example fleet whose demo provider is
// replaced by the test upstream, with two extra models: fleet-demo-xl
// (expensive enough to break the per-call ceiling) and fleet-demo-unit (one
// micro-USD per token, for exact arithmetic).
func start(t *testing.T, st store.Store) *env {
	t.Helper()
	return startTimeout(t, st, 1)
}

// startTimeout is start with the provider's timeout in seconds.
func startTimeout(t *testing.T, st store.Store, timeout int) *env {
	t.Helper()
	up := &upstream{Provider: demoprovider.New(demoprovider.Options{Key: upstreamKey}), hold: make(chan struct{})}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	keyFile := filepath.Join(t.TempDir(), "provider-key")
	if err := os.WriteFile(keyFile, []byte(upstreamKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ge := gatewaytest.Start(t, gatewaytest.Options{Store: st, Edit: func(tb testing.TB, dir string) {
		gatewaytest.ReplaceInFile(tb, dir, "fleet.yaml", "    - id: demo\n      url: builtin:demo\n",
			fmt.Sprintf("    - id: demo\n      url: %s/v1\n      api_key_file: %s\n      timeout_seconds: %d\n", upSrv.URL, keyFile, timeout))
		gatewaytest.ReplaceInFile(tb, dir, "fleet.yaml", "  models:\n", `  models:
    - id: fleet-demo-xl
      provider: demo
      input_usd_per_mtok: 10
      output_usd_per_mtok: 100
      max_output_tokens: 4096
    - id: fleet-demo-unit
      provider: demo
      input_usd_per_mtok: 1
      output_usd_per_mtok: 1
      max_output_tokens: 1000
`)
		gatewaytest.ReplaceInFile(tb, dir, "fleet.yaml", "      payments.refund-executor: {day: 3}\n",
			"      payments.refund-executor: {day: 3}\n      adlab.test-buyer: {total: 0.01}\n")
	}})
	p := modelproxy.New(ge.Gateway, modelproxy.Options{})
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return &env{Env: ge, up: up, srv: srv}
}

func (e *env) client(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(e.srv.URL+modelproxy.Prefix+"/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// post sends a raw request to the proxy and returns the status and the
// decoded error object, if any.
func (e *env) post(t *testing.T, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+modelproxy.Prefix+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error map[string]any `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out.Error
}

// audit returns the gateway records of a tenant's partition.
func (e *env) audit(t *testing.T, tenant string) []store.AuditRecord {
	t.Helper()
	recs, err := e.Store.ListAudit(context.Background(), store.AuditFilter{Partition: tenant})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditRecord
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "gateway.") {
			out = append(out, r)
		}
	}
	return out
}

func (e *env) spent(t *testing.T, scope, period string) store.BudgetUsage {
	t.Helper()
	u, err := e.Store.BudgetUsage(context.Background(), store.BudgetWindow{Scope: scope, Period: period})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) noOpenReservations(t *testing.T) {
	t.Helper()
	open, err := e.Store.ListOpenReservations(context.Background(), time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 0 {
		t.Errorf("%d reservations left open, want none: %+v", len(open), open)
	}
}

func today() string { return "day:" + time.Now().UTC().Format("2006-01-02") }

func TestChat(t *testing.T) {
	e := start(t, nil)
	c := e.client(e.Agents[refunder])
	resp, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:     "fleet-demo-mini",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Is order 1182 eligible for a refund?")},
		MaxTokens: openai.Int(200),
	})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if len(resp.Choices) != 1 || !strings.Contains(resp.Choices[0].Message.Content, "order 1182") {
		t.Fatalf("chat answer = %+v, want the demo answer about order 1182", resp.Choices)
	}
	if got := e.up.LastAuthorization.Load(); got != "Bearer "+upstreamKey {
		t.Errorf("upstream saw Authorization %q, want the provider key (never the agent's)", got)
	}
	m := fleetModel(t, e, "fleet-demo-mini")
	want := budget.Cost(m, resp.Usage.PromptTokens, resp.Usage.CompletionTokens)
	if want <= 0 {
		t.Fatalf("usage %+v costs nothing", resp.Usage)
	}
	for _, scope := range []string{"fleet", "tenant:payments", "agent:" + refunder} {
		if u := e.spent(t, scope, today()); u.Spent != want || u.Reserved != 0 {
			t.Errorf("%s %s = %+v, want spent %d, nothing reserved", scope, today(), u, want)
		}
	}
	recs := e.audit(t, "payments")
	if len(recs) != 1 {
		t.Fatalf("payments audit = %d gateway records, want 1", len(recs))
	}
	r := recs[0]
	var d map[string]any
	_ = json.Unmarshal(r.Detail, &d)
	if r.Action != "gateway.model.chat" || r.Outcome != "allow" || r.Agent != refunder || r.Resource != "model-provider" ||
		r.CostMicros != want || r.Object != "fleet-demo-mini" || len(r.TraceID) != 32 ||
		d["input_tokens"] != float64(resp.Usage.PromptTokens) || d["output_tokens"] != float64(resp.Usage.CompletionTokens) {
		t.Errorf("audit record = %+v %v, want the attributed chat call", r, d)
	}
	if strings.Contains(string(r.Detail), "1182") {
		t.Errorf("audit detail holds the prompt: %s", r.Detail)
	}
}

func fleetModel(t *testing.T, e *env, id string) fleet.Model {
	t.Helper()
	m, ok := e.Plane.Repo().Config.Gateway.Model(id)
	if !ok {
		t.Fatalf("no model %s", id)
	}
	return m
}

func TestChatStream(t *testing.T) {
	e := start(t, nil)
	c := e.client(e.Agents[refunder])
	for _, includeUsage := range []bool{true, false} {
		t.Run(fmt.Sprintf("include_usage=%v", includeUsage), func(t *testing.T) {
			before := e.spent(t, "agent:"+refunder, today())
			params := openai.ChatCompletionNewParams{
				Model:    "fleet-demo-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Summarise the carrier status of parcel 77")},
			}
			if includeUsage {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			s := c.Chat.Completions.NewStreaming(t.Context(), params)
			var acc openai.ChatCompletionAccumulator
			chunks, usageChunks := 0, 0
			for s.Next() {
				ch := s.Current()
				acc.AddChunk(ch)
				chunks++
				if len(ch.Choices) == 0 && ch.Usage.TotalTokens > 0 {
					usageChunks++
				}
			}
			if err := s.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if chunks < 3 || !strings.Contains(acc.Choices[0].Message.Content, "parcel 77") {
				t.Fatalf("stream gave %d chunks, content %q", chunks, acc.Choices[0].Message.Content)
			}
			if want := map[bool]int{true: 1, false: 0}[includeUsage]; usageChunks != want {
				t.Errorf("usage chunks = %d, want %d (only when the client asks)", usageChunks, want)
			}
			// The demo provider counts a token per four bytes of content.
			out := int64(0)
			for _, w := range strings.SplitAfter(acc.Choices[0].Message.Content, " ") {
				out += demoprovider.Tokens(w)
			}
			in := int64(4 + demoprovider.Tokens("Summarise the carrier status of parcel 77"))
			want := budget.Cost(fleetModel(t, e, "fleet-demo-mini"), in, out)
			after := e.spent(t, "agent:"+refunder, today())
			if after.Spent-before.Spent != want || after.Reserved != 0 {
				t.Errorf("stream settled %d (reserved %d), want %d from the usage chunk", after.Spent-before.Spent, after.Reserved, want)
			}
		})
	}
}

func TestEmbeddingsAndModels(t *testing.T) {
	e := start(t, nil)
	c := e.client(e.Agents[refunder])
	resp, err := c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model: "fleet-demo-embed",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"refund policy", "carrier lost parcel"}},
	})
	if err != nil {
		t.Fatalf("embeddings: %v", err)
	}
	if len(resp.Data) != 2 || len(resp.Data[0].Embedding) != demoprovider.EmbeddingDims || resp.Usage.PromptTokens == 0 {
		t.Fatalf("embeddings = %d vectors, usage %+v", len(resp.Data), resp.Usage)
	}
	want := budget.Cost(fleetModel(t, e, "fleet-demo-embed"), resp.Usage.PromptTokens, 0)
	if u := e.spent(t, "agent:"+refunder, today()); u.Spent != want {
		t.Errorf("embeddings spent %d, want %d", u.Spent, want)
	}

	cases := []struct {
		agent string
		want  []string
	}{
		// payments.models narrows the fleet list to gpt-4o-mini and fleet-demo-*.
		{refunder, []string{"fleet-demo-xl", "fleet-demo-unit", "fleet-demo-mini", "fleet-demo-large", "fleet-demo-embed", "gpt-4o-mini"}},
		{guardian, []string{"gpt-4o-mini"}},
	}
	for _, tc := range cases {
		mc := e.client(e.Agents[tc.agent])
		page, err := mc.Models.List(t.Context())
		if err != nil {
			t.Fatalf("models: %v", err)
		}
		var got []string
		for _, m := range page.Data {
			got = append(got, m.ID)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("models for %s = %v, want %v", tc.agent, got, tc.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	e := start(t, nil)
	key := e.Agents[refunder]
	revoked := e.Agents["support.ticket-triage"]
	creds, err := e.Store.ListCredentials(context.Background(), store.CredentialFilter{AgentID: "support.ticket-triage"})
	if err != nil || len(creds) == 0 {
		t.Fatalf("credentials: %v", err)
	}
	if err := e.Store.RevokeCredential(context.Background(), creds[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	chat := func(model, extra string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hello"}]` + extra + `}`
	}
	cases := []struct {
		name    string
		key     string
		path    string
		body    string
		status  int
		errType string
		param   string
		budget  string
		audited string // the audit outcome in payments' partition; "" when none
	}{
		{"no key", "", "/chat/completions", chat("fleet-demo-mini", ""), 401, "invalid_request_error", "", "", ""},
		{"unknown key", "fgv_agt_notarealkey0000000000000000000", "/chat/completions", chat("fleet-demo-mini", ""), 401, "invalid_request_error", "", "", ""},
		{"revoked key", revoked, "/chat/completions", chat("fleet-demo-mini", ""), 401, "invalid_request_error", "", "", ""},
		{"tenant token", e.Tenants["payments"], "/chat/completions", chat("fleet-demo-mini", ""), 401, "invalid_request_error", "", "", ""},
		{"malformed body", key, "/chat/completions", `{"model":`, 400, "invalid_request_error", "", "", "refused"},
		{"no messages", key, "/chat/completions", `{"model":"fleet-demo-mini","messages":[]}`, 400, "invalid_request_error", "messages", "", "refused"},
		{"unknown model", key, "/chat/completions", chat("gpt-9-preview", ""), 404, "invalid_request_error", "model", "", "refused"},
		{"embedding model for chat", key, "/chat/completions", chat("fleet-demo-embed", ""), 400, "invalid_request_error", "model", "", "refused"},
		{"output cap above the model's", key, "/chat/completions", chat("fleet-demo-mini", `,"max_tokens":999999`), 400, "invalid_request_error", "max_tokens", "", "refused"},
		{"negative max_tokens", key, "/chat/completions", chat("fleet-demo-mini", `,"max_tokens":-1`), 400, "invalid_request_error", "max_tokens", "", "refused"},
		{"two choices", key, "/chat/completions", chat("fleet-demo-mini", `,"n":2`), 400, "invalid_request_error", "n", "", "refused"},
		{"oversized", key, "/chat/completions", chat("fleet-demo-mini", `,"user":"`+strings.Repeat("x", 2<<20)+`"`), 413, "invalid_request_error", "", "", "refused"},
		{"model outside the allow-lists", key, "/chat/completions", chat("gpt-4o", ""), 403, "policy_denied", "", "", "deny"},
		{"per-call ceiling", key, "/chat/completions", chat("fleet-demo-xl", ""), 429, "budget_exceeded", "", "fleet.cost-per-call", "deny"},
		{"bad embeddings input", key, "/embeddings", `{"model":"fleet-demo-embed","input":{}}`, 400, "invalid_request_error", "input", "", "refused"},
		{"unknown route", key, "/completions", chat("fleet-demo-mini", ""), 404, "invalid_request_error", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.audit(t, "payments"))
			reqs := e.up.Requests.Load()
			status, errObj := e.post(t, tc.path, tc.key, tc.body)
			if status != tc.status || errObj["type"] != tc.errType {
				t.Fatalf("status %d, error %v; want %d %s", status, errObj, tc.status, tc.errType)
			}
			if msg, _ := errObj["message"].(string); msg == "" || strings.Contains(msg, upstreamKey) {
				t.Errorf("error message %q: want a clear message without the provider key", msg)
			}
			if tc.param != "" && errObj["param"] != tc.param {
				t.Errorf("param = %v, want %s", errObj["param"], tc.param)
			}
			if tc.budget != "" && errObj["budget"] != tc.budget {
				t.Errorf("budget = %v, want %s", errObj["budget"], tc.budget)
			}
			if e.up.Requests.Load() != reqs {
				t.Errorf("a refused call reached the provider")
			}
			recs := e.audit(t, "payments")
			switch {
			case tc.audited == "" && len(recs) != before:
				t.Errorf("audit grew by %d, want 0", len(recs)-before)
			case tc.audited != "" && (len(recs) != before+1 || recs[len(recs)-1].Outcome != tc.audited):
				t.Errorf("audit = %d records (was %d), want one more with outcome %s", len(recs), before, tc.audited)
			}
			e.noOpenReservations(t)
			if u := e.spent(t, "agent:"+refunder, today()); u.Spent != 0 || u.Reserved != 0 {
				t.Errorf("a refused call changed the budget: %+v", u)
			}
		})
	}
}

func TestBudgetExceeded(t *testing.T) {
	e := start(t, nil)
	key := e.Agents[buyer]
	// fleet-demo-unit costs one micro-USD per token; the buyer's total
	// budget is $0.01 = 10,000 micro-USD. A call capped at 1,000 output
	// tokens reserves 1,000 + its input bound.
	body := `{"model":"fleet-demo-unit","messages":[{"role":"user","content":"hi"}],"max_tokens":1000}`
	admitted, refused := 0, false
	for i := 0; i < 500 && !refused; i++ {
		status, errObj := e.post(t, "/chat/completions", key, body)
		if status == http.StatusOK {
			admitted++
			continue
		}
		if status != http.StatusTooManyRequests || errObj["budget"] != "agent:adlab.test-buyer/total" {
			t.Fatalf("call %d: status %d %v, want 429 naming agent:adlab.test-buyer/total", i, status, errObj)
		}
		refused = true
	}
	u := e.spent(t, "agent:"+buyer, "total")
	if !refused || admitted == 0 || u.Spent > 10_000 || u.Reserved != 0 {
		t.Errorf("admitted %d, usage %+v: want some calls admitted and spend within 10000", admitted, u)
	}
	// What is left cannot hold the next call's worst case (1,015), but it
	// still holds a small one.
	if left := 10_000 - u.Spent; left >= 1015 {
		t.Errorf("refused with %d left, which holds the call's worst case", left)
	}
	e.noOpenReservations(t)
}

func TestUpstreamFailures(t *testing.T) {
	e := start(t, nil)
	key := e.Agents[refunder]
	body := `{"model":"fleet-demo-mini","messages":[{"role":"user","content":"hello"}]}`
	cases := []struct {
		mode   string
		status int
		code   string
	}{
		{"500", 502, "upstream_error"},
		{"401", 502, "upstream_error"},
		{"slow", 504, "upstream_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			e.up.mode.Store(tc.mode)
			defer e.up.mode.Store("")
			before := len(e.audit(t, "payments"))
			status, errObj := e.post(t, "/chat/completions", key, body)
			if status != tc.status || errObj["code"] != tc.code {
				t.Fatalf("status %d %v, want %d %s", status, errObj, tc.status, tc.code)
			}
			if b, _ := json.Marshal(errObj); strings.Contains(string(b), "sk-upstr") {
				t.Errorf("error passes on the provider's words about its key: %s", b)
			}
			recs := e.audit(t, "payments")
			if len(recs) != before+1 || recs[len(recs)-1].Outcome != "error" || recs[len(recs)-1].CostMicros != 0 {
				t.Errorf("audit: want one error record costing nothing")
			}
			e.noOpenReservations(t)
		})
	}
}

// TestStreamBreaks cuts a stream from either side: the reservation is
// settled from what was received and nothing stays open.
func TestStreamBreaks(t *testing.T) {
	e := start(t, nil)
	key := e.Agents[refunder]
	body := `{"model":"fleet-demo-mini","stream":true,"messages":[{"role":"user","content":"hello"}],"max_tokens":500}`
	m := fleetModel(t, e, "fleet-demo-mini")
	worst := budget.Cost(m, 3+8+int64(len(`"hello"`)), 500)

	t.Run("upstream cut", func(t *testing.T) {
		e.up.mode.Store("cut")
		defer e.up.mode.Store("")
		before := e.spent(t, "agent:"+refunder, today())
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+modelproxy.Prefix+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "Hello ") || !strings.Contains(string(b), `"upstream_cut"`) || strings.Contains(string(b), "[DONE]") {
			t.Errorf("client saw %q: want the chunks, then an error event and no [DONE]", b)
		}
		after := e.spent(t, "agent:"+refunder, today())
		got := after.Spent - before.Spent
		if got <= 0 || got >= worst || after.Reserved != 0 {
			t.Errorf("settled %d (reserved %d), want between 0 and the worst case %d", got, after.Reserved, worst)
		}
		e.noOpenReservations(t)
	})

	t.Run("client disconnect", func(t *testing.T) {
		e.up.mode.Store("trickle")
		defer e.up.mode.Store("")
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+modelproxy.Prefix+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		done := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, err = bufio.NewReader(resp.Body).ReadString('\n')
				done <- err
				<-ctx.Done()
				resp.Body.Close()
				return
			}
			done <- err
		}()
		// Hang up after the first chunk.
		deadline := time.Now().Add(5 * time.Second)
		if err := <-done; err != nil {
			t.Fatalf("first chunk: %v", err)
		}
		if e.spent(t, "agent:"+refunder, today()).Reserved == 0 {
			t.Fatal("the streaming call holds no reservation")
		}
		cancel()
		for {
			open, _ := e.Store.ListOpenReservations(context.Background(), time.Now().Add(time.Hour), 1000)
			if len(open) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the disconnected call's reservation is still open")
			}
			time.Sleep(5 * time.Millisecond)
		}
		recs := e.audit(t, "payments")
		var d map[string]any
		_ = json.Unmarshal(recs[len(recs)-1].Detail, &d)
		if d["stream_end"] != "client_disconnect" {
			t.Errorf("last record's stream_end = %v, want client_disconnect", d["stream_end"])
		}
	})
}

// TestSweep settles a reservation a crashed call left open at its worst case.
func TestSweep(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	w := store.BudgetWindow{Scope: "agent:" + refunder, Period: "total", Limit: 1_000_000}
	if err := e.Store.Reserve(ctx, store.Reservation{ID: "res_crashed", Tenant: "payments", Agent: refunder, Amount: 700,
		Windows: []store.BudgetWindow{w}, CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p := modelproxy.New(e.Gateway, modelproxy.Options{})
	n, err := p.Sweep(ctx, 10*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if u := e.spent(t, w.Scope, w.Period); u.Spent != 700 || u.Reserved != 0 {
		t.Errorf("after the sweep %+v, want 700 spent", u)
	}
	recs := e.audit(t, "payments")
	if len(recs) != 1 || recs[0].Action != "gateway.model.settle_expired" || recs[0].CostMicros != 700 {
		t.Errorf("audit = %+v, want the sweep's record", recs)
	}
	if n, err := p.Sweep(ctx, 10*time.Minute); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
}

// TestBudgetExactness sends 1,000 concurrent calls against a budget that
// holds exactly 100 of them: the provider holds every admitted call until
// the refusals are in, so no settlement frees budget early. Exactly 100 are
// admitted, and the recorded spend equals the sum of their real usage.
func TestBudgetExactness(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", gatewaytest.SQLite}, {"postgres", gatewaytest.Postgres}} {
		t.Run(tc.name, func(t *testing.T) { exactness(t, tc.open(t)) })
	}
}

func exactness(t *testing.T, st store.Store) {
	e := startTimeout(t, st, 120)
	e.up.mode.Store("hold")
	key := e.Agents[buyer]
	// Input bound 3 + 8 + len(`"hi"`) = 15 tokens, output cap 85: 100
	// micro-USD a call at fleet-demo-unit's price; the total is 10,000.
	body := `{"model":"fleet-demo-unit","messages":[{"role":"user","content":"hi"}],"max_tokens":85}`
	const calls, fits = 1000, 100
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 250, MaxIdleConnsPerHost: 250}}
	var (
		wg       sync.WaitGroup
		refused  atomic.Int64
		admitted atomic.Int64
		usageSum atomic.Int64
		other    atomic.Int64
		release  sync.Once
	)
	go func() {
		// Release the held calls once every refusal is in, or after a
		// while if the count never gets there (the test then fails).
		deadline := time.After(60 * time.Second)
		for refused.Load()+other.Load() < calls-fits {
			select {
			case <-deadline:
				release.Do(func() { close(e.up.hold) })
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		release.Do(func() { close(e.up.hold) })
	}()
	t.Cleanup(func() { release.Do(func() { close(e.up.hold) }) })
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+modelproxy.Prefix+"/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				other.Add(1)
				t.Errorf("call: %v", err)
				return
			}
			defer resp.Body.Close()
			var out struct {
				Usage struct {
					PromptTokens     int64 `json:"prompt_tokens"`
					CompletionTokens int64 `json:"completion_tokens"`
				} `json:"usage"`
				Error map[string]any `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				other.Add(1)
				t.Errorf("decode: %v", err)
				return
			}
			switch {
			case resp.StatusCode == http.StatusOK:
				admitted.Add(1)
				usageSum.Add(out.Usage.PromptTokens + out.Usage.CompletionTokens)
			case resp.StatusCode == http.StatusTooManyRequests && out.Error["budget"] == "agent:adlab.test-buyer/total":
				refused.Add(1)
			default:
				other.Add(1)
				t.Errorf("call: %d %v", resp.StatusCode, out.Error)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != fits || refused.Load() != calls-fits {
		t.Fatalf("admitted %d, refused %d; want exactly %d and %d", admitted.Load(), refused.Load(), fits, calls-fits)
	}
	u := e.spent(t, "agent:"+buyer, "total")
	if u.Spent != usageSum.Load() || u.Reserved != 0 {
		t.Errorf("recorded spend %d (reserved %d), want %d, the sum of the admitted calls' usage", u.Spent, u.Reserved, usageSum.Load())
	}
	var audited int64
	for _, r := range e.audit(t, "adlab") {
		if r.Outcome == "allow" {
			audited += r.CostMicros
		}
	}
	if audited != usageSum.Load() {
		t.Errorf("audited cost %d, want %d", audited, usageSum.Load())
	}
	e.noOpenReservations(t)
}

// TestNamedTenant checks that a call naming another tenant in its headers
// or query is refused before anything is read or forwarded, answers alike
// whether that tenant exists or not, and is audited in the caller's
// partition and as a Cat 4 event at the platform tier; naming its own
// tenant changes nothing.
func TestNamedTenant(t *testing.T) {
	e := start(t, nil)
	key := e.Agents[refunder]
	body := `{"model":"fleet-demo-mini","messages":[{"role":"user","content":"hello"}]}`
	send := func(t *testing.T, query, header, value string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+modelproxy.Prefix+"/chat/completions"+query, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	platform := func() int {
		recs, err := e.Store.ListAudit(context.Background(), store.AuditFilter{Partition: store.PlatformPartition})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Action == "isolation.cross_tenant" && r.Resource == "model-provider" {
				n++
			}
		}
		return n
	}
	_, missing := send(t, "", "X-Fleetgov-Tenant", "nosuchtenant")
	cases := []struct{ name, query, header, value string }{
		{"tenant header", "", "X-Fleetgov-Tenant", "support"},
		{"namespace header", "", "X-Namespace", "research"},
		{"query", "?namespace=support", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, cat4, reqs := len(e.audit(t, "payments")), platform(), e.up.Requests.Load()
			status, got := send(t, tc.query, tc.header, tc.value)
			if status != http.StatusForbidden || !strings.Contains(got, `"cross_tenant"`) {
				t.Fatalf("status %d %s; want 403 cross_tenant", status, got)
			}
			if got != missing {
				t.Errorf("answer naming %s differs from one naming a missing tenant:\n%s\n%s", tc.value, got, missing)
			}
			if e.up.Requests.Load() != reqs {
				t.Errorf("the call reached the provider")
			}
			recs := e.audit(t, "payments")
			if len(recs) != before+1 || recs[len(recs)-1].Outcome != "refused" || recs[len(recs)-1].Resource != "model-provider" {
				t.Errorf("payments' partition: %d records (was %d), want one more refused model-provider record", len(recs), before)
			}
			if n := platform(); n != cat4+1 {
				t.Errorf("platform Cat 4 events: %d, want %d", n, cat4+1)
			}
			e.noOpenReservations(t)
		})
	}
	t.Run("own tenant", func(t *testing.T) {
		if status, got := send(t, "", "X-Fleetgov-Tenant", "payments"); status != http.StatusOK {
			t.Errorf("naming its own tenant: %d %s, want 200", status, got)
		}
	})
}

// TestRevocationTakesEffect revokes agent keys that have been used, so
// that the gateway holds them in its credential cache: a revocation through
// this process's store takes effect at the next call; one through another
// store on the same SQLite file (another process) within the cache's TTL.
func TestRevocationTakesEffect(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleetgov.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	ge := gatewaytest.Start(t, gatewaytest.Options{Store: st, Now: now})
	srv := httptest.NewServer(modelproxy.New(ge.Gateway, modelproxy.Options{}).Handler())
	t.Cleanup(srv.Close)
	list := func(key string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+modelproxy.Prefix+"/models", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	revoke := func(via store.Store, agent string) {
		creds, err := via.ListCredentials(ctx, store.CredentialFilter{AgentID: agent})
		if err != nil || len(creds) != 1 {
			t.Fatalf("credentials of %s: %v, %v", agent, creds, err)
		}
		if err := via.RevokeCredential(ctx, creds[0].ID, now()); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		agent string
		via   store.Store
		wait  time.Duration // how far the clock moves before the call
	}{
		{"this process", refunder, st, 0},
		{"another process, within the TTL", guardian, other, 1100 * time.Millisecond},
	}
	for _, tc := range cases {
		key := ge.Agents[tc.agent]
		for range 3 {
			if got := list(key); got != http.StatusOK {
				t.Fatalf("%s: before revocation: %d, want 200", tc.name, got)
			}
		}
		revoke(tc.via, tc.agent)
		clock.Add(int64(tc.wait))
		if got := list(key); got != http.StatusUnauthorized {
			t.Errorf("%s: after revocation: %d, want 401", tc.name, got)
		}
	}
}
