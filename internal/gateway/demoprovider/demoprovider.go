// Package demoprovider is an OpenAI-compatible model provider that runs in
// process: the gateway's built-in demo upstream (fleet.yaml's
// "builtin:demo"), and the faithful upstream of the gateway's tests.
//
// It speaks the parts of the OpenAI API the gateway proxies, as that API
// does: POST /v1/chat/completions (with and without streaming, usage in the
// response and, with stream_options.include_usage, in a final chunk),
// POST /v1/embeddings and GET /v1/models, with OpenAI's error shape
// ({"error": {"message", "type", "param", "code"}}) and status codes. Its
// answers are canned but its usage is counted: prompt tokens from the
// request's text, completion tokens from the answer it sends, cut at
// max_tokens with finish_reason "length". Embeddings are deterministic
// feature hashes of the words, so texts sharing words are near each other.
package demoprovider

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// EmbeddingDims is the size of the embeddings it returns when a request
// names no dimensions.
const EmbeddingDims = 256

// Options configures a Provider.
type Options struct {
	// Key, when set, is the API key every request must carry.
	Key string
	// Models lists the models it serves; empty serves any name.
	Models []string
	// Delay is added before each answer (and between stream chunks, a
	// tenth of it), to stand in for a real provider's latency.
	Delay time.Duration
}

// Provider is the demo provider. It is an http.Handler.
type Provider struct {
	opt Options
	mux *http.ServeMux

	// Requests counts the requests served, for tests.
	Requests atomic.Int64
	// LastAuthorization is the Authorization header of the last request,
	// for tests that check what the gateway forwards.
	LastAuthorization atomic.Value
}

// New returns a provider.
func New(opt Options) *Provider {
	p := &Provider{opt: opt, mux: http.NewServeMux()}
	p.mux.HandleFunc("POST /v1/chat/completions", p.chat)
	p.mux.HandleFunc("POST /v1/embeddings", p.embeddings)
	p.mux.HandleFunc("GET /v1/models", p.models)
	p.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "unknown_url", fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path))
	})
	return p
}

// ServeHTTP serves the API.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.Requests.Add(1)
	p.LastAuthorization.Store(r.Header.Get("Authorization"))
	if p.opt.Key != "" && r.Header.Get("Authorization") != "Bearer "+p.opt.Key {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	p.mux.ServeHTTP(w, r)
}

// Error is OpenAI's error object.
type Error struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, typ, param, code, msg string) {
	e := Error{Message: msg, Type: typ}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func (p *Provider) known(model string) bool {
	if len(p.opt.Models) == 0 {
		return model != ""
	}
	for _, m := range p.opt.Models {
		if m == model {
			return true
		}
	}
	return false
}

func (p *Provider) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// Message is a chat message; Content is a string or a list of parts.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type chatRequest struct {
	Model               string    `json:"model"`
	Messages            []Message `json:"messages"`
	MaxTokens           *int64    `json:"max_tokens"`
	MaxCompletionTokens *int64    `json:"max_completion_tokens"`
	Stream              bool      `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N *int `json:"n"`
}

// Usage is OpenAI's usage object.
type Usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
}

// Tokens counts the tokens of s the way the demo provider does: about one
// per four bytes, at least one for non-empty text.
func Tokens(s string) int64 {
	if s == "" {
		return 0
	}
	return int64((len(s) + 3) / 4)
}

// text returns the text of a message's content: a string, or the text of
// its parts.
func text(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("content must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, pt := range parts {
		b.WriteString(pt.Text)
	}
	return b.String(), nil
}

// PromptTokens counts a chat request's prompt tokens: each message's text
// plus four tokens of framing per message.
func PromptTokens(msgs []Message) (int64, error) {
	var n int64
	for _, m := range msgs {
		t, err := text(m.Content)
		if err != nil {
			return 0, err
		}
		n += 4 + Tokens(t)
	}
	return n, nil
}

func (p *Provider) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "", "We could not parse the JSON body of your request: "+err.Error())
		return
	}
	switch {
	case req.Model == "":
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model", "", "you must provide a model parameter")
		return
	case !p.known(req.Model):
		writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found", fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model))
		return
	case len(req.Messages) == 0:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", "", "[] is too short - 'messages'")
		return
	case req.N != nil && *req.N != 1:
		writeError(w, http.StatusBadRequest, "invalid_request_error", "n", "", "the demo provider answers with one choice (n=1)")
		return
	}
	prompt, err := PromptTokens(req.Messages)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", "", err.Error())
		return
	}
	limit := int64(-1)
	for _, v := range []*int64{req.MaxTokens, req.MaxCompletionTokens} {
		if v != nil {
			if *v < 1 {
				writeError(w, http.StatusBadRequest, "invalid_request_error", "max_tokens", "", "max_tokens must be at least 1")
				return
			}
			limit = *v
		}
	}
	last, _ := text(req.Messages[len(req.Messages)-1].Content)
	words, finish := answer(req.Model, last, limit)
	if !p.sleep(r, p.opt.Delay) {
		return
	}
	id := fmt.Sprintf("chatcmpl-demo%d", p.Requests.Load())
	created := time.Now().Unix()
	var completion int64
	for _, wd := range words {
		completion += Tokens(wd)
	}
	usage := Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": strings.Join(words, "")},
				"finish_reason": finish, "logprobs": nil}},
			"usage": usage, "system_fingerprint": "fp_fleetgov_demo",
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_fleetgov_demo",
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": nil}}}
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	for _, wd := range words {
		if !p.sleep(r, p.opt.Delay/10) || !send(chunk(map[string]any{"content": wd}, nil)) {
			return
		}
	}
	if !send(chunk(map[string]any{}, finish)) {
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		if !send(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{}, "usage": usage}) {
			return
		}
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

// answer returns the canned answer to the last message as word pieces, cut
// at limit tokens (-1: no limit), and its finish reason.
func answer(model, last string, limit int64) ([]string, string) {
	topic := strings.Fields(last)
	if len(topic) > 12 {
		topic = topic[:12]
	}
	s := fmt.Sprintf("This is %s on the fleetgov demo provider. You asked about: %s. A real provider would answer here; the gateway metered this call from its usage.",
		model, strings.Join(topic, " "))
	var words []string
	var used int64
	for i, wd := range strings.SplitAfter(s, " ") {
		_ = i
		t := Tokens(wd)
		if limit >= 0 && used+t > limit {
			return words, "length"
		}
		used += t
		words = append(words, wd)
	}
	return words, "stop"
}

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// Inputs decodes an embeddings input: a string, a list of strings, or
// token arrays (counted, and embedded as their decimal text).
func Inputs(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	var toks []int64
	if err := json.Unmarshal(raw, &toks); err == nil {
		return []string{tokenText(toks)}, nil
	}
	var tokss [][]int64
	if err := json.Unmarshal(raw, &tokss); err == nil {
		out := make([]string, len(tokss))
		for i, t := range tokss {
			out[i] = tokenText(t)
		}
		return out, nil
	}
	return nil, fmt.Errorf("input must be a string, an array of strings, or token arrays")
}

func tokenText(toks []int64) string {
	parts := make([]string, len(toks))
	for i, t := range toks {
		parts[i] = fmt.Sprint(t)
	}
	// Four bytes per token, so that Tokens counts one per token.
	return strings.Join(parts, " ")
}

func (p *Provider) embeddings(w http.ResponseWriter, r *http.Request) {
	var req embeddingRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "", "We could not parse the JSON body of your request: "+err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model", "", "you must provide a model parameter")
		return
	}
	if !p.known(req.Model) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found", fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model))
		return
	}
	inputs, err := Inputs(req.Input)
	if err != nil || len(inputs) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "input", "", "'input' must be a non-empty string or array")
		return
	}
	dims := EmbeddingDims
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > 4096 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "dimensions", "", "dimensions must be between 1 and 4096")
			return
		}
		dims = *req.Dimensions
	}
	if !p.sleep(r, p.opt.Delay) {
		return
	}
	var tokens int64
	data := make([]any, len(inputs))
	for i, in := range inputs {
		tokens += Tokens(in)
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": Embed(in, dims)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int64{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// Embed returns the demo embedding of s: each lower-cased word hashed into
// one of dims buckets with a hashed sign, then normalised to unit length.
func Embed(s string, dims int) []float32 {
	v := make([]float64, dims)
	for _, wd := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	}) {
		h := fnv.New64a()
		_, _ = h.Write([]byte(wd))
		x := h.Sum64()
		sign := 1.0
		if x>>63 == 1 {
			sign = -1
		}
		v[int(x%uint64(dims))] += sign
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, dims)
	if norm == 0 {
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

func (p *Provider) models(w http.ResponseWriter, _ *http.Request) {
	data := []any{}
	for _, m := range p.opt.Models {
		data = append(data, map[string]any{"id": m, "object": "model", "created": 1767225600, "owned_by": "fleetgov-demo"})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}
